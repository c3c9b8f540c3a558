package codec

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func openShared(t *testing.T, n int) (*SharedFile, []byte) {
	t.Helper()
	path, data := writeTemp(t, n)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return NewSharedFile(f, int64(n)), data
}

// TestSharedFileSegments: segments of one open file read their own regions
// (read, mapped, through a reader) from the one descriptor, which closes
// when the file's last reference goes, whichever of the file's owner and
// its segments lets go last.
func TestSharedFileSegments(t *testing.T) {
	sf, data := openShared(t, 100_000)
	f := sf.File()
	opts := FileOptions{MemoryMapThreshold: 8192}
	small, err := NewSharedFileSegment(sf, 10, 100, opts)
	if err != nil {
		t.Fatal(err)
	}
	big, err := NewSharedFileSegment(sf, 5000, 50_000, opts)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := NewSharedFileSegment(sf, 100_000, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *FileSegment
		want []byte
	}{{small, data[10:110]}, {big, data[5000:55000]}, {empty, nil}} {
		if got, err := c.s.File(); got != f || err != nil {
			t.Errorf("File() = %v, %v; want the shared file", got, err)
		}
		if got, err := c.s.Bytes(); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Bytes of [%d,+%d): %v", c.s.Offset(), c.s.Size(), err)
		}
		if got := readAllOf(t, c.s); !bytes.Equal(got, c.want) {
			t.Errorf("Reader of [%d,+%d) returned other bytes", c.s.Offset(), c.s.Size())
		}
		if c.s.Path() != f.Name() {
			t.Errorf("Path %q, want %q", c.s.Path(), f.Name())
		}
	}
	if big.mapped == nil {
		t.Error("a region past MemoryMapThreshold was not mapped")
	}
	sf.Release() // the owner lets go first
	small.Retain()
	small.Release()
	small.Release()
	empty.Release()
	if f.Fd() == ^uintptr(0) {
		t.Fatal("file closed while a segment holds it")
	}
	if got, err := big.Bytes(); err != nil || !bytes.Equal(got, data[5000:55000]) {
		t.Fatal("content gone while a segment holds the file")
	}
	big.Release()
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the file is still open after every reference went: Close = %v", err)
	}
	mustPanic(t, "over-release", "Release of a released SharedFile", sf.Release)
}

// TestSharedFileSegmentBounds: a region must lie inside the file's size;
// a refused region takes no reference.
func TestSharedFileSegmentBounds(t *testing.T) {
	sf, _ := openShared(t, 1000)
	for _, bad := range [][2]int64{{900, 101}, {1001, 0}, {-1, 10}, {0, -1}, {1 << 62, 1 << 62}} {
		if s, err := NewSharedFileSegment(sf, bad[0], bad[1], DefaultFileOptions); err == nil {
			t.Errorf("[%d,+%d) of 1000 bytes: %v, no error", bad[0], bad[1], s)
		}
	}
	f := sf.File()
	sf.Release()
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("refused segments kept references: Close = %v", err)
	}
}

// TestSharedFileSegmentPooled: a released segment is reused for another
// file without carrying anything over.
func TestSharedFileSegmentPooled(t *testing.T) {
	a, dataA := openShared(t, 5000)
	b, dataB := openShared(t, 6000)
	defer a.Release()
	defer b.Release()
	for i := 0; i < 50; i++ {
		sa, err := NewSharedFileSegment(a, 100, 4096, FileOptions{MemoryMapThreshold: 4096})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := sa.Bytes(); !bytes.Equal(got, dataA[100:4196]) {
			t.Fatal("segment of a: other bytes")
		}
		sa.Release()
		sb, err := NewSharedFileSegment(b, 7, 10, DefaultFileOptions)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := sb.Bytes(); !bytes.Equal(got, dataB[7:17]) || sb.mapped != nil || sb.Path() != b.File().Name() {
			t.Fatal("a reused segment carries another's state")
		}
		sb.Release()
	}
}

// TestAllocSharedFileSegment: a segment of an open file, asked for its
// file and released, allocates nothing in steady state (the pool).
func TestAllocSharedFileSegment(t *testing.T) {
	skipAllocUnderRace(t)
	sf, _ := openShared(t, 5000)
	defer sf.Release()
	allocs := testing.AllocsPerRun(100, func() {
		s, err := NewSharedFileSegment(sf, 10, 100, DefaultFileOptions)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := s.File(); f == nil {
			t.Fatal("no file")
		}
		s.Release()
	})
	if allocs != 0 {
		t.Errorf("a shared-file segment costs %v allocations, want 0", allocs)
	}
}
