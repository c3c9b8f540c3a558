package netpoll

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/valyala/bytebufferpool"
)

// The write path.
//
// Every frame is queued to its connection. The goroutine that queues onto
// an idle connection tries to write at once, without waiting: a
// non-blocking writev (or sendfile) takes what the socket accepts, and
// whatever is left goes to the connection's writer goroutine, started for
// the occasion and gone once the queue is empty. So a shared goroutine (an
// endpoint's message loop, a chunk-fetch worker, a reading pass) never
// waits on a peer's socket; only the connection's own writer does, and it
// gives up after the write deadline (connectionTimeout without a byte
// leaving), closing the connection and freeing what was queued for it.
// Frames queued while a write is under way join the next batch: one
// writev per batch.

// outMsg is one queued frame: a header in a pooled buffer and an optional
// body (bytes, or a managed buffer that is released once sent).
type outMsg struct {
	hdr  *bytebufferpool.ByteBuffer
	body []byte
	buf  codec.ManagedBuffer
	// for transfer accounting once written
	chunkStream int64
	streamName  string
	tracked     uint8 // 0 none, 1 chunk, 2 stream
	// answer: the frame answers a request (counted in unanswered until
	// it is on the wire or dropped).
	answer bool
	// sealer, when set, marks the point in the queue from which every
	// byte goes through it (no frame: hdr is nil).
	sealer Sealer
	// closeWith, when set, closes the connection with this error once the
	// frames queued before it are written (no frame).
	closeWith error
	size      int64 // bytes, file regions included (maxQueuedBytes)
	mem       int64 // in-memory bytes (the process budget)
}

const (
	trackNone uint8 = iota
	trackChunk
	trackStream
)

// wstate is the writer's progress through its batch; it moves from the
// queueing goroutine to the writer goroutine with the batch.
type wstate struct {
	batch []outMsg
	next  int      // the next message to gather
	iov   [][]byte // gathered bytes not yet written
	file  *os.File // a file region being sent after iov
	off   int64
	left  int64
}

// errQueueFull reports that a frame did not fit under maxQueuedBytes.
var errQueueFull = errors.New("netpoll: write queue over its limit")

// write encodes m's header into a pooled buffer and queues it with its body.
func (c *Client) write(m *codec.Message, body []byte, buf codec.ManagedBuffer) error {
	return c.writeMsg(m, body, buf, false)
}

func (c *Client) writeMsg(m *codec.Message, body []byte, buf codec.ManagedBuffer, answer bool) error {
	var bodyLen int64
	if buf != nil {
		bodyLen = buf.Size()
	} else {
		bodyLen = int64(len(body))
	}
	hdr, err := codec.EncodeHeader(m, bodyLen)
	if err != nil {
		if buf != nil {
			buf.Release()
		}
		if answer {
			c.answeredOne()
		}
		return err
	}
	return c.queue1(outMsg{hdr: hdr, body: body, buf: buf, answer: answer})
}

// queue1 queues o and, if the connection was idle, starts writing.
func (c *Client) queue1(o outMsg) error {
	start, err := c.enqueue(o)
	if err != nil {
		if err == errQueueFull {
			c.queueFull()
			return ErrPeerNotReading
		}
		return err
	}
	if start {
		if o.answer && !inlineAnswers {
			c.handOff()
			return nil
		}
		c.startWriting()
	}
	return nil
}

// inlineAnswers lets the goroutine that queues an answer (a reply, a
// chunk, a stream) make the first, non-blocking write attempt itself.
// Off by default: answers come from shared goroutines (an endpoint's
// message loop, a chunk-fetch worker, a reading pass), which hand them to
// the connection's writer goroutine and never write to a peer's socket
// at all; measured, the hand-off costs nothing visible at one request in
// flight and batches better with many (BENCHMARKS.md). Requests and
// one-way messages from application goroutines keep the non-blocking
// first attempt (no hand-off). EMBER_NETPOLL_INLINE_ANSWERS=1 turns the
// attempt on for answers too, to measure.
var inlineAnswers = os.Getenv("EMBER_NETPOLL_INLINE_ANSWERS") == "1"

// handOff gives the queue to the writer goroutine without writing here.
func (c *Client) handOff() {
	if c.takeBatch() {
		c.startWriter()
	}
}

// enqueue adds o to the write queue. It reports start when no writer was
// running: the caller must then call startWriting. It never closes the
// connection itself (callers may hold locks that teardown takes): a full
// queue is errQueueFull, and the caller calls queueFull.
func (c *Client) enqueue(o outMsg) (start bool, err error) {
	if o.hdr != nil {
		o.mem = int64(len(o.hdr.B) + len(o.body))
		o.size = o.mem
		if o.buf != nil {
			if _, file := o.buf.(*codec.FileSegment); file {
				o.size += o.buf.Size()
			} else {
				o.mem += o.buf.Size()
				o.size += o.buf.Size()
			}
		}
	}
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		c.finish(&o)
		return false, err
	}
	if lim := c.ctx.conf.MaxQueuedBytes; lim > 0 && c.queued > 0 && c.queued+o.size > lim {
		c.fullAt = c.queued
		c.wmu.Unlock()
		c.finish(&o)
		return false, errQueueFull
	}
	c.queued += o.size
	c.queue = append(c.queue, o)
	if c.writing {
		c.wmu.Unlock()
		c.budgetAddNoCheck(o.mem)
		return false, nil
	}
	c.writing = true
	c.wmu.Unlock()
	c.budgetAddNoCheck(o.mem)
	return true, nil
}

// queueFull closes a connection whose peer does not read its answers.
func (c *Client) queueFull() {
	c.wmu.Lock()
	queued := c.fullAt
	c.wmu.Unlock()
	c.warn("closing connection: peer is not reading its answers",
		"remote", c.remote, "queuedBytes", queued, "limit", c.ctx.conf.MaxQueuedBytes, "key", c.ctx.conf.Key("ember.maxQueuedBytes"))
	c.exception(&ConnError{Op: "write", Addr: c.remote, Err: ErrPeerNotReading})
}

// startWriting runs on the goroutine that queued onto an idle connection:
// it writes what the socket takes without waiting, and hands the rest to
// the connection's writer goroutine.
func (c *Client) startWriting() {
	if !c.takeBatch() {
		return
	}
	if !c.raw.nonBlocking() || c.sealedOut {
		c.startWriter()
		return
	}
	for {
		err := c.writeSome(true)
		if err == errWouldBlock {
			c.startWriter()
			return
		}
		if !c.batchDone(err) {
			return
		}
	}
}

// startWriter hands the batch in hand to the connection's writer
// goroutine. Its wait for the socket counts from now: the idle check
// closes the connection once no byte left for the write deadline.
func (c *Client) startWriter() {
	if c.wprog != nil {
		c.wprog.Store(nanotime())
	}
	c.writerOn.Store(true)
	go c.writeLoop()
}

// writeLoop is the connection's writer goroutine: it finishes the batch
// in hand and every batch queued after it, waiting on the socket.
func (c *Client) writeLoop() {
	defer c.writerOn.Store(false)
	for {
		if !c.batchDone(c.writeSome(false)) {
			return
		}
	}
}

// writerStuck reports how long the writer goroutine has waited without a
// byte leaving (0 if it is not waiting).
func (c *Client) writerStuck(now int64) time.Duration {
	if c.wprog == nil || !c.writerOn.Load() {
		return 0
	}
	return time.Duration(now - c.wprog.Load())
}

// writeTimedOut closes a connection whose peer did not read for the
// write deadline: one log line naming the peer and the key; the writer's
// wait ends with the close and everything queued is freed.
func (c *Client) writeTimedOut(timeout time.Duration) {
	c.warnClosed("closing connection: peer did not read within the write deadline",
		"remote", c.remote, "timeout", timeout, "key", c.ctx.conf.Key("connectionTimeout"))
	c.exception(&ConnError{Op: "write", Addr: c.remote, Err: fmt.Errorf("%w (%s)", errWriteTimeout, timeout)})
}

// takeBatch moves the queue into the writer's hands; false (and the
// writer role given up) when it is empty.
func (c *Client) takeBatch() bool {
	c.wmu.Lock()
	if len(c.queue) == 0 || c.werr != nil {
		c.writing = false
		c.wmu.Unlock()
		return false
	}
	c.ws.batch = c.queue
	c.queue = c.spare[:0]
	c.spare = nil
	c.wmu.Unlock()
	c.ws.next = 0
	return true
}

// batchDone finishes the batch in hand with err and takes the next one.
// It reports whether there is one to write.
func (c *Client) batchDone(err error) bool {
	batch := c.ws.batch
	var written, mem int64
	for i := range batch {
		written += batch[i].size
		mem += batch[i].mem
		c.finish(&batch[i])
		batch[i] = outMsg{}
	}
	clear(c.ws.iov)
	c.ws = wstate{iov: c.ws.iov[:0]}
	c.lastIO.Store(nanotime())
	c.budgetSub(mem)
	c.wmu.Lock()
	c.queued -= written
	if c.spare == nil {
		c.spare = batch[:0]
	}
	if err != nil {
		if c.werr == nil {
			c.werr = err
		}
		rest := c.queue
		c.queue = nil
		c.writing = false
		c.wmu.Unlock()
		c.dropQueued(rest)
		if errors.Is(err, errWriteTimeout) {
			c.warnClosed("closing connection: peer did not read within the write deadline",
				"remote", c.remote, "timeout", c.ctx.conf.ConnectionTimeout, "key", c.ctx.conf.Key("connectionTimeout"))
		}
		c.exception(&ConnError{Op: "write", Addr: c.remote, Err: err})
		return false
	}
	c.wmu.Unlock()
	return c.takeBatch()
}

// dropQueued fails frames that will never be written.
func (c *Client) dropQueued(rest []outMsg) {
	var written, mem int64
	for i := range rest {
		written += rest[i].size
		mem += rest[i].mem
		c.finish(&rest[i])
	}
	c.budgetSub(mem)
	c.wmu.Lock()
	c.queued -= written
	c.wmu.Unlock()
}

// writeSome writes the batch in hand. With nb it never waits and returns
// errWouldBlock, its progress kept in c.ws, when the socket is full.
func (c *Client) writeSome(nb bool) error {
	w := &c.ws
	for {
		if len(w.iov) > 0 {
			if err := c.writeIov(nb); err != nil {
				return err
			}
		}
		if w.file != nil {
			if err := c.writeFile(nb); err != nil {
				return err
			}
		}
		if w.next == len(w.batch) {
			return nil
		}
		if err := c.gather(nb); err != nil {
			return err
		}
	}
}

// gather collects the next frames' bytes into w.iov, up to a marker, a
// file region or the writev limit.
func (c *Client) gather(nb bool) error {
	w := &c.ws
	for w.next < len(w.batch) && len(w.iov) < maxIovecs-2 {
		o := &w.batch[w.next]
		if o.sealer != nil {
			if len(w.iov) > 0 {
				return nil
			}
			w.next++
			if t, ok := c.raw.(*tlsConn); ok {
				// Every frame before the marker is through tls.Conn
				// (writev flushes): the records from here on are sealed.
				t.layer.sealer.Store(&sealerBox{o.sealer})
			} else {
				c.out = newSealedConn(c.raw, o.sealer)
			}
			c.sealedOut = true
			if nb {
				return errWouldBlock // sealed bytes go through the writer goroutine
			}
			continue
		}
		if o.closeWith != nil {
			if len(w.iov) > 0 {
				return nil
			}
			w.next++
			cause := o.closeWith
			if _, ok := cause.(*ConnError); !ok {
				cause = &ConnError{Op: "close", Addr: c.remote, Err: cause}
			}
			c.shutdown(cause)
			return o.closeWith
		}
		w.next++
		w.iov = append(w.iov, o.hdr.B)
		switch {
		case o.body != nil:
			if len(o.body) > 0 {
				w.iov = append(w.iov, o.body)
			}
		case o.buf != nil && o.buf.Size() > 0:
			if fs, ok := o.buf.(*codec.FileSegment); ok {
				f, err := fs.File()
				if err != nil {
					return err
				}
				w.file, w.off, w.left = f, fs.Offset(), fs.Size()
				return nil
			}
			b, err := o.buf.Bytes()
			if err != nil {
				return err
			}
			w.iov = append(w.iov, b)
		}
	}
	return nil
}

func (c *Client) writeIov(nb bool) error {
	w := &c.ws
	if s, ok := c.raw.(*sock); ok && w.file != nil && !c.sealedOut {
		s.setMore(true)
		defer s.setMore(false)
	}
	if !nb {
		err := c.out.writev(w.iov)
		clear(w.iov)
		w.iov = w.iov[:0]
		return err
	}
	if c.sealedOut {
		return errWouldBlock
	}
	n, err := c.raw.writevNB(w.iov)
	rest := consumeBufs(w.iov, n)
	k := copy(w.iov, rest)
	clear(w.iov[k:])
	w.iov = w.iov[:k]
	return err
}

func (c *Client) writeFile(nb bool) error {
	w := &c.ws
	if !nb {
		err := c.out.sendFile(w.file, w.off, w.left)
		w.file = nil
		return err
	}
	if c.sealedOut {
		return errWouldBlock
	}
	n, err := c.raw.sendFileNB(w.file, w.off, w.left)
	w.off += n
	w.left -= n
	if err == nil {
		w.file = nil
	}
	return err
}

// finish releases what o holds once it is written or dropped, and counts
// an answer as given (nobody waits on a single frame: a request's outcome
// reaches its callback through the pending tables).
func (c *Client) finish(o *outMsg) {
	if o.hdr != nil {
		codec.PutBuffer(o.hdr)
		o.hdr = nil
	}
	if o.buf != nil {
		o.buf.Release()
		o.buf = nil
	}
	if o.tracked != trackNone {
		if tt, ok := c.streamManager().(TransferTracker); ok {
			if o.tracked == trackChunk {
				tt.ChunkSent(o.chunkStream)
			} else {
				tt.StreamSent(o.streamName)
			}
		}
	}
	if o.answer {
		o.answer = false
		c.answeredOne()
	}
}

// answeredOne records that an answer left (or was dropped).
func (c *Client) answeredOne() {
	c.bounds.answered()
	c.maybeResume()
}
