package netpoll

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// RequestTimeoutIntegrationSuite and the idle detector.

// stallingHandler answers RPCs at once, except "hang", which it never
// answers; chunk 0 of any stream blocks until release is closed.
type stallingHandler struct {
	testHandler
	mu      sync.Mutex
	held    []*Responder
	hung    chan struct{}
	release chan struct{}
}

func newStallingHandler(t *testing.T) *stallingHandler {
	h := &stallingHandler{hung: make(chan struct{}, 16), release: make(chan struct{})}
	h.testHandler.receive = func(c *Client, msg []byte, r *Responder) {
		if string(msg) == "hang" {
			h.mu.Lock()
			h.held = append(h.held, r)
			h.mu.Unlock()
			h.hung <- struct{}{}
			return
		}
		r.Reply(clone(msg))
	}
	h.testHandler.sm = stallingChunks{h}
	return h
}

// unblock lets stalled chunk fetches go; register it after newEnv so it
// runs before the environment closes.
func (h *stallingHandler) unblock() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

type stallingChunks struct{ h *stallingHandler }

func (s stallingChunks) GetChunk(int64, int32) (codec.ManagedBuffer, error) {
	s.h.hung <- struct{}{}
	<-s.h.release
	return nil, errors.New("released")
}
func (s stallingChunks) OpenStream(string) (codec.ManagedBuffer, error) { return nil, nil }
func (s stallingChunks) ConnectionTerminated(*Client)                   {}

func checkTimeoutErr(t *testing.T, c *Client, err error) {
	t.Helper()
	if !errors.Is(err, ErrRequestTimeout) {
		t.Fatalf("want ErrRequestTimeout, got %v", err)
	}
	var ce *ConnError
	if !errors.As(err, &ce) || !ce.Timeout() || ce.Addr != c.RemoteAddr() {
		t.Fatalf("want a timeout ConnError naming %s, got %#v", c.RemoteAddr(), err)
	}
	mustContain(t, err, c.RemoteAddr())
}

// TestRequestTimeout: with connectionTimeout=1s, quick requests succeed; an
// RPC and a chunk fetch that are never answered fail with a timeout, the
// client turns inactive, and the factory then makes a new working client.
func TestRequestTimeout(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newStallingHandler(t)
			e := newEnv(t, testConf(t, mode, "connectionTimeout=1s"), h)
			t.Cleanup(h.unblock)
			c := e.client(t)
			for _, m := range []string{"quick 1", "quick 2", "quick 3"} {
				if resp, err := c.SendRpcSync([]byte(m), safetyWait); err != nil || string(resp) != m {
					t.Fatalf("%s: %q %v", m, resp, err)
				}
			}
			rpc, chunk := newRPC(), newChunks()
			c.SendRpc([]byte("hang"), rpc)
			c.FetchChunk(5, 0, chunk)
			checkTimeoutErr(t, c, rpc.waitErr(t))
			r := chunk.wait(t)
			checkTimeoutErr(t, c, r.err)
			if c.IsActive() {
				t.Fatal("a timed-out client is still active")
			}
			waitDone(t, c.Done(), "the timed-out connection to close")
			if !errors.Is(c.Err(), ErrRequestTimeout) {
				t.Fatalf("Err() = %v", c.Err())
			}
			if rpc.calls.Load() != 1 || chunk.calls.Load() != 1 {
				t.Fatal("a timed-out callback was called more than once")
			}

			c2 := e.client(t)
			if c2 == c || !c2.IsActive() {
				t.Fatal("the factory handed out the timed-out client")
			}
			if resp, err := c2.SendRpcSync([]byte("quick 4"), safetyWait); err != nil || string(resp) != "quick 4" {
				t.Fatalf("new client: %q %v", resp, err)
			}
		})
	}
}

// TestTimeoutCountsFromLastRequest is RequestTimeoutIntegrationSuite's
// furtherRequestsDelay without the clock: the idle check is run by hand
// with the connection's traffic stamps moved into the past. A connection
// whose outstanding requests are old is kept while a newer request (a chunk
// fetch here) is younger than the timeout, and closed once that one is old
// too; every outstanding callback then fails with the timeout.
func TestTimeoutCountsFromLastRequest(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newStallingHandler(t)
			// A timeout nobody reaches by waiting: only the hand-run checks act.
			e := newEnv(t, testConf(t, mode, "connectionTimeout=3600s"), h)
			t.Cleanup(h.unblock)
			c := e.client(t)
			timeout := e.ctx.Conf().ConnectionTimeout
			long := nanotime() - int64(2*timeout)

			rpc := newRPC()
			c.SendRpc([]byte("hang"), rpc)
			recv(t, h.hung, "the RPC to reach the server")
			c.lastIO.Store(long)
			c.lastReq.Store(long)

			// A newer request pushes the deadline back.
			chunk := newChunks()
			c.FetchChunk(3, 0, chunk)
			recv(t, h.hung, "the fetch to reach the server")
			c.lastIO.Store(long)
			c.checkIdle()
			if !c.IsActive() {
				t.Fatalf("closed although the last request is recent: %v", c.Err())
			}

			// Now every request is older than the timeout.
			c.lastReq.Store(long)
			c.lastIO.Store(long)
			c.checkIdle()
			if c.IsActive() {
				t.Fatal("not timed out with old requests outstanding")
			}
			checkTimeoutErr(t, c, rpc.waitErr(t))
			checkTimeoutErr(t, c, chunk.wait(t).err)
			waitDone(t, c.Done(), "the connection to close")
		})
	}
}

// TestIdleCheckWithoutRequests: an idle connection with nothing
// outstanding is left open, unless the context closes idle connections;
// recent traffic also keeps it.
func TestIdleCheckWithoutRequests(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			conf := testConf(t, mode, "connectionTimeout=3600s")
			e := newEnv(t, conf, &testHandler{})
			c := e.client(t)
			long := nanotime() - int64(2*conf.ConnectionTimeout)
			c.lastIO.Store(long)
			c.lastReq.Store(long)
			c.checkIdle()
			if !c.IsActive() {
				t.Fatal("an idle connection without requests was closed")
			}

			c2, _ := clientTo(t, conf, &testHandler{}, e.srv.Port(), WithCloseIdleConnections(true))
			c2.lastIO.Store(nanotime()) // traffic just now
			c2.lastReq.Store(long)
			c2.checkIdle()
			if !c2.IsActive() {
				t.Fatal("closed although there was traffic within the timeout")
			}
			c2.lastIO.Store(long)
			c2.checkIdle()
			waitDone(t, c2.Done(), "the idle connection to close")
			if c2.IsActive() || c2.Err() == nil {
				t.Fatal("closed idle connection reports active / no error")
			}
			mustContain(t, c2.Err(), "idle")
			if errors.Is(c2.Err(), ErrRequestTimeout) {
				t.Fatal("an idle close is not a request timeout")
			}
		})
	}
}

// TestNoTimeoutMeansNoIdleCheck: connectionTimeout=0 disables the idle
// detector.
func TestNoTimeoutMeansNoIdleCheck(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode, "connectionTimeout=0"), &testHandler{}, WithCloseIdleConnections(true))
			c := e.client(t)
			if c.timer != nil {
				t.Fatal("an idle timer runs although connectionTimeout=0")
			}
			if resp, err := c.SendRpcSync([]byte("x"), time.Duration(0)); err != nil || string(resp) != "x" {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}
