package codec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	_ ManagedBuffer = (*BytesBuffer)(nil)
	_ ManagedBuffer = (*FileSegment)(nil)
)

// mustPanic runs f and reports whether it panicked with a message holding
// want.
func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s did not panic", what)
			return
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s panicked with %v, want %q", what, r, want)
		}
	}()
	f()
}

func readAllOf(t *testing.T, mb ManagedBuffer) []byte {
	t.Helper()
	rc, err := mb.Reader()
	if err != nil {
		t.Fatalf("Reader: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBytesBuffer(t *testing.T) {
	b := NewBytes([]byte("payload"))
	if got, err := b.Bytes(); b.Size() != 7 || err != nil || string(got) != "payload" {
		t.Fatalf("Size %d Bytes %q %v", b.Size(), got, err)
	}
	if b.Buf() != nil {
		t.Error("a buffer from NewBytes has a pooled buffer")
	}
	if got := readAllOf(t, b); string(got) != "payload" {
		t.Fatalf("Reader: %q", got)
	}
	if r := b.Retain(); r != ManagedBuffer(b) {
		t.Fatal("Retain returned another buffer")
	}
	b.Release()
	if got, _ := b.Bytes(); string(got) != "payload" {
		t.Fatal("content dropped while a reference remains")
	}
	b.Release()
	if got, _ := b.Bytes(); got != nil {
		t.Error("content kept after the last Release")
	}
	mustPanic(t, "over-release", "Release of a released BytesBuffer", b.Release)
	mustPanic(t, "Retain after the last Release", "Retain of a released BytesBuffer", func() { b.Retain() })

	empty := NewBytes(nil)
	if empty.Size() != 0 || len(readAllOf(t, empty)) != 0 {
		t.Error("empty buffer")
	}
	empty.Release()
}

// TestBytesBufferPooled: a pooled buffer's content is what was written
// into Buf, and the last Release (not an earlier one) empties it for the
// pool.
func TestBytesBufferPooled(t *testing.T) {
	b := GetPooledBytes()
	bb := b.Buf()
	if bb == nil || b.Size() != 0 {
		t.Fatalf("GetPooledBytes: Buf %v, Size %d", bb, b.Size())
	}
	bb.B = append(bb.B, "pooled "...)
	_, _ = bb.WriteString("bytes")
	if got, _ := b.Bytes(); b.Size() != 12 || string(got) != "pooled bytes" {
		t.Fatalf("Size %d Bytes %q", b.Size(), got)
	}
	if got := readAllOf(t, b); string(got) != "pooled bytes" {
		t.Fatalf("Reader: %q", got)
	}
	if b.Retain() != ManagedBuffer(b) {
		t.Fatal("Retain returned another buffer")
	}
	b.Release()
	if bb.Len() != 12 {
		t.Fatal("pooled bytes returned while a reference remains")
	}
	b.Release()
	if bb.Len() != 0 || cap(bb.B) == 0 {
		t.Errorf("released bytes: len %d cap %d, want emptied and kept", bb.Len(), cap(bb.B))
	}
	if b.Buf() != nil {
		t.Error("a released buffer keeps its bytes")
	}
	mustPanic(t, "over-release", "Release of a released BytesBuffer", b.Release)
	mustPanic(t, "Retain after the last Release", "Retain of a released BytesBuffer", func() { b.Retain() })

	// Bytes grown past pooledBytesKeep are dropped, not pooled.
	big := GetPooledBytes()
	bigB := big.Buf()
	bigB.B = append(make([]byte, 0, pooledBytesKeep+1), 'x')
	big.Release()
	if cap(bigB.B) != 0 {
		t.Errorf("a released buffer kept %d bytes of capacity", cap(bigB.B))
	}
	next := GetPooledBytes()
	defer next.Release()
	if n := next.Size(); n != 0 {
		t.Errorf("a buffer from the pool holds %d bytes", n)
	}
}

// TestBytesBufferPooledMisuse: releasing a pooled buffer once too often, or
// retaining it after its last Release, panics and puts nothing in the pool
// a second time: the next two GetPooledBytes are two buffers. (A count that
// a failed Retain had raised back to one would let the following Release
// pool the buffer again, and both Gets would return it.)
func TestBytesBufferPooledMisuse(t *testing.T) {
	for range 100 {
		b := GetPooledBytes()
		b.Release()
		mustPanic(t, "Retain after the last Release", "Retain of a released BytesBuffer", func() { b.Retain() })
		mustPanic(t, "over-release", "Release of a released BytesBuffer", b.Release)
		mustPanic(t, "over-release", "Release of a released BytesBuffer", b.Release)
		x, y := GetPooledBytes(), GetPooledBytes()
		if x == y || x.Buf() == y.Buf() {
			t.Fatal("one pooled buffer handed out twice after a misuse")
		}
		x.Buf().B = append(x.Buf().B, 'x')
		if y.Size() != 0 {
			t.Fatal("two buffers share their bytes")
		}
		x.Release()
		y.Release()
	}
}

// TestBytesBufferPoolReuses: a released pooled buffer is handed out again
// (so the pool does its job, and the misuse test above can see a double
// put). The race detector makes sync.Pool drop items at random.
func TestBytesBufferPoolReuses(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	reused := false
	for range 100 {
		a := GetPooledBytes()
		a.Release()
		b := GetPooledBytes()
		reused = reused || a == b
		b.Release()
	}
	if !reused {
		t.Error("the pool never reused a released buffer")
	}
}

// TestBytesBufferConcurrentRefs: racing Retain/Release pairs leave exactly
// one reference, and the last Release frees once: the pooled bytes are
// emptied when the test drops its own reference, not before.
func TestBytesBufferConcurrentRefs(t *testing.T) {
	b := GetPooledBytes()
	bb := b.Buf()
	_, _ = bb.WriteString("shared")
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r := b.Retain()
				if got, _ := r.Bytes(); string(got) != "shared" {
					bad.Add(1)
				}
				r.Release()
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("content changed while shared (%d times)", bad.Load())
	}
	if bb.Len() != 6 {
		t.Fatal("the bytes were freed while the test held a reference")
	}
	b.Release()
	if bb.Len() != 0 {
		t.Error("the last Release did not free the bytes")
	}
	mustPanic(t, "over-release", "Release of a released BytesBuffer", b.Release)
}

func writeTemp(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := seqBytes(n)
	path := filepath.Join(t.TempDir(), "segment.data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestFileSegmentRead(t *testing.T) {
	path, data := writeTemp(t, 100_000)
	opts := FileOptions{LazyFD: true, MemoryMapThreshold: 1 << 20}
	s, err := NewFileSegment(path, 1234, 5000, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if s.Path() != path || s.Offset() != 1234 || s.Size() != 5000 {
		t.Errorf("Path %q Offset %d Size %d", s.Path(), s.Offset(), s.Size())
	}
	if !strings.Contains(s.String(), path) || !strings.Contains(s.String(), "offset=1234") {
		t.Errorf("String = %q", s.String())
	}
	if s.f != nil {
		t.Error("LazyFD segment opened the file at construction")
	}
	got, err := s.Bytes()
	if err != nil || !bytes.Equal(got, data[1234:6234]) {
		t.Fatalf("Bytes: %v", err)
	}
	if s.mapped != nil {
		t.Error("region below MemoryMapThreshold was mapped")
	}
	if got := readAllOf(t, s); !bytes.Equal(got, data[1234:6234]) {
		t.Fatal("Reader returned other bytes")
	}
	// Closing the reader leaves the segment usable.
	if got := readAllOf(t, s); !bytes.Equal(got, data[1234:6234]) {
		t.Fatal("second Reader returned other bytes")
	}
	f1, _ := s.File()
	f2, _ := s.File()
	if f1 == nil || f1 != f2 {
		t.Error("File opened the file twice")
	}
}

func TestFileSegmentMmap(t *testing.T) {
	page := os.Getpagesize()
	path, data := writeTemp(t, 5*page+123)
	for _, c := range []struct{ off, n int64 }{
		{0, int64(len(data))},                    // whole file
		{100, int64(2 * page)},                   // unaligned start
		{int64(page), int64(page)},               // aligned start
		{int64(3*page + 7), int64(2*page + 116)}, // up to the last byte
	} {
		s, err := NewFileSegment(path, c.off, c.n, FileOptions{LazyFD: true, MemoryMapThreshold: 4096})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Bytes()
		if err != nil {
			t.Fatalf("[%d,+%d) Bytes: %v", c.off, c.n, err)
		}
		if s.mapped == nil {
			t.Errorf("[%d,+%d): region over the threshold was not mapped", c.off, c.n)
		}
		if !bytes.Equal(got, data[c.off:c.off+c.n]) {
			t.Fatalf("[%d,+%d): mapped bytes differ", c.off, c.n)
		}
		again, _ := s.Bytes()
		if &again[0] != &got[0] {
			t.Error("second Bytes mapped again")
		}
		s.Release()
		if s.mapped != nil || s.f != nil {
			t.Error("Release kept the mapping or the file")
		}
	}
	// Zero-length segments never map.
	s, err := NewFileSegment(path, 10, 0, FileOptions{LazyFD: true, MemoryMapThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Bytes(); err != nil || len(got) != 0 || s.mapped != nil {
		t.Errorf("empty segment: %d bytes, %v", len(got), err)
	}
	s.Release()
	// With the threshold off, big regions are read.
	s, err = NewFileSegment(path, 0, int64(len(data)), FileOptions{LazyFD: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Bytes(); err != nil || !bytes.Equal(got, data) || s.mapped != nil {
		t.Errorf("threshold 0: %v mapped=%v", err, s.mapped != nil)
	}
	s.Release()
}

func TestFileSegmentErrors(t *testing.T) {
	path, _ := writeTemp(t, 1000)
	missing := filepath.Join(t.TempDir(), "missing")

	// Lazy: construction succeeds, the first use fails.
	s, err := NewFileSegment(path, 900, 101, DefaultFileOptions)
	if err != nil {
		t.Fatalf("lazy segment past EOF failed at construction: %v", err)
	}
	if _, err := s.File(); err == nil {
		t.Error("File on a segment past EOF succeeded")
	}
	if _, err := s.Bytes(); err == nil {
		t.Error("Bytes on a segment past EOF succeeded")
	}
	if _, err := s.Reader(); err == nil {
		t.Error("Reader on a segment past EOF succeeded")
	}
	s.Release()
	s, err = NewFileSegment(missing, 0, 1, DefaultFileOptions)
	if err != nil {
		t.Fatalf("lazy segment of a missing file failed at construction: %v", err)
	}
	if _, err := s.File(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("File of a missing file: %v", err)
	}
	s.Release()

	// Eager: construction opens and checks.
	eager := FileOptions{LazyFD: false, MemoryMapThreshold: 2 << 20}
	if _, err := NewFileSegment(missing, 0, 1, eager); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("eager segment of a missing file: %v", err)
	}
	if _, err := NewFileSegment(path, 1000, 1, eager); err == nil {
		t.Error("eager segment past EOF accepted")
	}
	s, err = NewFileSegment(path, 0, 1000, eager)
	if err != nil {
		t.Fatal(err)
	}
	if s.f == nil {
		t.Error("eager segment did not open the file")
	}
	s.Release()

	for _, bad := range [][2]int64{{-1, 1}, {0, -1}} {
		if _, err := NewFileSegment(path, bad[0], bad[1], DefaultFileOptions); err == nil {
			t.Errorf("segment [%d,+%d) accepted", bad[0], bad[1])
		}
	}
	if !DefaultFileOptions.LazyFD || DefaultFileOptions.MemoryMapThreshold != 2<<20 {
		t.Errorf("DefaultFileOptions = %+v, want Spark's (lazy, 2m)", DefaultFileOptions)
	}
}

// TestFileSegmentReleaseClosesFile: the descriptor lives as long as the last
// reference.
func TestFileSegmentReleaseClosesFile(t *testing.T) {
	path, data := writeTemp(t, 10_000)
	s, err := NewFileSegment(path, 0, 10_000, FileOptions{LazyFD: false, MemoryMapThreshold: 4096})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bytes(); err != nil {
		t.Fatal(err)
	}
	s.Retain()
	s.Release()
	if f.Fd() == ^uintptr(0) {
		t.Fatal("file closed while a reference remains")
	}
	if got, err := s.Bytes(); err != nil || !bytes.Equal(got, data) {
		t.Fatal("content gone while a reference remains")
	}
	s.Release()
	if f.Fd() != ^uintptr(0) {
		t.Error("file still open after the last Release")
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close after the last Release: %v, want os.ErrClosed", err)
	}
	if s.f != nil || s.mapped != nil {
		t.Error("segment keeps the file or the mapping")
	}
	mustPanic(t, "over-release", "Release of a released FileSegment", s.Release)
	mustPanic(t, "Retain after the last Release", "Retain of a released FileSegment", func() { s.Retain() })
}
