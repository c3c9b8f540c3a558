package rpcenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"go.uber.org/goleak"
)

// ioModes is the table every test that starts envs runs over.
var ioModes = []string{"EPOLL", "NIO"}

// waitLimit bounds every wait of the suite: it only turns a hang into a
// failure and never decides an outcome.
const waitLimit = 30 * time.Second

// bigCtx is a context whose deadline (waitLimit) only turns a hang into a
// failure.
func bigCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// testLogger discards env logs unless RPCENV_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("RPCENV_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// leakCheck fails t if goroutines started during it outlive it. The netpoll
// pollers and gopool workers are process-wide by design.
func leakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore,
			goleak.IgnoreTopFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
			goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
			goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		)
	})
}

// eachMode runs fn once per io mode, each as a subtest with a leak check
// (registered first, so it runs after the envs' own cleanups).
func eachMode(t *testing.T, fn func(t *testing.T, mode string)) {
	t.Helper()
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			leakCheck(t)
			fn(t, mode)
		})
	}
}

// envSpec describes a test env.
type envSpec struct {
	name      string
	mode      string
	client    bool
	port      int
	advertise string
	kv        []string
}

// startEnv creates an env (server on 127.0.0.1, or client mode) that is
// shut down when t ends.
func startEnv(t *testing.T, s envSpec) *Env {
	t.Helper()
	e, err := createEnv(s)
	if err != nil {
		t.Fatalf("create env %s: %v", s.name, err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func createEnv(s envSpec) (*Env, error) {
	conf := sparkconf.New()
	if s.mode != "" {
		conf.Set("spark.rpc.io.mode", s.mode)
	}
	for i := 0; i+1 < len(s.kv); i += 2 {
		conf.Set(s.kv[i], s.kv[i+1])
	}
	name := s.name
	if name == "" {
		name = "test"
	}
	return Create(Config{Name: name, BindHost: "127.0.0.1", AdvertiseHost: s.advertise, Port: s.port,
		Conf: conf, ClientMode: s.client, Logger: testLogger()})
}

// server and client are the usual specs.
func server(mode string, kv ...string) envSpec {
	return envSpec{name: "server", mode: mode, kv: kv}
}

func client(mode string, kv ...string) envSpec {
	return envSpec{name: "client", mode: mode, client: true, kv: kv}
}

// waitFor polls cond until it holds; it fails t after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv takes one value from ch or fails t after waitLimit.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// setup registers ep or fails t.
func setup(t testing.TB, e *Env, name string, ep Endpoint, opts ...EndpointOption) *Ref {
	t.Helper()
	ref, err := e.SetupEndpoint(name, ep, opts...)
	if err != nil {
		t.Fatalf("SetupEndpoint(%s): %v", name, err)
	}
	return ref
}

// lookup returns a verified ref to name at e's address, as seen from from.
func lookup(t testing.TB, from, at *Env, name string) *Ref {
	t.Helper()
	ref, err := from.SetupEndpointRef(at.Address(), name)
	if err != nil {
		t.Fatalf("SetupEndpointRef(%s, %s): %v", at.Address(), name, err)
	}
	return ref
}

// askOK asks with a generous deadline and fails t on error.
func askOK(t *testing.T, ref *Ref, msg any) any {
	t.Helper()
	v, err := ref.Ask(bigCtx(t), msg)
	if err != nil {
		t.Fatalf("ask %s %#v: %v", ref, msg, err)
	}
	return v
}

// ---- endpoints shared by the suite ----

// event is one call an endpoint saw.
type event struct {
	kind string // start, stop, receive, ask, connected, disconnected, networkError, error
	addr Address
	msg  any
	err  error
}

func (e event) String() string { return fmt.Sprintf("%s(%v %v %v)", e.kind, e.addr, e.msg, e.err) }

// recorder is an endpoint that records everything that happens to it and
// answers asks with the message itself.
type recorder struct {
	env *Env // for Self checks; may be nil

	mu     sync.Mutex
	events []event
	selfs  map[string]*Ref // kind -> Self seen in that call
	notify chan struct{}
}

func newRecorder(env *Env) *recorder {
	return &recorder{env: env, selfs: map[string]*Ref{}, notify: make(chan struct{}, 1)}
}

func (r *recorder) add(ev event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	if r.env != nil {
		r.selfs[ev.kind] = r.env.EndpointRef(r)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) OnStart() error { r.add(event{kind: "start"}); return nil }
func (r *recorder) OnStop()        { r.add(event{kind: "stop"}) }
func (r *recorder) OnError(err error) {
	r.add(event{kind: "error", err: err})
}
func (r *recorder) OnConnected(a Address)    { r.add(event{kind: "connected", addr: a}) }
func (r *recorder) OnDisconnected(a Address) { r.add(event{kind: "disconnected", addr: a}) }
func (r *recorder) OnNetworkError(err error, a Address) {
	r.add(event{kind: "networkError", addr: a, err: err})
}

func (r *recorder) Receive(msg any, sender Address) error {
	r.add(event{kind: "receive", addr: sender, msg: msg})
	return nil
}

func (r *recorder) ReceiveAndReply(msg any, cc CallContext) error {
	r.add(event{kind: "ask", addr: cc.SenderAddress(), msg: msg})
	cc.Reply(msg)
	return nil
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func (r *recorder) self(kind string) (*Ref, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, ok := r.selfs[kind]
	return ref, ok
}

// has reports whether an event of kind at addr was recorded.
func (r *recorder) has(kind string, addr Address) bool {
	for _, ev := range r.snapshot() {
		if ev.kind == kind && ev.addr == addr {
			return true
		}
	}
	return false
}

// of returns the events of kind, in order.
func (r *recorder) of(kind string) []event {
	var out []event
	for _, ev := range r.snapshot() {
		if ev.kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (r *recorder) count(kind string) int {
	n := 0
	for _, ev := range r.snapshot() {
		if ev.kind == kind {
			n++
		}
	}
	return n
}

// waitEvent waits until an event of kind at addr was recorded.
func (r *recorder) waitEvent(t testing.TB, kind string, addr Address) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !r.has(kind, addr) {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("no %s(%v) event; got %v", kind, addr, r.snapshot())
		}
	}
}

// waitCount waits until n events of kind were recorded.
func (r *recorder) waitCount(t testing.TB, kind string, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for r.count(kind) < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("want %d %s events; got %v", n, kind, r.snapshot())
		}
	}
}

// errorsOf returns the errors passed to OnError.
func (r *recorder) errorsOf() []error {
	var out []error
	for _, ev := range r.snapshot() {
		if ev.kind == "error" {
			out = append(out, ev.err)
		}
	}
	return out
}

// gate blocks handlers until opened, and tells when they arrive.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 64), release: make(chan struct{})}
}

func (g *gate) pass() {
	g.entered <- struct{}{}
	<-g.release
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// isTimeout reports whether err is a *TimeoutError.
func isTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}
