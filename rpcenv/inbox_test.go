package rpcenv

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/atomic"
)

// fakeCC is a CallContext that records the answer.
type fakeCC struct {
	sender Address

	mu       sync.Mutex
	replies  []any
	failures []error
	answered chan struct{}
}

func newFakeCC() *fakeCC { return &fakeCC{answered: make(chan struct{}, 16)} }

func (c *fakeCC) Reply(v any) {
	c.mu.Lock()
	c.replies = append(c.replies, v)
	c.mu.Unlock()
	c.answered <- struct{}{}
}

func (c *fakeCC) SendFailure(err error) {
	c.mu.Lock()
	c.failures = append(c.failures, err)
	c.mu.Unlock()
	c.answered <- struct{}{}
}

func (c *fakeCC) SenderAddress() Address { return c.sender }

func (c *fakeCC) result() ([]any, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]any(nil), c.replies...), append([]error(nil), c.failures...)
}

// barrier lets n handlers through only once all n are inside at the same
// time: it proves that they run concurrently.
type barrier struct {
	n       int32
	arrived atomic.Int32
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: int32(n), all: make(chan struct{})} }

// wait returns an error if the others do not arrive within waitLimit.
func (b *barrier) wait() error {
	if b.arrived.Inc() == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
		return nil
	case <-time.After(waitLimit):
		return fmt.Errorf("barrier: only %d of %d handlers arrived", b.arrived.Load(), b.n)
	}
}

// processAll runs the inbox until it has nothing left (as a loop would).
func processAll(in *inbox) {
	for in.process() {
	}
}

func kinds(evs []event) string {
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ev.kind)
		if ev.msg != nil {
			fmt.Fprintf(&b, ":%v", ev.msg)
		}
	}
	return b.String()
}

// InboxSuite "post".
func TestInboxPost(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	if in.queue.len() != 1 {
		t.Fatalf("a new inbox must hold OnStart, has %d messages", in.queue.len())
	}
	sender := NewAddress("localhost", 1)
	schedule, err := in.post(inboxMsg{kind: kindOneWay, sender: sender, content: "hi"})
	if err != nil || !schedule {
		t.Fatalf("post = %v, %v; want schedule", schedule, err)
	}
	if again, _ := in.post(inboxMsg{kind: kindOneWay, content: "again"}); again {
		t.Error("a thread-safe inbox already scheduled was scheduled twice")
	}
	processAll(in)
	if got := kinds(ep.snapshot()); got != "start receive:hi receive:again" {
		t.Errorf("events = %s", got)
	}
	if ev := ep.snapshot()[1]; ev.addr != sender {
		t.Errorf("sender = %v", ev.addr)
	}
	if !in.stop() {
		t.Error("stop of an idle inbox must schedule it")
	}
	if in.stop() {
		t.Error("second stop scheduled again")
	}
	_, err = in.post(inboxMsg{kind: kindOneWay, content: "late"})
	if !errors.Is(err, ErrEndpointStopped) {
		t.Errorf("post after stop: %v", err)
	}
	processAll(in)
	if got := kinds(ep.snapshot()); got != "start receive:hi receive:again stop" {
		t.Errorf("events = %s", got)
	}
	if in.numActive != 0 {
		t.Errorf("numActive = %d", in.numActive)
	}
}

// InboxSuite "post: with reply".
func TestInboxPostWithReply(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	cc := newFakeCC()
	cc.sender = NewAddress("h", 9)
	if _, err := in.post(inboxMsg{kind: kindRPC, sender: cc.sender, content: "q", cc: cc}); err != nil {
		t.Fatal(err)
	}
	processAll(in)
	replies, failures := cc.result()
	if len(replies) != 1 || replies[0] != "q" || len(failures) != 0 {
		t.Errorf("replies %v failures %v", replies, failures)
	}
	if ev := ep.snapshot()[1]; ev.kind != "ask" || ev.addr != cc.sender {
		t.Errorf("event %v", ev)
	}
}

// OnStop is the last message: what was queued before it runs first,
// nothing gets in after it, and asks posted after stop are refused.
func TestInboxOnStopLast(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	cc := newFakeCC()
	in.post(inboxMsg{kind: kindOneWay, content: 1})
	in.post(inboxMsg{kind: kindRPC, content: 2, cc: cc})
	in.post(inboxMsg{kind: kindConnected, sender: NewAddress("x", 1)})
	in.stop()
	late := newFakeCC()
	if _, err := in.post(inboxMsg{kind: kindRPC, content: 3, cc: late}); !errors.Is(err, ErrEndpointStopped) {
		t.Errorf("ask after stop: %v", err)
	}
	if _, err := in.post(inboxMsg{kind: kindDisconnected}); !errors.Is(err, ErrEndpointStopped) {
		t.Errorf("event after stop: %v", err)
	}
	processAll(in)
	if got := kinds(ep.snapshot()); got != "start receive:1 ask:2 connected stop" {
		t.Errorf("events = %s", got)
	}
	if r, _ := cc.result(); len(r) != 1 {
		t.Errorf("the ask queued before stop was not answered: %v", r)
	}
}

// Asks still queued when OnStop runs (they cannot get in through post,
// but the inbox guards against it) are failed with ErrEndpointStopped
// and never reach the endpoint.
func TestInboxPendingAsksFailedAtStop(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	processAll(in)
	in.stop()
	pending := newFakeCC()
	in.mu.Lock()
	in.queue.push(inboxMsg{kind: kindRPC, content: "behind OnStop", cc: pending})
	in.queue.push(inboxMsg{kind: kindOneWay, content: "one-way behind OnStop"})
	in.mu.Unlock()
	processAll(in)
	_, failures := pending.result()
	if len(failures) != 1 || !errors.Is(failures[0], ErrEndpointStopped) {
		t.Errorf("pending ask: %v", failures)
	}
	if got := kinds(ep.snapshot()); got != "start stop" {
		t.Errorf("events = %s", got)
	}
	if in.queue.len() != 0 {
		t.Errorf("%d messages left", in.queue.len())
	}
}

// InboxSuite "post: Associated / Disassociated / AssociationError".
func TestInboxConnectionEvents(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	a := NewAddress("remote", 11)
	boom := errors.New("boom")
	in.post(inboxMsg{kind: kindConnected, sender: a})
	in.post(inboxMsg{kind: kindDisconnected, sender: a})
	in.post(inboxMsg{kind: kindNetworkError, sender: a, err: boom})
	processAll(in)
	evs := ep.snapshot()
	if got := kinds(evs); got != "start connected disconnected networkError" {
		t.Fatalf("events = %s", got)
	}
	for _, ev := range evs[1:] {
		if ev.addr != a {
			t.Errorf("%s at %v, want %v", ev.kind, ev.addr, a)
		}
	}
	if evs[3].err != boom {
		t.Errorf("network error = %v", evs[3].err)
	}
	// An endpoint without the hooks just ignores the events.
	plain := newInbox("plain", &BaseEndpoint{}, nil, 0)
	plain.post(inboxMsg{kind: kindConnected, sender: a})
	plain.post(inboxMsg{kind: kindNetworkError, sender: a, err: boom})
	processAll(plain)
	if plain.queue.len() != 0 || plain.numActive != 0 {
		t.Error("events for an endpoint without hooks were not consumed")
	}
}

// errEndpoint fails in every way it can.
type errEndpoint struct {
	*recorder
	startErr  error
	stopPanic bool
}

func (e *errEndpoint) OnStart() error {
	e.add(event{kind: "start"})
	return e.startErr
}

func (e *errEndpoint) OnStop() {
	e.add(event{kind: "stop"})
	if e.stopPanic {
		panic("stop panic")
	}
}

func (e *errEndpoint) Receive(msg any, _ Address) error {
	switch msg {
	case "panic":
		panic("receive panic")
	case "fail":
		return errors.New("receive failed")
	}
	e.add(event{kind: "receive", msg: msg})
	return nil
}

func (e *errEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	switch msg {
	case "panic":
		panic("ask panic")
	case "fail":
		return errors.New("ask failed")
	}
	cc.Reply(msg)
	return nil
}

// InboxSuite / RpcEnvSuite onError, and SPARK-32738: after a panic the
// inbox keeps working.
func TestInboxErrors(t *testing.T) {
	ep := &errEndpoint{recorder: newRecorder(nil), startErr: errors.New("start failed"), stopPanic: true}
	in := newInbox("ep", ep, nil, 0)
	askPanic, askFail, askOK := newFakeCC(), newFakeCC(), newFakeCC()
	for _, m := range []inboxMsg{
		{kind: kindOneWay, content: "fail"},
		{kind: kindOneWay, content: "panic"},
		{kind: kindRPC, content: "panic", cc: askPanic},
		{kind: kindRPC, content: "fail", cc: askFail},
		{kind: kindOneWay, content: "after"},
		{kind: kindRPC, content: "ok", cc: askOK},
	} {
		if _, err := in.post(m); err != nil {
			t.Fatal(err)
		}
	}
	processAll(in)
	if in.numActive != 0 {
		t.Errorf("numActive = %d after panics", in.numActive)
	}
	in.stop()
	processAll(in)
	var msgs []string
	for _, err := range ep.errorsOf() {
		msgs = append(msgs, err.Error())
	}
	want := []string{"start failed", "receive failed", "receive panic", "ask panic", "ask failed", "stop panic"}
	if len(msgs) != len(want) {
		t.Fatalf("OnError got %d errors: %q", len(msgs), msgs)
	}
	for i, w := range want {
		if !strings.Contains(msgs[i], w) {
			t.Errorf("OnError #%d = %q, want %q", i, msgs[i], w)
		}
	}
	if _, f := askPanic.result(); len(f) != 1 || !strings.Contains(f[0].Error(), "panicked") {
		t.Errorf("panicking ask answered with %v", f)
	}
	if _, f := askFail.result(); len(f) != 1 || f[0].Error() != "ask failed" {
		t.Errorf("failing ask answered with %v", f)
	}
	if r, _ := askOK.result(); len(r) != 1 || r[0] != "ok" {
		t.Errorf("ask after the failures: %v", r)
	}
	if got := kinds(ep.snapshot()); !strings.Contains(got, "receive:after") || !strings.HasSuffix(got, "stop error") {
		t.Errorf("events = %s", got)
	}
}

// BaseEndpoint's defaults: Receive reports ErrUnsupported to OnError (the
// log when there is none), ReceiveAndReply fails the ask.
func TestInboxBaseEndpointDefaults(t *testing.T) {
	in := newInbox("base", &BaseEndpoint{}, nil, 0)
	cc := newFakeCC()
	in.post(inboxMsg{kind: kindOneWay, content: "x"})
	in.post(inboxMsg{kind: kindRPC, content: "y", cc: cc})
	processAll(in)
	_, f := cc.result()
	if len(f) != 1 || !errors.Is(f[0], ErrUnsupported) || !strings.Contains(f[0].Error(), "won't reply anything") {
		t.Errorf("default ReceiveAndReply: %v", f)
	}
}

// A bounded inbox refuses sends and asks beyond its capacity, but not
// connection events.
func TestInboxCapacity(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 2)
	processAll(in) // OnStart
	for i := 0; i < 2; i++ {
		if _, err := in.post(inboxMsg{kind: kindOneWay, content: i}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if _, err := in.post(inboxMsg{kind: kindOneWay, content: 2}); !errors.Is(err, ErrInboxFull) {
		t.Errorf("send beyond capacity: %v", err)
	}
	if _, err := in.post(inboxMsg{kind: kindRPC, content: 3, cc: newFakeCC()}); !errors.Is(err, ErrInboxFull) {
		t.Errorf("ask beyond capacity: %v", err)
	}
	if _, err := in.post(inboxMsg{kind: kindConnected, sender: NewAddress("h", 1)}); err != nil {
		t.Errorf("connection event refused: %v", err)
	}
	processAll(in)
	if _, err := in.post(inboxMsg{kind: kindOneWay, content: 4}); err != nil {
		t.Errorf("post after draining: %v", err)
	}
	processAll(in)
	if got := kinds(ep.snapshot()); got != "start receive:0 receive:1 connected receive:4" {
		t.Errorf("events = %s", got)
	}
}

// A long queue is processed in batches: process hands the inbox back to
// the run queue instead of monopolising a loop.
func TestInboxBatches(t *testing.T) {
	ep := newRecorder(nil)
	in := newInbox("ep", ep, nil, 0)
	for i := 0; i < 3*maxBatch; i++ {
		in.post(inboxMsg{kind: kindOneWay, content: i})
	}
	rounds := 1
	for in.process() {
		rounds++
	}
	if rounds < 3 {
		t.Errorf("%d messages in %d rounds", 3*maxBatch+1, rounds)
	}
	if n := ep.count("receive"); n != 3*maxBatch {
		t.Errorf("%d received", n)
	}
}

// concEndpoint counts how many of its handlers run at once.
type concEndpoint struct {
	BaseEndpoint
	concurrent bool
	inFlight   atomic.Int32
	maxSeen    atomic.Int32
	handled    atomic.Int32
	barrier    *barrier // if set, "barrier" messages wait on it

	mu    sync.Mutex
	order []int
	errs  []error

	stopInFlight atomic.Int32 // handlers running while OnStop ran (+1 so 0 means not run)
}

func (c *concEndpoint) Concurrent() bool { return c.concurrent }

func (c *concEndpoint) enter() {
	n := c.inFlight.Inc()
	for {
		m := c.maxSeen.Load()
		if n <= m || c.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
}

func (c *concEndpoint) handle(msg any) error {
	c.enter()
	defer c.inFlight.Dec()
	defer c.handled.Inc()
	switch m := msg.(type) {
	case int:
		c.mu.Lock()
		c.order = append(c.order, m)
		c.mu.Unlock()
	case ping:
		c.mu.Lock()
		c.order = append(c.order, m.N)
		c.mu.Unlock()
	case string:
		if m == "barrier" {
			return c.barrier.wait()
		}
	}
	// Give other goroutines a chance to overlap with this one.
	for i := 0; i < 10; i++ {
		_ = c.inFlight.Load()
	}
	return nil
}

func (c *concEndpoint) Receive(msg any, _ Address) error { return c.handle(msg) }

func (c *concEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	if err := c.handle(msg); err != nil {
		return err
	}
	cc.Reply(msg)
	return nil
}

func (c *concEndpoint) OnError(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *concEndpoint) OnStop() { c.stopInFlight.Store(c.inFlight.Load() + 1) }

func (c *concEndpoint) errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// plainEndpoint hides everything but the Endpoint methods.
type plainEndpoint struct{ c *concEndpoint }

func (p plainEndpoint) Receive(msg any, s Address) error { return p.c.Receive(msg, s) }
func (p plainEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	return p.c.ReceiveAndReply(msg, cc)
}

// spin runs process on workers goroutines until done() holds.
func spin(t *testing.T, in *inbox, workers int, done func() bool) {
	t.Helper()
	var wg sync.WaitGroup
	deadline := time.Now().Add(waitLimit)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done() && time.Now().Before(deadline) {
				in.process()
			}
		}()
	}
	wg.Wait()
	if !done() {
		t.Fatal("inbox not drained in time")
	}
}

// InboxSuite "post: multiple threads": a thread-safe endpoint is never run
// by two goroutines at once and keeps FIFO order, however many goroutines
// call process.
func TestInboxThreadSafeMultipleGoroutines(t *testing.T) {
	for _, concurrentButOff := range []bool{false, true} {
		c := &concEndpoint{}
		var ep Endpoint = c // implements ConcurrentEndpoint but says no
		if !concurrentButOff {
			ep = plainEndpoint{c} // no ConcurrentEndpoint at all
		}
		in := newInbox("ts", ep, nil, 0)
		const n = 2000
		var posted sync.WaitGroup
		posted.Add(1)
		go func() {
			defer posted.Done()
			for i := 0; i < n; i++ {
				if _, err := in.post(inboxMsg{kind: kindOneWay, content: i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		spin(t, in, 8, func() bool { return c.handled.Load() == n })
		posted.Wait()
		if m := c.maxSeen.Load(); m != 1 {
			t.Errorf("thread-safe endpoint ran %d handlers at once", m)
		}
		for i, v := range c.order {
			if v != i {
				t.Fatalf("message %d arrived at position %d", v, i)
			}
		}
	}
}

// InboxSuite "post: multiple threads" for an endpoint that allows it:
// after OnStart, several goroutines run it at the same time; OnStop still
// runs alone.
func TestInboxConcurrentMultipleGoroutines(t *testing.T) {
	c := &concEndpoint{concurrent: true, barrier: newBarrier(2)}
	in := newInbox("conc", c, nil, 0)
	processAll(in) // OnStart turns concurrency on
	if !in.enableConcurrent {
		t.Fatal("concurrency not enabled after OnStart")
	}
	if s, _ := in.post(inboxMsg{kind: kindOneWay, content: "barrier"}); !s {
		t.Error("a concurrent inbox must be scheduled for every message")
	}
	if s, _ := in.post(inboxMsg{kind: kindOneWay, content: "barrier"}); !s {
		t.Error("a concurrent inbox must be scheduled for every message")
	}
	// Two goroutines, as two loops would take the two run-queue entries.
	spin(t, in, 2, func() bool { return c.handled.Load() == 2 })
	if errs := c.errors(); len(errs) != 0 {
		t.Fatalf("handlers did not overlap: %v", errs)
	}
	if m := c.maxSeen.Load(); m != 2 {
		t.Errorf("max concurrent handlers = %d, want 2", m)
	}
	// Stop while many goroutines process: OnStop runs with no other
	// handler in flight, and last.
	for i := 0; i < 500; i++ {
		in.post(inboxMsg{kind: kindOneWay, content: i})
	}
	in.stop()
	spin(t, in, 4, func() bool { return c.stopInFlight.Load() != 0 })
	if got := c.stopInFlight.Load() - 1; got != 0 {
		t.Errorf("%d handlers ran during OnStop", got)
	}
	if h := c.handled.Load(); h != 502 {
		t.Errorf("%d handled before OnStop, want 502", h)
	}
}
