package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// Helpers shared by the behaviour suite (the *_test.go files next to this
// one). Every wait here has a generous safety deadline that only turns a
// hang into a failure; no test asserts that anything is fast.

const safetyWait = 30 * time.Second

// recv takes one value from ch, failing the test if none comes before the
// safety deadline.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(safetyWait)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// waitDone waits for a closed channel (a Client's Done, say).
func waitDone(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(safetyWait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 42})
	_, _ = r.Read(b)
	return b
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

// mustContain fails unless err is non-nil and its text holds every part.
func mustContain(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// ---- handlers ----

// testHandler is an RpcHandler built from functions. A nil receive echoes.
type testHandler struct {
	receive func(c *Client, msg []byte, r *Responder)
	oneWay  func(c *Client, msg []byte)
	sm      StreamManager
}

func (h *testHandler) Receive(c *Client, msg []byte, r *Responder) {
	if h.receive == nil {
		r.Reply(clone(msg))
		return
	}
	h.receive(c, msg, r)
}

func (h *testHandler) ReceiveOneWay(c *Client, msg []byte) {
	if h.oneWay != nil {
		h.oneWay(c, msg)
	}
}

func (h *testHandler) StreamManager() StreamManager { return h.sm }

// sparkRPC answers like the handler of Spark's RpcIntegrationSuite:
// "return error/X" fails with "Returned: X", "throw error/X" panics with
// "Thrown: X", anything else is answered "Hello, <msg>!".
func sparkRPC(c *Client, msg []byte, r *Responder) {
	s := string(msg)
	switch {
	case strings.HasPrefix(s, "return error/"):
		r.Fail(errors.New("Returned: " + strings.TrimPrefix(s, "return error/")))
	case strings.HasPrefix(s, "throw error/"):
		panic("Thrown: " + strings.TrimPrefix(s, "throw error/"))
	default:
		r.Reply([]byte("Hello, " + s + "!"))
	}
}

// observer records connection events; embed it to make a handler a
// ChannelObserver.
type observer struct {
	active, inactive atomic.Int32
	mu               sync.Mutex
	byRemote         map[string]*Client
	exceptions       map[*Client][]error
	actives          chan *Client
	inactives        chan *Client
}

func newObserver() *observer {
	return &observer{actives: make(chan *Client, 1024), inactives: make(chan *Client, 1024),
		byRemote: make(map[string]*Client), exceptions: make(map[*Client][]error)}
}

func (o *observer) ChannelActive(c *Client) {
	o.mu.Lock()
	o.byRemote[c.RemoteAddr()] = c
	o.mu.Unlock()
	o.active.Add(1)
	o.actives <- c
}

func (o *observer) ChannelInactive(c *Client) {
	o.inactive.Add(1)
	o.inactives <- c
}

func (o *observer) ExceptionCaught(err error, c *Client) {
	o.mu.Lock()
	o.exceptions[c] = append(o.exceptions[c], err)
	o.mu.Unlock()
}

func (o *observer) exceptionsOf(c *Client) []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.exceptions[c]...)
}

// peerOf waits for the accepted connection whose peer is the socket at
// local, and returns its Client.
func (o *observer) peerOf(t testing.TB, local net.Addr) *Client {
	t.Helper()
	var c *Client
	waitFor(t, "the server to accept "+local.String(), func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		c = o.byRemote[local.String()]
		return c != nil
	})
	return c
}

type observingHandler struct {
	*testHandler
	*observer
}

func newObservingHandler(h *testHandler) *observingHandler {
	return &observingHandler{testHandler: h, observer: newObserver()}
}

// ---- callbacks ----

type rpcResult struct {
	resp []byte
	err  error
}

// rpcCollector is an RpcResponseCallback that records each call.
type rpcCollector struct {
	calls atomic.Int32
	ch    chan rpcResult
}

func newRPC() *rpcCollector { return &rpcCollector{ch: make(chan rpcResult, 16)} }

func (r *rpcCollector) OnSuccess(b []byte) {
	r.calls.Add(1)
	r.ch <- rpcResult{resp: clone(b)}
}

func (r *rpcCollector) OnFailure(err error) {
	r.calls.Add(1)
	r.ch <- rpcResult{err: err}
}

func (r *rpcCollector) wait(t testing.TB) rpcResult {
	t.Helper()
	return recv(t, r.ch, "RPC callback")
}

func (r *rpcCollector) waitOK(t testing.TB) []byte {
	t.Helper()
	res := r.wait(t)
	if res.err != nil {
		t.Fatalf("RPC failed: %v", res.err)
	}
	return res.resp
}

func (r *rpcCollector) waitErr(t testing.TB) error {
	t.Helper()
	res := r.wait(t)
	if res.err == nil {
		t.Fatalf("RPC succeeded with %q, expected a failure", res.resp)
	}
	return res.err
}

type chunkResult struct {
	index int32
	data  []byte
	err   error
}

// chunkCollector is a ChunkReceivedCallback that records each call.
type chunkCollector struct {
	calls atomic.Int32
	ch    chan chunkResult
}

func newChunks() *chunkCollector { return &chunkCollector{ch: make(chan chunkResult, 64)} }

func (c *chunkCollector) OnSuccess(i int32, b []byte) {
	c.calls.Add(1)
	c.ch <- chunkResult{index: i, data: clone(b)}
}

func (c *chunkCollector) OnFailure(i int32, err error) {
	c.calls.Add(1)
	c.ch <- chunkResult{index: i, err: err}
}

func (c *chunkCollector) wait(t testing.TB) chunkResult {
	t.Helper()
	return recv(t, c.ch, "chunk callback")
}

// waitN collects n results by chunk index.
func (c *chunkCollector) waitN(t testing.TB, n int) map[int32]chunkResult {
	t.Helper()
	out := make(map[int32]chunkResult, n)
	for range n {
		r := c.wait(t)
		if _, dup := out[r.index]; dup {
			t.Fatalf("chunk %d called back twice", r.index)
		}
		out[r.index] = r
	}
	return out
}

// streamRecorder is a StreamCallback that keeps the bytes (or only their
// count and checksum when hashOnly) and counts its calls.
type streamRecorder struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	n         int64
	sum       func(p []byte)
	dataCalls int
	completes atomic.Int32
	failures  atomic.Int32
	done      chan error
	streamIDs []string
}

func newStreamRecorder() *streamRecorder { return &streamRecorder{done: make(chan error, 4)} }

func (s *streamRecorder) OnData(id string, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataCalls++
	s.n += int64(len(p))
	if s.sum != nil {
		s.sum(p)
	} else {
		s.buf.Write(p)
	}
	s.streamIDs = append(s.streamIDs, id)
	return nil
}

func (s *streamRecorder) OnComplete(id string) error {
	s.completes.Add(1)
	s.mu.Lock()
	s.streamIDs = append(s.streamIDs, id)
	s.mu.Unlock()
	s.done <- nil
	return nil
}

func (s *streamRecorder) OnFailure(id string, err error) {
	s.failures.Add(1)
	s.done <- err
}

func (s *streamRecorder) wait(t testing.TB) error {
	t.Helper()
	return recv(t, s.done, "stream callback")
}

func (s *streamRecorder) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.buf.Bytes())
}

type metaResult struct {
	numChunks int32
	bitmaps   []byte
	err       error
}

type metaCollector struct {
	calls atomic.Int32
	ch    chan metaResult
}

func newMeta() *metaCollector { return &metaCollector{ch: make(chan metaResult, 16)} }

func (m *metaCollector) OnSuccess(n int32, b []byte) {
	m.calls.Add(1)
	m.ch <- metaResult{numChunks: n, bitmaps: clone(b)}
}

func (m *metaCollector) OnFailure(err error) {
	m.calls.Add(1)
	m.ch <- metaResult{err: err}
}

func (m *metaCollector) wait(t testing.TB) metaResult {
	t.Helper()
	return recv(t, m.ch, "merged meta callback")
}

// ---- buffers ----

// countingBuffer is a ManagedBuffer that counts its Releases. It refuses
// Retain so that the count is exactly the number of releases.
type countingBuffer struct {
	b        []byte
	releases atomic.Int32
	// gate, when set, blocks Bytes until it is closed; entered is
	// signalled when Bytes is first called.
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func newCounting(b []byte) *countingBuffer { return &countingBuffer{b: b} }

// newGated returns a buffer whose content cannot be read until the gate
// closes: a send of it stays in flight until then.
func newGated(b []byte) *countingBuffer {
	return &countingBuffer{b: b, gate: make(chan struct{}), entered: make(chan struct{})}
}

func (c *countingBuffer) open() {
	if c.gate != nil {
		select {
		case <-c.gate:
		default:
			close(c.gate)
		}
	}
}

func (c *countingBuffer) Size() int64 { return int64(len(c.b)) }

func (c *countingBuffer) Bytes() ([]byte, error) {
	if c.gate != nil {
		c.once.Do(func() { close(c.entered) })
		<-c.gate
	}
	return c.b, nil
}

func (c *countingBuffer) Reader() (io.ReadCloser, error) { return codec.NewBytes(c.b).Reader() }

func (c *countingBuffer) Retain() codec.ManagedBuffer { panic("countingBuffer: Retain") }

func (c *countingBuffer) Release() { c.releases.Add(1) }

// ---- streams ----

// namedStreamManager serves named streams from a map (each OpenStream gets
// its own reference) and chunks through an embedded OneForOneStreamManager.
type namedStreamManager struct {
	*OneForOneStreamManager
	mu      sync.Mutex
	streams map[string]func() codec.ManagedBuffer
}

func newNamedStreams() *namedStreamManager {
	return &namedStreamManager{OneForOneStreamManager: NewOneForOneStreamManager(),
		streams: make(map[string]func() codec.ManagedBuffer)}
}

func (n *namedStreamManager) add(name string, open func() codec.ManagedBuffer) {
	n.mu.Lock()
	n.streams[name] = open
	n.mu.Unlock()
}

func (n *namedStreamManager) addBytes(name string, b []byte) {
	n.add(name, func() codec.ManagedBuffer { return codec.NewBytes(b) })
}

func (n *namedStreamManager) OpenStream(id string) (codec.ManagedBuffer, error) {
	n.mu.Lock()
	open := n.streams[id]
	n.mu.Unlock()
	if open == nil {
		if _, err := ParseStreamChunkID(id); err == nil {
			return n.OneForOneStreamManager.OpenStream(id)
		}
		return nil, nil
	}
	return open(), nil
}

// fileSegment opens a segment of path or fails the test.
func fileSegment(t testing.TB, path string, off, n int64) *codec.FileSegment {
	t.Helper()
	fs, err := codec.NewFileSegment(path, off, n, codec.DefaultFileOptions)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// ---- raw sockets ----

// rawDial opens a plain TCP connection to a server port.
func rawDial(t testing.TB, port int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// expectPeerClose reads conn until the peer closes it, failing the test if
// it does not within the safety deadline. It returns what was read.
func expectPeerClose(t testing.TB, conn net.Conn) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(safetyWait))
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the peer did not close the connection")
			}
			return got.Bytes()
		}
	}
}

// frame encodes m with a body (in frame, or raw after it) into bytes.
func frame(t testing.TB, m *codec.Message, body []byte) []byte {
	t.Helper()
	b, err := codec.AppendHeader(nil, m, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	return append(b, body...)
}

// fakePeer is a raw TCP endpoint that speaks the wire format by hand, to
// drive a Client with exactly the responses a test needs.
type fakePeer struct {
	t      testing.TB
	ln     net.Listener
	ready  chan struct{}
	mu     sync.Mutex
	conn   net.Conn
	frames chan codec.Message
	wg     sync.WaitGroup
}

func newFakePeer(t testing.TB) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{t: t, ln: ln, ready: make(chan struct{}), frames: make(chan codec.Message, 1024)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.frames)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conn = conn
		p.mu.Unlock()
		close(p.ready)
		br := codec.NewBufReader(conn, 4096)
		dec := codec.NewDecoder()
		for {
			m, err := dec.Decode(br)
			if err != nil {
				return
			}
			cp := *m
			cp.Body, cp.Meta = clone(m.Body), clone(m.Meta)
			p.frames <- cp
			_ = br.Release()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		if p.conn != nil {
			p.conn.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *fakePeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *fakePeer) next() codec.Message {
	p.t.Helper()
	return recv(p.t, p.frames, "a frame at the fake peer")
}

func (p *fakePeer) write(b []byte) {
	p.t.Helper()
	waitDone(p.t, p.ready, "the fake peer's connection")
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakePeer) send(m *codec.Message, body []byte) { p.t.Helper(); p.write(frame(p.t, m, body)) }

func (p *fakePeer) closeConn() {
	waitDone(p.t, p.ready, "the fake peer's connection")
	p.conn.Close()
}

// clientTo connects a client of a fresh context (mode, handler h) to port.
func clientTo(t testing.TB, conf Conf, h RpcHandler, port int, opts ...ContextOption) (*Client, *ClientFactory) {
	t.Helper()
	ctx := NewContext(conf, h, opts...)
	f := ctx.NewClientFactory()
	t.Cleanup(func() { f.Close(); ctx.Close() })
	c, err := f.CreateClient("127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}
