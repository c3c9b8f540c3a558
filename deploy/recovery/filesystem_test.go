package recovery

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openFS(t *testing.T, dir string) Engine {
	t.Helper()
	e, err := NewFileSystem(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestFileSystemEngine(t *testing.T) {
	testEngine(t, func(t *testing.T) store {
		dir := filepath.Join(t.TempDir(), "recovery")
		return func(t *testing.T) Engine { return openFS(t, dir) }
	})
}

func TestFileSystemOneFilePerKey(t *testing.T) {
	dir := t.TempDir()
	e := openFS(t, dir)
	if err := e.Persist("app_1", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app_1")
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "payload" {
		t.Fatalf("file %s = %q, %v; want the value", path, b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("file mode %v, want 0600", mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "app_1" {
		t.Fatalf("dir holds %v, want only app_1 (no temporary files left)", entries)
	}
	if err := e.Unpersist("app_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after Unpersist: %v", err)
	}
}

func TestFileSystemExistingFileError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app_1")
	if err := os.WriteFile(path, []byte("put there by someone else"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := openFS(t, dir)
	err := e.Persist("app_1", []byte("new"))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Persist over an existing file = %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), "File already exists: "+path) {
		t.Fatalf("error %q should name the path %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "put there by someone else" {
		t.Fatalf("existing file changed to %q", b)
	}
}

func TestFileSystemCreatesMissingParents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "c")
	e := openFS(t, dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("recovery dir not created: %v", err)
	}
	if err := e.Persist("driver_1", []byte("d")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "driver_1")); err != nil {
		t.Fatal(err)
	}
}

func TestFileSystemSymlinkedDir(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}

	t.Run("DirIsSymlink", func(t *testing.T) {
		e := openFS(t, link)
		if err := e.Persist("worker_1", []byte("w")); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(real, "worker_1")); err != nil || string(b) != "w" {
			t.Fatalf("file not written through the symlink: %q, %v", b, err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("the symlink was replaced: %v, %v", fi, err)
		}
		got, err := e.Read("worker_")
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, "worker_", got, map[string][]byte{"worker_1": []byte("w")})
	})

	t.Run("MissingDirUnderSymlink", func(t *testing.T) {
		e := openFS(t, filepath.Join(link, "nested", "dir"))
		if err := e.Persist("app_1", []byte("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(real, "nested", "dir", "app_1")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFileSystemReadSkipsOtherEntries(t *testing.T) {
	dir := t.TempDir()
	e := openFS(t, dir)
	if err := e.Persist("app_1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A directory and a symlink with a matching name, and a file being
	// written, are not keys.
	if err := os.Mkdir(filepath.Join(dir, "app_dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "app_1"), filepath.Join(dir, "app_link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"app_", ""} {
		got, err := e.Read(prefix)
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, prefix, got, map[string][]byte{"app_1": []byte("a")})
	}
}

func TestFileSystemDirIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileSystem(f, ""); err == nil {
		t.Fatal("NewFileSystem on a regular file succeeded")
	}
	if _, err := NewFileSystem("", ""); err == nil {
		t.Fatal("NewFileSystem without a dir succeeded")
	}
}

func TestFileSystemCodecs(t *testing.T) {
	for _, codec := range []string{"", "none", "NONE", " None "} {
		if _, err := NewFileSystem(t.TempDir(), codec); err != nil {
			t.Errorf("codec %q: %v", codec, err)
		}
	}
	for _, codec := range []string{"lz4", "lzf", "snappy", "zstd", "ZSTD", "gzip", "org.apache.spark.io.LZ4CompressionCodec"} {
		dir := filepath.Join(t.TempDir(), "never")
		_, err := NewFileSystem(dir, codec)
		if !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("codec %q: error %v, want ErrUnsupportedCodec", codec, err)
			continue
		}
		if !strings.Contains(err.Error(), codec) || !strings.Contains(err.Error(), "none") {
			t.Errorf("codec %q: error %q should name the codec and the supported one", codec, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("codec %q: the dir was created although the codec is refused", codec)
		}
	}
}
