//go:build !unix || shuffle_portable

package shuffle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Where there is no openat with O_NOFOLLOW (Windows), a registered local
// dir is opened as an os.Root, which keeps every lookup beneath the dir:
// a path or a symbolic link that would leave it is refused. Inside the
// dir, the sub-dir and the file are each Lstat'ed first and refused if
// they are a symbolic link (or another reparse point) or not a dir and a
// regular file; the opened file must be a regular file too. A link put in
// place between the Lstat and the open is followed, but never out of the
// dir: this fallback is weaker than the Unix one (open_unix.go), which
// checks the descriptor it opened and never follows a link at all.
//
// Built on Unix with -tags shuffle_portable, this file replaces
// open_unix.go, so that the package's tests (symbolic links refused,
// files replaced or deleted under the cache, ...) run against it there.

// localDir is a registered local dir, open as the root its block files
// are looked up beneath.
type localDir = os.Root

// openLocalDir opens a registered local dir for the lookups beneath it.
func openLocalDir(path string) (*localDir, error) {
	return os.OpenRoot(path)
}

// checkNoLinks refuses rel ("sub/name") beneath dir unless its sub-dir is
// a dir and its file a regular file, neither a link. A missing one wraps
// os.ErrNotExist.
func checkNoLinks(dir *localDir, sub, rel, path string) error {
	for _, c := range []struct {
		name string
		ok   func(fs.FileMode) bool
	}{
		{sub, fs.FileMode.IsDir},
		{rel, fs.FileMode.IsRegular},
	} {
		st, err := dir.Lstat(c.name)
		if err != nil {
			return rootErr(path, err)
		}
		if !c.ok(st.Mode()) {
			return fmt.Errorf("%w: %s (%s is %v)", ErrOutsideLocalDir, path, c.name, st.Mode())
		}
	}
	return nil
}

// rootErr turns an error of the root's lookups into the package's: a
// closed root is errDirClosed; the rest stay as they are (a missing file
// wraps os.ErrNotExist).
func rootErr(path string, err error) error {
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w: %s: %v", errDirClosed, path, err)
	}
	return err
}

// openRegular opens rel ("sub/name") beneath dir and returns it as a file
// if it is a regular file, with its size. path names it in errors.
func openRegular(dir *localDir, rel, path string) (*os.File, int64, error) {
	rel = filepath.FromSlash(rel)
	if err := checkNoLinks(dir, filepath.Dir(rel), rel, path); err != nil {
		return nil, 0, err
	}
	f, err := dir.Open(rel)
	if err != nil {
		return nil, 0, rootErr(path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is not a regular file (mode %v)", ErrOutsideLocalDir, path, st.Mode())
	}
	return f, st.Size(), nil
}

// unlinkRegular deletes name from sub beneath dir if it is a regular file
// and sub a dir, neither a link.
func unlinkRegular(dir *localDir, sub, name, path string) error {
	rel := filepath.Join(sub, name)
	if err := checkNoLinks(dir, sub, rel, path); err != nil {
		return err
	}
	return rootErr(path, dir.Remove(rel))
}

// fileGone reports whether an open file can no longer be stat'ed or no
// longer has size bytes (a deleted or replaced file, where the system
// tells it through the open handle).
func fileGone(f *os.File, size int64) bool {
	st, err := f.Stat()
	return err != nil || st.Size() != size
}

// openFileLimit returns 0: the limit on open files is unknown here.
func openFileLimit() uint64 { return 0 }
