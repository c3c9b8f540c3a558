//go:build !shuffle_portable

package shuffle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/ember-rpc/ember/codec"
	"golang.org/x/sys/unix"
)

// openImpls runs f with openat2 (when the kernel has it) and with the
// per-component O_NOFOLLOW walk that replaces it on older kernels.
func openImpls(t *testing.T, f func(t *testing.T)) {
	fd, err := unix.Openat2(unix.AT_FDCWD, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
	}
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "openat-walk"
		}
		t.Run(name, func(t *testing.T) {
			if !walk && err != nil {
				t.Skipf("no openat2 here: %v", err)
			}
			was := noOpenat2.Load()
			noOpenat2.Store(walk)
			t.Cleanup(func() { noOpenat2.Store(was) })
			f(t)
		})
	}
}

// openWatch reports, with inotify, every open or read of the files in
// dirs (and of the dirs themselves).
type openWatch struct{ fd int }

func watchOpens(t *testing.T, dirs ...string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return err
			}
			_, err = unix.InotifyAddWatch(fd, p, unix.IN_OPEN|unix.IN_ACCESS)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	w := &openWatch{fd}
	w.events() // the walk's own opens
	return w
}

// events returns how many opens and reads were seen since the last call.
// The kernel queues them before the open or read returns.
func (w *openWatch) events() int {
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := unix.Read(w.fd, buf)
		if k <= 0 || err != nil {
			return n
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafePointer(&buf[off]))
			n++
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// TestSwappedComponentRefused: a path component swapped for a symbolic
// link to outside the registered dirs after the executor registered (the
// sub-dir, the file itself, or the local dir) is never followed: the fetch
// is refused (or, for the local dir, served from the dir that registered,
// whose descriptor the service holds), and nothing outside is opened.
func TestSwappedComponentRefused(t *testing.T) {
	openImpls(t, func(t *testing.T) {
		setup := func(t *testing.T) (r *resolver, dirs, out []string, w *openWatch) {
			r = newTestResolver(t, false, "")
			dirs = newExecDirs(t, 1)
			writeShuffle(t, dirs, 0, 2, 3, nil)
			if err := os.WriteFile(FilePath(dirs, testSubDirs, "rdd_1_2"), []byte("rdd"), 0o644); err != nil {
				t.Fatal(err)
			}
			out = newExecDirs(t, 1)
			writeShuffle(t, out, 0, 2, 3, func(int, int) []byte { return sentinel })
			if err := os.WriteFile(FilePath(out, testSubDirs, "rdd_1_2"), sentinel, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := r.register(AppExecID{"app", "exec"}, execInfo(dirs)); err != nil {
				t.Fatal(err)
			}
			return r, dirs, out, watchOpens(t, out...)
		}
		// proveWatch: the watch does see an open outside, so that its
		// silence above means something.
		proveWatch := func(t *testing.T, w *openWatch, out []string) {
			if _, err := os.ReadFile(FilePath(out, testSubDirs, DataFileName(0, 0))); err != nil {
				t.Fatal(err)
			}
			if w.events() == 0 {
				t.Fatal("inotify saw no open of a file it watches")
			}
		}
		swap := func(t *testing.T, path, target string) {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("sub-dir", func(t *testing.T) {
			r, dirs, out, w := setup(t)
			p := filepath.Dir(FilePath(dirs, testSubDirs, DataFileName(0, 0)))
			swap(t, p, filepath.Dir(FilePath(out, testSubDirs, DataFileName(0, 0))))
			buf, err := r.shuffleBlock("app", "exec", 0, 0, 0, 1)
			if !errors.Is(err, ErrOutsideLocalDir) {
				t.Errorf("fetch through a linked sub-dir: %v, %v; want ErrOutsideLocalDir", buf, err)
			}
			if n := w.events(); n != 0 {
				t.Errorf("%d opens or reads outside the registered dirs", n)
			}
			proveWatch(t, w, out)
		})
		t.Run("file", func(t *testing.T) {
			r, dirs, out, w := setup(t)
			for _, name := range []string{DataFileName(0, 1), "rdd_1_2"} {
				if err := os.Remove(FilePath(dirs, testSubDirs, name)); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(FilePath(out, testSubDirs, name), FilePath(dirs, testSubDirs, name)); err != nil {
					t.Fatal(err)
				}
			}
			if buf, err := r.shuffleBlock("app", "exec", 0, 1, 0, 1); !errors.Is(err, ErrOutsideLocalDir) {
				t.Errorf("fetch of a linked data file: %v, %v; want ErrOutsideLocalDir", buf, err)
			}
			if buf, err := r.rddBlock("app", "exec", BlockID{Kind: KindRDD, RDDID: 1, SplitIdx: 2}); buf != nil || err != nil {
				t.Errorf("fetch of a linked RDD file: %v, %v; want nothing", buf, err)
			}
			if n, err := r.removeBlocks("app", "exec", []string{DataFileName(0, 1), "rdd_1_2"}, discardWarn); n != 0 || err != nil {
				t.Errorf("removeBlocks of links removed %d, %v", n, err)
			}
			if n := w.events(); n != 0 {
				t.Errorf("%d opens or reads outside the registered dirs", n)
			}
			proveWatch(t, w, out)
		})
		t.Run("local-dir", func(t *testing.T) {
			r, dirs, out, w := setup(t)
			swap(t, dirs[0], out[0])
			buf, err := r.shuffleBlock("app", "exec", 0, 0, 0, 1)
			if err != nil {
				t.Fatalf("fetch after the local dir was swapped: %v", err)
			}
			b, err := buf.Bytes()
			if err != nil || !bytes.Equal(b, partData(0, 0, 0)) {
				t.Errorf("served %q, %v; want the registered dir's partition", head(b), err)
			}
			checkNoSentinel(t, "swapped local dir", b)
			buf.Release()
			if n := w.events(); n != 0 {
				t.Errorf("%d opens or reads outside the registered dirs", n)
			}
			proveWatch(t, w, out)
		})
	})
}

// openFiles returns the paths of this process's open descriptors that
// lie strictly beneath one of dirs, or (exact) are one of them.
func openFiles(t *testing.T, exact bool, dirs ...string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	real := make([]string, len(dirs))
	for i, d := range dirs {
		real[i] = d
		if r, err := filepath.EvalSymlinks(filepath.Dir(d)); err == nil {
			real[i] = filepath.Join(r, filepath.Base(d))
		}
	}
	var out []string
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the ReadDir's own descriptor, closed since
		}
		for _, d := range real {
			if (exact && p == d) || (!exact && strings.HasPrefix(p, d+"/")) {
				out = append(out, p)
			}
		}
	}
	return out
}

func openFilesUnder(t *testing.T, dirs ...string) []string { return openFiles(t, false, dirs...) }

// fetchAndCheck fetches partition 0 of map m of shuffle 0 and checks it.
func fetchAndCheck(t *testing.T, r *resolver, app string, m int) codec.ManagedBuffer {
	t.Helper()
	buf, err := r.shuffleBlock(app, "exec", 0, int64(m), 0, 1)
	if err != nil {
		t.Fatalf("map %d: %v", m, err)
	}
	if b, err := buf.Bytes(); err != nil || !bytes.Equal(b, partData(0, m, 0)) {
		t.Fatalf("map %d: %q, %v", m, head(b), err)
	}
	return buf
}

// TestOpenFileCacheBounded: however many distinct files are served, at
// most maxOpenFiles stay open, plus those of chunks still being sent.
func TestOpenFileCacheBounded(t *testing.T) {
	const max, maps = 4, 40
	r, dirs := servingResolver(t, max, 0, maps, 2)
	for m := 0; m < maps; m++ {
		fetchAndCheck(t, r, "app", m).Release()
		if open := openFilesUnder(t, dirs...); len(open) != min(m+1, max) || r.cache.openFiles() != min(m+1, max) {
			t.Fatalf("after %d files: %d open (%d cached), want %d: %v", m+1, len(open), r.cache.openFiles(), min(m+1, max), open)
		}
	}
	// A chunk being sent keeps its file open after eviction, until released.
	held := fetchAndCheck(t, r, "app", 0)
	heldPath := FilePath(dirs, testSubDirs, DataFileName(0, 0))
	for m := 1; m <= max; m++ {
		fetchAndCheck(t, r, "app", m).Release()
	}
	if open := openFiles(t, true, heldPath); len(open) != 1 {
		t.Errorf("an evicted file with a chunk in flight: %d descriptors, want 1", len(open))
	}
	if b, err := held.Bytes(); err != nil || !bytes.Equal(b, partData(0, 0, 0)) {
		t.Errorf("an evicted file's chunk reads %q, %v", head(b), err)
	}
	held.Release()
	if open := openFiles(t, true, heldPath); len(open) != 0 {
		t.Errorf("an evicted file stays open after its last chunk: %v", open)
	}
}

// TestOpenFilesClosedOnRemoval: an application's removal closes its open
// files and local dirs (a chunk in flight keeps its own until released);
// RemoveBlocks closes what it deletes, which is then never served, and
// leaves the executor's other files cached; an
// executor's removal closes its files; a data file replaced on disk is
// served anew, not from the old descriptor.
func TestOpenFilesClosedOnRemoval(t *testing.T) {
	r := newTestResolver(t, false, "")
	dirs := map[string][]string{}
	for _, app := range []string{"app-1", "app-2"} {
		dirs[app] = newExecDirs(t, 2)
		writeShuffle(t, dirs[app], 0, 3, 2, nil)
		if err := r.register(AppExecID{app, "exec"}, execInfo(dirs[app])); err != nil {
			t.Fatal(err)
		}
		for m := 0; m < 3; m++ {
			fetchAndCheck(t, r, app, m).Release()
		}
		if open := openFilesUnder(t, dirs[app]...); len(open) != 3 {
			t.Fatalf("%s: %d files open after 3 maps served, want 3 (cached): %v", app, len(open), open)
		}
	}
	held := fetchAndCheck(t, r, "app-1", 1)
	r.applicationRemoved("app-1", false)
	if open := openFilesUnder(t, dirs["app-1"]...); len(open) != 1 {
		t.Errorf("after the app's removal, with one chunk in flight: %v open, want that chunk's file only", open)
	}
	held.Release()
	if open := append(openFilesUnder(t, dirs["app-1"]...), openFiles(t, true, dirs["app-1"]...)...); len(open) != 0 {
		t.Errorf("after the app's removal: %v still open", open)
	}
	if _, err := r.shuffleBlock("app-1", "exec", 0, 0, 0, 1); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("fetch of a removed app: %v", err)
	}
	if open := openFilesUnder(t, dirs["app-2"]...); len(open) != 3 {
		t.Errorf("another app's files: %d open, want 3", len(open))
	}

	// RemoveBlocks.
	data0 := FilePath(dirs["app-2"], testSubDirs, DataFileName(0, 0))
	if n, err := r.removeBlocks("app-2", "exec", []string{DataFileName(0, 0)}, discardWarn); n != 1 || err != nil {
		t.Fatalf("removeBlocks = %d, %v", n, err)
	}
	if open := openFiles(t, true, data0); len(open) != 0 {
		t.Errorf("a removed block's file is still open")
	}
	if open := openFilesUnder(t, dirs["app-2"]...); len(open) != 2 {
		t.Errorf("after removing one map's data: %v open, want the other two maps' files still cached", open)
	}
	if buf, err := r.shuffleBlock("app-2", "exec", 0, 0, 0, 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fetch of a removed block: %v, %v; want ErrNotExist", buf, err)
	}

	// A data file replaced under the cache (a map output committed again).
	fetchAndCheck(t, r, "app-2", 1).Release()
	w, err := NewMapOutputWriter(dirs["app-2"], testSubDirs, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{[]byte("again"), []byte("x")} {
		if err := w.WritePartition(bytes.NewReader(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	buf, err := r.shuffleBlock("app-2", "exec", 0, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := buf.Bytes(); err != nil || string(b) != "again" {
		t.Errorf("a replaced map output serves %q, %v; want the new one", head(b), err)
	}
	buf.Release()

	// The executor's removal closes its files.
	r.executorRemoved("app-2", "exec")
	if open := openFilesUnder(t, dirs["app-2"]...); len(open) != 0 {
		t.Errorf("after the executor's removal: %v still open", open)
	}
	fetchAndCheck(t, r, "app-2", 2).Release()
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }
