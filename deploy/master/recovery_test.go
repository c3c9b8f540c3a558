package master

import (
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// persisted builds what a persistence engine would give back.
type persisted struct {
	h   *harness
	rec Recovered
}

func (h *harness) persisted() *persisted { return &persisted{h: h} }

func (p *persisted) worker(id string, cores, memMB int) *fakePeer {
	peer := p.h.workerPeer()
	p.rec.Workers = append(p.rec.Workers, RecoveredWorker{Peer: peer, Record: WorkerRecord{ID: id, Host: peer.addr.Addr.Host,
		Port: peer.addr.Addr.Port, Endpoint: peer.addr.String(), Cores: cores, MemoryMB: memMB, WebUIAddress: "http://" + peer.addr.Addr.Host + ":8081"}})
	return peer
}

func (p *persisted) app(id string, desc deploy.ApplicationDescription) *fakePeer {
	peer := p.h.driverPeer()
	p.rec.Apps = append(p.rec.Apps, RecoveredApp{Peer: peer, Record: AppRecord{ID: id, Desc: desc, Driver: peer.addr.String(), StartTime: t0.Add(-time.Hour).UnixMilli()}})
	return peer
}

func (p *persisted) driver(id string, desc deploy.DriverDescription) {
	ms := t0.Add(-time.Hour).UnixMilli()
	p.rec.Drivers = append(p.rec.Drivers, DriverRecord{ID: id, Desc: desc, StartTime: ms, SubmitDate: ms})
}

func TestElectedLeaderWithNothingPersisted(t *testing.T) {
	h := newStandby(t)
	h.s.ElectedLeader(Recovered{})
	if h.s.Status != deploy.StateAlive || len(h.fx.recoveryDue) != 0 {
		t.Errorf("status %s, recovery scheduled %v; want ALIVE at once", h.s.Status, h.fx.recoveryDue)
	}
}

func TestRecoveryWithOnlyADriver(t *testing.T) {
	// SPARK-46664: zero workers and apps - recovery completes at once.
	h := newStandby(t)
	p := h.persisted()
	p.driver("test_driver", driverDesc(1, 1024, false))
	h.s.ElectedLeader(p.rec)
	if h.s.Status != deploy.StateAlive || len(h.fx.recoveryDue) != 0 {
		t.Fatalf("status %s, recovery scheduled %v; want ALIVE at once", h.s.Status, h.fx.recoveryDue)
	}
	if len(h.s.Workers()) != 0 {
		t.Error("workers appeared")
	}
	// The unclaimed, unsupervised driver is given up.
	if d, ok := h.completedDriver("test_driver"); !ok || d.State != deploy.DriverError {
		t.Errorf("driver %+v, want completed ERROR", d)
	}
}

func TestRecoverApplication(t *testing.T) {
	// RecoverySuite "master correctly recover the application".
	h := newStandby(t, func(c *Config) { c.RecoveryTimeout = 90 * time.Second })
	p := h.persisted()
	driver := p.app("app-1", appDesc(1024))
	worker := p.worker("worker-1", 16, 8192)
	p.driver("test_driver", driverDesc(1, 1024, false))

	h.s.ElectedLeader(p.rec)

	if h.s.Status != deploy.StateRecovering {
		t.Fatalf("status %s, want RECOVERING", h.s.Status)
	}
	if len(h.fx.recoveryDue) != 1 || h.fx.recoveryDue[0] != 90*time.Second {
		t.Errorf("CompleteRecovery scheduled %v, want once after the recovery timeout", h.fx.recoveryDue)
	}
	for name, peer := range map[string]*fakePeer{"driver": driver, "worker": worker} {
		if m := msgsOf[deploy.MasterChanged](peer); len(m) != 1 || m[0].MasterWebUIURL != testWebUIURL {
			t.Errorf("%s got %s, want one MasterChanged", name, describe(peer.msgs))
		}
	}
	app, w := h.s.App("app-1"), h.s.Worker("worker-1")
	if app == nil || app.State != deploy.AppUnknown || w == nil || w.State != deploy.WorkerUnknown || w.CoresFree() != 16 || w.CoresUsed != 0 {
		t.Fatalf("app %+v worker %+v, want both UNKNOWN and the worker idle", app, w)
	}
	// Nothing is scheduled while recovering, not even a new app.
	_, late := h.addApp(appDesc(1024))
	if len(msgsOf[deploy.ExecutorAdded](late)) != 0 || len(msgsOf[deploy.LaunchExecutor](worker)) != 0 {
		t.Error("scheduled while RECOVERING")
	}

	h.s.MasterChangeAcknowledged("app-1")
	if app.State != deploy.AppWaiting || h.s.Status != deploy.StateRecovering {
		t.Fatalf("after the app's ack: app %s, status %s; want WAITING, RECOVERING", app.State, h.s.Status)
	}
	h.s.MasterChangeAcknowledged("app-unknown") // harmless

	h.s.WorkerSchedulerStateResponse(deploy.WorkerSchedulerStateResponse{ID: "worker-1",
		Executors: []deploy.ExecutorDescription{
			{AppID: "app-1", ExecID: 0, Cores: 8, MemoryMB: 1024, State: deploy.ExecutorRunning},
			{AppID: "app-1", ExecID: 0, Cores: 7, MemoryMB: 1024, State: deploy.ExecutorRunning},
			{AppID: "app-gone", ExecID: 3, Cores: 1, MemoryMB: 1024, State: deploy.ExecutorRunning},
		},
		DriverIDs: []string{"test_driver"}})

	if h.s.Status != deploy.StateAlive {
		t.Fatalf("status %s, want ALIVE once everyone answered", h.s.Status)
	}
	// If the driver's resources are counted too, no core is free.
	if w.CoresFree() != 0 || w.CoresUsed != 16 || w.State != deploy.WorkerAlive {
		t.Errorf("worker: %d free, %d used, %s; want 0, 16, ALIVE", w.CoresFree(), w.CoresUsed, w.State)
	}
	if app.State != deploy.AppRunning || app.CoresGranted != 15 || app.NextExecID != 1 {
		t.Errorf("app: %s, %d cores, next executor %d; want RUNNING, 15, 1", app.State, app.CoresGranted, app.NextExecID)
	}
	st := h.s.RequestDriverStatus("test_driver")
	if !st.Found || *st.State != deploy.DriverRunning || *st.WorkerID != "worker-1" {
		t.Errorf("driver status %+v", st)
	}
	// A timer firing late changes nothing.
	h.s.CompleteRecovery()
	if h.s.Status != deploy.StateAlive || h.s.App("app-1") == nil || h.s.Worker("worker-1") == nil {
		t.Error("a late CompleteRecovery removed something")
	}
}

func TestCompleteRecoveryOnTimeout(t *testing.T) {
	h := newStandby(t, func(c *Config) { c.SpreadOutDrivers = false })
	p := h.persisted()
	answering := p.worker("w-answers", 8, 8192)
	silent := p.worker("w-silent", 8, 8192)
	acked := p.app("app-acks", appDesc(1024, maxCores(2)))
	quiet := p.app("app-quiet", appDesc(1024))
	p.driver("driver-supervised", driverDesc(1, 512, true))
	p.driver("driver-plain", driverDesc(1, 512, false))
	p.driver("driver-claimed", driverDesc(1, 512, false))
	h.s.ElectedLeader(p.rec)

	h.s.MasterChangeAcknowledged("app-acks")
	h.s.WorkerSchedulerStateResponse(deploy.WorkerSchedulerStateResponse{ID: "w-answers", DriverIDs: []string{"driver-claimed"}})
	if h.s.Status != deploy.StateRecovering {
		t.Fatalf("status %s with a silent worker and app", h.s.Status)
	}

	h.s.CompleteRecovery() // the recovery timeout

	if h.s.Status != deploy.StateAlive {
		t.Fatalf("status %s, want ALIVE", h.s.Status)
	}
	// The silent worker is removed, and every app still active hears it.
	if w := h.listedWorker("w-silent"); w == nil || w.State != deploy.WorkerDead || h.s.Worker("w-silent") != nil {
		t.Errorf("silent worker %+v, want DEAD", w)
	}
	for name, d := range map[string]*fakePeer{"acked": acked, "quiet": quiet} {
		if r := msgsOf[deploy.WorkerRemoved](d); len(r) != 1 || r[0].ID != "w-silent" || r[0].Message != "Not responding for recovery" {
			t.Errorf("%s app got WorkerRemoved %+v", name, r)
		}
	}
	if !contains(h.fx.unpersists, "worker_w-silent") {
		t.Errorf("unpersisted %v", h.fx.unpersists)
	}
	// The silent app is finished (no ApplicationRemoved), the other runs.
	if a, ok := h.completedApp("app-quiet"); !ok || a.State != deploy.AppFinished {
		t.Errorf("quiet app %+v, want FINISHED", a)
	}
	if len(msgsOf[deploy.ApplicationRemoved](quiet)) != 0 {
		t.Error("ApplicationRemoved sent to a FINISHED app")
	}
	for name, w := range map[string]*fakePeer{"answering": answering, "silent (DEAD)": silent} {
		if f := msgsOf[deploy.ApplicationFinished](w); len(f) != 1 || f[0].ID != "app-quiet" {
			t.Errorf("%s worker got ApplicationFinished %v", name, f)
		}
	}
	if a := h.s.App("app-acks"); a == nil || a.State != deploy.AppRunning {
		t.Errorf("acked app %+v, want RUNNING", a)
	}
	if n := len(msgsOf[deploy.ExecutorAdded](acked)); n != 1 {
		t.Errorf("acked app got %d executors after recovery, want 1", n)
	}
	// Unclaimed drivers: supervised relaunched with a new id, else ERROR.
	if d, ok := h.completedDriver("driver-supervised"); !ok || d.State != deploy.DriverRelaunching {
		t.Errorf("supervised driver %+v, want completed RELAUNCHING", d)
	}
	if d, ok := h.completedDriver("driver-plain"); !ok || d.State != deploy.DriverError {
		t.Errorf("plain driver %+v, want completed ERROR", d)
	}
	if d, ok := h.activeDriver("driver-claimed"); !ok || d.State != deploy.DriverRunning || d.Worker != "w-answers" {
		t.Errorf("claimed driver %+v, want RUNNING on w-answers", d)
	}
	l := msgsOf[deploy.LaunchDriver](answering)
	if len(l) != 1 || l[0].DriverID == "driver-supervised" {
		t.Fatalf("launches %+v, want the supervised driver relaunched under a new id", l)
	}
	if d, ok := h.activeDriver(l[0].DriverID); !ok || d.State != deploy.DriverRunning {
		t.Errorf("relaunched driver %+v", d)
	}
}

func TestRecoveryCompletesWhenTheLastUnknownDisconnects(t *testing.T) {
	h := newStandby(t)
	p := h.persisted()
	driver := p.app("app-1", appDesc(1024))
	h.s.ElectedLeader(p.rec)
	if h.s.Status != deploy.StateRecovering {
		t.Fatalf("status %s", h.s.Status)
	}
	h.s.Disconnected(driver.addr.Addr)
	if h.s.Status != deploy.StateAlive {
		t.Errorf("status %s, want ALIVE", h.s.Status)
	}
	if a, ok := h.completedApp("app-1"); !ok || a.State != deploy.AppFinished {
		t.Errorf("app %+v, want FINISHED", a)
	}
}

func TestRegisterWorkerWhileRecovering(t *testing.T) {
	// SPARK-46353.
	t.Run("no workers", func(t *testing.T) {
		h := newStandby(t)
		p := h.persisted()
		p.app("app-1", appDesc(1024))
		h.s.ElectedLeader(p.rec)
		w := h.workerPeer()
		h.s.RegisterWorker(registerMsg("worker-0", w, 10, 4096), w)
		if r := msgsOf[deploy.RegisteredWorker](w); len(r) != 1 || r[0].Duplicate {
			t.Errorf("got %s, want RegisteredWorker(duplicate=false)", describe(w.msgs))
		}
		if len(h.s.Workers()) != 1 || h.s.Worker("worker-0") == nil || h.s.Status != deploy.StateRecovering {
			t.Errorf("workers %v, status %s", ids(h.s.Workers()), h.s.Status)
		}
	})
	t.Run("an unknown worker", func(t *testing.T) {
		h := newStandby(t)
		p := h.persisted()
		old := p.worker("worker-0", 10, 4096)
		h.s.ElectedLeader(p.rec)
		old.reset()
		h.s.RegisterWorker(registerMsg("worker-0", old, 10, 4096), old)
		if r := msgsOf[deploy.RegisteredWorker](old); len(r) != 1 || !r[0].Duplicate {
			t.Errorf("got %s, want RegisteredWorker(duplicate=true)", describe(old.msgs))
		}
		if w := h.s.Worker("worker-0"); w == nil || w.State != deploy.WorkerAlive {
			t.Errorf("worker %+v, want ALIVE", w)
		}
		if h.s.Status != deploy.StateRecovering || len(h.s.Workers()) != 1 {
			t.Errorf("status %s, workers %v", h.s.Status, ids(h.s.Workers()))
		}
	})
	t.Run("a new worker at an unknown worker's address", func(t *testing.T) {
		h := newStandby(t)
		p := h.persisted()
		old := p.worker("worker-0", 10, 4096)
		driver := p.app("app-1", appDesc(1024))
		h.s.ElectedLeader(p.rec)
		old.reset()
		h.s.RegisterWorker(registerMsg("worker-1", old, 10, 4096), old)
		if r := msgsOf[deploy.RegisteredWorker](old); len(r) != 1 || r[0].Duplicate {
			t.Errorf("got %s, want RegisteredWorker(duplicate=false)", describe(old.msgs))
		}
		if w := h.listedWorker("worker-0"); w == nil || w.State != deploy.WorkerDead {
			t.Errorf("old worker %+v, want DEAD", w)
		}
		if r := lastOf[deploy.WorkerRemoved](t, driver); r.Message != "Worker replaced by a new worker with same address" {
			t.Errorf("WorkerRemoved %+v", r)
		}
		if h.s.Worker("worker-1") == nil {
			t.Error("new worker missing")
		}
	})
}

func TestRecoveryCompletesOnTheLastAnswer(t *testing.T) {
	h := newStandby(t)
	p := h.persisted()
	p.worker("w1", 4, 4096)
	p.app("app-1", appDesc(1024))
	h.s.ElectedLeader(p.rec)
	// Answers from strangers change nothing.
	h.s.WorkerSchedulerStateResponse(deploy.WorkerSchedulerStateResponse{ID: "w-stranger"})
	h.s.MasterChangeAcknowledged("app-stranger")
	if h.s.Status != deploy.StateRecovering || len(h.s.Workers()) != 1 {
		t.Fatalf("status %s, workers %v", h.s.Status, ids(h.s.Workers()))
	}
	h.s.WorkerSchedulerStateResponse(deploy.WorkerSchedulerStateResponse{ID: "w1"})
	if h.s.Status != deploy.StateRecovering {
		t.Fatalf("status %s before the app answered", h.s.Status)
	}
	// The app's ack is the last answer: recovery completes, and the app,
	// now RUNNING, is scheduled on the recovered worker.
	h.s.MasterChangeAcknowledged("app-1")
	if h.s.Status != deploy.StateAlive {
		t.Fatalf("status %s, want ALIVE", h.s.Status)
	}
	if a := h.s.App("app-1"); a.State != deploy.AppRunning || a.CoresGranted != 4 {
		t.Errorf("app %s with %d cores, want RUNNING with 4", a.State, a.CoresGranted)
	}
}

// A worker that re-registers during recovery is ALIVE at once, but
// recovery waits for its state report: completing first would schedule
// executor ids the worker still runs.
func TestRecoveryWaitsForWorkerState(t *testing.T) {
	h := newStandby(t, func(c *Config) { c.RecoveryTimeout = 90 * time.Second })
	p := h.persisted()
	p.app("app-1", appDesc(1024))
	worker := p.worker("worker-1", 16, 8192)
	h.s.ElectedLeader(p.rec)
	h.s.RegisterWorker(deploy.RegisterWorker{ID: "worker-1", Host: "127.0.0.1", Port: 1, Cores: 16, MemoryMB: 8192}, worker)
	h.s.MasterChangeAcknowledged("app-1")
	if h.s.Status != deploy.StateRecovering {
		t.Fatalf("status %s before the worker's state report, want RECOVERING", h.s.Status)
	}
	if n := len(msgsOf[deploy.LaunchExecutor](worker)); n != 0 {
		t.Fatalf("%d executors launched before the worker reported what it runs", n)
	}
	h.s.WorkerSchedulerStateResponse(deploy.WorkerSchedulerStateResponse{ID: "worker-1",
		Executors: []deploy.ExecutorDescription{{AppID: "app-1", ExecID: 0, Cores: 4, MemoryMB: 1024, State: deploy.ExecutorRunning}}})
	if h.s.Status != deploy.StateAlive {
		t.Fatalf("status %s after the report, want ALIVE", h.s.Status)
	}
	for _, l := range msgsOf[deploy.LaunchExecutor](worker) {
		if l.ExecID == 0 {
			t.Fatalf("executor id 0 relaunched while the worker runs it")
		}
	}
}

// TestRecoveryWorkerRegistersFirst: during a recovery a worker registers
// again (over its own connection) before the MasterChanged sent to its
// address reached it: the master tells it of the change over the new ref,
// and its state, answered twice, is counted once.
func TestRecoveryWorkerRegistersFirst(t *testing.T) {
	h := newStandby(t)
	p := h.persisted()
	p.app("app-1", appDesc(1024))
	recovered := p.worker("worker-1", 16, 8192)
	h.s.ElectedLeader(p.rec)
	again := &fakePeer{addr: recovered.addr}
	h.s.RegisterWorker(registerMsg("worker-1", again, 16, 8192), again)
	if r := msgsOf[deploy.RegisteredWorker](again); len(r) != 1 || !r[0].Duplicate {
		t.Fatalf("the worker registering again got %s", describe(again.msgs))
	}
	if len(msgsOf[deploy.MasterChanged](again)) != 1 {
		t.Fatalf("the worker registering during the recovery was not told of the master change: %s", describe(again.msgs))
	}
	resp := deploy.WorkerSchedulerStateResponse{ID: "worker-1", Executors: []deploy.ExecutorDescription{
		{AppID: "app-1", ExecID: 0, Cores: 4, MemoryMB: 1024, State: deploy.ExecutorRunning}}}
	h.s.WorkerSchedulerStateResponse(resp)
	h.s.WorkerSchedulerStateResponse(resp)
	w, app := h.s.Worker("worker-1"), h.s.App("app-1")
	if w.CoresUsed != 4 || app.CoresGranted != 4 || len(app.Executors) != 1 {
		t.Fatalf("two answers counted twice: worker uses %d cores, app granted %d with %d executors", w.CoresUsed, app.CoresGranted, len(app.Executors))
	}
	if w.Endpoint != Peer(again) {
		t.Error("the master still sends to the worker's old ref")
	}
}
