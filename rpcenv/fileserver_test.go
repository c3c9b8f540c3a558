package rpcenv

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fetch downloads uri through e and returns the bytes or the error.
func fetch(e *Env, uri string) ([]byte, error) {
	rc, err := e.OpenChannel(uri)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// fileTree makes the files the file-server tests serve.
type fileTree struct {
	dir, file, jar, served, secret  string
	fileData, jarData, aData, bData []byte
}

func newFileTree(t *testing.T) fileTree {
	dir := t.TempDir()
	ft := fileTree{dir: dir, fileData: randomBytes(1<<20+123, 1), jarData: randomBytes(4096, 2),
		aData: []byte("a\n"), bData: randomBytes(70000, 3)}
	ft.file = writeFile(t, filepath.Join(dir, "file name.txt"), ft.fileData)
	ft.jar = writeFile(t, filepath.Join(dir, "app.jar"), ft.jarData)
	ft.served = filepath.Join(dir, "served")
	writeFile(t, filepath.Join(ft.served, "a.txt"), ft.aData)
	writeFile(t, filepath.Join(ft.served, "nested", "b.bin"), ft.bData)
	ft.secret = writeFile(t, filepath.Join(dir, "secret.txt"), []byte("do not serve"))
	return ft
}

// RpcEnvSuite "file server": files, jars and directories are fetched with
// OpenChannel byte for byte, from a server-mode and a client-mode env;
// unknown files fail in Read; /files and /jars are not directory URIs.
func TestFileServer(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		cli := startEnv(t, client(mode))
		ft := newFileTree(t)
		base := srv.Address().SparkURL()

		fileURI, err := srv.AddFile(ft.file)
		if err != nil || fileURI != base+"/files/file%20name.txt" {
			t.Fatalf("AddFile = %q, %v", fileURI, err)
		}
		jarURI, err := srv.AddJar(ft.jar)
		if err != nil || jarURI != base+"/jars/app.jar" {
			t.Fatalf("AddJar = %q, %v", jarURI, err)
		}
		dirURI, err := srv.AddDirectory("/served/", ft.served)
		if err != nil || dirURI != base+"/served" {
			t.Fatalf("AddDirectory = %q, %v", dirURI, err)
		}
		want := map[string][]byte{
			fileURI:                     ft.fileData,
			jarURI:                      ft.jarData,
			dirURI + "/a.txt":           ft.aData,
			dirURI + "/nested/b.bin":    ft.bData,
			dirURI + "/nested/../a.txt": ft.aData, // stays inside: allowed
		}
		for _, from := range []*Env{srv, other, cli} {
			for uri, data := range want {
				got, err := fetch(from, uri)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s fetching %s: %d bytes (want %d), %v", from.Name(), uri, len(got), len(data), err)
				}
			}
			for uri, msg := range map[string]string{
				base + "/files/nope.txt":           "not found",
				base + "/jars/file%20name.txt":     "not found", // a file is not a jar
				base + "/served/nope":              "not found",
				base + "/served/nested":            "not found", // a directory is not a file
				base + "/unknown/a.txt":            "Invalid stream URI: unknown not found",
				base + "/served/../secret.txt":     "",
				base + "/served/%2E%2E/secret.txt": "",
			} {
				got, err := fetch(from, uri)
				if err == nil || !strings.Contains(err.Error(), msg) || bytes.Contains(got, []byte("do not serve")) {
					t.Errorf("%s fetching %s: %q, %v; want an error with %q", from.Name(), uri, got, err, msg)
				}
			}
		}
		// The failure comes out of Read, not OpenChannel.
		rc, err := cli.OpenChannel(base + "/files/nope.txt")
		if err != nil {
			t.Fatalf("OpenChannel of an unknown file: %v", err)
		}
		if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "Stream '/files/nope.txt' was not found") {
			t.Errorf("Read of an unknown file: %v", err)
		}
		rc.Close()
		// Registration rules.
		if again, err := srv.AddFile(ft.file); err != nil || again != fileURI {
			t.Errorf("same file again: %q %v", again, err)
		}
		clash := writeFile(t, filepath.Join(ft.dir, "other", "file name.txt"), []byte("x"))
		if _, err := srv.AddFile(clash); err == nil || !strings.Contains(err.Error(), "already registered") {
			t.Errorf("same name, other path: %v", err)
		}
		for _, uri := range []string{"/files", "files/", "/jars", "jars"} {
			if _, err := srv.AddDirectory(uri, ft.served); err == nil {
				t.Errorf("AddDirectory(%q) accepted", uri)
			}
		}
		if _, err := srv.AddDirectory("served", ft.dir); err == nil {
			t.Error("a directory URI registered twice")
		}
		if _, err := srv.AddDirectory("/a/b", ft.dir); err == nil {
			t.Error("nested directory URI accepted")
		}
		for _, bad := range []string{"spark://127.0.0.1/files/x", base + "/", base, "spark://127.0.0.1:0/files/x", "::"} {
			if _, err := fetch(cli, bad); err == nil {
				t.Errorf("OpenChannel(%q) accepted", bad)
			}
		}
		// The stream manager serves no chunks.
		if _, err := srv.files.GetChunk(1, 0); err == nil {
			t.Error("GetChunk served something")
		}
	})
}

// The stream manager never leaves a directory, however the path is
// spelled.
func TestFileServerConfinement(t *testing.T) {
	ft := newFileTree(t)
	s := newFileServer()
	s.dirs["/served"] = ft.served
	for _, id := range []string{
		"/served/../secret.txt",
		"/served/%2e%2e/secret.txt",
		"/served/nested/../../secret.txt",
		"/served/..%2fsecret.txt",
		"/served/" + ft.secret,
		"/served//" + ft.secret,
		"/../secret.txt",
		"/served",
		"/served/",
		"/files/",
	} {
		buf, err := s.OpenStream(id)
		if buf != nil {
			buf.Release()
			t.Errorf("OpenStream(%q) served a file", id)
		}
		_ = err
	}
	buf, err := s.OpenStream("/served/nested/../a.txt")
	if err != nil || buf == nil || buf.Size() != int64(len(ft.aData)) {
		t.Fatalf("a path that stays inside: %v %v", buf, err)
	}
	buf.Release()
}
