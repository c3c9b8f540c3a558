package codec

import (
	"io"
)

// DefaultReadBufferSize is BufReader's initial buffer size.
const DefaultReadBufferSize = 64 << 10

// shrinkAbove is the buffer size above which an emptied BufReader drops its
// buffer for a default-sized one, so one huge frame does not pin memory.
const shrinkAbove = 4 << 20

// BufReader is a Source over an io.Reader (a net.Conn in NIO mode). Unlike
// bufio.Reader, slices returned by Next stay valid until Release: growing the
// buffer copies into a new array and leaves the old one to the slices that
// still point at it.
type BufReader struct {
	rd     io.Reader
	buf    []byte
	r, w   int
	pinned bool // slices handed out since the last Release
	err    error

	// big holds one large frame read straight from rd, so large frames are
	// never compacted or copied inside buf. It is reused after Release.
	big       []byte
	bigPinned bool
}

// largeFrame is the size from which Next reads into the big buffer.
const largeFrame = 256 << 10

// NewBufReader returns a BufReader with a buffer of size bytes (at least 16).
func NewBufReader(rd io.Reader, size int) *BufReader {
	if size < 16 {
		size = 16
	}
	return &BufReader{rd: rd, buf: make([]byte, size)}
}

// Len returns the number of bytes buffered and not yet consumed.
func (b *BufReader) Len() int { return b.w - b.r }

// Fill reads once from the underlying reader, blocking until some bytes
// arrive, and returns the error that ended the read, if any.
func (b *BufReader) Fill() error {
	if b.err != nil {
		return b.err
	}
	b.makeRoom(1)
	n, err := b.rd.Read(b.buf[b.w:])
	b.w += n
	if err != nil {
		b.err = err
	}
	if n > 0 {
		return nil
	}
	return b.err
}

// Peek returns the next n bytes without consuming them.
func (b *BufReader) Peek(n int) ([]byte, error) {
	if err := b.ensure(n); err != nil {
		return nil, err
	}
	return b.buf[b.r : b.r+n : b.r+n], nil
}

// Next consumes and returns the next n bytes.
func (b *BufReader) Next(n int) ([]byte, error) {
	if n >= largeFrame && b.w-b.r < n && b.err == nil {
		return b.nextLarge(n)
	}
	if err := b.ensure(n); err != nil {
		return nil, err
	}
	p := b.buf[b.r : b.r+n : b.r+n]
	b.r += n
	b.pinned = true
	return p, nil
}

// nextLarge reads a large piece into the big buffer: what is buffered is
// copied once, the rest is read directly into place. The buffer grows with
// the bytes that arrive, so a peer cannot make it allocate what it does not
// send.
func (b *BufReader) nextLarge(n int) ([]byte, error) {
	var big []byte
	if !b.bigPinned && cap(b.big) >= n {
		big = b.big[:0]
	} else {
		big = make([]byte, 0, min(n, max(2*(b.w-b.r), largeFrame)))
	}
	big = append(big, b.buf[b.r:b.w]...)
	b.r = b.w
	for len(big) < n {
		if len(big) == cap(big) {
			nb := make([]byte, len(big), min(n, 2*cap(big)))
			copy(nb, big)
			big = nb
		}
		m, err := b.rd.Read(big[len(big):min(n, cap(big))])
		big = big[:len(big)+m]
		if err != nil && len(big) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return nil, err
		}
	}
	if !b.bigPinned {
		b.big = big
		b.bigPinned = true
	}
	b.pinned = true
	return big[:n:n], nil
}

// Release ends the validity of the slices returned so far.
func (b *BufReader) Release() error {
	b.bigPinned = false
	if cap(b.big) > shrinkAbove {
		b.big = nil
	}
	b.pinned = false
	if b.r == b.w {
		b.r, b.w = 0, 0
		if len(b.buf) > shrinkAbove {
			b.buf = make([]byte, DefaultReadBufferSize)
		}
	}
	return nil
}

func (b *BufReader) ensure(n int) error {
	if n < 0 {
		return ErrMalformed
	}
	for b.w-b.r < n {
		if b.err != nil {
			if b.err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return b.err
		}
		// Grow with the data that actually arrives (doubling), not to the
		// length a peer claims: 8 hostile bytes must not allocate 2 GiB.
		want := n - (b.w - b.r)
		if step := len(b.buf); want > step {
			want = step
		}
		b.makeRoom(want)
		m, err := b.rd.Read(b.buf[b.w:])
		b.w += m
		if err != nil {
			b.err = err
		}
	}
	return nil
}

// makeRoom makes space for at least extra more bytes after w.
func (b *BufReader) makeRoom(extra int) {
	if len(b.buf)-b.w >= extra {
		return
	}
	unread := b.w - b.r
	need := unread + extra
	if !b.pinned && need <= len(b.buf) {
		copy(b.buf, b.buf[b.r:b.w])
		b.r, b.w = 0, unread
		return
	}
	size := 2 * len(b.buf)
	if size < need {
		size = need
	}
	nb := make([]byte, size)
	copy(nb, b.buf[b.r:b.w])
	b.buf, b.r, b.w = nb, 0, unread
}
