package client

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
)

// fakeMaster is a Master endpoint that hands every message to the test.
type fakeMaster struct {
	rpcenv.BaseEndpoint
	got chan any
}

func (f *fakeMaster) Receive(msg any, _ rpcenv.Address) error {
	f.got <- msg
	return nil
}

func startFakeMaster(t *testing.T, name string) (*rpcenv.Env, *fakeMaster, *rpcenv.Ref) {
	t.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: name, BindHost: "127.0.0.1", Port: 0, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	f := &fakeMaster{got: make(chan any, 16)}
	ref, err := env.SetupEndpoint(deploy.MasterEndpointName, f)
	if err != nil {
		t.Fatal(err)
	}
	return env, f, ref
}

func next(t *testing.T, f *fakeMaster) any {
	t.Helper()
	select {
	case m := <-f.got:
		return m
	case <-time.After(waitLimit):
		t.Fatal("the fake master got nothing")
		return nil
	}
}

func ptr[T any](v T) *T { return &v }

// lineLog keeps log output for assertions.
type lineLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineLog) has(s string) bool { return l.count(s) > 0 }

func (l *lineLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// The master's messages about the app reach the listener, and a master
// change is acknowledged to the new master.
func TestMessagesFromMaster(t *testing.T) {
	env1, m1, ref1 := startFakeMaster(t, "master1")
	env2, m2, ref2 := startFakeMaster(t, "master2")
	driver := driverEnv(t)
	rec := &recorder{}
	logs := &lineLog{}
	ac, err := Start(driver, []string{env1.Address().SparkURL(), env2.Address().SparkURL()}, appDesc(1, 1), rec,
		Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Stop()
	reg, ok := next(t, m1).(deploy.RegisterApplication)
	if !ok || reg.Driver == nil || reg.Driver.Address().Addr != driver.Address() || reg.AppDescription.Name != "AppClientSuite" {
		t.Fatalf("registration %+v", reg)
	}
	send := func(msg any) {
		t.Helper()
		if err := reg.Driver.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	send(deploy.RegisteredApplication{AppID: "app-1", Master: ref1})
	waitFor(t, "Connected", func() bool { return rec.has("connected app-1") })
	send(deploy.ExecutorAdded{ID: 3, WorkerID: "w1", HostPort: "h:1", Cores: 2, MemoryMB: 64})
	send(deploy.ExecutorUpdated{ID: 3, State: deploy.ExecutorRunning})
	send(deploy.ExecutorUpdated{ID: 3, State: deploy.ExecutorDecommissioned, Message: ptr("bye")})
	send(deploy.ExecutorUpdated{ID: 3, State: deploy.ExecutorLost, Message: ptr("worker lost"), ExitStatus: ptr(1), WorkerHost: ptr("h")})
	send(deploy.WorkerRemoved{ID: "w1", Host: "h", Message: "gone"})
	waitFor(t, "WorkerRemoved", func() bool { return rec.has("workerRemoved") })
	want := []string{"connected app-1", "added app-1/3 w1 h:1 2 64", "decommissioned app-1/3", "removed app-1/3 worker lost", "workerRemoved w1"}
	got := rec.snapshot()
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}

	if _, ok := next(t, m2).(deploy.RegisterApplication); !ok {
		t.Fatal("the second master got no registration")
	}
	// A process on the masters' host that is no master, claiming master1's
	// address: its MasterChanged naming master1 (while master1 is
	// connected) or naming itself, and its ApplicationRemoved, are refused.
	_, _, evilRef := startFakeMaster(t, "evil")
	// An env that writes master1's address as its sender (it listens on
	// 127.0.0.2 at master1's port and advertises 127.0.0.1).
	forger, err := rpcenv.Create(rpcenv.Config{Name: "forger", BindHost: "127.0.0.2", AdvertiseHost: env1.Address().Host,
		Port: env1.Address().Port, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forger.Shutdown)
	if forger.Address() != env1.Address() {
		t.Fatalf("the forger writes %v, not master1's %v", forger.Address(), env1.Address())
	}
	// Over one connection, so handled in order: the ExecutorAdded (which
	// anyone may send) marks the two before it as handled.
	toDriver := forger.RefFor(reg.Driver.Address())
	asMaster1 := forger.RefFor(rpcenv.EndpointAddress{Addr: env1.Address(), Name: deploy.MasterEndpointName})
	for _, msg := range []any{deploy.MasterChanged{Master: asMaster1}, deploy.MasterChanged{Master: evilRef}, deploy.ApplicationRemoved{Message: "forged"},
		deploy.ExecutorAdded{ID: 4, WorkerID: "w2", HostPort: "h:2", Cores: 1, MemoryMB: 1}} {
		if err := toDriver.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the forger's last message", func() bool { return rec.has("added app-1/4") })
	if n := logs.count("refusing message"); n != 1 {
		t.Errorf("%d refusal lines for the forger's three messages, want 1 (rate-limited)", n)
	}
	if !logs.has("while the master is connected over") {
		t.Error("the forger's MasterChanged naming the current master was not refused for its connection")
	}
	if rec.has("dead") || ac.Master().Address() != ref1.Address() {
		t.Fatalf("a forged message took effect: %q, master %v", rec.snapshot(), ac.Master().Address())
	}
	// A new leader (it sends MasterChanged itself): acknowledged there, and
	// it is the master from now on.
	if err := env2.RefFor(reg.Driver.Address()).Send(deploy.MasterChanged{Master: ref2}); err != nil {
		t.Fatal(err)
	}
	if ack, ok := next(t, m2).(deploy.MasterChangeAcknowledged); !ok || ack.AppID != "app-1" {
		t.Fatalf("ack %+v", ack)
	}
	if got := ac.Master().Address(); got != ref2.Address() {
		t.Fatalf("master %v, want %v", got, ref2.Address())
	}
	// Losing the old master does not count as a disconnect now; losing the
	// new one does.
	env1.Shutdown()
	time.Sleep(100 * time.Millisecond)
	if rec.has("disconnected") {
		t.Fatalf("disconnected after the old master went: %q", rec.snapshot())
	}
	ac.Stop()
	if un, ok := next(t, m2).(deploy.UnregisterApplication); !ok || un.AppID != "app-1" {
		t.Fatalf("unregister %+v", un)
	}
}

// A resolver that does not answer never stalls the client's loop: the
// lookup of a configured master's name runs off it, the master's
// messages are handled meanwhile, and Stop cancels the lookup.
func TestBlockedResolverDoesNotStallTheLoop(t *testing.T) {
	env1, m1, ref1 := startFakeMaster(t, "master1")
	driver := driverEnv(t)
	rec := &recorder{}
	started, ended := make(chan string, 4), make(chan struct{}, 4)
	lookup := func(ctx context.Context, host string) ([]string, error) {
		started <- host
		<-ctx.Done() // never answers before the client stops
		ended <- struct{}{}
		return nil, ctx.Err()
	}
	// A second configured master known by name only, at a port nothing
	// listens on.
	named := fmt.Sprintf("spark://localhost:%d", testutil.FreePort(t))
	ac, err := Start(driver, []string{env1.Address().SparkURL(), named}, appDesc(1, 1), rec,
		Options{Logger: quietLog(), LookupHost: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if h := <-started; h != "localhost" {
		t.Fatalf("looked up %q, want localhost", h)
	}
	reg, ok := next(t, m1).(deploy.RegisterApplication)
	if !ok || reg.Driver == nil {
		t.Fatalf("registration %+v", reg)
	}
	for _, msg := range []any{deploy.RegisteredApplication{AppID: "app-1", Master: ref1},
		// Judged against the configured masters, the blocked name among them.
		deploy.MasterChanged{Master: ref1},
		deploy.ExecutorAdded{ID: 3, WorkerID: "w1", HostPort: "h:1", Cores: 2, MemoryMB: 64}} {
		if err := reg.Driver.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the master's messages, with the lookup still blocked", func() bool { return rec.has("added app-1/3") })
	if _, ok := next(t, m1).(deploy.MasterChangeAcknowledged); !ok {
		t.Fatal("MasterChanged from the current master over its connection was not acknowledged")
	}
	select {
	case <-ended:
		t.Fatal("the lookup ended before Stop")
	default:
	}
	ac.Stop()
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned with the lookup still running")
	}
}
