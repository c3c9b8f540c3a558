package codec

import (
	"fmt"
	"os"
	"sync"
)

// SharedFile is an open file that several file segments (and a cache of
// open files) share. It starts with one reference; Retain adds one, Release
// drops one, and the last Release closes the file. Segments read it only
// at explicit offsets (sendfile with an offset, ReadAt, mmap), never
// through the file's position, so any number may be sent at once.
type SharedFile struct {
	refs refCount
	f    *os.File
	size int64
}

// NewSharedFile takes over f, an open regular file of size bytes (the
// caller's fstat of the open descriptor), with one reference.
func NewSharedFile(f *os.File, size int64) *SharedFile {
	s := &SharedFile{f: f, size: size}
	s.refs.init()
	return s
}

// File returns the open file. It stays open while the caller holds a
// reference.
func (s *SharedFile) File() *os.File { return s.f }

// Size returns the file's size when it was opened.
func (s *SharedFile) Size() int64 { return s.size }

// Retain adds a reference and returns s.
func (s *SharedFile) Retain() *SharedFile { s.refs.retain("SharedFile"); return s }

// Release drops a reference; the last closes the file.
func (s *SharedFile) Release() {
	if s.refs.release("SharedFile") {
		_ = s.f.Close()
	}
}

// segPool recycles the segments of shared files, so that serving a chunk
// from an open file allocates nothing.
var segPool = sync.Pool{New: func() any { return new(FileSegment) }}

// NewSharedFileSegment returns a segment of bytes [offset, offset+length)
// of an already open file. The segment holds its own reference to sf (the
// caller keeps its own) and drops it on its last Release; it never opens
// or closes the file by path, so what it sends is exactly the file the
// caller opened. The region must lie inside sf's size. Segments come from
// a pool: a segment must not be used after its last Release.
func NewSharedFileSegment(sf *SharedFile, offset, length int64, opts FileOptions) (*FileSegment, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("codec: bad file segment %s [%d,+%d)", sf.f.Name(), offset, length)
	}
	if offset > sf.size-length {
		return nil, fmt.Errorf("codec: file segment [%d,+%d) past the end of %s (%d bytes)", offset, length, sf.f.Name(), sf.size)
	}
	s := segPool.Get().(*FileSegment)
	s.shared = sf.Retain()
	s.path, s.offset, s.length, s.opts = sf.f.Name(), offset, length, opts
	s.refs.init()
	return s, nil
}
