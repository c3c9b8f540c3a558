package codec

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/atomic"
)

// ManagedBuffer is a body with an explicit lifetime: in-memory bytes or a
// region of a file. It starts with one reference; Retain adds one, Release
// drops one, and the last Release frees what the buffer holds (a pooled
// buffer, a file descriptor, a mapping). Releasing more often than retained
// is a programming error and panics.
type ManagedBuffer interface {
	// Size is the number of bytes of content.
	Size() int64
	// Bytes returns the content in memory. For a file segment this reads or
	// maps the region; the slice is valid until the last Release.
	Bytes() ([]byte, error)
	// Reader returns a reader over the content.
	Reader() (io.ReadCloser, error)
	// Retain adds a reference and returns the buffer.
	Retain() ManagedBuffer
	// Release drops a reference.
	Release()
}

type refCount struct{ n atomic.Int32 }

func (r *refCount) init() { r.n.Store(1) }

// retain adds a reference. A misuse (the count is already zero) panics
// without changing the count, so a recovered panic cannot revive a buffer
// that a later Release would free a second time.
func (r *refCount) retain(what string) {
	for {
		n := r.n.Load()
		if n <= 0 {
			panic("codec: Retain of a released " + what)
		}
		if r.n.CompareAndSwap(n, n+1) {
			return
		}
	}
}

// release drops a reference and reports whether it was the last. Like
// retain, a misuse panics and leaves the count as it was.
func (r *refCount) release(what string) bool {
	for {
		n := r.n.Load()
		if n <= 0 {
			panic("codec: Release of a released " + what)
		}
		if r.n.CompareAndSwap(n, n-1) {
			return n == 1
		}
	}
}

// BytesBuffer is a ManagedBuffer over bytes in memory: either a slice the
// caller owns (NewBytes) or a pooled buffer (GetPooledBytes), in which case
// the last Release gives the BytesBuffer back to its pool together with its
// bytes, so a warm pool makes a message buffer cost no allocation.
type BytesBuffer struct {
	refs refCount
	b    []byte
	// pooled, when set, is &own: the content is in own.B, and the
	// BytesBuffer is one of bytesBufs.
	pooled *bytebufferpool.ByteBuffer
	// own is a pooled BytesBuffer's bytes. They stay with it in bytesBufs
	// (one pool operation per message, where taking them from a
	// bytebufferpool.Pool of their own would be a second).
	own bytebufferpool.ByteBuffer
}

// NewBytes wraps b. The caller must not change b while the buffer is shared.
func NewBytes(b []byte) *BytesBuffer {
	buf := &BytesBuffer{b: b}
	buf.refs.init()
	return buf
}

// GetPooledBytes returns an empty pooled BytesBuffer holding one reference.
// Write the content into Buf (append to its B, or use its Write methods)
// before handing the buffer on; the last Release returns the BytesBuffer
// and its bytes to the pool, after which neither may be touched (a
// Release too many panics, unless the BytesBuffer was reused meanwhile,
// which no check can see).
func GetPooledBytes() *BytesBuffer {
	b := bytesBufs.Get().(*BytesBuffer)
	b.pooled = &b.own
	b.refs.init()
	return b
}

// Buf returns the buffer a BytesBuffer from GetPooledBytes keeps its
// content in, or nil for one from NewBytes. Change it only while holding
// the sole reference, before the content is shared.
func (b *BytesBuffer) Buf() *bytebufferpool.ByteBuffer { return b.pooled }

func (b *BytesBuffer) content() []byte {
	if b.pooled != nil {
		return b.pooled.B
	}
	return b.b
}

// Size implements ManagedBuffer.
func (b *BytesBuffer) Size() int64 { return int64(len(b.content())) }

// Bytes implements ManagedBuffer; it never fails.
func (b *BytesBuffer) Bytes() ([]byte, error) { return b.content(), nil }

// Reader implements ManagedBuffer.
func (b *BytesBuffer) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.content())), nil
}

// Retain implements ManagedBuffer.
func (b *BytesBuffer) Retain() ManagedBuffer { b.refs.retain("BytesBuffer"); return b }

// Release implements ManagedBuffer. The last Release of a pooled buffer
// empties it (dropping bytes grown past pooledBytesKeep) and returns it to
// the pool.
func (b *BytesBuffer) Release() {
	if !b.refs.release("BytesBuffer") {
		return
	}
	if b.pooled != nil {
		b.pooled = nil
		if cap(b.own.B) > pooledBytesKeep {
			b.own.B = nil
		}
		b.own.Reset()
		bytesBufs.Put(b)
		return
	}
	b.b = nil
}

// FileOptions say how file segments use descriptors and memory.
type FileOptions struct {
	// LazyFD opens the file only when the content is first needed
	// (spark.<module>.io.lazyFD, default true); otherwise NewFileSegment
	// opens it at once.
	LazyFD bool
	// MemoryMapThreshold: Bytes maps regions of at least this many bytes
	// instead of reading them (spark.storage.memoryMapThreshold, 2m).
	// Zero or less means always read.
	MemoryMapThreshold int64
}

// DefaultFileOptions are Spark's defaults.
var DefaultFileOptions = FileOptions{LazyFD: true, MemoryMapThreshold: 2 << 20}

// FileSegment is a ManagedBuffer over bytes [Offset, Offset+Length) of a file.
// The transport sends it with sendfile(2); the bytes never pass through user
// memory on that path.
type FileSegment struct {
	refs   refCount
	path   string
	offset int64
	length int64
	opts   FileOptions
	// shared, when set, is the open file the segment reads (it came from
	// NewSharedFileSegment and goes back to segPool on its last Release).
	shared *SharedFile

	mu     sync.Mutex // guards f and mapped
	f      *os.File
	mapped []byte
}

// NewFileSegment describes a region of path. The region is checked against
// the file's size when the file is opened.
func NewFileSegment(path string, offset, length int64, opts FileOptions) (*FileSegment, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("codec: bad file segment %s [%d,+%d)", path, offset, length)
	}
	s := &FileSegment{path: path, offset: offset, length: length, opts: opts}
	s.refs.init()
	if !opts.LazyFD {
		if _, err := s.File(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Path returns the file's path.
func (s *FileSegment) Path() string { return s.path }

// Offset returns where the region starts.
func (s *FileSegment) Offset() int64 { return s.offset }

// Size implements ManagedBuffer.
func (s *FileSegment) Size() int64 { return s.length }

// File opens the file (once) and returns it. The segment owns the
// descriptor; it is closed on the last Release. A segment of a shared
// file returns that file, open already.
func (s *FileSegment) File() (*os.File, error) {
	if s.shared != nil {
		return s.shared.f, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		return s.f, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("codec: open file segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("codec: stat file segment: %w", err)
	}
	if s.offset+s.length > st.Size() {
		f.Close()
		return nil, fmt.Errorf("codec: file segment [%d,+%d) past the end of %s (%d bytes)",
			s.offset, s.length, s.path, st.Size())
	}
	s.f = f
	return f, nil
}

// Bytes implements ManagedBuffer: regions of at least MemoryMapThreshold
// bytes are memory-mapped, smaller ones read.
func (s *FileSegment) Bytes() ([]byte, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	if s.length == 0 {
		return []byte{}, nil
	}
	if t := s.opts.MemoryMapThreshold; t > 0 && s.length >= t {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.mapped == nil {
			page := int64(os.Getpagesize())
			start := s.offset &^ (page - 1)
			m, err := mapRegion(f, start, int(s.offset-start+s.length))
			if err != nil {
				return nil, fmt.Errorf("codec: mmap file segment: %w", err)
			}
			s.mapped = m
		}
		skip := len(s.mapped) - int(s.length)
		return s.mapped[skip:], nil
	}
	b := make([]byte, s.length)
	if _, err := f.ReadAt(b, s.offset); err != nil {
		return nil, fmt.Errorf("codec: read file segment: %w", err)
	}
	return b, nil
}

// Reader implements ManagedBuffer with a section reader over the region.
// Closing it does not close the segment's file.
func (s *FileSegment) Reader() (io.ReadCloser, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(io.NewSectionReader(f, s.offset, s.length)), nil
}

// Retain implements ManagedBuffer.
func (s *FileSegment) Retain() ManagedBuffer { s.refs.retain("FileSegment"); return s }

// Release implements ManagedBuffer.
func (s *FileSegment) Release() {
	if !s.refs.release("FileSegment") {
		return
	}
	s.mu.Lock()
	if s.mapped != nil {
		_ = unmapRegion(s.mapped)
		s.mapped = nil
	}
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	sf := s.shared
	s.shared = nil
	s.mu.Unlock()
	if sf != nil {
		sf.Release()
		s.path = ""
		segPool.Put(s)
	}
}

// String describes the segment for logs.
func (s *FileSegment) String() string {
	return fmt.Sprintf("FileSegment{%s, offset=%d, length=%d}", s.path, s.offset, s.length)
}
