//go:build unix

package codec

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapRegion maps n bytes of f from off (page-aligned) read-only.
func mapRegion(f *os.File, off int64, n int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), off, n, unix.PROT_READ, unix.MAP_SHARED)
}

// unmapRegion undoes mapRegion.
func unmapRegion(b []byte) error { return unix.Munmap(b) }
