package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func seqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

var _ Source = (*BufReader)(nil)

func TestBufReaderBasics(t *testing.T) {
	data := seqBytes(100)
	b := NewBufReader(iotest.OneByteReader(bytes.NewReader(data)), 0) // raised to 16
	if len(b.buf) != 16 {
		t.Errorf("buffer of %d bytes, want the minimum 16", len(b.buf))
	}
	if b.Len() != 0 {
		t.Errorf("Len = %d before any read", b.Len())
	}
	p, err := b.Peek(10)
	if err != nil || !bytes.Equal(p, data[:10]) {
		t.Fatalf("Peek: %x %v", p, err)
	}
	if b.Len() != 10 {
		t.Errorf("Len = %d after Peek(10) with one-byte reads", b.Len())
	}
	if len(p) != cap(p) {
		t.Error("Peek's slice can be appended into the buffer")
	}
	p, err = b.Next(4)
	if err != nil || !bytes.Equal(p, data[:4]) || cap(p) != 4 {
		t.Fatalf("Next: %x %v", p, err)
	}
	if b.Len() != 6 {
		t.Errorf("Len = %d after Next(4)", b.Len())
	}
	if p, err := b.Next(0); err != nil || len(p) != 0 {
		t.Errorf("Next(0) = %x, %v", p, err)
	}
	if _, err := b.Peek(-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("Peek(-1): %v", err)
	}
	if _, err := b.Next(-5); !errors.Is(err, ErrMalformed) {
		t.Errorf("Next(-5): %v", err)
	}
	rest, err := b.Next(96)
	if err != nil || !bytes.Equal(rest, data[4:]) {
		t.Fatalf("Next(96): %v", err)
	}
	if _, err := b.Next(1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Next past the end: %v, want ErrUnexpectedEOF", err)
	}
	if err := b.Fill(); !errors.Is(err, io.EOF) {
		t.Errorf("Fill at EOF: %v", err)
	}
}

func TestBufReaderFill(t *testing.T) {
	b := NewBufReader(iotest.HalfReader(bytes.NewReader(seqBytes(64))), 16)
	total := 0
	for {
		before := b.Len()
		err := b.Fill()
		total += b.Len() - before
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		if b.Len() == before {
			t.Fatal("Fill returned nil without reading")
		}
		if _, err := b.Next(b.Len()); err != nil {
			t.Fatal(err)
		}
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if total != 64 {
		t.Errorf("Fill read %d bytes, want 64", total)
	}
	// A read error is sticky, and bytes that came with it are kept.
	boom := errors.New("boom")
	b = NewBufReader(&errAfterReader{[]byte("abc"), boom}, 16)
	if err := b.Fill(); err != nil {
		t.Fatal(err)
	}
	if err := b.Fill(); !errors.Is(err, boom) {
		t.Fatalf("Fill: %v", err)
	}
	if p, err := b.Next(3); err != nil || string(p) != "abc" {
		t.Errorf("Next after the error: %q %v", p, err)
	}
	if _, err := b.Peek(1); !errors.Is(err, boom) {
		t.Errorf("Peek: %v, want the read error", err)
	}
}

// TestBufReaderNextValidUntilRelease: slices from Next keep their bytes while
// later reads fill, grow or would compact the buffer.
func TestBufReaderNextValidUntilRelease(t *testing.T) {
	data := seqBytes(10_000)
	for _, piece := range []int{1, 7, 100, 10_000} {
		b := NewBufReader(schedulePieces(data, repeat(piece, 10_000)...), 16)
		var got [][]byte
		off := 0
		for i, n := range []int{10, 5, 1, 20, 300, 2, 2, 1000, 7, 3000, 1} {
			p, err := b.Next(n)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p)
			off += n
			// Everything handed out so far is intact.
			o := 0
			for j, q := range got {
				if !bytes.Equal(q, data[o:o+len(q)]) {
					t.Fatalf("piece %d: after Next #%d slice #%d changed", piece, i, j)
				}
				o += len(q)
			}
		}
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		// After Release the reader goes on with the right bytes.
		p, err := b.Next(500)
		if err != nil || !bytes.Equal(p, data[off:off+500]) {
			t.Fatalf("after Release: %v", err)
		}
	}
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestBufReaderNoCompactionWhilePinned: with room for the next bytes only if
// the consumed prefix were reused, a pinned buffer must grow into a new array
// instead of moving bytes over slices still in use.
func TestBufReaderNoCompactionWhilePinned(t *testing.T) {
	data := seqBytes(200)
	b := NewBufReader(schedulePieces(data, 40, 40, 40, 40, 40), 64)
	p1, err := b.Next(40) // buffer [0,40) read, 40 consumed
	if err != nil {
		t.Fatal(err)
	}
	first := &b.buf[0]
	p2, err := b.Next(40) // needs 40 more: 24 free at the end, 40 reusable at the start
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, data[:40]) || !bytes.Equal(p2, data[40:80]) {
		t.Fatal("slices changed while pinned")
	}
	if &b.buf[0] == first {
		t.Fatal("pinned buffer was compacted in place")
	}
}

// TestBufReaderReleaseCompacts: once released, the consumed prefix is reused
// rather than the buffer growing, and unread bytes survive the move.
func TestBufReaderReleaseCompacts(t *testing.T) {
	data := seqBytes(64 * 100)
	b := NewBufReader(schedulePieces(data, repeat(48, 1000)...), 64)
	first := &b.buf[0]
	off := 0
	for i := range 100 {
		n := 40 + i%17
		p, err := b.Next(n)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[off:off+n]) {
			t.Fatalf("round %d: wrong bytes", i)
		}
		off += n
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		if len(b.buf) != 64 || &b.buf[0] != first {
			t.Fatalf("round %d: buffer grew to %d bytes although every frame was released", i, len(b.buf))
		}
	}
	if off < 4000 {
		t.Fatalf("read only %d bytes", off)
	}
	// Without Release it must grow.
	b = NewBufReader(bytes.NewReader(data), 64)
	for range 3 {
		if _, err := b.Next(40); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.buf) <= 64 {
		t.Errorf("buffer of %d bytes holds 120 pinned bytes", len(b.buf))
	}
	// Release with unread bytes left: they are kept in order.
	b = NewBufReader(schedulePieces(data, 60, 60, 60), 64)
	if _, err := b.Next(50); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 10 {
		t.Fatalf("Len = %d", b.Len())
	}
	if p, err := b.Next(60); err != nil || !bytes.Equal(p, data[50:110]) {
		t.Fatalf("unread bytes lost in compaction: %v", err)
	}
	if len(b.buf) != 64 {
		t.Errorf("buffer grew to %d bytes", len(b.buf))
	}
}

// TestBufReaderShrinks: a frame of at least largeFrame bytes is read into
// the side buffer (never into buf), and a side buffer larger than
// shrinkAbove is dropped on Release; unread bytes survive.
func TestBufReaderShrinks(t *testing.T) {
	big := 8 << 20
	data := seqBytes(big + 100)
	b := NewBufReader(bytes.NewReader(data), 16)
	p, err := b.Next(big)
	if err != nil || !bytes.Equal(p, data[:big]) {
		t.Fatal(err)
	}
	if len(b.buf) >= largeFrame {
		t.Fatalf("large frame went through buf (%d bytes)", len(b.buf))
	}
	if cap(b.big) < big {
		t.Fatalf("side buffer of %d bytes", cap(b.big))
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if b.big != nil {
		t.Fatalf("side buffer of %d bytes kept after Release", cap(b.big))
	}
	if q, err := b.Next(100); err != nil || !bytes.Equal(q, data[big:]) {
		t.Fatalf("tail: %v", err)
	}
}

// TestBufReaderLargeRequestSmallPieces: one Next of several MiB over tiny
// reads completes with the right bytes.
func TestBufReaderLargeRequestSmallPieces(t *testing.T) {
	data := seqBytes(3 << 20)
	rd := schedulePieces(data, repeat(1000, 1<<20)...)
	b := NewBufReader(rd, 16)
	p, err := b.Next(len(data))
	if err != nil || !bytes.Equal(p, data) {
		t.Fatalf("Next: %v", err)
	}
	if rd.reads < len(data)/1000 {
		t.Errorf("%d reads", rd.reads)
	}
}
