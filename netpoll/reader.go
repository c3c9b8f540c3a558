package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"

	"github.com/ember-rpc/ember/codec"
)

// The one read loop, for every io mode and layer.
//
// A reading pass takes a buffer from a pool, reads what the socket holds
// (opening it through the session layer, if any), decodes and dispatches
// every whole frame, and ends when the socket has nothing more: EPOLL
// waits for the connection's next edge, NIO for readability, neither
// holding a buffer. Bytes of an incomplete frame stay behind with the
// connection; no goroutine waits for the rest. A frame larger than the
// pass buffer is received into a buffer of its own, its body on a page
// boundary (bigBuf); while such frames keep coming, a read into the pass
// buffer asks only for about a frame's head (headRoom).
//
// Reading stops (no re-arm, no read) while the connection is over a bound:
// requests received and not yet answered on the wire (maxOutstandingRequests),
// or a pending close. Whoever brings the count back under the bound
// resumes it.

// maxSpare bounds the large-frame buffer a connection keeps for reuse.
const maxSpare = 2 << 20

// readBufSize is the size of a pass buffer; larger frames get their own.
const readBufSize = 64 << 10

// lowatCap bounds the SO_RCVLOWAT a large frame's receipt asks for.
const lowatCap = 256 << 10

// headLimit bounds a read into the pass buffer while large frames are
// expected (see headRoom).
const headLimit = 4 << 10

// pageSize is the alignment bigBuf gives a large frame's body.
const pageSize = 4096

// keepSmall: an incomplete frame of at most this many bytes is copied out
// of the pass buffer at the end of a pass, so an idle connection holds no
// pass buffer.
const keepSmall = 4 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// inbuf is a connection's unconsumed input. buf[r:w] is buffered; big,
// when set, is a large frame being received (bigN bytes so far).
type inbuf struct {
	pooled  *[]byte
	buf     []byte
	r, w    int
	big     []byte
	bigN    int
	bigBase []byte // the whole allocation big was placed in
	spare   []byte // the last large frame's allocation, for reuse
	lowat   int    // the socket's SO_RCVLOWAT as last set (0: never set)
	// expectBig: the last frame was large (see headRoom).
	expectBig bool
	kept      []byte // an incomplete frame carried between passes

	// Session layer: plaintext opened but not yet placed in buf.
	opened    []byte
	openedOff int
	scratch   []byte
}

// inSrc is a codec.Source over buf[r:w]. Frames are decoded only when
// whole, so Peek and Next never wait.
type inSrc inbuf

var errShortSource = errors.New("netpoll: frame decoded before it was whole")

func (s *inSrc) Len() int { return s.w - s.r }
func (s *inSrc) Peek(n int) ([]byte, error) {
	if n < 0 || n > s.w-s.r {
		return nil, errShortSource
	}
	return s.buf[s.r : s.r+n : s.r+n], nil
}
func (s *inSrc) Next(n int) ([]byte, error) {
	p, err := s.Peek(n)
	if err == nil {
		s.r += n
	}
	return p, err
}
func (s *inSrc) Release() error { return nil }

// bigSrc is a codec.Source over one whole large frame.
type bigSrc struct {
	b   []byte
	off int
}

func (s *bigSrc) Len() int { return len(s.b) - s.off }
func (s *bigSrc) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(s.b)-s.off {
		return nil, errShortSource
	}
	return s.b[s.off : s.off+n : s.off+n], nil
}
func (s *bigSrc) Next(n int) ([]byte, error) {
	p, err := s.Peek(n)
	if err == nil {
		s.off += n
	}
	return p, err
}
func (s *bigSrc) Release() error { return nil }

// passResult is how a reading pass ended.
type passResult uint8

const (
	passMore   passResult = iota // the socket is drained: wait for bytes
	passPaused                   // over a bound: do not read until resumed
	passEnded                    // closed, or failed (already handled)
)

// acquire gives the connection a pass buffer, with what an earlier pass
// kept at its start.
func (in *inbuf) acquire() {
	if in.buf != nil {
		return
	}
	in.pooled = readBufs.Get().(*[]byte)
	in.buf = *in.pooled
	in.r, in.w = 0, copy(*in.pooled, in.kept)
	in.kept = in.kept[:0]
}

// headRoom is how much a read into the pass buffer asks for. After a large
// frame it is headLimit: the next frame is likely large too, and its head
// is copied from the pass buffer into its own buffer, while the rest is read
// there directly. A small frame decoded from the pass buffer ends that.
func (in *inbuf) headRoom() int {
	if in.expectBig {
		return headLimit
	}
	return readBufSize
}

// bigBuf returns the n-byte buffer a large frame is received into, placed
// so that its in-frame body, which starts off bytes in (0: not known),
// begins on a page boundary. A chunk sent with sendfile comes from page
// cache pages; when the kernel copies it to a destination a few bytes past
// the source's offset within its page, every load aliases a store just
// made (4K aliasing), which halved the copy's speed on this project's
// machine (a body 21 bytes into a page-aligned buffer: 2x the copy time of
// a page-aligned one, 8 bytes in: 4x). The buffer is the spare of the last
// large frame when that is large enough and not more than twice the need.
func (in *inbuf) bigBuf(n, off int) []byte {
	need := n + pageSize
	var base []byte
	if c := cap(in.spare); c >= need && c <= 2*need {
		base, in.spare = in.spare[:c], nil
	} else {
		base = make([]byte, need)
	}
	o := 0
	if off > 0 {
		at := uintptr(unsafe.Pointer(unsafe.SliceData(base))) + uintptr(off)
		o = int((pageSize - at%pageSize) % pageSize)
	}
	in.bigBase = base
	return base[o : o+n : o+n]
}

// buffered reports whether unconsumed input is held.
func (in *inbuf) buffered() bool {
	return len(in.kept) > 0 || in.w > in.r || in.big != nil || in.openedOff < len(in.opened)
}

// releaseBuf ends a pass: an empty or small remainder frees the pass
// buffer; a larger one keeps it.
func (in *inbuf) releaseBuf() {
	if in.buf == nil {
		return
	}
	n := in.w - in.r
	if n > keepSmall {
		return
	}
	in.kept = append(in.kept[:0], in.buf[in.r:in.w]...)
	if n == 0 && cap(in.kept) > keepSmall {
		in.kept = nil
	}
	*in.pooled = (*in.pooled)[:readBufSize]
	readBufs.Put(in.pooled)
	in.pooled, in.buf, in.r, in.w = nil, nil, 0, 0
}

// readPass reads and handles what the socket has. With block, it first
// waits for readability (NIO's reader).
func (c *Client) readPass(block bool) passResult {
	in := &c.in
	in.acquire()
	defer c.endPass() // budget.go: gives the pass buffer back and counts what input keeps
	for {
		if c.closed.Load() {
			return passEnded
		}
		paused, err := c.consume()
		if err != nil {
			return c.endReading(&ConnError{Op: "read", Addr: c.remote, Err: err}, true)
		}
		if paused {
			return passPaused
		}
		n, short, err := c.fill(block)
		block = false
		if n > 0 {
			c.lastIO.Store(nanotime())
		}
		if err == errWouldBlock {
			c.tuneLowat()
			return passMore
		}
		if err == nil && short && !c.peerEnded() {
			// The socket gave less than there was room for: it is
			// drained (bytes that arrive now raise a new edge, or wake
			// the next blocking read). Saves the read that would only
			// say EAGAIN. Not once the peer's end was reported: that
			// edge is spent, so the pass reads on to the end of stream.
			if paused, err := c.consume(); err != nil {
				return c.endReading(&ConnError{Op: "read", Addr: c.remote, Err: err}, true)
			} else if paused {
				return passPaused
			}
			c.tuneLowat()
			return passMore
		}
		if err != nil {
			// Handle what arrived with the error first (a last frame
			// before EOF).
			if n > 0 {
				if _, cerr := c.consume(); cerr != nil {
					return c.endReading(&ConnError{Op: "read", Addr: c.remote, Err: cerr}, true)
				}
			}
			if errors.Is(err, io.EOF) {
				// The peer closed its side: answers already queued still
				// go out (it may be waiting for them), then the close.
				return c.endReading(&ConnError{Op: "close", Addr: c.remote, Err: ErrClosed}, false)
			}
			if !c.closed.Load() {
				c.exception(&ConnError{Op: "read", Addr: c.remote, Err: err})
			}
			return passEnded
		}
	}
}

// tuneLowat runs as a pass ends waiting for bytes. While a large frame
// is being received the socket is reported readable only once the rest
// of it (at most lowatCap) is buffered, so a 1 MiB chunk costs a few
// large reads instead of one wake-up and read per arriving segment; then
// the default comes back. Not under a session layer, whose records may
// hold part of the rest already.
func (c *Client) tuneLowat() {
	in := &c.in
	want := 1
	if in.big != nil && c.opener.Load() == nil {
		want = max(min(len(in.big)-in.bigN, lowatCap), 1)
	}
	if want == in.lowat || (want == 1 && in.lowat == 0) {
		return
	}
	if want > 1 && in.lowat > 1 && want > in.lowat && want < lowatCap {
		return // keep the lower mark set for this frame
	}
	if lc, ok := c.raw.(lowatConn); ok {
		in.lowat = want
		lc.rcvLowat(want)
	}
}

// endReading stops reading for good after cause (a malformed frame, the
// peer's end of stream). The handler hears of an error; frames already
// queued still go out, as an event loop would have written them before
// reading on, and then the connection closes (within the write deadline).
func (c *Client) endReading(cause error, notify bool) passResult {
	if c.closed.Load() {
		return passEnded
	}
	if errors.Is(cause, ErrTooManyChunks) {
		// Over spark.shuffle.maxChunksBeingTransferred: closed at once,
		// sends in progress included (as Spark does).
		c.exception(cause)
		return passEnded
	}
	if notify {
		if obs, ok := c.handler.(ChannelObserver); ok {
			safely(c.log, "ExceptionCaught", func() { obs.ExceptionCaught(cause, c) })
		}
	}
	c.bounds.stop.Store(true)
	c.wmu.Lock()
	idle := !c.writing && len(c.queue) == 0
	c.wmu.Unlock()
	if idle {
		c.shutdown(cause)
		return passEnded
	}
	if err := c.queue1(outMsg{closeWith: cause}); err != nil {
		c.shutdown(cause)
		return passEnded
	}
	return passPaused
}

// fill reads once from the socket (through the session layer) into the
// free space of the large frame or the pass buffer. short reports that
// the socket returned less than was asked for.
func (c *Client) fill(block bool) (int, bool, error) {
	in := &c.in
	var p, spill []byte
	if in.big != nil {
		p = in.big[in.bigN:]
		if _, ok := c.raw.(vecReader); ok && in.buf != nil && in.r == in.w {
			// Bytes past the large frame's end land in the pass
			// buffer in the same read (readv), not in a read of their own.
			in.r, in.w = 0, 0
			spill = in.buf[:in.headRoom()]
		}
	} else {
		if in.r == in.w {
			in.r, in.w = 0, 0
		} else if in.w == len(in.buf) || (in.r > 0 && len(in.buf)-in.w < 512) {
			in.w = copy(in.buf, in.buf[in.r:in.w])
			in.r = 0
		}
		p = in.buf[in.w:min(len(in.buf), in.w+in.headRoom())]
	}
	if len(p) == 0 {
		return 0, false, nil
	}
	// Plaintext opened earlier and not placed yet goes first.
	if in.openedOff < len(in.opened) {
		n := copy(p, in.opened[in.openedOff:])
		in.openedOff += n
		c.placed(n)
		return n, false, nil
	}
	if spill != nil && c.opener.Load() == nil {
		return c.fillSpill(p, spill, block)
	}
	// The layer is looked up after the read returns: bytes that arrive
	// after it was installed are opened even if the read began before.
	n, err := c.raw.read(p, block)
	short := n < len(p) && c.raw.nonBlocking()
	return c.open(p, p[:n], short, err)
}

// open places n read bytes raw (held in p, or copied elsewhere) into p
// through the session layer, if one is installed now.
func (c *Client) open(p, raw []byte, short bool, err error) (int, bool, error) {
	in := &c.in
	n := len(raw)
	box := c.opener.Load()
	if box == nil || n == 0 {
		c.placed(n)
		return n, short, err
	}
	if so, ok := box.Opener.(StreamOpener); ok {
		so.XORInPlace(raw) // raw is p[:n]
		c.placed(n)
		return n, short, err
	}
	// A framed layer: the plaintext of the records these bytes complete
	// may be longer or shorter than them.
	in.scratch = append(in.scratch[:0], raw...)
	out, oerr := box.Open(in.opened[:0], in.scratch)
	if oerr != nil {
		return 0, false, fmt.Errorf("decrypting: %w", oerr)
	}
	in.opened = out
	k := copy(p, out)
	in.openedOff = k
	c.placed(k)
	if k == 0 && err == nil {
		return 0, false, nil // an incomplete record: read again
	}
	return k, short && in.openedOff == len(in.opened), err
}

// fillSpill reads the rest of a large frame (p) and what follows it
// (spill, the empty pass buffer) with one readv.
func (c *Client) fillSpill(p, spill []byte, block bool) (int, bool, error) {
	in := &c.in
	n, err := c.raw.(vecReader).read2(p, spill, block)
	short := n < len(p)+len(spill)
	k := min(n, len(p))
	if box := c.opener.Load(); box != nil && n > 0 {
		// A layer installed while the read was under way (the peer sent
		// nothing it may not): the bytes are opened in their order.
		if so, ok := box.Opener.(StreamOpener); ok {
			so.XORInPlace(p[:k])
			so.XORInPlace(spill[:n-k])
		} else {
			// A framed layer: all of it through p; what p cannot take
			// waits in in.opened.
			raw := append(append([]byte(nil), p[:k]...), spill[:n-k]...)
			return c.open(p, raw, false, err)
		}
	}
	in.bigN += k
	in.w += n - k
	return n, short, err
}

// placed records n bytes added to the input.
func (c *Client) placed(n int) {
	if n <= 0 {
		return
	}
	if c.in.big != nil {
		c.in.bigN += n
	} else {
		c.in.w += n
	}
}

// consume decodes and dispatches every whole frame buffered, feeding an
// interceptor first. It reports paused when reading must stop.
func (c *Client) consume() (paused bool, err error) {
	in := &c.in
	for !c.closed.Load() {
		if in.big != nil {
			if in.bigN < len(in.big) {
				c.markPartial()
				return false, nil
			}
			big := in.big
			in.big, in.bigN = nil, 0
			c.budgetSub(int64(len(big)))
			src := &bigSrc{b: big}
			m, err := c.dec.Decode(src)
			if err != nil {
				return false, err
			}
			if err := c.dispatchChecked(m); err != nil {
				return false, err
			}
			if cap(in.bigBase) <= maxSpare+pageSize {
				in.spare = in.bigBase // the next large frame of about its size reuses it
			}
			in.bigBase = nil
			if c.overBound() && c.tryPause() {
				return true, nil
			}
			continue
		}
		avail := in.w - in.r
		if avail == 0 {
			c.partialSince.Store(0)
			return false, nil
		}
		if c.dec.Intercepting() {
			c.partialSince.Store(0)
			if err := c.dec.Feed((*inSrc)(in)); err != nil {
				return false, err
			}
			continue
		}
		if avail < 8 {
			c.markPartial()
			return false, nil
		}
		frameLen := int64(binary.BigEndian.Uint64(in.buf[in.r:]))
		if err := c.checkFrame(frameLen); err != nil {
			return false, err
		}
		if frameLen > int64(avail) {
			c.markPartial()
			if frameLen > int64(len(in.buf)) {
				// A large frame: received into a buffer of exactly its
				// size, counted against the process budget.
				if err := c.budgetAdd(frameLen); err != nil {
					return false, err
				}
				off := 0
				if avail > 8 {
					off = codec.Type(int8(in.buf[in.r+8])).BodyOffset()
				}
				in.big = in.bigBuf(int(frameLen), off)
				in.expectBig = true
				in.bigN = copy(in.big, in.buf[in.r:in.w])
				in.r, in.w = 0, 0
			}
			return false, nil
		}
		in.expectBig = false
		m, err := c.dec.Decode((*inSrc)(in))
		if err != nil {
			return false, err
		}
		if err := c.dispatchChecked(m); err != nil {
			return false, err
		}
		if c.overBound() && c.tryPause() {
			return true, nil
		}
	}
	return false, nil
}

// dispatchChecked dispatches m; a session layer installed while m was
// handled, with bytes already buffered behind it, is early data.
func (c *Client) dispatchChecked(m *codec.Message) error {
	plain := !c.layerOn.Load()
	if err := c.dispatch(m); err != nil {
		return err
	}
	if plain && c.layerOn.Load() && (c.in.w > c.in.r || c.in.big != nil) {
		// The layer was installed while that frame was handled (by its
		// handler, on the server): bytes already buffered behind it were
		// read before the layer and cannot be trusted. A correct peer
		// sends nothing until it has the answer.
		return ErrEarlyData
	}
	return nil
}

func (c *Client) markPartial() {
	if c.partialSince.Load() == 0 {
		c.partialSince.Store(nanotime())
	}
}

// checkFrame checks a frame's length field against maxFrameLength, and
// against the pre-authentication cap until the peer has authenticated.
func (c *Client) checkFrame(frameLen int64) error {
	if frameLen <= 8 {
		return fmt.Errorf("%w: frame length field %d", codec.ErrFrameLength, frameLen)
	}
	if c.preAuth.Load() {
		if lim := c.ctx.conf.PreAuthMaxFrameLength; lim > 0 && frameLen > lim {
			c.warn("closing connection: frame before authentication is over the cap",
				"remote", c.remote, "frameLength", frameLen, "limit", lim, "key", c.ctx.conf.Key("ember.preAuthMaxFrameLength"))
			return fmt.Errorf("%w: %d bytes before authentication (limit %d, %s)", codec.ErrFrameTooLarge, frameLen, lim, c.ctx.conf.Key("ember.preAuthMaxFrameLength"))
		}
	}
	max := int64(codec.MaxFrameLength)
	if l := c.ctx.conf.MaxFrameLength; l > 0 && l < max {
		max = l
	}
	if frameLen > max {
		return fmt.Errorf("%w: %d bytes (limit %d)", codec.ErrFrameTooLarge, frameLen, max)
	}
	return nil
}

// ---- bounds: stop and resume reading ----

// overBound reports whether the connection must stop reading.
func (c *Client) overBound() bool { return c.bounds.over() }

// tryPause stops reading if the connection is (still) over a bound. The
// flag is raised before the bounds are read, so a resumer that lowers a
// count either sees the flag or is seen by the check.
func (c *Client) tryPause() bool {
	c.rmu.Lock()
	c.pausedFlag.Store(true)
	if !c.overBound() {
		c.pausedFlag.Store(false)
		c.rmu.Unlock()
		return false
	}
	c.paused = true
	c.rmu.Unlock()
	return true
}

// maybeResume restarts reading once the connection is back under its
// bounds. It is called after any of the counts went down.
func (c *Client) maybeResume() {
	if !c.pausedFlag.Load() {
		return
	}
	c.rmu.Lock()
	if !c.paused || c.overBound() {
		c.rmu.Unlock()
		return
	}
	c.paused = false
	c.pausedFlag.Store(false)
	p := c.poller
	c.rmu.Unlock()
	if p != nil {
		p.resume(c)
		return
	}
	c.wakeReader()
}

func (c *Client) wakeReader() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ---- the two drivers ----

// readLoopNIO is the reading goroutine of an NIO (or TLS) connection.
func (c *Client) readLoopNIO() {
	for !c.closed.Load() {
		switch c.readPass(true) {
		case passEnded:
			c.readerClosed(ErrClosed)
			return
		case passPaused:
			<-c.wake
		}
	}
	c.readerClosed(ErrClosed)
}
