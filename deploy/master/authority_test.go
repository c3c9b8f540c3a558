package master

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
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

// TestAdmit is the master's authority table over a worker w1 running
// executor 0 of an app, with an attacker at another address.
func TestAdmit(t *testing.T) {
	h := newAlive(t)
	wp := h.addWorker("w1", 8, 8192)
	appID, dp := h.addApp(appDesc(512, coresPerExecutor(1), maxCores(1)))
	if len(h.s.App(appID).Executors) != 1 {
		t.Fatal("the app got no executor")
	}
	wa, da := wp.addr.Addr, dp.addr.Addr
	attacker := rpcenv.NewAddress("10.6.6.6", 40000)
	wRef := refAt(t, wp.addr.String())
	cases := []struct {
		name  string
		msg   any
		from  rpcenv.Address
		allow bool
		inval bool // refused as invalid rather than unauthorised
	}{
		{"heartbeat from the worker", deploy.Heartbeat{WorkerID: "w1", Worker: wRef}, wa, true, false},
		{"spoofed heartbeat", deploy.Heartbeat{WorkerID: "w1"}, attacker, false, false},
		{"heartbeat whose ref is not the sender", deploy.Heartbeat{WorkerID: "w1", Worker: wRef}, attacker, false, false},
		{"heartbeat of an unknown worker", deploy.Heartbeat{WorkerID: "w9"}, attacker, true, false},
		{"executor state from its worker", deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorRunning}, wa, true, false},
		{"executor state from a peer", deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorFailed}, attacker, false, false},
		{"executor state from the driver", deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorFailed}, da, false, false},
		{"scheduler state from a peer", deploy.WorkerSchedulerStateResponse{ID: "w1"}, attacker, false, false},
		{"scheduler state from the worker", deploy.WorkerSchedulerStateResponse{ID: "w1"}, wa, true, false},
		{"latest state from a peer", deploy.WorkerLatestState{ID: "w1"}, attacker, false, false},
		{"unregister from the driver", deploy.UnregisterApplication{AppID: appID}, da, true, false},
		{"unregister from a peer", deploy.UnregisterApplication{AppID: appID}, attacker, false, false},
		{"unregister from the worker", deploy.UnregisterApplication{AppID: appID}, wa, false, false},
		{"request executors from a peer", deploy.RequestExecutors{AppID: appID, RequestedTotal: 0}, attacker, false, false},
		{"kill executors from a peer", deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}}, attacker, false, false},
		{"kill executors from the driver", deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}}, da, true, false},
		{"ack from a peer", deploy.MasterChangeAcknowledged{AppID: appID}, attacker, false, false},
		{"unregister of an unknown app", deploy.UnregisterApplication{AppID: "app-none"}, attacker, true, false},
		{"register a worker whose ref is elsewhere", deploy.RegisterWorker{ID: "w2", Host: "10.0.0.9", Port: 1, Cores: 1, MemoryMB: 1, Worker: wRef}, attacker, false, false},
		{"register a ghost worker with a million cores", deploy.RegisterWorker{ID: "g", Host: "10.6.6.6", Port: 40000, Cores: 1e6, MemoryMB: 1}, attacker, false, true},
		{"register a ghost worker with a 32 MiB host", deploy.RegisterWorker{ID: "g", Host: strings.Repeat("h", 32<<20), Port: 40000, Cores: 1, MemoryMB: 1}, attacker, false, true},
		{"register an app with coresPerExecutor 0", deploy.RegisterApplication{AppDescription: appDesc(1, coresPerExecutor(0))}, attacker, false, true},
		{"driver state of a driver nobody runs, from a peer", deploy.DriverStateChanged{DriverID: "driver-x", State: deploy.DriverFinished}, attacker, true, false},
		{"master state from anyone", deploy.RequestMasterState{}, attacker, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h.s.Admit(tc.msg, tc.from, nil)
			switch {
			case tc.allow && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.allow && tc.inval && !errors.Is(err, deploy.ErrInvalid):
				t.Fatalf("want ErrInvalid, got %v", err)
			case !tc.allow && !tc.inval && !errors.Is(err, ErrNotAuthorized):
				t.Fatalf("want ErrNotAuthorized, got %v", err)
			}
		})
	}
}

// TestSpoofedHeartbeatsDoNotKeepWorkerAlive: a dead worker's heartbeats,
// replayed by a peer, are refused, and the worker times out.
func TestSpoofedHeartbeatsDoNotKeepWorkerAlive(t *testing.T) {
	h := newAlive(t)
	h.addWorker("w1", 4, 4096)
	attacker := rpcenv.NewAddress("10.6.6.6", 40000)
	for i := 0; i < 5; i++ {
		h.fx.advance(h.s.cfg.WorkerTimeout / 4)
		hb := deploy.Heartbeat{WorkerID: "w1"}
		if err := h.s.Admit(hb, attacker, nil); err == nil {
			h.s.Heartbeat(hb, nil)
		}
	}
	h.fx.advance(time.Second)
	h.s.CheckForWorkerTimeOut()
	if w := h.listedWorker("w1"); w == nil || w.State != deploy.WorkerDead {
		t.Fatalf("worker kept alive by spoofed heartbeats: %+v", w)
	}
}

// fakeLink is a connection for the core's tests.
type fakeLink struct {
	remote rpcenv.Address
	closed bool
}

func (l *fakeLink) RemoteAddr() rpcenv.Address { return l.remote }
func (l *fakeLink) IsActive() bool             { return !l.closed }

// TestClientModeDriverAuthority: a client-only driver (no address) is
// known by the connection it registered over, and two of them are two
// applications that end independently, each with its connection.
func TestClientModeDriverAuthority(t *testing.T) {
	h := newAlive(t)
	p1 := &fakePeer{addr: rpcenv.EndpointAddress{Name: deploy.AppClientEndpoint}}
	p2 := &fakePeer{addr: rpcenv.EndpointAddress{Name: deploy.AppClientEndpoint}}
	s1, s2 := rpcenv.NewAddress("10.1.2.3", 51234), rpcenv.NewAddress("10.1.2.3", 51235)
	l1, l2 := &fakeLink{remote: s1}, &fakeLink{remote: s2}
	h.s.RegisterApplicationOver(deploy.RegisterApplication{AppDescription: appDesc(512)}, p1, s1, l1, rpcenv.Address{})
	h.s.RegisterApplicationOver(deploy.RegisterApplication{AppDescription: appDesc(512)}, p2, s2, l2, rpcenv.Address{})
	h.s.RegisterApplicationOver(deploy.RegisterApplication{AppDescription: appDesc(512)}, p1, s1, l1, rpcenv.Address{}) // again: the same app
	id1 := lastOf[deploy.RegisteredApplication](t, p1).AppID
	id2 := lastOf[deploy.RegisteredApplication](t, p2).AppID
	if n := len(msgsOf[deploy.RegisteredApplication](p1)); n != 1 || id1 == id2 {
		t.Fatalf("two client-only drivers: %d registrations of the first, ids %s and %s", n, id1, id2)
	}
	if err := h.s.Admit(deploy.UnregisterApplication{AppID: id1}, s1, l1); err != nil {
		t.Fatalf("the driver's own connection refused: %v", err)
	}
	if err := h.s.Admit(deploy.UnregisterApplication{AppID: id1}, s1, l2); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("another driver's connection, claiming the first's socket, may end the app: %v", err)
	}
	if err := h.s.Admit(deploy.UnregisterApplication{AppID: id1}, s1, &fakeLink{remote: s1}); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("a new connection from the same address may end the app: %v", err)
	}
	h.s.UnregisterApplication(id1)
	if _, ok := h.completedApp(id1); !ok || h.s.App(id2) == nil {
		t.Fatalf("ending the first app: first completed %v, second live %v", ok, h.s.App(id2) != nil)
	}
	l2.closed = true
	h.s.ConnClosed(l2)
	if _, ok := h.completedApp(id2); !ok {
		t.Fatal("the second app outlived its driver's connection")
	}
}

// TestAdmitByConnection: a worker's reports and a driver's decisions are
// taken only over the connection each registered over, whatever address
// a message claims; when that connection closes, a new one from the same
// host takes over and one from another host does not.
func TestAdmitByConnection(t *testing.T) {
	h := newAlive(t)
	wp := h.workerPeer()
	wl := &fakeLink{remote: rpcenv.NewAddress(wp.addr.Addr.Host, 50001)}
	h.s.RegisterWorkerOver(registerMsg("w1", wp, 4, 4096), wp, wl, rpcenv.Address{})
	dp := h.driverPeer()
	dl := &fakeLink{remote: rpcenv.NewAddress(dp.addr.Addr.Host, 50002)}
	h.s.RegisterApplicationOver(deploy.RegisterApplication{AppDescription: appDesc(512, coresPerExecutor(1), maxCores(1))}, dp, dp.addr.Addr, dl, rpcenv.Address{})
	appID := lastOf[deploy.RegisteredApplication](t, dp).AppID
	wa, da := wp.addr.Addr, dp.addr.Addr
	forger := &fakeLink{remote: rpcenv.NewAddress("10.6.6.6", 40000)}
	sameHost := &fakeLink{remote: rpcenv.NewAddress(wa.Host, 50003)}
	hb := deploy.Heartbeat{WorkerID: "w1"}
	exec := deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorRunning}
	unreg := deploy.UnregisterApplication{AppID: appID}
	step := func(name string, msg any, from rpcenv.Address, l Link, allow bool) {
		t.Helper()
		err := h.s.Admit(msg, from, l)
		if allow && err != nil {
			t.Fatalf("%s: refused: %v", name, err)
		}
		if !allow && !errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("%s: want ErrNotAuthorized, got %v", name, err)
		}
	}
	step("heartbeat over the worker's connection", hb, wa, wl, true)
	step("executor state over the worker's connection", exec, wa, wl, true)
	step("heartbeat forging the worker's address", hb, wa, forger, false)
	step("executor state forging the worker's address", exec, wa, forger, false)
	step("heartbeat from the worker's host over a second connection", hb, wa, sameHost, false)
	step("re-registration under the worker's id over another connection", registerMsg("w1", wp, 4, 4096), wa, forger, false)
	step("unregister over the driver's connection", unreg, da, dl, true)
	step("unregister forging the driver's address", unreg, da, forger, false)
	step("kill executors forging the driver's address", deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}}, da, forger, false)
	step("request executors forging the driver's address", deploy.RequestExecutors{AppID: appID}, da, forger, false)
	// The worker's connection drops; it reconnects from its host.
	wl.closed = true
	step("heartbeat from another host after the worker's connection closed", hb, wa, forger, false)
	step("heartbeat over the worker's new connection", hb, wa, sameHost, true)
	step("the old connection, once replaced", hb, wa, &fakeLink{remote: rpcenv.NewAddress(wa.Host, 50004)}, false)
	dl.closed = true
	step("unregister from another host after the driver's connection closed", unreg, da, forger, false)
	step("unregister over the driver's new connection", unreg, da, &fakeLink{remote: rpcenv.NewAddress(da.Host, 50005)}, true)
}

// TestMaxWorkers: registrations past the bound are refused; a known
// worker may still register again.
func TestMaxWorkers(t *testing.T) {
	h := newAlive(t, func(c *Config) { c.MaxWorkers = 2 })
	a := h.addWorker("w1", 1, 1024)
	h.addWorker("w2", 1, 1024)
	p := h.workerPeer()
	if err := h.s.Admit(registerMsg("w3", p, 1, 1024), p.addr.Addr, nil); !errors.Is(err, ErrTooManyWorkers) {
		t.Fatalf("third worker: %v", err)
	}
	if err := h.s.Admit(registerMsg("w1", a, 1, 1024), a.addr.Addr, nil); err != nil {
		t.Fatalf("a listed worker registering again: %v", err)
	}
}

// TestAnswerReachedAt: a registration's answer names the master at the
// address the peer reached it at: the one a worker says it used, else the
// one its connection reached.
func TestAnswerReachedAt(t *testing.T) {
	h := newAlive(t)
	viaConn := rpcenv.NewAddress("master-by-name", 7077)
	wp := h.workerPeer()
	reg := registerMsg("w1", wp, 4, 4096)
	h.s.RegisterWorkerOver(reg, wp, nil, viaConn)
	reg2 := registerMsg("w2", h.workerPeer(), 4, 4096)
	reg2.MasterAddress = rpcenv.Address{}
	h.s.RegisterWorkerOver(reg2, h.workerPeer(), nil, viaConn)
	h.s.RegisterApplicationOver(deploy.RegisterApplication{AppDescription: appDesc(512)}, h.driverPeer(), rpcenv.Address{}, nil, viaConn)
	want := []rpcenv.Address{reg.MasterAddress, viaConn, viaConn}
	if got := h.fx.answeredAt; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("answered at %v, want %v", got, want)
	}
}
