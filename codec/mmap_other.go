//go:build !unix

package codec

import (
	"fmt"
	"io"
	"os"
)

// mapRegion reads n bytes of f from off into memory: this platform has no
// mmap here, so a large region costs its size in heap until released.
func mapRegion(f *os.File, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

// unmapRegion undoes mapRegion (the garbage collector frees the copy).
func unmapRegion([]byte) error { return nil }
