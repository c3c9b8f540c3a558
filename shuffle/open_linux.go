//go:build !shuffle_portable

package shuffle

import (
	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// dirOpenFlags open a dir only as a place to resolve names beneath.
const dirOpenFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC

// noOpenat2 is set once openat2 turns out to be missing (ENOSYS, before
// Linux 5.6) or forbidden (a seccomp filter's EPERM); tests set it to
// exercise the fallback.
var noOpenat2 atomic.Bool

// openBeneath opens rel beneath dirfd without following symbolic links or
// leaving the dir.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	if !noOpenat2.Load() {
		how := unix.OpenHow{
			Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		// EAGAIN: a rename or mount raced the resolution; retried a few
		// times, then reported.
		for try := 0; ; try++ {
			fd, err := unix.Openat2(dirfd, rel, &how)
			if (err == unix.EINTR || err == unix.EAGAIN) && try < 8 {
				continue
			}
			if err != unix.ENOSYS && err != unix.EPERM {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	return openWalk(dirfd, rel, flags)
}
