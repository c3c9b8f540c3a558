package rpcenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// silent never answers asks: it hands each call context to the test.
type silent struct {
	BaseEndpoint
	arrived chan CallContext
}

func newSilent() *silent { return &silent{arrived: make(chan CallContext, 16)} }

func (s *silent) ReceiveAndReply(_ any, cc CallContext) error {
	s.arrived <- cc
	return nil
}

// forwarder answers pings through the ref they carry: a one-way ping{N,
// From} makes it send pong{N+1} to From.
type forwarder struct {
	BaseEndpoint
	errs chan error
}

func newForwarder() *forwarder { return &forwarder{errs: make(chan error, 16)} }

func (f *forwarder) Receive(msg any, _ Address) error {
	p, ok := msg.(ping)
	if !ok || p.From == nil {
		return unsupportedf("%T", msg)
	}
	if err := p.From.Send(pong{N: p.N + 1}); err != nil {
		f.errs <- err
	}
	return nil
}

func (f *forwarder) ReceiveAndReply(msg any, cc CallContext) error {
	if p, ok := msg.(ping); ok {
		cc.Reply(pong{N: p.N + 1})
		return nil
	}
	return unsupportedf("%T", msg)
}

// pooledClient returns from's pooled connection to addr (white box: the
// env keeps one connection per peer).
func pooledClient(t *testing.T, from *Env, addr Address) *netpoll.Client {
	t.Helper()
	c, err := from.factory.CreateClient(addr.Host, addr.Port)
	if err != nil {
		t.Fatalf("pooled client to %v: %v", addr, err)
	}
	return c
}

// RpcEnvSuite "send a message locally" / "send a message remotely", from a
// server-mode and a client-mode env.
func TestSendLocallyAndRemotely(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		cli := startEnv(t, client(mode))
		rec := newRecorder(nil)
		local := setup(t, srv, "rec", rec)

		if err := local.Send("local"); err != nil {
			t.Fatal(err)
		}
		rec.waitCount(t, "receive", 1)
		if ev := rec.of("receive")[0]; ev.msg != "local" || ev.addr != srv.Address() {
			t.Errorf("local send: %v", ev)
		}

		if err := lookup(t, other, srv, "rec").Send("from server"); err != nil {
			t.Fatal(err)
		}
		rec.waitCount(t, "receive", 2)
		if ev := rec.of("receive")[1]; ev.msg != "from server" || ev.addr != other.Address() {
			t.Errorf("remote send from a server env: %v (want sender %v)", ev, other.Address())
		}

		viaClient := lookup(t, cli, srv, "rec")
		if err := viaClient.Send("from client"); err != nil {
			t.Fatal(err)
		}
		rec.waitCount(t, "receive", 3)
		ev := rec.of("receive")[2]
		sock := pooledClient(t, cli, srv.Address()).LocalAddr().String()
		if ev.msg != "from client" || ev.addr.String() != sock {
			t.Errorf("remote send from a client-mode env: %v (want the socket address %s)", ev, sock)
		}
		if err := local.Send(nil); err == nil {
			t.Error("Send(nil) accepted")
		}
		if err := viaClient.Send(unregistered{}); !errors.Is(err, errNoReg) {
			t.Errorf("remote send of an unregistered type: %v", err)
		}
	})
}

// RpcEnvSuite "send a RpcEndpointRef": a ref inside a message is usable by
// the receiver, also across envs and back to a client-mode env.
func TestSendRef(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		cli := startEnv(t, client(mode))
		fwdLocal := setup(t, srv, "fwd", newForwarder())

		// Locally the message is not serialized: the receiver gets the ref.
		back := newRecorder(nil)
		backRef := setup(t, srv, "back", back)
		if err := fwdLocal.Send(ping{N: 1, From: backRef}); err != nil {
			t.Fatal(err)
		}
		back.waitCount(t, "receive", 1)

		for _, from := range []*Env{other, cli} {
			rec := newRecorder(nil)
			ref := setup(t, from, "back", rec)
			fwd := lookup(t, from, srv, "fwd")
			if err := fwd.Send(ping{N: 10, From: ref}); err != nil {
				t.Fatal(err)
			}
			rec.waitCount(t, "receive", 1)
			if ev := rec.of("receive")[0]; ev.msg != (pong{N: 11}) {
				t.Errorf("%s: reply through the sent ref: %v", from.Name(), ev)
			}
		}
		if got := back.of("receive")[0].msg; got != (pong{N: 2}) {
			t.Errorf("local: %v", got)
		}
	})
}

// RpcEnvSuite "ask a message locally" / "remotely", Ask[T], AskSync and
// AskTimeout.
func TestAskLocallyAndRemotely(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		cli := startEnv(t, client(mode))
		local := setup(t, srv, "fwd", newForwarder())
		for _, ref := range []*Ref{local, lookup(t, other, srv, "fwd"), lookup(t, cli, srv, "fwd")} {
			got, err := Ask[pong](bigCtx(t), ref, ping{N: 41})
			if err != nil || got.N != 42 {
				t.Errorf("Ask[pong] via %v: %v %v", ref, got, err)
			}
			if v, err := ref.AskSync(ping{N: 1}); err != nil || v != (pong{N: 2}) {
				t.Errorf("AskSync via %v: %v %v", ref, v, err)
			}
			if v, err := ref.AskTimeout(ping{N: 2}, waitLimit); err != nil || v != (pong{N: 3}) {
				t.Errorf("AskTimeout via %v: %v %v", ref, v, err)
			}
			if _, err := Ask[string](bigCtx(t), ref, ping{N: 1}); err == nil || !strings.Contains(err.Error(), "not string") {
				t.Errorf("Ask[string] of a pong: %v", err)
			}
		}
	})
}

// RpcEnvSuite "ask a message timeout" and the timeout-key rules: the error
// is a *TimeoutError naming the first key that is set.
func TestAskTimeout(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		cases := []struct {
			kv  []string
			key string
		}{
			{[]string{"spark.rpc.askTimeout", "300ms"}, "spark.rpc.askTimeout"},
			{[]string{"spark.rpc.askTimeout", "300ms", "spark.network.timeout", "300s"}, "spark.rpc.askTimeout"},
			// spark.network.timeout also bounds idle connections and
			// lookups: keep those long, to see the ask timeout alone.
			{[]string{"spark.network.timeout", "300ms", "spark.rpc.io.connectionTimeout", "120s",
				"spark.rpc.lookupTimeout", "120s"}, "spark.network.timeout"},
		}
		for _, c := range cases {
			srv := startEnv(t, server(mode, c.kv...))
			asker := startEnv(t, envSpec{name: "asker", mode: mode, kv: c.kv})
			sil := newSilent()
			local := setup(t, srv, "silent", sil)
			remote := lookup(t, asker, srv, "silent")
			for _, ref := range []*Ref{local, remote} {
				_, err := ref.AskSync("hello?")
				var te *TimeoutError
				if !errors.As(err, &te) {
					t.Fatalf("%v: want *TimeoutError, got %v", c.kv, err)
				}
				if te.Key != c.key || te.After != 300*time.Millisecond || !strings.Contains(err.Error(), "This timeout is controlled by "+c.key) {
					t.Errorf("%v: %v (key %q, after %v)", c.kv, err, te.Key, te.After)
				}
				if !strings.Contains(err.Error(), srv.Address().String()) {
					t.Errorf("timeout error does not name the address: %v", err)
				}
				recv(t, sil.arrived, "the ask")
			}
			// The timed-out request is no longer outstanding.
			c := pooledClient(t, asker, srv.Address())
			waitFor(t, "outstanding request removed", func() bool { return c.NumOutstanding() == 0 })
		}

		srv := startEnv(t, server(mode))
		ref := setup(t, srv, "silent", newSilent())
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := ref.Ask(ctx, "x")
		var te *TimeoutError
		if !errors.As(err, &te) || te.Key != "the caller's context deadline" {
			t.Errorf("ctx deadline: %v", err)
		}
		_, err = ref.AskTimeout("x", 100*time.Millisecond)
		if !errors.As(err, &te) || te.Key != "the timeout given to AskTimeout" || te.After != 100*time.Millisecond {
			t.Errorf("AskTimeout: %v", err)
		}
		if !te.Timeout() {
			t.Error("Timeout() = false")
		}
	})
}

// Timeout keys: the first one set wins and is named; none set means 120s
// under the first key.
func TestTimeoutKeyResolution(t *testing.T) {
	leakCheck(t)
	keys := []string{"spark.rpc.askTimeout", "spark.network.timeout"}
	cases := []struct {
		kv   map[string]string
		d    time.Duration
		key  string
		fail bool
	}{
		{map[string]string{}, 120 * time.Second, "spark.rpc.askTimeout", false},
		{map[string]string{"spark.network.timeout": "5s"}, 5 * time.Second, "spark.network.timeout", false},
		{map[string]string{"spark.network.timeout": "5s", "spark.rpc.askTimeout": "7"}, 7 * time.Second, "spark.rpc.askTimeout", false},
		{map[string]string{"spark.rpc.askTimeout": "2m"}, 2 * time.Minute, "spark.rpc.askTimeout", false},
		{map[string]string{"spark.rpc.askTimeout": "1500ms"}, 1500 * time.Millisecond, "spark.rpc.askTimeout", false},
		{map[string]string{"spark.rpc.askTimeout": "soon"}, 0, "", true},
	}
	for _, c := range cases {
		spec, err := readTimeout(sparkconf.FromMap(c.kv), keys...)
		if c.fail {
			if err == nil || !strings.Contains(err.Error(), "spark.rpc.askTimeout") {
				t.Errorf("%v: want an error naming the key, got %v", c.kv, err)
			}
			continue
		}
		if err != nil || spec.d != c.d || spec.key != c.key {
			t.Errorf("%v: %v %q %v; want %v %q", c.kv, spec.d, spec.key, err, c.d, c.key)
		}
	}
	lk, err := readTimeout(sparkconf.FromMap(map[string]string{"spark.network.timeout": "9s"}), "spark.rpc.lookupTimeout", "spark.network.timeout")
	if err != nil || lk.d != 9*time.Second || lk.key != "spark.network.timeout" {
		t.Errorf("lookup timeout: %+v %v", lk, err)
	}
	if _, err := createEnv(envSpec{client: true, kv: []string{"spark.rpc.lookupTimeout", "-"}}); err == nil {
		t.Error("Create accepted a bad spark.rpc.lookupTimeout")
	}
	e, err := createEnv(envSpec{client: true, kv: []string{"spark.network.timeout", "42"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	if d, key := e.AskTimeout(); d != 42*time.Second || key != "spark.network.timeout" {
		t.Errorf("AskTimeout() = %v %q", d, key)
	}
}

// RpcEnvSuite "ask a message abort": cancelling the context fails the ask
// with the cause, and the outstanding request is removed.
func TestAskAbort(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		asker := startEnv(t, envSpec{name: "asker", mode: mode})
		sil := newSilent()
		local := setup(t, srv, "silent", sil)
		remote := lookup(t, asker, srv, "silent")
		for _, ref := range []*Ref{local, remote} {
			cause := fmt.Errorf("abort %v", ref)
			ctx, cancel := context.WithCancelCause(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := ref.Ask(ctx, "wait")
				done <- err
			}()
			recv(t, sil.arrived, "the ask")
			cancel(cause)
			err := recv(t, done, "the aborted ask")
			if !errors.Is(err, cause) || isTimeout(err) {
				t.Errorf("aborted ask: %v", err)
			}
		}
		c := pooledClient(t, asker, srv.Address())
		waitFor(t, "aborted request removed", func() bool { return c.NumOutstanding() == 0 })
	})
}

// lifecycle records events and can hold OnStart.
type lifecycle struct {
	*recorder
	hold *gate
}

func (l *lifecycle) OnStart() error {
	if l.hold != nil {
		l.hold.pass()
	}
	return l.recorder.OnStart()
}

// RpcEnvSuite "onStart and onStop": OnStart runs before any message, even
// one sent while OnStart runs, and OnStop runs when stopped, last.
func TestOnStartAndOnStop(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		ep := &lifecycle{recorder: newRecorder(e), hold: newGate()}
		ref := setup(t, e, "life", ep)
		recv(t, ep.hold.entered, "OnStart")
		if err := ref.Send("m1"); err != nil {
			t.Fatal(err)
		}
		asked := make(chan error, 1)
		go func() {
			_, err := ref.Ask(bigCtx(t), "m2")
			asked <- err
		}()
		ep.hold.open()
		if err := recv(t, asked, "ask"); err != nil {
			t.Fatal(err)
		}
		e.Stop(ref)
		ep.waitCount(t, "stop", 1)
		if got := kinds(ep.snapshot()); got != "start receive:m1 ask:m2 stop" {
			t.Errorf("events = %s", got)
		}
	})
}

// RpcEnvSuite "onError: error in onStart / onStop / receive".
func TestOnError(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		ep := &errEndpoint{recorder: newRecorder(nil), startErr: errors.New("start failed"), stopPanic: true}
		ref := setup(t, e, "err", ep)
		ep.waitCount(t, "error", 1)
		ref.Send("fail")
		ep.waitCount(t, "error", 2)
		ref.Send("panic")
		ep.waitCount(t, "error", 3)
		if _, err := ref.Ask(bigCtx(t), "fail"); err == nil || err.Error() != "ask failed" {
			t.Errorf("failing ask: %v", err)
		}
		ep.waitCount(t, "error", 4)
		e.Stop(ref)
		ep.waitCount(t, "error", 5)
		errs := ep.errorsOf()
		for i, want := range []string{"start failed", "receive failed", "receive panic", "ask failed", "stop panic"} {
			if !strings.Contains(errs[i].Error(), want) {
				t.Errorf("error %d = %v, want %q", i, errs[i], want)
			}
		}
	})
}

// RpcEnvSuite "self: call in onStart / receive / onStop".
func TestSelf(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		ep := newRecorder(e)
		if e.EndpointRef(ep) != nil {
			t.Error("Self before registration is not nil")
		}
		ref := setup(t, e, "self", ep)
		ref.Send("x")
		askOK(t, ref, "y")
		e.Stop(ref)
		ep.waitCount(t, "stop", 1)
		for _, kind := range []string{"start", "receive", "ask"} {
			if s, ok := ep.self(kind); !ok || s == nil || !s.Equal(ref) {
				t.Errorf("Self in %s = %v, want %v", kind, s, ref)
			}
		}
		if s, ok := ep.self("stop"); !ok || s != nil {
			t.Errorf("Self in OnStop = %v, want nil", s)
		}
		if e.EndpointRef(ep) != nil {
			t.Error("Self after OnStop is not nil")
		}
	})
}

// RpcEnvSuite "call receive in sequence": a thread-safe endpoint never runs
// two messages at once, whoever sends them.
func TestThreadSafeEndpointSequential(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode, "spark.rpc.netty.dispatcher.numThreads", "4"))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		ep := &concEndpoint{}
		ref := setup(t, e, "seq", ep)
		remote := lookup(t, other, e, "seq")
		const senders, each = 4, 200
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			for _, r := range []*Ref{ref, remote} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						var err error
						if i%10 == 0 {
							_, err = r.Ask(bigCtx(t), ping{N: i})
						} else {
							err = r.Send(ping{N: i})
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		waitFor(t, "all messages", func() bool { return ep.handled.Load() == 2*senders*each })
		if m := ep.maxSeen.Load(); m != 1 {
			t.Errorf("thread-safe endpoint ran %d messages at once", m)
		}
	})
}

// A ConcurrentEndpoint on the shared loop runs on several loops at once.
func TestConcurrentEndpointShared(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode, "spark.rpc.netty.dispatcher.numThreads", "2"))
		ep := &concEndpoint{concurrent: true, barrier: newBarrier(2)}
		ref := setup(t, e, "conc", ep)
		askOK(t, ref, 0) // OnStart has run: concurrency is on
		ref.Send("barrier")
		ref.Send("barrier")
		waitFor(t, "both barrier messages", func() bool { return ep.handled.Load() == 3 })
		if errs := ep.errors(); len(errs) != 0 {
			t.Errorf("the two messages did not run at the same time: %v", errs)
		}
	})
}

// RpcEnvSuite "stop(RpcEndpointRef) reentrant": stopping twice is harmless
// and the name is free at once.
func TestStopReentrant(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		old := newRecorder(nil)
		ref := setup(t, e, "ep", old)
		remote := lookup(t, other, e, "ep")
		e.Stop(ref)
		e.Stop(ref)
		e.Stop(nil)
		keep := setup(t, other, "keep", newRecorder(nil))
		e.Stop(keep) // an endpoint of another env: ignored
		fresh := newRecorder(nil)
		ref2, err := e.SetupEndpoint("ep", fresh)
		if err != nil {
			t.Fatalf("name not free after Stop: %v", err)
		}
		old.waitCount(t, "stop", 1)
		if v := askOK(t, ref2, "new"); v != "new" {
			t.Errorf("new endpoint answered %v", v)
		}
		if v := askOK(t, remote, "remote"); v != "remote" || fresh.count("ask") != 2 {
			t.Errorf("remote ref did not reach the new endpoint: %v", v)
		}
		e.Stop(ref) // the old ref names the same endpoint: stops the new one
		fresh.waitCount(t, "stop", 1)
		if _, err := ref2.Ask(bigCtx(t), "gone"); !errors.Is(err, ErrEndpointNotFound) {
			t.Errorf("local ask to a stopped endpoint: %v", err)
		}
		if _, err := remote.Ask(bigCtx(t), "gone"); err == nil || !strings.Contains(err.Error(), "Could not find ep") {
			t.Errorf("remote ask to a stopped endpoint: %v", err)
		}
		if v := askOK(t, keep, "alive"); v != "alive" {
			t.Errorf("Stop of another env's endpoint: %v", v)
		}
		if n := old.count("stop"); n != 1 {
			t.Errorf("OnStop ran %d times", n)
		}
		if _, err := e.SetupEndpoint(VerifierName, newRecorder(nil)); !errors.Is(err, ErrNameTaken) ||
			!strings.Contains(err.Error(), "There is already an RpcEndpoint called "+VerifierName) {
			t.Errorf("taken name: %v", err)
		}
	})
}

// replyEndpoint answers in the ways a CallContext allows.
type replyEndpoint struct {
	BaseEndpoint
	oops error
}

func (r *replyEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	switch msg {
	case "reply":
		cc.Reply("answer")
	case "fail":
		cc.SendFailure(r.oops)
	case "async":
		go cc.Reply("later")
	case "async-fail":
		go cc.SendFailure(r.oops)
	case "unencodable":
		cc.Reply(unregistered{Z: 1})
	case "nil":
		cc.Reply(nil)
	default:
		return unsupportedf("%v", msg)
	}
	return nil
}

// RpcEnvSuite "sendWithReply", "sendWithReply: remotely", "...: error",
// and the Go analogue of "unserializable error": a reply that cannot be
// encoded reaches a remote asker as a failure.
func TestReplyAndSendFailure(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		cli := startEnv(t, client(mode))
		ep := &replyEndpoint{oops: errors.New("oops")}
		local := setup(t, srv, "reply", ep)
		for _, ref := range []*Ref{local, lookup(t, other, srv, "reply"), lookup(t, cli, srv, "reply")} {
			isLocal := ref == local
			for msg, want := range map[string]any{"reply": "answer", "async": "later", "nil": nil} {
				if v, err := ref.Ask(bigCtx(t), msg); err != nil || v != want {
					t.Errorf("%v %s: %v %v", ref, msg, v, err)
				}
			}
			for _, msg := range []string{"fail", "async-fail"} {
				_, err := ref.Ask(bigCtx(t), msg)
				if isLocal {
					if !errors.Is(err, ep.oops) {
						t.Errorf("local %s: %v", msg, err)
					}
					continue
				}
				var re *RemoteError
				if !errors.As(err, &re) || re.Msg != "oops" {
					t.Errorf("remote %s: %v", msg, err)
				}
			}
			v, err := ref.Ask(bigCtx(t), "unencodable")
			if isLocal {
				if err != nil || v != (unregistered{Z: 1}) {
					t.Errorf("local replies are not encoded: %v %v", v, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), "cannot encode reply") {
				t.Errorf("unencodable remote reply: %v %v", v, err)
			}
			if _, err := ref.Ask(bigCtx(t), "other"); err == nil || !strings.Contains(err.Error(), "unsupported") {
				t.Errorf("unsupported message: %v", err)
			}
		}
	})
}

// NettyRpcEnvSuite "non-existent endpoint".
func TestNonExistentEndpoint(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		for _, from := range []*Env{srv, startEnv(t, client(mode))} {
			uri := "spark://nope@" + srv.Address().String()
			_, err := from.SetupEndpointRefByURI(uri)
			var nf *NotFoundError
			if !errors.Is(err, ErrEndpointNotFound) || !errors.As(err, &nf) || nf.URI != uri ||
				!strings.Contains(err.Error(), "Cannot find endpoint: "+uri) {
				t.Errorf("lookup of an unknown endpoint: %v", err)
			}
		}
		if _, err := srv.SetupEndpointRefByURI("spark://" + srv.Address().String()); err == nil {
			t.Error("URI without a name accepted")
		}
	})
}

// NettyRpcEnvSuite "advertise address different from bind address".
func TestAdvertiseAddress(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, envSpec{name: "adv", mode: mode, advertise: "example.com"})
		if e.Address().Host != "example.com" || e.Address().Port == 0 || e.Address().Port != e.server.Port() {
			t.Errorf("Address() = %v, server port %d", e.Address(), e.server.Port())
		}
		ref := setup(t, e, "rec", newRecorder(nil))
		if ref.Address().Addr != e.Address() || ref.Address().String() != "spark://rec@"+e.Address().String() {
			t.Errorf("ref address %v", ref.Address())
		}
		if v := askOK(t, ref, "local"); v != "local" {
			t.Errorf("local ask: %v", v)
		}
		plain := startEnv(t, server(mode))
		if plain.Address().Host != "127.0.0.1" {
			t.Errorf("without AdvertiseHost the bind host is advertised: %v", plain.Address())
		}
	})
}

// RpcEnvSuite "port conflict": a taken port moves the env to another one.
func TestPortConflict(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		first := startEnv(t, server(mode))
		port := first.Address().Port
		second := startEnv(t, envSpec{name: "second", mode: mode, port: port})
		if second.Address().Port == port || second.Address().Port == 0 {
			t.Errorf("second env on %v, first on %d", second.Address(), port)
		}
		setup(t, second, "rec", newRecorder(nil))
		if v := askOK(t, lookup(t, first, second, "rec"), "hi"); v != "hi" {
			t.Errorf("ask across: %v", v)
		}
		_, err := createEnv(envSpec{mode: mode, port: port, kv: []string{"spark.port.maxRetries", "0"}})
		if err == nil || !strings.Contains(err.Error(), "spark.port.maxRetries") {
			t.Errorf("no retries: %v", err)
		}
		if _, err := createEnv(envSpec{mode: mode, port: 80}); err == nil {
			t.Error("port 80 accepted")
		}
	})
}

// panicky panics on "panic" and answers everything else.
type panicky struct{ *recorder }

func (p *panicky) ReceiveAndReply(msg any, cc CallContext) error {
	if msg == "panic" {
		var m map[string]int
		m["boom"]++ // a runtime error, not an explicit panic value
	}
	return p.recorder.ReceiveAndReply(msg, cc)
}

// NettyRpcEnvSuite "StackOverflowError should be sent back and Dispatcher
// should survive", with a runtime panic (a Go stack overflow is fatal to
// the process and cannot be recovered).
func TestPanicSentBackAndDispatcherSurvives(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode, "spark.rpc.netty.dispatcher.numThreads", "1"))
		other := startEnv(t, envSpec{name: "other", mode: mode})
		ep := &panicky{newRecorder(nil)}
		local := setup(t, srv, "panicky", ep)
		bystander := setup(t, srv, "bystander", newRecorder(nil))
		for i, ref := range []*Ref{local, lookup(t, other, srv, "panicky")} {
			_, err := ref.Ask(bigCtx(t), "panic")
			if err == nil || !strings.Contains(err.Error(), "panicked") || !strings.Contains(err.Error(), "nil map") {
				t.Errorf("panic not sent back: %v", err)
			}
			ep.waitCount(t, "error", i+1)
			if v := askOK(t, ref, "after"); v != "after" {
				t.Errorf("endpoint dead after a panic: %v", v)
			}
			if v := askOK(t, bystander, "still"); v != "still" {
				t.Errorf("dispatcher dead after a panic: %v", v)
			}
		}
	})
}

// register takes a client-mode ref and keeps it.
type register struct {
	BaseEndpoint
	got chan *Ref
}

func (r *register) ReceiveAndReply(msg any, cc CallContext) error {
	p, ok := msg.(ping)
	if !ok || p.From == nil {
		return unsupportedf("%T", msg)
	}
	r.got <- p.From
	cc.Reply("okay")
	return nil
}

// NettyRpcEnvSuite "SPARK-31233: ask rpcEndpointRef in client mode
// timeout": a server asking a client-mode endpoint that does not answer
// times out cleanly, naming the connection's address, and the connection
// stays usable.
func TestClientModeRefAskTimeout(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		cli := startEnv(t, client(mode))
		reg := &register{got: make(chan *Ref, 1)}
		setup(t, srv, "register", reg)
		sil := newSilent()
		clientRef := setup(t, cli, "receiver", sil)
		if clientRef.Address().String() != "spark-client://receiver" {
			t.Errorf("client-mode ref %v", clientRef.Address())
		}
		if v := askOK(t, lookup(t, cli, srv, "register"), ping{From: clientRef}); v != "okay" {
			t.Fatalf("register: %v", v)
		}
		remoteRef := recv(t, reg.got, "the client's ref")
		if remoteRef.client == nil || !remoteRef.Address().Addr.IsZero() {
			t.Fatalf("the received ref is not bound to the connection: %+v", remoteRef)
		}
		_, err := remoteRef.AskTimeout("msg", 300*time.Millisecond)
		var te *TimeoutError
		if !errors.As(err, &te) || te.Addr != remoteRef.client.RemoteAddr() {
			t.Fatalf("want a timeout naming %s, got %v", remoteRef.client.RemoteAddr(), err)
		}
		late := recv(t, sil.arrived, "the ask at the client")
		waitFor(t, "timed-out request removed", func() bool { return remoteRef.client.NumOutstanding() == 0 })
		late.Reply("too late") // dropped by the server, harmlessly
		// The connection still works both ways.
		if err := remoteRef.Send("one-way"); err != nil {
			t.Error(err)
		}
		if v := askOK(t, lookup(t, cli, srv, "register"), ping{From: clientRef}); v != "okay" {
			t.Errorf("after the timeout: %v", v)
		}
	})
}

// blocker is an isolated endpoint that blocks on "block".
type blocker struct {
	BaseEndpoint
	threads    int
	concurrent bool
	g          *gate
	b          *barrier
	errs       chan error
}

func (b *blocker) ThreadCount() int  { return b.threads }
func (b *blocker) Concurrent() bool  { return b.concurrent }
func (b *blocker) OnError(err error) { b.errs <- err }

func (b *blocker) ReceiveAndReply(msg any, cc CallContext) error {
	switch msg {
	case "block":
		b.g.pass()
	case "barrier":
		if err := b.b.wait(); err != nil {
			return err
		}
	}
	cc.Reply(msg)
	return nil
}

// RpcEnvSuite "isolated endpoints": a blocked isolated endpoint does not
// hold the shared loop (here one goroutine), and one with two threads runs
// two messages at the same time.
func TestIsolatedEndpoints(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode, "spark.rpc.netty.dispatcher.numThreads", "1"))
		blocking := &blocker{threads: 1, g: newGate(), errs: make(chan error, 4)}
		bref := setup(t, e, "blocking", blocking)
		nonBlocking := setup(t, e, "non-blocking", newRecorder(nil))
		blocked := make(chan error, 1)
		go func() {
			_, err := bref.Ask(bigCtx(t), "block")
			blocked <- err
		}()
		recv(t, blocking.g.entered, "the blocking message")
		if v := askOK(t, nonBlocking, "hello"); v != "hello" {
			t.Errorf("shared loop: %v", v)
		}
		blocking.g.open()
		if err := recv(t, blocked, "blocked ask"); err != nil {
			t.Error(err)
		}

		two := &blocker{threads: 2, concurrent: true, b: newBarrier(2), errs: make(chan error, 4)}
		ref := setup(t, e, "two", two)
		askOK(t, ref, "warm-up") // OnStart done: concurrency on
		results := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func() {
				_, err := ref.Ask(bigCtx(t), "barrier")
				results <- err
			}()
		}
		for i := 0; i < 2; i++ {
			if err := recv(t, results, "barrier ask"); err != nil {
				t.Errorf("the two messages did not run at the same time: %v", err)
			}
		}
		// Stopping an isolated endpoint ends its loop (the leak check sees
		// to the goroutines).
		e.Stop(ref)
		e.Stop(bref)
		if _, err := ref.Ask(bigCtx(t), "x"); !errors.Is(err, ErrEndpointNotFound) {
			t.Errorf("ask after stop: %v", err)
		}
	})
}

// A client-mode env delivers to its own endpoints locally, as Spark does
// (its address and its endpoints' addresses are both null).
func TestClientModeLocalEndpoint(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		cli := startEnv(t, client(mode))
		if !cli.Address().IsZero() {
			t.Fatalf("client-mode address %v", cli.Address())
		}
		rec := newRecorder(cli)
		ref := setup(t, cli, "local", rec)
		if err := ref.Send("one-way"); err != nil {
			t.Fatalf("local send in client mode: %v", err)
		}
		if v, err := ref.Ask(bigCtx(t), "ask"); err != nil || v != "ask" {
			t.Fatalf("local ask in client mode: %v %v", v, err)
		}
		rec.waitCount(t, "receive", 1)
		cli.Stop(ref)
		rec.waitCount(t, "stop", 1)
		if _, err := cli.AddFile("x"); !errors.Is(err, ErrClientMode) {
			t.Errorf("AddFile in client mode: %v", err)
		}
	})
}

// SetupEndpoint refuses what it cannot register.
func TestSetupEndpointErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e := startEnv(t, server(mode))
		if _, err := e.SetupEndpoint("nil", nil); err == nil {
			t.Error("nil endpoint accepted")
		}
		// A value that cannot be a map key must not panic the env.
		if _, err := e.SetupEndpoint("value", funcEndpoint{f: func() {}}); err == nil {
			t.Error("non-comparable endpoint accepted")
		}
		if _, err := e.SetupEndpoint("cap", newRecorder(nil), WithInboxCapacity(-1)); err != nil {
			t.Errorf("negative capacity (unbounded): %v", err)
		}
		if _, err := createEnv(server(mode, "spark.rpc.ember.inboxCapacity", "x")); err == nil ||
			!strings.Contains(err.Error(), "spark.rpc.ember.inboxCapacity") {
			t.Errorf("bad spark.rpc.ember.inboxCapacity: %v", err)
		}
		e.Shutdown()
		if _, err := e.SetupEndpoint("late", newRecorder(nil)); !errors.Is(err, ErrEnvStopped) {
			t.Errorf("register after shutdown: %v", err)
		}
	})
}

// funcEndpoint is an endpoint value that is not comparable.
type funcEndpoint struct {
	BaseEndpoint
	f func()
}

// Shutdown is idempotent, runs every OnStop, and refuses work afterwards.
func TestShutdown(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		e := startEnv(t, envSpec{name: "e", mode: mode})
		rec := newRecorder(nil)
		ref := setup(t, e, "rec", rec)
		iso := &blocker{threads: 2, concurrent: true, errs: make(chan error, 1)}
		setup(t, e, "iso", iso)
		setup(t, srv, "rec", newRecorder(nil))
		remote := lookup(t, e, srv, "rec")
		e.Shutdown()
		e.Shutdown()
		e.AwaitTermination()
		if rec.count("stop") != 1 {
			t.Errorf("OnStop ran %d times", rec.count("stop"))
		}
		if err := ref.Send("x"); !errors.Is(err, ErrEnvStopped) {
			t.Errorf("send after shutdown: %v", err)
		}
		if _, err := remote.Ask(bigCtx(t), "x"); !errors.Is(err, ErrEnvStopped) {
			t.Errorf("remote ask after shutdown: %v", err)
		}
		if err := remote.Send("x"); !errors.Is(err, ErrEnvStopped) {
			t.Errorf("remote send after shutdown: %v", err)
		}
		if _, err := e.SetupEndpointRef(srv.Address(), "rec"); !errors.Is(err, ErrEnvStopped) {
			t.Errorf("lookup after shutdown: %v", err)
		}
	})
}
