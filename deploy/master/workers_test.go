package master

import (
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// ---- registration (handleRegisterWorker) ----

func TestRegisterWorkerInStandby(t *testing.T) {
	// SPARK-46353: a standby master answers MasterInStandby and keeps nothing.
	h := newStandby(t)
	p := h.workerPeer()
	h.s.RegisterWorker(registerMsg("worker-0", p, 10, 4096), p)
	if len(p.msgs) != 1 {
		t.Fatalf("worker got %s, want only MasterInStandby", describe(p.msgs))
	}
	if _, ok := p.msgs[0].(deploy.MasterInStandby); !ok {
		t.Fatalf("worker got %T, want MasterInStandby", p.msgs[0])
	}
	if len(h.s.Workers()) != 0 || h.s.Worker("worker-0") != nil || len(h.fx.persists) != 0 {
		t.Error("a standby master recorded the worker")
	}
}

func TestRegisterWorker(t *testing.T) {
	h := newAlive(t)
	p := h.workerPeer()
	m := registerMsg("w1", p, 8, 2048)
	// SPARK-20529: the reply echoes the address the worker used.
	m.MasterAddress = rpcenv.NewAddress("localhost2", 10000)
	h.s.RegisterWorker(m, p)

	r := lastOf[deploy.RegisteredWorker](t, p)
	if r.Duplicate || r.MasterAddress != rpcenv.NewAddress("localhost2", 10000) || r.MasterWebUIURL != testWebUIURL {
		t.Errorf("RegisteredWorker = %+v", r)
	}
	w := h.s.Worker("w1")
	if w == nil || w.State != deploy.WorkerAlive || w.LastHeartbeat != t0 || w.Cores != 8 || w.MemoryMB != 2048 {
		t.Fatalf("worker = %+v", w)
	}
	rec, ok := h.fx.persisted["worker_w1"].(WorkerRecord)
	if !ok {
		t.Fatalf("persisted %v, want worker_w1", h.fx.persists)
	}
	want := WorkerRecord{ID: "w1", Host: p.addr.Addr.Host, Port: p.addr.Addr.Port, Endpoint: p.addr.String(), Cores: 8, MemoryMB: 2048, WebUIAddress: m.WorkerWebUIURL}
	if rec != want {
		t.Errorf("persisted %+v, want %+v", rec, want)
	}
}

func TestRegisterWorkerTwice(t *testing.T) {
	t.Run("same id: duplicate, no new worker", func(t *testing.T) {
		h := newAlive(t)
		p := h.addWorker("w1", 4, 1024)
		other := h.workerPeer()
		h.s.RegisterWorker(registerMsg("w1", other, 16, 8192), other)
		if r := lastOf[deploy.RegisteredWorker](t, other); !r.Duplicate {
			t.Errorf("RegisteredWorker = %+v, want duplicate=true", r)
		}
		if ws := h.s.Workers(); len(ws) != 1 || ws[0].Endpoint != p || ws[0].Cores != 4 {
			t.Errorf("workers = %+v, want the first registration only", ws)
		}
		if len(h.fx.persists) != 1 {
			t.Errorf("persisted %v, want one worker_w1", h.fx.persists)
		}
	})
	t.Run("new id at the address of an alive worker: refused", func(t *testing.T) {
		h := newAlive(t)
		p := h.addWorker("w1", 4, 1024)
		h.s.RegisterWorker(registerMsg("w2", p, 4, 1024), p)
		f := lastOf[deploy.RegisterWorkerFailed](t, p)
		if f.Message != "Attempted to re-register worker at same address: "+p.addr.String() {
			t.Errorf("RegisterWorkerFailed %q", f.Message)
		}
		if h.s.Worker("w2") != nil || len(h.s.Workers()) != 1 {
			t.Error("the second worker was added")
		}
	})
	t.Run("a DEAD worker at the same host:port is replaced", func(t *testing.T) {
		h := newAlive(t)
		p := h.addWorker("w1", 4, 1024)
		h.fx.advance(61 * time.Second)
		h.s.CheckForWorkerTimeOut()
		if w := h.listedWorker("w1"); w == nil || w.State != deploy.WorkerDead {
			t.Fatalf("w1 = %+v, want listed DEAD", w)
		}
		p.reset()
		h.s.RegisterWorker(registerMsg("w1-restarted", p, 4, 1024), p)
		if r := lastOf[deploy.RegisteredWorker](t, p); r.Duplicate {
			t.Errorf("RegisteredWorker = %+v", r)
		}
		ws := h.s.Workers()
		if len(ws) != 1 || ws[0].ID != "w1-restarted" || ws[0].State != deploy.WorkerAlive {
			t.Errorf("workers = %v, want only the new ALIVE one", ids(ws))
		}
	})
	t.Run("invalid host or port: refused", func(t *testing.T) {
		for _, m := range []deploy.RegisterWorker{{ID: "a", Host: "", Port: 7078}, {ID: "b", Host: "h", Port: 0}, {ID: "c", Host: "h", Port: -1}} {
			h := newAlive(t)
			p := h.workerPeer()
			h.s.RegisterWorker(m, p)
			if f := msgsOf[deploy.RegisterWorkerFailed](p); len(f) != 1 {
				t.Errorf("%+v: got %s, want RegisterWorkerFailed", m, describe(p.msgs))
			}
			if len(h.s.Workers()) != 0 || len(h.fx.persists) != 0 {
				t.Errorf("%+v: recorded", m)
			}
		}
	})
}

func ids(ws []*WorkerInfo) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID + "/" + string(w.State)
	}
	return out
}

// ---- SPARK-13604: kill what the master does not know ----

func TestWorkerLatestStateKillsUnknownExecutorsAndDrivers(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("1", 10, 4096)
	appID, _ := h.addApp(appDesc(1024, maxCores(2)))
	driverID := h.submit(driverDesc(1, 512, false))
	w.reset()

	known := deploy.ExecutorDescription{AppID: appID, ExecID: 0, Cores: 2, MemoryMB: 1024, State: deploy.ExecutorRunning}
	execs := []deploy.ExecutorDescription{known}
	for i := 0; i < 3; i++ {
		execs = append(execs, deploy.ExecutorDescription{AppID: string(rune('0' + i)), ExecID: i, Cores: 2, MemoryMB: 1024, State: deploy.ExecutorRunning})
	}
	h.s.WorkerLatestState(deploy.WorkerLatestState{ID: "1", Executors: execs, DriverIDs: []string{"0", driverID, "1", "2"}})

	var killedExecs []string
	for _, k := range msgsOf[deploy.KillExecutor](w) {
		if k.MasterURL != testMasterURL {
			t.Errorf("KillExecutor %+v", k)
		}
		killedExecs = append(killedExecs, k.AppID+"/"+string(rune('0'+k.ExecID)))
	}
	if strings.Join(killedExecs, ",") != "0/0,1/1,2/2" {
		t.Errorf("killed executors %v, want 0/0 1/1 2/2 (not %s/0)", killedExecs, appID)
	}
	var killedDrivers []string
	for _, k := range msgsOf[deploy.KillDriver](w) {
		killedDrivers = append(killedDrivers, k.DriverID)
	}
	if strings.Join(killedDrivers, ",") != "0,1,2" {
		t.Errorf("killed drivers %v, want 0 1 2 (not %s)", killedDrivers, driverID)
	}

	// From a worker the master does not know: nothing.
	h.s.WorkerLatestState(deploy.WorkerLatestState{ID: "nobody", Executors: execs, DriverIDs: []string{"0"}})
	if n := len(msgsOf[deploy.KillExecutor](w)); n != 3 {
		t.Errorf("%d kills after an unknown worker's report", n)
	}
}

// ---- heartbeats and timeouts ----

func TestHeartbeat(t *testing.T) {
	h := newAlive(t)
	p := h.addWorker("w1", 4, 1024)
	h.fx.advance(30 * time.Second)
	h.s.Heartbeat(deploy.Heartbeat{WorkerID: "w1"}, p)
	if got := h.s.Worker("w1").LastHeartbeat; !got.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("lastHeartbeat = %v, want now", got)
	}
	if len(msgsOf[deploy.ReconnectWorker](p)) != 0 {
		t.Error("a known worker was asked to reconnect")
	}

	// 30s after the last heartbeat the worker is not timed out; past 60s it is.
	h.fx.advance(60 * time.Second)
	h.s.CheckForWorkerTimeOut()
	if w := h.s.Worker("w1"); w == nil || w.State != deploy.WorkerAlive {
		t.Fatalf("w1 timed out exactly at the timeout: %+v", w)
	}
	h.fx.advance(time.Millisecond)
	h.s.CheckForWorkerTimeOut()
	if h.s.Worker("w1") != nil {
		t.Fatal("w1 not timed out after the timeout")
	}

	// A DEAD worker still listed is asked to reconnect.
	h.s.Heartbeat(deploy.Heartbeat{WorkerID: "w1"}, p)
	if r := msgsOf[deploy.ReconnectWorker](p); len(r) != 1 || r[0].MasterURL != testMasterURL {
		t.Errorf("ReconnectWorker = %v", r)
	}
	// A worker never registered is ignored.
	stranger := h.workerPeer()
	h.s.Heartbeat(deploy.Heartbeat{WorkerID: "w9"}, stranger)
	if len(stranger.msgs) != 0 {
		t.Errorf("unknown worker got %s", describe(stranger.msgs))
	}
}

func TestWorkerTimeout(t *testing.T) {
	h := newAlive(t)
	w1 := h.addWorker("w1", 4, 4096)
	appID, driver := h.addApp(appDesc(1024, maxCores(4)))
	w2 := h.addWorker("w2", 4, 4096) // joins after the app has its cores
	if len(msgsOf[deploy.LaunchExecutor](w1)) != 1 || len(msgsOf[deploy.LaunchExecutor](w2)) != 0 {
		t.Fatal("setup: want the app's executor on w1")
	}
	driver.reset()

	// w2 keeps beating, w1 goes quiet.
	h.fx.advance(45 * time.Second)
	h.s.Heartbeat(deploy.Heartbeat{WorkerID: "w2"}, w2)
	h.fx.advance(20 * time.Second)
	h.s.CheckForWorkerTimeOut()

	w := h.listedWorker("w1")
	if w == nil || w.State != deploy.WorkerDead || h.s.Worker("w1") != nil {
		t.Fatalf("w1 = %+v, want listed DEAD and not known by id", w)
	}
	if h.s.Worker("w2") == nil {
		t.Fatal("w2 timed out")
	}
	msg := "Not receiving heartbeat for 60 seconds"
	lost := lastOf[deploy.ExecutorUpdated](t, driver)
	if lost.ID != 0 || lost.State != deploy.ExecutorLost || lost.Message == nil || *lost.Message != "worker lost: "+msg ||
		lost.WorkerHost == nil || *lost.WorkerHost != w.Host || lost.ExitStatus != nil {
		t.Errorf("ExecutorUpdated = %+v", lost)
	}
	if r := lastOf[deploy.WorkerRemoved](t, driver); r != (deploy.WorkerRemoved{ID: "w1", Host: w.Host, Message: msg}) {
		t.Errorf("WorkerRemoved = %+v", r)
	}
	if !contains(h.fx.unpersists, "worker_w1") {
		t.Errorf("unpersisted %v, want worker_w1", h.fx.unpersists)
	}
	// The lost cores are scheduled again on w2.
	if l := msgsOf[deploy.LaunchExecutor](w2); len(l) != 1 || l[0].AppID != appID || l[0].ExecID != 1 {
		t.Errorf("w2 launches %+v, want executor 1 of %s", l, appID)
	}

	// The DEAD worker stays listed until (15+1)*60s after its last heartbeat.
	h.fx.now = t0.Add(16 * 60 * time.Second)
	h.s.Heartbeat(deploy.Heartbeat{WorkerID: "w2"}, w2)
	h.s.CheckForWorkerTimeOut()
	if h.listedWorker("w1") == nil {
		t.Fatal("w1 forgotten at exactly (persistence+1)*timeout")
	}
	h.fx.advance(time.Millisecond)
	h.s.CheckForWorkerTimeOut()
	if h.listedWorker("w1") != nil {
		t.Error("w1 still listed after (persistence+1)*timeout")
	}
	if h.s.Worker("w2") == nil {
		t.Error("w2 removed")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- onDisconnected ----

func TestDisconnected(t *testing.T) {
	t.Run("worker", func(t *testing.T) {
		h := newAlive(t)
		w := h.addWorker("w1", 4, 4096)
		_, driver := h.addApp(appDesc(1024))
		h.s.Disconnected(w.addr.Addr)
		if lw := h.listedWorker("w1"); lw == nil || lw.State != deploy.WorkerDead {
			t.Fatalf("w1 = %+v, want DEAD", lw)
		}
		want := w.addr.Addr.String() + " got disassociated"
		if r := lastOf[deploy.WorkerRemoved](t, driver); r.Message != want {
			t.Errorf("WorkerRemoved %+v, want message %q", r, want)
		}
		if u := lastOf[deploy.ExecutorUpdated](t, driver); *u.Message != "worker lost: "+want {
			t.Errorf("ExecutorUpdated message %q", *u.Message)
		}
	})
	t.Run("app driver", func(t *testing.T) {
		h := newAlive(t)
		w := h.addWorker("w1", 4, 4096)
		appID, driver := h.addApp(appDesc(1024))
		h.s.Disconnected(driver.addr.Addr)
		a, ok := h.completedApp(appID)
		if !ok || a.State != deploy.AppFinished || h.s.App(appID) != nil {
			t.Fatalf("app %+v, want completed FINISHED", a)
		}
		if len(msgsOf[deploy.ApplicationRemoved](driver)) != 0 {
			t.Error("ApplicationRemoved sent for a FINISHED app")
		}
		if k := msgsOf[deploy.KillExecutor](w); len(k) != 1 || k[0].AppID != appID {
			t.Errorf("KillExecutor %+v", k)
		}
		if h.s.Worker("w1").CoresUsed != 0 {
			t.Error("worker cores not freed")
		}
	})
	t.Run("unrelated address", func(t *testing.T) {
		h := newAlive(t)
		h.addWorker("w1", 4, 4096)
		appID, _ := h.addApp(appDesc(1024))
		h.s.Disconnected(rpcenv.NewAddress("10.9.9.9", 1))
		if h.s.Worker("w1") == nil || h.s.App(appID) == nil {
			t.Error("something was removed")
		}
	})
}
