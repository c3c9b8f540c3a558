//go:build unix && !linux && !shuffle_portable

package shuffle

import "golang.org/x/sys/unix"

// dirOpenFlags open a dir only as a place to resolve names beneath.
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// openBeneath opens rel beneath dirfd without following symbolic links:
// one openat with O_NOFOLLOW per component.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	return openWalk(dirfd, rel, flags)
}
