//go:build unix && !shuffle_portable

package shuffle

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Files are opened relative to an executor's local dir, whose descriptor
// the service holds: the path below it (a sub-dir, then the file) is
// resolved by the kernel without following any symbolic link and without
// leaving the dir (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where
// the kernel has it, else one openat with O_NOFOLLOW per component), and
// the open descriptor is then fstat'ed. Nothing is checked by path and
// opened again.

// fileOpenFlags open a block file for reading. O_NONBLOCK keeps a FIFO
// put in a file's place from blocking the open; it is cleared once the
// descriptor is known to be a regular file.
const fileOpenFlags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY

// openWalk opens rel ("sub/name") beneath dirfd one component at a time,
// refusing symbolic links at each step (O_NOFOLLOW): the fallback for
// kernels without openat2.
func openWalk(dirfd int, rel string, flags int) (int, error) {
	parts := strings.Split(rel, "/")
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for i, p := range parts {
		if p == "" || p == "." || p == ".." {
			return -1, fmt.Errorf("%w: path component %q", ErrOutsideLocalDir, p)
		}
		fl := flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			fl = dirOpenFlags | unix.O_NOFOLLOW
		}
		fd, err := unix.Openat(cur, p, fl, 0)
		if err == unix.EINTR {
			fd, err = unix.Openat(cur, p, fl, 0)
		}
		if err != nil {
			return -1, err
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur = fd
	}
	fd := cur
	cur = dirfd // handed to the caller, not closed
	return fd, nil
}

// openErr turns an errno from opening rel beneath an executor's dir into
// an error: a symbolic link, a path leaving the dir, or a non-dir where a
// dir belongs is ErrOutsideLocalDir; a missing one wraps os.ErrNotExist.
func openErr(path string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%w: %s (%v)", ErrOutsideLocalDir, path, err)
	case errors.Is(err, ErrOutsideLocalDir):
		return err
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}

// localDir is a registered local dir, open (dirOpenFlags) as the place
// its block files are looked up beneath.
type localDir = os.File

// withFd runs op with dir's descriptor, which stays open while op runs
// even if dir is closed meanwhile; if dir is closed already, it returns
// errDirClosed.
func withFd(dir *localDir, op func(fd int) error) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = op(int(fd)) }); err != nil {
		return fmt.Errorf("%w: %v", errDirClosed, err)
	}
	return opErr
}

// openRegular opens rel beneath dir and returns it as a file if it is a
// regular file, with its size. path names it in errors.
func openRegular(dir *localDir, rel, path string) (f *os.File, size int64, err error) {
	err = withFd(dir, func(dirfd int) error {
		f, size, err = openRegularAt(dirfd, rel, path)
		return err
	})
	return f, size, err
}

func openRegularAt(dirfd int, rel, path string) (*os.File, int64, error) {
	fd, err := openBeneath(dirfd, rel, fileOpenFlags)
	if err != nil {
		return nil, 0, openErr(path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("%w: %s is not a regular file (mode %o)", ErrOutsideLocalDir, path, st.Mode)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, 0, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}

// unlinkRegular deletes name from sub beneath dir if it is a regular
// file; the sub-dir is reached without following symbolic links.
func unlinkRegular(dir *localDir, sub, name, path string) error {
	return withFd(dir, func(dirfd int) error { return unlinkRegularAt(dirfd, sub, name, path) })
}

func unlinkRegularAt(dirfd int, sub, name, path string) error {
	subfd, err := openBeneath(dirfd, sub, dirOpenFlags)
	if err != nil {
		return openErr(path, err)
	}
	defer unix.Close(subfd)
	var st unix.Stat_t
	if err := unix.Fstatat(subfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file (mode %o)", ErrOutsideLocalDir, path, st.Mode)
	}
	if err := unix.Unlinkat(subfd, name, 0); err != nil {
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// openLocalDir opens a registered local dir for the lookups beneath it.
func openLocalDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, dirOpenFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// fileGone reports whether an open file no longer has a name (deleted, or
// replaced by a rename) or no longer has size bytes.
func fileGone(f *os.File, size int64) bool {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return true
	}
	return st.Nlink == 0 || st.Size != size
}

// openFileLimit returns the process's soft limit on open descriptors
// (0: unknown).
func openFileLimit() uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY || lim.Cur < 0 {
		return 0
	}
	return uint64(lim.Cur) // int64 on the BSDs
}
