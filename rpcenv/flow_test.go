package rpcenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// 10,000 sends from one sender reach a thread-safe endpoint in order,
// locally and remotely.
func TestSendOrdering(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		const n = 10000
		srv := startEnv(t, server(mode, "spark.rpc.netty.dispatcher.numThreads", "4"))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		for _, from := range []*Env{srv, other} {
			name := from.Name()
			ep := &concEndpoint{}
			ref := setup(t, srv, "order-"+name, ep)
			if from != srv {
				ref = lookup(t, from, srv, "order-"+name)
			}
			for i := 0; i < n; i++ {
				if err := ref.Send(ping{N: i}); err != nil {
					t.Fatalf("%s: send %d: %v", name, i, err)
				}
			}
			waitFor(t, name+" messages", func() bool { return ep.handled.Load() == n })
			ep.mu.Lock()
			for i, v := range ep.order {
				if v != i {
					ep.mu.Unlock()
					t.Fatalf("%s: message %d arrived at position %d", name, v, i)
				}
			}
			ep.mu.Unlock()
		}
	})
}

// A bounded inbox: while the endpoint is blocked, sends beyond the
// capacity are refused with ErrInboxFull, asks get the error back (remote
// ones as a failure naming it), and everything works once it drains.
func TestInboxFlood(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		const capacity = 4
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		ep := &floodEndpoint{g: newGate(), rec: newRecorder(nil)}
		ref := setup(t, srv, "flood", ep, WithInboxCapacity(capacity))
		remote := lookup(t, other, srv, "flood")

		blocked := make(chan error, 1)
		go func() {
			_, err := ref.Ask(bigCtx(t), "block")
			blocked <- err
		}()
		recv(t, ep.g.entered, "the blocking ask") // the queue is empty now
		for i := 0; i < capacity; i++ {
			if err := ref.Send(ping{N: i}); err != nil {
				t.Fatalf("send %d within capacity: %v", i, err)
			}
		}
		for i := 0; i < 3; i++ {
			if err := ref.Send(ping{N: 100 + i}); !errors.Is(err, ErrInboxFull) {
				t.Errorf("send beyond capacity: %v", err)
			}
		}
		if _, err := ref.Ask(bigCtx(t), ping{N: 200}); !errors.Is(err, ErrInboxFull) {
			t.Errorf("ask beyond capacity: %v", err)
		}
		if _, err := remote.Ask(bigCtx(t), ping{N: 300}); err == nil || !strings.Contains(err.Error(), "inbox is full") {
			t.Errorf("remote ask beyond capacity: %v", err)
		}
		if err := remote.Send(ping{N: 400}); err != nil { // refused at the receiver, logged there
			t.Errorf("remote send: %v", err)
		}
		// Other endpoints are not affected.
		if v := askOK(t, lookup(t, other, srv, VerifierName), checkExistence{Name: "flood"}); v != true {
			t.Errorf("verifier: %v", v)
		}
		ep.g.open()
		if err := recv(t, blocked, "the blocking ask"); err != nil {
			t.Errorf("blocking ask: %v", err)
		}
		// A marker sent after the flood arrives after everything that was
		// accepted, on the same connection.
		if v := askOK(t, remote, ping{N: 500}); v != (ping{N: 500}) {
			t.Errorf("after draining: %v", v)
		}
		if err := ref.Send(ping{N: 600}); err != nil {
			t.Errorf("send after draining: %v", err)
		}
		ep.rec.waitCount(t, "receive", capacity+1)
		var got []int
		for _, ev := range ep.rec.of("receive") {
			got = append(got, ev.msg.(ping).N)
		}
		want := []int{0, 1, 2, 3, 600}
		if len(got) != len(want) {
			t.Fatalf("received %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("received %v, want %v", got, want)
			}
		}
		if asks := ep.rec.of("ask"); len(asks) != 1 || asks[0].msg != (ping{N: 500}) {
			t.Errorf("asks that got through: %v", asks)
		}
	})
}

type floodEndpoint struct {
	BaseEndpoint
	g   *gate
	rec *recorder
}

func (f *floodEndpoint) Receive(msg any, sender Address) error { return f.rec.Receive(msg, sender) }

func (f *floodEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	if msg == "block" {
		f.g.pass()
		cc.Reply("unblocked")
		return nil
	}
	return f.rec.ReceiveAndReply(msg, cc)
}

// stasher keeps call contexts and fails them in OnStop.
type stasher struct {
	BaseEndpoint
	g       *gate
	arrived chan struct{}
	pending []CallContext // touched only by the endpoint's own handlers
}

func (s *stasher) ReceiveAndReply(msg any, cc CallContext) error {
	switch msg {
	case "block":
		s.g.pass()
		cc.Reply("unblocked")
	case "stash":
		s.pending = append(s.pending, cc)
		s.arrived <- struct{}{}
	default:
		cc.Reply(msg)
	}
	return nil
}

func (s *stasher) OnStop() {
	for _, cc := range s.pending {
		cc.SendFailure(errors.New("stopping"))
	}
}

// An ask in flight when its endpoint is stopped or its env shuts down
// ends promptly: queued asks still run before OnStop, asks after Stop are
// refused, asks the endpoint holds fail, and shutdowns on either side fail
// the waiting asker instead of leaving it to the (here 120s) ask timeout.
func TestStopDuringAsk(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		st := &stasher{g: newGate(), arrived: make(chan struct{}, 4)}
		ref := setup(t, srv, "stasher", st)
		remote := lookup(t, other, srv, "stasher")

		type result struct {
			v   any
			err error
		}
		ask := func(r *Ref, msg any) chan result {
			ch := make(chan result, 1)
			go func() {
				v, err := r.AskSync(msg)
				ch <- result{v, err}
			}()
			return ch
		}
		blocked := ask(ref, "block")
		recv(t, st.g.entered, "the blocking ask")
		stashedLocal := ask(ref, "stash")
		stashedRemote := ask(remote, "stash")
		queuedLocal := ask(ref, "queued")
		waitFor(t, "asks queued", func() bool {
			srv.mu.RLock()
			st := srv.endpoints["stasher"]
			srv.mu.RUnlock()
			st.inbox.mu.Lock()
			defer st.inbox.mu.Unlock()
			return st.inbox.queue.len() == 3
		})
		srv.Stop(ref)
		if _, err := ref.AskSync("after stop"); !errors.Is(err, ErrEndpointNotFound) {
			t.Errorf("local ask after Stop: %v", err)
		}
		if _, err := remote.AskSync("after stop"); err == nil || !strings.Contains(err.Error(), "Could not find stasher") {
			t.Errorf("remote ask after Stop: %v", err)
		}
		st.g.open()
		if r := recv(t, blocked, "blocking ask"); r.err != nil {
			t.Errorf("blocking ask: %v", r.err)
		}
		if r := recv(t, queuedLocal, "queued ask"); r.err != nil || r.v != "queued" {
			t.Errorf("an ask queued before Stop runs before OnStop: %v %v", r.v, r.err)
		}
		if r := recv(t, stashedLocal, "stashed local ask"); r.err == nil || r.err.Error() != "stopping" {
			t.Errorf("stashed local ask: %v %v", r.v, r.err)
		}
		if r := recv(t, stashedRemote, "stashed remote ask"); r.err == nil || !strings.Contains(r.err.Error(), "stopping") {
			t.Errorf("stashed remote ask: %v %v", r.v, r.err)
		}

		// Shutdowns with asks held by endpoints that never answer.
		for _, side := range []string{"local env", "remote env", "asking env"} {
			a := startEnv(t, envSpec{name: "a", mode: mode})
			b := startEnv(t, envSpec{name: "b", mode: mode})
			sil := newSilent()
			var target *Ref
			var stop *Env
			switch side {
			case "local env":
				target, stop = setup(t, a, "silent", sil), a
			case "remote env":
				setup(t, b, "silent", sil)
				target, stop = lookup(t, a, b, "silent"), b
			case "asking env":
				setup(t, b, "silent", sil)
				target, stop = lookup(t, a, b, "silent"), a
			}
			pending := ask(target, "never answered")
			recv(t, sil.arrived, "the ask")
			stop.Shutdown()
			r := recv(t, pending, side+" shutdown")
			if r.err == nil || isTimeout(r.err) {
				t.Errorf("%s shutdown: ask ended with %v %v, want a prompt failure", side, r.v, r.err)
			}
			if side == "local env" && !errors.Is(r.err, ErrEnvStopped) {
				t.Errorf("local env shutdown: %v, want ErrEnvStopped", r.err)
			}
		}
	})
}

// An ask aborted while its outbox is still connecting does not leave an
// outstanding request on the connection once the outbox sends.
func TestAbortBeforeConnect(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		asker := startEnv(t, envSpec{name: "asker", mode: mode, kv: []string{"spark.rpc.connect.threads", "1"}})
		setup(t, srv, "silent", newSilent())
		setup(t, srv, "fwd", newForwarder())
		// Unverified refs, so that no connection exists yet.
		silentRef := &Ref{env: asker, addr: EndpointAddress{Addr: srv.Address(), Name: "silent"}}
		fwdRef := &Ref{env: asker, addr: EndpointAddress{Addr: srv.Address(), Name: "fwd"}}

		asker.connSem <- struct{}{} // hold the only connect slot
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := silentRef.Ask(ctx, "x")
			done <- err
		}()
		waitFor(t, "the ask queued in the outbox", func() bool {
			asker.outMu.Lock()
			o := asker.outboxes[srv.Address()]
			asker.outMu.Unlock()
			if o == nil {
				return false
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			return len(o.queue) == 1 && o.connecting
		})
		cause := errors.New("give up")
		cancel(cause)
		if err := recv(t, done, "aborted ask"); !errors.Is(err, cause) {
			t.Errorf("aborted ask: %v", err)
		}
		<-asker.connSem // let the connect go on
		if v, err := fwdRef.AskTimeout(ping{N: 1}, waitLimit); err != nil || v != (pong{N: 2}) {
			t.Fatalf("ask after the aborted one: %v %v", v, err)
		}
		// The aborted request went out (or not) before this one on the same
		// connection; either way it must not be outstanding.
		if n := pooledClient(t, asker, srv.Address()).NumOutstanding(); n != 0 {
			t.Errorf("%d requests outstanding after an aborted ask", n)
		}
	})
}

// A context whose deadline has already passed times out (it is not an
// abort).
func TestAskExpiredContext(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		ref := setup(t, e, "silent", newSilent())
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		if _, err := ref.Ask(ctx, "x"); !isTimeout(err) {
			t.Errorf("expired context: %v, want a *TimeoutError", err)
		}
	})
}
