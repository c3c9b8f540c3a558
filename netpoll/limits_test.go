package netpoll

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
)

type syncBuffer = testutil.LogBuffer

func captureLog() (*syncBuffer, ContextOption) {
	b := &syncBuffer{}
	return b, WithLogger(slog.New(slog.NewTextHandler(b, nil)))
}

func dialRaw(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A server at spark.<module>.io.ember.maxConnections closes new
// connections at once and takes them again once one leaves.
func TestMaxConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			e := newEnv(t, testConf(t, mode, "ember.maxConnections=2"), newEchoHandler(nil), opt)
			a, b := e.client(t), dialRaw(t, e.srv.Port())
			_ = b
			waitFor(t, "two connections", func() bool { return e.srv.NumConnections() == 2 })
			extra := dialRaw(t, e.srv.Port())
			_ = extra.SetReadDeadline(time.Now().Add(20 * time.Second))
			if n, err := extra.Read(make([]byte, 1)); err == nil {
				t.Fatalf("third connection read %d bytes", n)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("third connection was not closed")
			}
			if e.srv.Refused() < 1 {
				t.Fatalf("refused = %d", e.srv.Refused())
			}
			if !strings.Contains(logs.String(), "ember.maxConnections") {
				t.Fatal("no log line naming the limit")
			}
			// The accepted client still works; after one leaves, a new
			// connection is served.
			if r, err := a.SendRpcSync([]byte("x"), 10*time.Second); err != nil || string(r) != "x" {
				t.Fatalf("%q %v", r, err)
			}
			b.Close()
			waitFor(t, "a free slot", func() bool { return e.srv.numClients() < 2 })
			c, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if r, err := c.SendRpcSync([]byte("y"), 10*time.Second); err != nil || string(r) != "y" {
				t.Fatalf("%q %v", r, err)
			}
		})
	}
}

// holdHandler keeps every responder until released.
type holdHandler struct {
	mu   sync.Mutex
	held []*Responder
}

func (h *holdHandler) Receive(c *Client, msg []byte, r *Responder) {
	h.mu.Lock()
	h.held = append(h.held, r)
	h.mu.Unlock()
}
func (h *holdHandler) ReceiveOneWay(*Client, []byte) {}
func (h *holdHandler) StreamManager() StreamManager  { return nil }
func (h *holdHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}
func (h *holdHandler) release() {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, r := range held {
		r.Reply([]byte("ok"))
	}
}

// Past spark.<module>.io.ember.maxOutstandingRequests unanswered requests
// a connection stops reading (the third RPC stays in the socket) and
// resumes once answers leave; nothing is refused or lost.
func TestMaxOutstandingRequests(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := &holdHandler{}
			e := newEnv(t, testConf(t, mode, "ember.maxOutstandingRequests=2"), h)
			c := e.client(t)
			results := make(chan error, 3)
			for i := 0; i < 3; i++ {
				c.SendRpc([]byte("held"), RpcFunc{Success: func([]byte) { results <- nil }, Failure: func(err error) { results <- err }})
			}
			waitFor(t, "two held requests", func() bool { return h.count() == 2 })
			waitFor(t, "the server connection to stop reading", func() bool {
				sc := serverSide(t, e.srv)
				sc.rmu.Lock()
				defer sc.rmu.Unlock()
				return sc.paused
			})
			if n := h.count(); n != 2 {
				t.Fatalf("%d requests reached the handler of a paused connection", n)
			}
			h.release()
			for i := 0; i < 2; i++ {
				if err := recv(t, results, "an answer"); err != nil {
					t.Fatal(err)
				}
			}
			// The third request is read once the first answers left.
			waitFor(t, "the third request", func() bool { return h.count() == 1 })
			h.release()
			if err := recv(t, results, "the third answer"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// serverSide returns the one connection a server holds.
func serverSide(t *testing.T, s *Server) *Client {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		return c
	}
	t.Fatal("the server holds no connection")
	return nil
}

// A peer that sends requests and never reads the answers cannot make the
// server buffer without bound: once the answers queued for it pass
// spark.<module>.io.ember.maxQueuedBytes (file regions included) it is
// disconnected, with a log line naming the key, in both modes.
func TestPeerNotReading(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			e := newEnv(t, testConf(t, mode, "ember.maxQueuedBytes=2m", "sendBuffer=65536"), newEchoHandler(nil), opt)
			raw := dialRaw(t, e.srv.Port())
			if tc, ok := raw.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(64 << 10)
			}
			body := make([]byte, 256<<10)
			for i := 0; i < 400 && !strings.Contains(logs.String(), "ember.maxQueuedBytes"); i++ { // at most 100 MiB
				req := frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: int64(i)}, body)
				_ = raw.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := raw.Write(req); err != nil {
					break
				}
			}
			waitFor(t, "the server to give up on the peer", func() bool {
				return strings.Contains(logs.String(), "ember.maxQueuedBytes")
			})
			_ = raw.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := io.Copy(io.Discard, raw)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection still open")
			}
			waitFor(t, "the server to drop the connection", func() bool { return e.srv.NumConnections() == 0 })
		})
	}
}

// A refused connection says so in both modes (EPOLL dials with Go's net
// and hands the socket to the reactor).
func TestConnectRefusedMessage(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			e := newEnv(t, testConf(t, mode), newEchoHandler(nil))
			_, err = e.factory.CreateUnmanagedClient("127.0.0.1", port)
			var ce *ConnError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("want a ConnError saying refused, got %v", err)
			}
		})
	}
}
