package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/ember-rpc/ember/codec"
	"go.uber.org/atomic"
)

// Client is one transport connection, from either end: Spark's
// TransportClient together with the channel's request and response handlers.
// A client made by a ClientFactory sends requests to a server; the server's
// side of the same connection is also a Client, handed to its RpcHandler,
// and can send requests back.
//
// All methods are safe for concurrent use. Every callback of a request is
// called exactly once: with the answer, or with an error when the
// connection ends first.
type Client struct {
	ctx     *Context
	raw     rawConn
	handler RpcHandler
	remote  string
	log     *slog.Logger
	server  *Server // the accepting server, nil for dialed clients

	clientID atomic.String // set by authentication
	nextID   atomic.Int64
	lastReq  atomic.Int64 // nanotime of the last request sent
	lastIO   atomic.Int64 // nanotime of the last read or write
	timedOut atomic.Bool
	closed   atomic.Bool

	closeOnce  sync.Once
	readerDone atomic.Bool   // readerClosed has run (or is running)
	done       chan struct{} // closed when the connection is fully torn down
	closeErr   error         // set before done is closed

	wmu     sync.Mutex // guards the write queue fields below
	queue   []outMsg
	spare   []outMsg
	writing bool  // a writer holds the connection's output
	werr    error // set once writing has failed or the connection closed
	queued  int64 // bytes queued to write, file regions included
	fullAt  int64 // queued when the queue was found full (for the log)

	writerOn atomic.Bool   // the writer goroutine is running
	wprog    *atomic.Int64 // nanotime bytes last left (plain TCP), for the write deadline

	// Owned by the writer (see writer.go).
	ws        wstate
	out       frameWriter // raw, or a sealing layer over it
	sealedOut bool

	// Session encryption (EnableEncryption).
	layerOn atomic.Bool
	opener  atomic.Pointer[openerBox]

	mu   sync.Mutex // guards reqs
	reqs requests   // what this end asked and awaits (protocol.go)

	// Reading (see reader.go). in and dec are owned by the reading pass.
	in           inbuf
	dec          codec.Decoder
	bounds       bounds       // when reading stops (protocol.go)
	partialSince atomic.Int64 // nanotime an incomplete frame began, 0 if none
	preAuth      atomic.Bool  // frames are capped until the peer authenticates
	rmu          sync.Mutex   // guards paused, passRunning, passAgain
	paused       bool
	pausedFlag   atomic.Bool
	passRunning  bool
	passAgain    bool
	wake         chan struct{} // NIO: resumes a paused reader
	poller       *poller       // EPOLL: the poller the connection is registered with
	ep           epollConn     // EPOLL: the registration (reactor_linux.go)

	held   atomic.Int64 // bytes counted against the process budget
	inHeld int64        // of held, what the input side keeps between passes (budget.go; the reading side's)
	timer  *time.Timer
	worker uint32 // the chunk-fetch worker serving this connection
}

var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

func newClient(ctx *Context, raw rawConn, handler RpcHandler, server *Server) *Client {
	c := &Client{
		ctx:     ctx,
		raw:     raw,
		handler: handler,
		server:  server,
		log:     ctx.log,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		reqs:    newRequests(),
	}
	if a := raw.remoteAddr(); a != nil {
		c.remote = a.String()
	}
	c.out = raw
	if s, ok := raw.(*sock); ok {
		c.wprog = s.progress
	}
	c.dec.MaxFrameLength = ctx.conf.MaxFrameLength
	c.bounds.limit = ctx.conf.MaxOutstandingRequests
	c.worker = ctx.pickWorker()
	// Request ids need only be unique per connection: start at a random
	// non-negative value and count up.
	c.nextID.Store(rand.Int64N(1 << 62))
	now := nanotime()
	c.lastIO.Store(now)
	c.lastReq.Store(now)
	if t := ctx.conf.ConnectionTimeout; t > 0 {
		c.timer = time.AfterFunc(t, c.checkIdle)
	}
	budgetTrack(c)
	return c
}

// RemoteAddr returns the peer's address as host:port.
func (c *Client) RemoteAddr() string { return c.remote }

// LocalAddr returns this end's socket address.
func (c *Client) LocalAddr() net.Addr { return c.raw.localAddr() }

// IsActive reports whether the connection is open and has not timed out.
func (c *Client) IsActive() bool { return !c.closed.Load() && !c.timedOut.Load() }

// ClientID returns the id the peer authenticated as, or "".
func (c *Client) ClientID() string { return c.clientID.Load() }

// The mutators of authentication and encryption (the client id, the
// pre-authentication cap, the session layer, a close after pending
// writes) are only on Setup, which only bootstraps get (bootstrap.go).

// Done is closed once the connection has been torn down.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection closed, once Done is closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.closeErr
	default:
		return nil
	}
}

// Outgoing reports whether this end dialled the connection (a factory's
// client) rather than accepted it.
func (c *Client) Outgoing() bool { return c.server == nil }

// Handler returns the handler serving requests on this connection.
func (c *Client) Handler() RpcHandler { return c.handler }

func (c *Client) String() string { return "Client(" + c.remote + ")" }

func (c *Client) newRequestID() int64 { return c.nextID.Inc() & (1<<63 - 1) }

func (c *Client) closedError() error {
	if err := c.Err(); err != nil {
		return err
	}
	return &ConnError{Op: "close", Addr: c.remote, Err: ErrClosed}
}

// SendRpc sends payload as an RpcRequest and returns its request id. The
// answer (or a failure) goes to cb. payload must not be changed until cb
// has been called.
func (c *Client) SendRpc(payload []byte, cb RpcResponseCallback) int64 {
	return c.sendRpc(payload, nil, cb)
}

// SendRpcBuffer is SendRpc for a managed buffer, released once written.
func (c *Client) SendRpcBuffer(payload codec.ManagedBuffer, cb RpcResponseCallback) int64 {
	return c.sendRpc(nil, payload, cb)
}

func (c *Client) sendRpc(payload []byte, buf codec.ManagedBuffer, cb RpcResponseCallback) int64 {
	id := c.newRequestID()
	c.lastReq.Store(nanotime())
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		if buf != nil {
			buf.Release()
		}
		cb.OnFailure(c.closedError())
		return id
	}
	c.reqs.rpcs.put(id, cb)
	c.mu.Unlock()
	m := codec.Message{Type: codec.TypeRpcRequest, RequestID: id}
	if err := c.write(&m, payload, buf); err != nil {
		if cb := c.takeRpc(id); cb != nil {
			cb.OnFailure(fmt.Errorf("netpoll: failed to send RPC %d to %s: %w", id, c.remote, err))
		}
	}
	return id
}

// syncWaiter is what SendRpcSync waits on; pooled, since most calls end well.
type syncWaiter struct {
	ch   chan struct{}
	resp []byte
	err  error
}

func (w *syncWaiter) OnSuccess(resp []byte) {
	w.resp = append(w.resp[:0:0], resp...)
	w.ch <- struct{}{}
}

func (w *syncWaiter) OnFailure(err error) {
	w.err = err
	w.ch <- struct{}{}
}

var waiterPool = sync.Pool{New: func() any { return &syncWaiter{ch: make(chan struct{}, 1)} }}

// done returns the answer w received and puts w back in waiterPool: call
// it only once w's channel has fired (nothing writes to w any more).
func (w *syncWaiter) done() ([]byte, error) {
	resp, err := w.resp, w.err
	w.resp, w.err = nil, nil
	waiterPool.Put(w)
	return resp, err
}

// SendRpcSync sends payload and waits up to timeout (no limit if <= 0) for
// the answer. On timeout the request stays outstanding, as in Spark; call
// RemoveRpcRequest to drop it. SendRpcSyncContext, which takes a context,
// is the recommended form.
func (c *Client) SendRpcSync(payload []byte, timeout time.Duration) ([]byte, error) {
	w := waiterPool.Get().(*syncWaiter)
	id := c.SendRpc(payload, w)
	if timeout <= 0 {
		<-w.ch
	} else {
		t := time.NewTimer(timeout)
		select {
		case <-w.ch:
			t.Stop()
		case <-t.C:
			// The waiter may still be completed later: never reuse it.
			return nil, &TimeoutError{Op: fmt.Sprintf("RPC %d", id), Addr: c.remote, After: timeout}
		}
	}
	return w.done()
}

// Send sends payload as a OneWayMessage. payload must not be changed
// afterwards. The error reports only a connection already closed; a later
// write failure closes the connection.
func (c *Client) Send(payload []byte) error {
	m := codec.Message{Type: codec.TypeOneWayMessage}
	return c.write(&m, payload, nil)
}

// SendBuffer is Send for a managed buffer, released once written.
func (c *Client) SendBuffer(payload codec.ManagedBuffer) error {
	m := codec.Message{Type: codec.TypeOneWayMessage}
	return c.write(&m, nil, payload)
}

// FetchChunk asks for chunk chunkIndex of stream streamID.
func (c *Client) FetchChunk(streamID int64, chunkIndex int32, cb ChunkReceivedCallback) {
	id := codec.StreamChunkID{StreamID: streamID, ChunkIndex: chunkIndex}
	c.lastReq.Store(nanotime())
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		cb.OnFailure(chunkIndex, c.closedError())
		return
	}
	c.reqs.fetches.put(id, cb)
	c.mu.Unlock()
	m := codec.Message{Type: codec.TypeChunkFetchRequest, Chunk: id}
	if err := c.write(&m, nil, nil); err != nil {
		c.mu.Lock()
		cb, ok := c.reqs.fetches.take(id)
		c.mu.Unlock()
		if ok {
			cb.OnFailure(chunkIndex, fmt.Errorf("netpoll: failed to send request for %d_%d to %s: %w", streamID, chunkIndex, c.remote, err))
		}
	}
}

// Stream asks for the named stream; its bytes go to cb in order. Stream
// answers are matched in request order, so the callback is queued and the
// request written in one step.
func (c *Client) Stream(streamID string, cb StreamCallback) {
	c.lastReq.Store(nanotime())
	m := codec.Message{Type: codec.TypeStreamRequest, Stream: streamID}
	hdr, err := codec.EncodeHeader(&m, 0)
	if err != nil {
		cb.OnFailure(streamID, err)
		return
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		codec.PutBuffer(hdr)
		cb.OnFailure(streamID, c.closedError())
		return
	}
	c.reqs.streams = append(c.reqs.streams, streamWait{streamID, cb})
	start, err := c.enqueue(outMsg{hdr: hdr})
	c.mu.Unlock()
	// c.mu is released before anything that closes the connection (the
	// teardown takes it): the close fails the queued callback.
	if err == errQueueFull {
		c.queueFull()
		return
	}
	if err != nil {
		return
	}
	if start {
		c.startWriting()
	}
}

// UploadStream sends meta in an UploadStream frame followed by body's raw
// bytes; the peer's completion reply (or failure) goes to cb. body is
// released once written.
func (c *Client) UploadStream(meta []byte, body codec.ManagedBuffer, cb RpcResponseCallback) int64 {
	id := c.newRequestID()
	c.lastReq.Store(nanotime())
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		body.Release()
		cb.OnFailure(c.closedError())
		return id
	}
	c.reqs.rpcs.put(id, cb)
	c.mu.Unlock()
	m := codec.Message{Type: codec.TypeUploadStream, RequestID: id, Meta: meta}
	if err := c.write(&m, nil, body); err != nil {
		if cb := c.takeRpc(id); cb != nil {
			cb.OnFailure(fmt.Errorf("netpoll: failed to send upload %d to %s: %w", id, c.remote, err))
		}
	}
	return id
}

// SendMergedBlockMetaReq asks for the merged block meta of a reduce
// partition (push-based shuffle).
func (c *Client) SendMergedBlockMetaReq(appID string, shuffleID, shuffleMergeID, reduceID int32, cb MergedBlockMetaCallback) int64 {
	id := c.newRequestID()
	c.lastReq.Store(nanotime())
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		cb.OnFailure(c.closedError())
		return id
	}
	c.reqs.metas.put(id, cb)
	c.mu.Unlock()
	m := codec.Message{Type: codec.TypeMergedBlockMetaRequest, RequestID: id, AppID: appID,
		ShuffleID: shuffleID, ShuffleMergeID: shuffleMergeID, ReduceID: reduceID}
	if err := c.write(&m, nil, nil); err != nil {
		c.mu.Lock()
		cb, ok := c.reqs.metas.take(id)
		c.mu.Unlock()
		if ok {
			cb.OnFailure(err)
		}
	}
	return id
}

// RemoveRpcRequest forgets an outstanding RPC; its callback is not called.
func (c *Client) RemoveRpcRequest(id int64) { c.takeRpc(id) }

func (c *Client) takeMeta(id int64) MergedBlockMetaCallback {
	c.mu.Lock()
	cb, _ := c.reqs.metas.take(id)
	c.mu.Unlock()
	return cb
}

func (c *Client) takeRpc(id int64) RpcResponseCallback {
	c.mu.Lock()
	cb, _ := c.reqs.rpcs.take(id)
	c.mu.Unlock()
	return cb
}

// NumOutstanding counts the requests waiting for an answer, including a
// stream being received.
func (c *Client) NumOutstanding() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.numOutstandingLocked()
}

func (c *Client) numOutstandingLocked() int { return c.reqs.count() }

// Close closes the connection; outstanding callbacks fail. It is
// idempotent and does not wait (a handler may close its own connection from
// the reading goroutine, which does the teardown): wait on Done for that.
func (c *Client) Close() error {
	c.shutdown(&ConnError{Op: "close", Addr: c.remote, Err: ErrClosed})
	return nil
}

// closeWait closes and waits for the teardown. Never call it from the
// connection's own reading goroutine.
func (c *Client) closeWait() {
	c.Close()
	<-c.done
}

// ---- reading ----

// dispatch handles one decoded frame on the reading goroutine. An error is
// fatal for the connection.
func (c *Client) dispatch(m *codec.Message) error {
	if m.Type.IsRequest() {
		return c.handleRequest(m)
	}
	c.handleResponse(m)
	return nil
}

func (c *Client) handleResponse(m *codec.Message) {
	c.mu.Lock()
	r := c.reqs.resolve(m)
	c.mu.Unlock()
	switch r.kind {
	case matchNone:
		c.warn("ignoring a response to no outstanding request", "type", m.Type, "id", m.RequestID,
			"chunk", chunkName(m.Chunk), "stream", m.Stream, "remote", c.remote, "error", m.Error)
	case matchChunk:
		if r.failed {
			err := &RemoteError{Op: "fetch of chunk " + chunkName(m.Chunk), Addr: c.remote, Msg: m.Error}
			safely(c.log, "chunk callback", func() { r.fetch.OnFailure(m.Chunk.ChunkIndex, err) })
		} else {
			safely(c.log, "chunk callback", func() { r.fetch.OnSuccess(m.Chunk.ChunkIndex, m.Body) })
		}
	case matchRpc:
		if r.failed {
			err := &RemoteError{Op: "RPC", Addr: c.remote, Msg: m.Error}
			safely(c.log, "RPC callback", func() { r.rpc.OnFailure(err) })
		} else {
			callSuccess(c.log, r.rpc, m.Body)
		}
	case matchMeta:
		if r.failed {
			err := &RemoteError{Op: "merged block meta request", Addr: c.remote, Msg: m.Error}
			safely(c.log, "merged meta callback", func() { r.meta.OnFailure(err) })
		} else {
			safely(c.log, "merged meta callback", func() { r.meta.OnSuccess(m.NumChunks, m.Body) })
		}
	case matchStreamFail:
		err := &RemoteError{Op: "stream " + m.Stream, Addr: c.remote, Msg: m.Error}
		safely(c.log, "stream callback", func() { r.stream.cb.OnFailure(r.stream.id, err) })
	case matchStreamStart, matchStreamEmpty:
		ic := &streamInterceptor{c: c, id: r.stream.id, cb: r.stream.cb}
		if err := c.dec.SetInterceptor(m.ByteCount, ic); err != nil {
			c.warn("stream completion failed", "stream", r.stream.id, "remote", c.remote, "err", err)
		}
	case matchStreamDrop:
		c.warn("ignoring stream response with no stream requested", "stream", m.Stream, "remote", c.remote)
		_ = c.dec.SetInterceptor(m.ByteCount, discard{})
	}
}

// callSuccess avoids a closure on the RPC hot path.
func callSuccess(log *slog.Logger, cb RpcResponseCallback, body []byte) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("RPC callback panicked", "panic", p)
		}
	}()
	cb.OnSuccess(body)
}

func chunkName(id codec.StreamChunkID) string {
	return fmt.Sprintf("%d_%d", id.StreamID, id.ChunkIndex)
}

func safely(log *slog.Logger, what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			log.Error(what+" panicked", "panic", p)
		}
	}()
	f()
}

// streamInterceptor feeds a StreamResponse's raw bytes to its callback.
type streamInterceptor struct {
	c  *Client
	id string
	cb StreamCallback
}

func (s *streamInterceptor) OnData(p []byte) error { return s.cb.OnData(s.id, p) }

func (s *streamInterceptor) OnComplete() error {
	s.c.setStreamInactive()
	return s.cb.OnComplete(s.id)
}

func (s *streamInterceptor) OnFailure(err error) {
	s.c.setStreamInactive()
	s.cb.OnFailure(s.id, err)
}

func (c *Client) setStreamInactive() {
	c.mu.Lock()
	c.reqs.streamActive = false
	c.mu.Unlock()
}

// discard swallows bytes nobody asked for, keeping the framing intact.
type discard struct{}

func (discard) OnData([]byte) error { return nil }
func (discard) OnComplete() error   { return nil }
func (discard) OnFailure(error)     {}

// ---- teardown ----

// exception handles a fatal error on the connection: the handler hears of
// it, then the connection closes and everything outstanding fails with err.
func (c *Client) exception(err error) {
	if c.closed.Load() {
		return
	}
	if obs, ok := c.handler.(ChannelObserver); ok {
		safely(c.log, "ExceptionCaught", func() { obs.ExceptionCaught(err, c) })
	}
	c.shutdown(err)
}

// shutdown closes the socket; teardown runs once the reading side has
// stopped (see readerClosed).
//
// The socket is closed outside the Once: netpoll runs close callbacks
// (readerClosed, which calls shutdown again) inside Close.
func (c *Client) shutdown(err error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.closed.Store(true)
		c.closeErr = err
		c.mu.Unlock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.wmu.Lock()
		if c.werr == nil {
			c.werr = err
		}
		c.wmu.Unlock()
	})
	if first {
		_ = c.raw.close()
		c.ctx.onClose(c)
		c.wakeReader()
		// An EPOLL connection has no reader to notice the close: the
		// teardown runs here, or at the end of a pass in progress. (One
		// closed before the reactor registered it is torn down by the
		// registration's failure.)
		c.rmu.Lock()
		epoll, running := c.poller != nil, c.passRunning
		c.rmu.Unlock()
		if epoll && !running {
			c.readerClosed(ErrClosed)
		}
	}
}

// readerClosed runs once, on the reading side, when it has stopped for
// good. It fails everything outstanding and tells the handlers.
//
// It runs once. The guard is a flag, not a sync.Once: shutdown closes the
// netpoll connection, whose close callbacks call readerClosed again on the
// same goroutine, and that call must return instead of waiting.
func (c *Client) readerClosed(cause error) {
	if !c.readerDone.CompareAndSwap(false, true) {
		return
	}
	c.readerClosedOnce(cause)
}

func (c *Client) readerClosedOnce(cause error) {
	c.shutdown(&ConnError{Op: "close", Addr: c.remote, Err: cause})
	err := c.closeErr
	c.dec.Fail(err)

	c.mu.Lock()
	rpcs, fetches, metas, streams := c.reqs.closeAll()
	c.mu.Unlock()
	for _, cb := range rpcs {
		safely(c.log, "RPC callback", func() { cb.OnFailure(err) })
	}
	for id, cb := range fetches {
		safely(c.log, "chunk callback", func() { cb.OnFailure(id.ChunkIndex, err) })
	}
	for _, cb := range metas {
		safely(c.log, "merged meta callback", func() { cb.OnFailure(err) })
	}
	for _, w := range streams {
		safely(c.log, "stream callback", func() { w.cb.OnFailure(w.id, err) })
	}
	// Drop whatever is still queued for writing (a writer in progress
	// fails on the closed socket and drops its batch itself).
	c.wmu.Lock()
	rest := c.queue
	c.queue = nil
	c.wmu.Unlock()
	c.dropQueued(rest)
	if c.in.big != nil {
		c.budgetSub(int64(len(c.in.big)))
		c.in.big, c.in.bigBase = nil, nil
	}
	c.in.kept, c.in.opened, c.in.spare, c.in.scratch = nil, nil, nil, nil
	c.setInputHeld(0)
	c.rmu.Lock()
	p := c.poller
	c.rmu.Unlock()
	if p != nil {
		p.forget(c)
	}
	if c.server != nil {
		c.server.forget(c)
	}
	budgetUntrack(c)
	if sm := c.streamManager(); sm != nil {
		safely(c.log, "ConnectionTerminated", func() { sm.ConnectionTerminated(c) })
	}
	if obs, ok := c.handler.(ChannelObserver); ok {
		safely(c.log, "ChannelInactive", func() { obs.ChannelInactive(c) })
	}
	close(c.done)
}

func (c *Client) streamManager() StreamManager {
	if c.handler == nil {
		return nil
	}
	return c.handler.StreamManager()
}

// checkIdle is Spark's idle-state check: after connectionTimeout with no
// reads or writes, a connection with outstanding requests whose last
// request is older than the timeout is closed as timed out; an idle one
// with nothing outstanding is closed only if the context asks for it.
func (c *Client) checkIdle() {
	if c.closed.Load() {
		return
	}
	timeout := c.ctx.conf.ConnectionTimeout
	now := nanotime()
	next := timeout
	if since := c.partialSince.Load(); since != 0 {
		// A frame must complete within the timeout, however slowly its
		// bytes trickle in.
		if d := time.Duration(now - since); d >= timeout {
			c.warn("closing connection: a frame did not complete in time",
				"remote", c.remote, "timeout", timeout, "key", c.ctx.conf.Key("connectionTimeout"))
			c.timedOut.Store(true)
			c.exception(&ConnError{Op: "timeout", Addr: c.remote,
				Err: fmt.Errorf("%w: a frame did not complete within %s (%s)", ErrRequestTimeout, timeout, c.ctx.conf.Key("connectionTimeout"))})
			return
		} else {
			next = timeout - d
		}
	}
	if stuck := c.writerStuck(now); stuck >= timeout {
		c.writeTimedOut(timeout)
		return
	} else if stuck > 0 {
		next = min(next, timeout-stuck)
	}
	idle := time.Duration(now - c.lastIO.Load())
	if idle < timeout {
		c.timer.Reset(min(next, timeout-idle))
		return
	}
	c.mu.Lock()
	outstanding := c.numOutstandingLocked()
	c.mu.Unlock()
	sinceReq := time.Duration(now - c.lastReq.Load())
	switch {
	case outstanding > 0 && sinceReq > timeout:
		c.limited(slog.LevelError, "connection timed out with requests outstanding; closing it",
			"remote", c.remote, "outstanding", outstanding, "timeout", timeout, "key", c.ctx.conf.Key("connectionTimeout"))
		c.timedOut.Store(true)
		c.exception(&ConnError{Op: "timeout", Addr: c.remote,
			Err: fmt.Errorf("%w: no traffic for %s with %d requests outstanding (%s)", ErrRequestTimeout, timeout, outstanding, c.ctx.conf.Key("connectionTimeout"))})
		return
	case outstanding == 0 && c.ctx.closeIdle:
		c.log.Debug("closing idle connection", "remote", c.remote)
		c.shutdown(&ConnError{Op: "close", Addr: c.remote, Err: errors.New("idle for " + timeout.String())})
		return
	}
	c.timer.Reset(next)
}
