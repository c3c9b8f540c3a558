package netpoll

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"go.uber.org/goleak"
)

// modes is the table every transport test runs over.
var modes = []IOMode{EPOLL, NIO}

// testConf returns a module conf for mode with overrides "key=value"
// (keys relative to spark.test.io., or full spark.* keys).
func testConf(t testing.TB, mode IOMode, kv ...string) Conf {
	t.Helper()
	sc := sparkconf.New().Set("spark.test.io.mode", string(mode))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		if !strings.HasPrefix(k, "spark.") {
			k = "spark.test.io." + k
		}
		sc.Set(k, v)
	}
	c, err := NewConf("test", sc, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// env is a server and a client factory on one context.
type env struct {
	ctx     *Context
	srv     *Server
	factory *ClientFactory
}

func newEnv(t testing.TB, conf Conf, h RpcHandler, opts ...ContextOption) *env {
	t.Helper()
	ctx := NewContext(conf, h, opts...)
	srv, err := ctx.NewServer("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ctx: ctx, srv: srv, factory: ctx.NewClientFactory()}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.factory.Close()
	e.srv.Close()
	e.ctx.Close()
}

func (e *env) client(t testing.TB) *Client {
	t.Helper()
	c, err := e.factory.CreateClient("127.0.0.1", e.srv.Port())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkLeaks fails the test if goroutines other than the netpoll pollers
// and pools (process-wide by design) outlive it.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		goleak.VerifyNone(t,
			goleak.IgnoreCurrent(),
			goleak.IgnoreTopFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
			goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
			goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		)
	})
}

// echoHandler answers every RPC with its own payload and records one-way
// messages.
type echoHandler struct {
	sm     StreamManager
	mu     sync.Mutex
	oneWay [][]byte
	got    chan struct{}
}

func newEchoHandler(sm StreamManager) *echoHandler {
	return &echoHandler{sm: sm, got: make(chan struct{}, 1024)}
}

func (h *echoHandler) Receive(c *Client, msg []byte, r *Responder) {
	r.Reply(append([]byte(nil), msg...))
}

func (h *echoHandler) ReceiveOneWay(c *Client, msg []byte) {
	h.mu.Lock()
	h.oneWay = append(h.oneWay, append([]byte(nil), msg...))
	h.mu.Unlock()
	h.got <- struct{}{}
}

func (h *echoHandler) StreamManager() StreamManager { return h.sm }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func writeTempFile(t testing.TB, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "chunk")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}
