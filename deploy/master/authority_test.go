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
	h.s.NoteRegisteredFrom(dp, dp.addr.Addr)
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
			err := h.s.Admit(tc.msg, tc.from)
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
		if err := h.s.Admit(hb, attacker); err == nil {
			h.s.Heartbeat(hb, nil)
		}
	}
	h.fx.advance(time.Second)
	h.s.CheckForWorkerTimeOut()
	if w := h.listedWorker("w1"); w == nil || w.State != deploy.WorkerDead {
		t.Fatalf("worker kept alive by spoofed heartbeats: %+v", w)
	}
}

// TestClientModeDriverAuthority: a driver whose ref has no address is
// known by the socket address it registered from.
func TestClientModeDriverAuthority(t *testing.T) {
	h := newAlive(t)
	p := &fakePeer{addr: rpcenv.EndpointAddress{Name: deploy.AppClientEndpoint}}
	h.s.RegisterApplication(deploy.RegisterApplication{AppDescription: appDesc(512)}, p)
	sock := rpcenv.NewAddress("10.1.2.3", 51234)
	h.s.NoteRegisteredFrom(p, sock)
	id := lastOf[deploy.RegisteredApplication](t, p).AppID
	if err := h.s.Admit(deploy.UnregisterApplication{AppID: id}, sock); err != nil {
		t.Fatalf("the driver's own socket refused: %v", err)
	}
	if err := h.s.Admit(deploy.UnregisterApplication{AppID: id}, rpcenv.NewAddress("10.1.2.3", 51235)); err == nil {
		t.Fatal("another socket of the same host may end the app")
	}
}

// TestMaxWorkers: registrations past the bound are refused; a known
// worker may still register again.
func TestMaxWorkers(t *testing.T) {
	h := newAlive(t, func(c *Config) { c.MaxWorkers = 2 })
	a := h.addWorker("w1", 1, 1024)
	h.addWorker("w2", 1, 1024)
	p := h.workerPeer()
	if err := h.s.Admit(registerMsg("w3", p, 1, 1024), p.addr.Addr); !errors.Is(err, ErrTooManyWorkers) {
		t.Fatalf("third worker: %v", err)
	}
	if err := h.s.Admit(registerMsg("w1", a, 1, 1024), a.addr.Addr); err != nil {
		t.Fatalf("a listed worker registering again: %v", err)
	}
}
