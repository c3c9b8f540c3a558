package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// The slow-consumer suite: peers that do not read, or read too slowly,
// or send without end, against the transport's bounds. Every assertion is
// on an event (an answer, a close, a log line, a count), never on timing.

// loopHandler answers RPCs from one shared goroutine, as an endpoint's
// message loop does: if a reply could block it on one peer's socket,
// every other peer would wait too.
type loopHandler struct {
	reply []byte
	ch    chan *Responder
	done  chan struct{}
	wg    sync.WaitGroup
}

func newLoopHandler(reply []byte) *loopHandler {
	h := &loopHandler{reply: reply, ch: make(chan *Responder, 1<<16), done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case r := <-h.ch:
				r.Reply(h.reply)
			case <-h.done:
				return
			}
		}
	}()
	return h
}

func (h *loopHandler) stop() { close(h.done); h.wg.Wait() }

func (h *loopHandler) Receive(c *Client, msg []byte, r *Responder) { h.ch <- r }
func (h *loopHandler) ReceiveOneWay(*Client, []byte)               {}
func (h *loopHandler) StreamManager() StreamManager                { return nil }

// dialSlow connects a raw peer with a small receive buffer, which it never
// reads.
func dialSlow(t *testing.T, port int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	_ = tc.SetReadBuffer(16 << 10)
	t.Cleanup(func() { tc.Close() })
	return tc
}

// burst writes n requests in one write (from a goroutine: the server may
// stop reading, and then this write blocks until the connection closes).
func burst(t *testing.T, c net.Conn, n int, typ codec.Type) {
	t.Helper()
	var b []byte
	for i := range n {
		var m codec.Message
		switch typ {
		case codec.TypeRpcRequest:
			m = codec.Message{Type: typ, RequestID: int64(i)}
		case codec.TypeOneWayMessage:
			m = codec.Message{Type: typ}
		}
		b = append(b, frame(t, &m, []byte("ask"))...)
	}
	go func() { _, _ = c.Write(b) }()
}

// A peer that bursts asks and never reads cannot stop a shared goroutine
// that answers everyone: other clients keep getting answers, and once the
// write deadline passes the peer is closed, with one log line naming it
// and the key, and what was queued for it freed.
func TestSlowPeerDoesNotStallSharedReplier(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			h := newLoopHandler(bytes.Repeat([]byte("r"), 4<<10))
			defer h.stop()
			e := newEnv(t, testConf(t, mode, "connectionTimeout=2s", "sendBuffer=16384"), h, opt)
			slow := dialSlow(t, e.srv.Port())
			burst(t, slow, 5000, codec.TypeRpcRequest) // ~20 MiB of answers
			waitFor(t, "answers queued for the slow peer", func() bool {
				e.srv.mu.Lock()
				defer e.srv.mu.Unlock()
				for c := range e.srv.clients {
					c.wmu.Lock()
					q := c.queued
					c.wmu.Unlock()
					if q > 1<<20 {
						return true
					}
				}
				return false
			})
			good := e.client(t)
			for i := range 20 {
				if _, err := good.SendRpcSync([]byte("hi"), safetyWait); err != nil {
					t.Fatalf("legitimate ask %d: %v", i, err)
				}
			}
			slowAddr := slow.LocalAddr().String()
			waitFor(t, "the slow peer closed at the write deadline", func() bool {
				return strings.Contains(logs.String(), "write deadline")
			})
			line := logLine(logs.String(), "write deadline")
			if !strings.Contains(line, slowAddr) || !strings.Contains(line, "spark.test.io.connectionTimeout") {
				t.Fatalf("the log line does not name the peer and the key: %s", line)
			}
			if n := strings.Count(logs.String(), "write deadline"); n != 1 {
				t.Fatalf("%d log lines for one slow peer", n)
			}
			waitFor(t, "the slow peer's queue freed", func() bool { return e.srv.NumConnections() == 1 })
			if _, err := good.SendRpcSync([]byte("again"), safetyWait); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func logLine(logs, part string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

// Client.Stream over maxQueuedBytes used to hold the request lock while
// the full queue closed the connection, whose teardown takes the same
// lock: it hung forever. Now the stream fails and the connection closes.
func TestStreamOverQueueLimit(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
					accepted <- c
				}
			}()
			e := newEnv(t, testConf(t, mode, "ember.maxQueuedBytes=1m", "sendBuffer=16384"), newEchoHandler(nil))
			c, err := e.factory.CreateUnmanagedClient("127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer := recv(t, accepted, "the accepted connection")
			defer peer.Close()
			// A body the peer never reads: it stays queued.
			if err := c.Send(make([]byte, 8<<20)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the body stuck in the queue", func() bool {
				c.wmu.Lock()
				defer c.wmu.Unlock()
				return c.queued > 0 && c.writing
			})
			sr := newStreamRecorder()
			returned := make(chan struct{})
			go func() {
				c.Stream("s", sr)
				close(returned)
			}()
			waitDone(t, returned, "Stream to return")
			if err := sr.wait(t); err == nil {
				t.Fatal("the stream did not fail")
			}
			waitDone(t, c.Done(), "the connection to close")
			if !errors.Is(c.Err(), ErrPeerNotReading) {
				t.Fatalf("closed with %v", c.Err())
			}
		})
	}
}

// bigReplier answers every RPC with the same large payload, inline, on the
// reading goroutine.
type bigReplier struct{ body []byte }

func (h *bigReplier) Receive(c *Client, msg []byte, r *Responder) { r.Reply(h.body) }
func (h *bigReplier) ReceiveOneWay(*Client, []byte)               {}
func (h *bigReplier) StreamManager() StreamManager                { return nil }

// Both ends of one connection send each other 64 MiB RPCs and answer them
// inline with 64 MiB: when each reader was also the writer of its answer,
// both blocked writing to a peer that was itself blocked writing.
func TestInlineLargeRepliesBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB")
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			body := bytes.Repeat([]byte{7}, 64<<20)
			h := &bigReplier{body: body}
			obs := newObserver()
			sh := &observingBig{bigReplier: h, observer: obs}
			e := newEnv(t, testConf(t, mode), sh)
			c := e.client(t)
			if _, err := c.SendRpcSync([]byte("hello"), safetyWait); err != nil {
				t.Fatal(err)
			}
			server := obs.peerOf(t, c.LocalAddr())
			results := make(chan error, 4)
			cb := RpcFunc{
				Success: func(b []byte) {
					if len(b) != len(body) {
						results <- fmt.Errorf("answer of %d bytes", len(b))
						return
					}
					results <- nil
				},
				Failure: func(err error) { results <- err },
			}
			for range 2 {
				c.SendRpc(body, cb)
				server.SendRpc(body, cb)
			}
			for i := range 4 {
				if err := recv(t, results, fmt.Sprintf("answer %d", i)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type observingBig struct {
	*bigReplier
	*observer
}

// authGate is a server bootstrap that requires authentication: the first
// RPC "login" authenticates the connection.
type authGate struct{}

func (authGate) DoBootstrap(s *Setup, h RpcHandler) RpcHandler {
	s.RequireAuthentication()
	return &loginHandler{next: h, s: s}
}

type loginHandler struct {
	next RpcHandler
	s    *Setup
}

func (l *loginHandler) Receive(c *Client, msg []byte, r *Responder) {
	if string(msg) == "login" {
		l.s.SetAuthenticated()
		r.Reply([]byte("welcome"))
		return
	}
	l.next.Receive(c, msg, r)
}
func (l *loginHandler) ReceiveOneWay(c *Client, msg []byte) { l.next.ReceiveOneWay(c, msg) }
func (l *loginHandler) StreamManager() StreamManager        { return l.next.StreamManager() }

// Before authentication a frame is capped at a few KiB: a 2 GiB length
// field is refused at once (nothing allocated for it), with a log line
// naming the key; after authentication large frames pass.
func TestPreAuthFrameCap(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			ctx := NewContext(testConf(t, mode), newEchoHandler(nil), opt)
			defer ctx.Close()
			srv, err := ctx.NewServer("127.0.0.1", 0, authGate{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			before := BufferedBytes()
			raw := dialRaw(t, srv.Port())
			var hdr [9]byte
			binary.BigEndian.PutUint64(hdr[:], 2<<30)
			hdr[8] = byte(codec.TypeRpcRequest)
			if _, err := raw.Write(hdr[:]); err != nil {
				t.Fatal(err)
			}
			_ = raw.SetReadDeadline(time.Now().Add(safetyWait))
			if _, err := io.Copy(io.Discard, raw); isTimeoutErr(err) {
				t.Fatalf("the connection was not closed: %v", err) // (a reset is a close)
			}
			if !strings.Contains(logs.String(), "spark.test.io.ember.preAuthMaxFrameLength") {
				t.Fatalf("no log line naming the key:\n%s", logs.String())
			}
			if got := BufferedBytes(); got > before {
				t.Fatalf("%d bytes counted for a refused frame", got-before)
			}

			// An authenticated connection takes a 1 MiB frame.
			f := ctx.NewClientFactory()
			defer f.Close()
			c, err := f.CreateClient("127.0.0.1", srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SendRpcSync(make([]byte, 16<<10), safetyWait); err == nil {
				t.Fatal("a 16 KiB frame before authentication was accepted")
			}
			c, err = f.CreateClient("127.0.0.1", srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			if r, err := c.SendRpcSync([]byte("login"), safetyWait); err != nil || string(r) != "welcome" {
				t.Fatalf("login: %q %v", r, err)
			}
			big := randBytes(1<<20, 5)
			if r, err := c.SendRpcSync(big, safetyWait); err != nil || !bytes.Equal(r, big) {
				t.Fatalf("after login: %d bytes, %v", len(r), err)
			}
		})
	}
}

// A frame that does not complete within the connection timeout closes the
// connection (old: it waited forever), and in EPOLL mode an incomplete
// frame parks no goroutine.
func TestPartialFrameTimeout(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			e := newEnv(t, testConf(t, mode, "connectionTimeout=1s"), newEchoHandler(nil), opt)
			raw := dialRaw(t, e.srv.Port())
			half := frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, make([]byte, 1000))[:500]
			if _, err := raw.Write(half); err != nil {
				t.Fatal(err)
			}
			_ = raw.SetReadDeadline(time.Now().Add(safetyWait))
			if _, err := io.Copy(io.Discard, raw); isTimeoutErr(err) {
				t.Fatalf("the connection was not closed: %v", err) // (a reset is a close)
			}
			line := logLine(logs.String(), "did not complete")
			if !strings.Contains(line, "spark.test.io.connectionTimeout") || !strings.Contains(line, raw.LocalAddr().String()) {
				t.Fatalf("no log line naming the peer and the key:\n%s", logs.String())
			}
		})
	}
	t.Run("EPOLL/no goroutine per partial frame", func(t *testing.T) {
		checkLeaks(t)
		e := newEnv(t, testConf(t, EPOLL), newEchoHandler(nil))
		half := frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, make([]byte, 1000))[:500]
		const n = 200
		base := runtime.NumGoroutine()
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dialRaw(t, e.srv.Port())
			if _, err := conns[i].Write(half); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every partial frame read", func() bool {
			e.srv.mu.Lock()
			defer e.srv.mu.Unlock()
			k := 0
			for c := range e.srv.clients {
				if c.partialSince.Load() != 0 {
					k++
				}
			}
			return k == n
		})
		waitFor(t, "the reading passes to end", func() bool { return runtime.NumGoroutine() < base+n/4 })
		for _, c := range conns {
			c.Close()
		}
	})
}

// chunkFiles serves stream 1: chunk 0 is a 64 MiB file region, every
// other chunk a small one.
type chunkFiles struct{ big, small string }

func (f *chunkFiles) GetChunk(streamID int64, idx int32) (codec.ManagedBuffer, error) {
	if idx == 0 {
		return codec.NewFileSegment(f.big, 0, 64<<20, codec.DefaultFileOptions)
	}
	return codec.NewFileSegment(f.small, 0, 64<<10, codec.DefaultFileOptions)
}
func (f *chunkFiles) OpenStream(string) (codec.ManagedBuffer, error) { return nil, nil }
func (f *chunkFiles) ConnectionTerminated(*Client)                   {}

// Four peers each ask for a 64 MiB chunk and never read: the chunk-fetch
// workers must not wait on them, so six legitimate fetches succeed; the
// regions count towards the non-readers' queued bytes.
func TestNonReadingChunkFetchers(t *testing.T) {
	dir := t.TempDir()
	big, small := dir+"/big", dir+"/small"
	for p, n := range map[string]int64{big: 64 << 20, small: 64 << 10} {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(n); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode, "serverThreads=2", "sendBuffer=16384"), &testHandler{sm: &chunkFiles{big: big, small: small}})
			for i := range 4 {
				slow := dialSlow(t, e.srv.Port())
				req := frame(t, &codec.Message{Type: codec.TypeChunkFetchRequest, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: 0}}, nil)
				if _, err := slow.Write(req); err != nil {
					t.Fatalf("slow fetcher %d: %v", i, err)
				}
			}
			waitFor(t, "four 64 MiB regions queued", func() bool {
				e.srv.mu.Lock()
				defer e.srv.mu.Unlock()
				k := 0
				for c := range e.srv.clients {
					c.wmu.Lock()
					if c.queued >= 64<<20 {
						k++
					}
					c.wmu.Unlock()
				}
				return k == 4
			})
			c := e.client(t)
			cb := newChunks()
			for i := range 6 {
				c.FetchChunk(1, int32(1+i), cb) // distinct ids: fetches are matched by id
			}
			for i := range 6 {
				r := cb.wait(t)
				if r.err != nil || len(r.data) != 64<<10 {
					t.Fatalf("legitimate fetch %d: %d bytes, %v", i, len(r.data), r.err)
				}
			}
		})
	}
}

// Past the process-wide budget, the connection holding the most is
// disconnected with a log line naming the key; the others go on.
func TestProcessBudget(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			old := budget.limit.Load()
			budget.limit.Store(BufferedBytes() + 8<<20)
			defer budget.limit.Store(old)
			logs, opt := captureLog()
			h := newLoopHandler(bytes.Repeat([]byte("r"), 64<<10))
			defer h.stop()
			e := newEnv(t, testConf(t, mode, "sendBuffer=16384"), h, opt)
			good := e.client(t)
			slow := dialSlow(t, e.srv.Port())
			burst(t, slow, 400, codec.TypeRpcRequest) // 25 MiB of answers
			waitFor(t, "the largest holder disconnected", func() bool {
				return strings.Contains(logs.String(), BudgetKey)
			})
			if line := logLine(logs.String(), BudgetKey); !strings.Contains(line, slow.LocalAddr().String()) {
				t.Fatalf("the budget log line does not name the slow peer: %s", line)
			}
			_ = slow.SetReadDeadline(time.Now().Add(safetyWait))
			if _, err := io.Copy(io.Discard, slow); isTimeoutErr(err) {
				t.Fatalf("the slow peer was not closed: %v", err)
			}
			if _, err := good.SendRpcSync([]byte("hi"), safetyWait); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A one-way flood from a peer whose messages the handler takes slowly
// (one goroutine, a bounded inbox that blocks when full) stops being
// read: the kernel pushes back on the peer, and the transport holds no
// more than one pass buffer for it.
func TestOneWayFloodIsBounded(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			gate := make(chan struct{})
			h := &blockingOneWay{gate: gate, inbox: make(chan []byte, 16)}
			e := newEnv(t, testConf(t, mode), h)
			raw := dialRaw(t, e.srv.Port())
			msg := frame(t, &codec.Message{Type: codec.TypeOneWayMessage}, make([]byte, 60<<10))
			before := BufferedBytes()
			blocked := false
			for i := 0; i < 4000 && !blocked; i++ { // at most ~240 MiB
				_ = raw.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := raw.Write(msg); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						blocked = true
						break
					}
					t.Fatal(err)
				}
			}
			if !blocked {
				t.Fatal("the flood was never pushed back")
			}
			if got := BufferedBytes() - before; got > 1<<20 {
				t.Fatalf("%d bytes held for a flood", got)
			}
			close(gate)
		})
	}
}

type blockingOneWay struct {
	gate  chan struct{}
	inbox chan []byte
}

func (h *blockingOneWay) Receive(c *Client, msg []byte, r *Responder) { r.Reply(nil) }
func (h *blockingOneWay) ReceiveOneWay(c *Client, msg []byte) {
	select {
	case h.inbox <- append([]byte(nil), msg...):
	case <-h.gate:
	}
}
func (h *blockingOneWay) StreamManager() StreamManager { return nil }

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
