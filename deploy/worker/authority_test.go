package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/rpcenv"
)

func refAt(t *testing.T, uri string) *rpcenv.Ref {
	t.Helper()
	r := new(rpcenv.Ref)
	if err := r.UnmarshalJSON([]byte(`{"uri":"` + uri + `"}`)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAdmit is the worker's authority table: who may order what, for a
// worker registered with m1 (configured masters m1 and m2; m2 is also
// known by name, "master-two", which resolves to 10.0.0.2).
func TestAdmit(t *testing.T) {
	m1Addr, m2Addr := m1.addr.Addr, m2.addr.Addr
	attacker := rpcenv.NewAddress("10.6.6.6", 40000)
	m1OtherPort := rpcenv.NewAddress("10.0.0.1", 40001) // a process on the master's host, not the master
	m2ByName := rpcenv.NewAddress("master-two", 7077)
	cases := []struct {
		name  string
		msg   any
		from  rpcenv.Address
		allow bool
	}{
		{"LaunchExecutor from the master", deploy.LaunchExecutor{MasterURL: m1URL}, m1Addr, true},
		{"LaunchExecutor from a peer", deploy.LaunchExecutor{MasterURL: m1URL}, attacker, false},
		{"LaunchExecutor from the master's host, another port", deploy.LaunchExecutor{MasterURL: m1URL}, m1OtherPort, false},
		{"LaunchExecutor from the standby master", deploy.LaunchExecutor{MasterURL: m1URL}, m2Addr, false},
		{"LaunchExecutor from a client-mode env", deploy.LaunchExecutor{MasterURL: m1URL}, rpcenv.Address{}, false},
		{"KillExecutor with the published master URL, from a peer", deploy.KillExecutor{MasterURL: m1URL, AppID: "a"}, attacker, false},
		{"KillExecutor from the master", deploy.KillExecutor{MasterURL: m1URL, AppID: "a"}, m1Addr, true},
		{"LaunchDriver from a peer", deploy.LaunchDriver{DriverID: "d"}, attacker, false},
		{"KillDriver from a peer", deploy.KillDriver{DriverID: "d"}, attacker, false},
		{"ApplicationFinished from a peer", deploy.ApplicationFinished{ID: "a"}, attacker, false},
		{"ApplicationFinished from the master", deploy.ApplicationFinished{ID: "a"}, m1Addr, true},
		{"ReconnectWorker from a peer", deploy.ReconnectWorker{MasterURL: m1URL}, attacker, false},
		{"MasterChanged to the attacker, from the attacker", deploy.MasterChanged{Master: refAt(t, "spark://Master@10.6.6.6:40000")}, attacker, false},
		{"MasterChanged to m2, from the attacker", deploy.MasterChanged{Master: refAt(t, "spark://Master@10.0.0.2:7077")}, attacker, false},
		{"MasterChanged to the attacker, claiming m2's address", deploy.MasterChanged{Master: refAt(t, "spark://Master@10.6.6.6:40000")}, m2Addr, false},
		{"MasterChanged without a master", deploy.MasterChanged{}, m2Addr, false},
		{"MasterChanged to m2 by IP, from m2 by IP (configured by name)", deploy.MasterChanged{Master: refAt(t, "spark://Master@10.0.0.2:7077")}, m2Addr, true},
		{"MasterChanged to m2 by name, from m2 by name", deploy.MasterChanged{Master: refAt(t, "spark://Master@master-two:7077")}, m2ByName, true},
		{"MasterChanged to m2 by name, from the attacker", deploy.MasterChanged{Master: refAt(t, "spark://Master@master-two:7077")}, attacker, false},
		{"RegisteredWorker naming the attacker", deploy.RegisteredWorker{Master: refAt(t, "spark://Master@10.6.6.6:40000")}, attacker, false},
		{"RegisteredWorker from m2", deploy.RegisteredWorker{Master: refAt(t, "spark://Master@10.0.0.2:7077")}, m2Addr, true},
		{"RegisterWorkerFailed from a peer", deploy.RegisterWorkerFailed{Message: "go away"}, attacker, false},
		{"RegisterWorkerFailed from m2", deploy.RegisterWorkerFailed{Message: "no"}, m2Addr, true},
		{"RequestWorkerState from anyone", deploy.RequestWorkerState{}, attacker, true},
	}
	cfg := testCoreConfig()
	resolved := map[string][]string{"master-two": {"10.0.0.2"}}
	cfg.Masters = []rpcenv.Address{m1Addr, m2ByName}
	names := testNames(t, func(host string) []string { return resolved[host] })
	cfg.Names = names
	c := registeredCore(cfg, true)
	names.Wait() // the configured names, looked up off the loop
	if got := c.MasterAddress(m2Addr); got != m2ByName {
		t.Errorf("MasterAddress(%v) = %v, want the configured spelling %v (one connection to the master)", m2Addr, got, m2ByName)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Admit(tc.msg, tc.from, nil)
			if tc.allow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.allow && !errors.Is(err, ErrNotFromMaster) {
				t.Fatalf("admitted (err %v)", err)
			}
		})
	}
}

// TestAdmitPeerNames: a master that advertises a host name its worker
// knows by IP is admitted once that name has resolved (the lookup runs
// off the loop: the first message is judged as if the name did not
// resolve yet), and the worker then talks to the configured address;
// names peers give cost at most peerLookups lookups.
func TestAdmitPeerNames(t *testing.T) {
	cfg := testCoreConfig()
	var mu sync.Mutex
	lookups := 0
	names := testNames(t, func(host string) []string {
		mu.Lock()
		lookups++
		mu.Unlock()
		if host == "master-one" {
			return []string{"10.0.0.1"}
		}
		return nil
	})
	cfg.Names = names
	c := registeredCore(cfg, false)
	named := rpcenv.NewAddress("master-one", 7077)
	reg := deploy.RegisteredWorker{Master: refAt(t, "spark://Master@master-one:7077")}
	if err := c.Admit(reg, named, nil); !errors.Is(err, ErrNotFromMaster) {
		t.Fatalf("a master by a name not resolved yet: admitted (err %v)", err)
	}
	names.Wait()
	if err := c.Admit(reg, named, nil); err != nil {
		t.Fatalf("a configured master advertising its name, once resolved: %v", err)
	}
	if got := c.MasterAddress(named); got != m1.addr.Addr {
		t.Fatalf("MasterAddress(%s) = %s, want the configured %s", named, got, m1.addr.Addr)
	}
	mu.Lock()
	lookups = 0
	mu.Unlock()
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("evil-%d.example", i)
		if err := c.Admit(deploy.MasterChanged{Master: refAt(t, "spark://Master@"+name+":7077")}, rpcenv.NewAddress(name, 7077), nil); !errors.Is(err, ErrNotFromMaster) {
			t.Fatalf("MasterChanged from %s admitted: %v", name, err)
		}
	}
	names.Wait()
	mu.Lock()
	defer mu.Unlock()
	if lookups > peerLookups {
		t.Fatalf("%d lookups of names peers gave, budget %d", lookups, peerLookups)
	}
}

// TestAdmitBlockedResolver: a resolver that does not answer never holds
// Admit (it runs on the endpoint's loop): a master met by a name still
// being looked up is refused at once, and admitted after the answer.
func TestAdmitBlockedResolver(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 16)
	cfg := testCoreConfig()
	names := authority.NewResolver(func(ctx context.Context, host string) ([]string, error) {
		started <- host
		select {
		case <-release:
			return []string{"10.0.0.1"}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, peerLookups)
	t.Cleanup(names.Close)
	cfg.Names = names
	c := registeredCore(cfg, false)
	named := rpcenv.NewAddress("master-one", 7077)
	reg := deploy.RegisteredWorker{Master: refAt(t, "spark://Master@master-one:7077")}
	for i := 0; i < 3; i++ {
		if err := c.Admit(reg, named, nil); !errors.Is(err, ErrNotFromMaster) {
			t.Fatalf("admitted while the lookup is blocked (err %v)", err)
		}
	}
	// Other messages go on being judged meanwhile.
	if err := c.Admit(deploy.RequestWorkerState{}, named, nil); err != nil {
		t.Fatalf("RequestWorkerState: %v", err)
	}
	if h := <-started; h != "master-one" {
		t.Fatalf("looked up %q, want master-one", h)
	}
	close(release)
	names.Wait()
	if err := c.Admit(reg, named, nil); err != nil {
		t.Fatalf("after the lookup answered: %v", err)
	}
}

// testNames is a Resolver answering from fn, closed by the test's end.
func testNames(t *testing.T, fn func(host string) []string) *authority.Resolver {
	r := authority.NewResolver(func(_ context.Context, host string) ([]string, error) { return fn(host), nil }, peerLookups)
	t.Cleanup(r.Close)
	return r
}

// TestAdmitBeforeRegistration: no orders are taken before a master
// accepted the worker.
func TestAdmitBeforeRegistration(t *testing.T) {
	c := registeredCore(testCoreConfig(), false)
	if err := c.Admit(deploy.LaunchDriver{DriverID: "d"}, m1.addr.Addr, nil); !errors.Is(err, ErrNotFromMaster) {
		t.Fatalf("LaunchDriver before registration: %v", err)
	}
}

// TestAdmitFollowsMasterChange: after a legitimate leader change the new
// master gives the orders and the old one no longer does.
func TestAdmitFollowsMasterChange(t *testing.T) {
	c := registeredCore(testCoreConfig(), true)
	c.MasterChanged(m2, "http://10.0.0.2:8080")
	if err := c.Admit(deploy.KillDriver{DriverID: "d"}, m2.addr.Addr, nil); err != nil {
		t.Fatalf("new master refused: %v", err)
	}
	if err := c.Admit(deploy.KillDriver{DriverID: "d"}, m1.addr.Addr, nil); err == nil {
		t.Fatal("the old master still gives orders")
	}
}

// fakeLink is a connection for the core's tests.
type fakeLink struct {
	remote   rpcenv.Address
	outgoing bool
	closed   bool
}

func (l *fakeLink) RemoteAddr() rpcenv.Address { return l.remote }
func (l *fakeLink) Outgoing() bool             { return l.outgoing }
func (l *fakeLink) IsActive() bool             { return !l.closed }

// TestAdmitByConnection: orders are taken over the worker's own
// connection to its master, or over the one connection the master dialled
// from its host; a forged master address over another connection is
// refused, from another host always, from the master's host while the
// master's connection is open.
func TestAdmitByConnection(t *testing.T) {
	c := registeredCore(testCoreConfig(), true)
	m1a := m1.addr.Addr
	launch := deploy.LaunchExecutor{MasterURL: m1URL}
	step := func(name string, msg any, l Link, allow bool) {
		t.Helper()
		err := c.Admit(msg, m1a, l)
		if allow && err != nil {
			t.Fatalf("%s: refused: %v", name, err)
		}
		if !allow && !errors.Is(err, ErrNotFromMaster) {
			t.Fatalf("%s: admitted (err %v)", name, err)
		}
	}
	own := &fakeLink{remote: m1a, outgoing: true}
	if err := c.Admit(deploy.RegisteredWorker{Master: refAt(t, m1.addr.String())}, m1a, own); err != nil {
		t.Fatalf("RegisteredWorker over the worker's own connection: %v", err)
	}
	step("over the worker's own connection to the master", launch, own, true)
	step("MasterChanged naming the active master, from its host, while it is connected", deploy.MasterChanged{Master: refAt(t, m1.addr.String())},
		&fakeLink{remote: rpcenv.NewAddress(m1a.Host, 40999)}, false)
	step("over the worker's connection to another address", launch, &fakeLink{remote: rpcenv.NewAddress("10.6.6.6", 7077), outgoing: true}, false)
	step("forged, from another host", launch, &fakeLink{remote: rpcenv.NewAddress("10.6.6.6", 40000)}, false)
	masterIn := &fakeLink{remote: rpcenv.NewAddress(m1a.Host, 41000)}
	step("from the master's host, when the master answers over the worker's connection", launch, masterIn, false)
	// The master restarts at its address as one that dials the worker
	// (Spark's): the worker's connection to it is gone, and the new one
	// answers the registration over its own connection.
	own.closed = true
	if err := c.Admit(deploy.RegisteredWorker{Master: refAt(t, m1.addr.String())}, m1a, masterIn); err != nil {
		t.Fatalf("RegisteredWorker from the master's host: %v", err)
	}
	step("over the master's connection", launch, masterIn, true)
	step("over the master's connection again", deploy.KillExecutor{MasterURL: m1URL, AppID: "a"}, masterIn, true)
	sameHost := &fakeLink{remote: rpcenv.NewAddress(m1a.Host, 41001)}
	step("forged, from the master's host while its connection is open", launch, sameHost, false)
	masterIn.closed = true
	step("from the master's host once its connection closed", launch, sameHost, true)
	step("MasterChanged to m2, over a connection from m1's host", deploy.MasterChanged{Master: refAt(t, m2.addr.String())}, &fakeLink{remote: rpcenv.NewAddress(m1a.Host, 41002)}, false)
	if err := c.Admit(deploy.MasterChanged{Master: refAt(t, m2.addr.String())}, m2.addr.Addr, &fakeLink{remote: rpcenv.NewAddress("10.6.6.6", 1)}); !errors.Is(err, ErrNotFromMaster) {
		t.Fatalf("MasterChanged claiming m2 from another host: %v", err)
	}
	m2In := &fakeLink{remote: rpcenv.NewAddress(m2.addr.Addr.Host, 42000)}
	if err := c.Admit(deploy.MasterChanged{Master: refAt(t, m2.addr.String())}, m2.addr.Addr, m2In); err != nil {
		t.Fatalf("MasterChanged from m2's host: %v", err)
	}
	c.MasterChanged(m2, "http://10.0.0.2:8080")
	if err := c.Admit(launch, m2.addr.Addr, &fakeLink{remote: rpcenv.NewAddress(m2.addr.Addr.Host, 42001)}); !errors.Is(err, ErrNotFromMaster) {
		t.Fatalf("an order over a second connection from m2's host: %v", err)
	}
	if err := c.Admit(launch, m2.addr.Addr, m2In); err != nil {
		t.Fatalf("an order over the connection MasterChanged came over: %v", err)
	}
}

// registeredCore is a started core, registered with m1 if registered.
func registeredCore(cfg CoreConfig, registered bool) *Core {
	c := NewCore(cfg, &fakeFx{})
	c.Start()
	if registered {
		c.RegisteredWorker(m1, "http://10.0.0.1:8080", m1.addr.Addr, false)
	}
	return c
}
