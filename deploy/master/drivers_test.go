package master

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

func TestDriverRequestsWhenNotAlive(t *testing.T) {
	recovering := func(t *testing.T) *harness {
		h := newStandby(t)
		w := h.workerPeer()
		h.s.ElectedLeader(Recovered{Workers: []RecoveredWorker{{Record: WorkerRecord{ID: "w1", Host: "h", Port: 1}, Peer: w}}})
		return h
	}
	for _, tc := range []struct {
		state string
		make  func(*testing.T) *harness
	}{
		{"STANDBY", func(t *testing.T) *harness { return newStandby(t) }},
		{"RECOVERING", recovering},
	} {
		t.Run(tc.state, func(t *testing.T) {
			h := tc.make(t)
			prefix := "Current state is not alive: " + tc.state + ". "
			sub := h.s.RequestSubmitDriver(driverDesc(1, 512, false))
			if sub.Success || sub.DriverID != nil || sub.Message != prefix+"Can only accept driver submissions in ALIVE state." {
				t.Errorf("submit: %+v", sub)
			}
			kill := h.s.RequestKillDriver("driver-x")
			if kill.Success || kill.DriverID != "driver-x" || kill.Message != prefix+"Can only kill drivers in ALIVE state." {
				t.Errorf("kill: %+v", kill)
			}
			st := h.s.RequestDriverStatus("driver-x")
			if st.Found || st.Exception == nil || *st.Exception != prefix+"Can only request driver status in ALIVE state." {
				t.Errorf("status: %+v", st)
			}
			if len(h.fx.persisted) != 0 && tc.state == "STANDBY" {
				t.Errorf("persisted %v", h.fx.persists)
			}
		})
	}
}

func TestSubmitAndKillWaitingDriver(t *testing.T) {
	h := newAlive(t)
	id := h.submit(driverDesc(2, 1024, false))
	rec, ok := h.fx.persisted["driver_"+id].(DriverRecord)
	if !ok || rec.ID != id || rec.Desc.Cores != 2 || rec.StartTime != t0.UnixMilli() || rec.SubmitDate != t0.UnixMilli() {
		t.Errorf("persisted %+v", rec)
	}
	st := h.s.RequestDriverStatus(id)
	if !st.Found || *st.State != deploy.DriverSubmitted || st.WorkerID != nil || st.WorkerHostPort != nil {
		t.Errorf("status of a waiting driver: %+v", st)
	}

	r := h.s.RequestKillDriver(id)
	if !r.Success || r.Message != "Kill request for "+id+" submitted" {
		t.Errorf("kill: %+v", r)
	}
	d, ok := h.completedDriver(id)
	if !ok || d.State != deploy.DriverKilled {
		t.Errorf("completed %+v, want KILLED", d)
	}
	if !contains(h.fx.unpersists, "driver_"+id) {
		t.Errorf("unpersisted %v", h.fx.unpersists)
	}
	// It is gone now: a second kill fails, its status is still found.
	r = h.s.RequestKillDriver(id)
	if r.Success || r.Message != "Driver "+id+" has already finished or does not exist" {
		t.Errorf("second kill: %+v", r)
	}
	if st := h.s.RequestDriverStatus(id); !st.Found || *st.State != deploy.DriverKilled {
		t.Errorf("status of a completed driver: %+v", st)
	}
	// A worker joining does not launch it.
	w := h.addWorker("w1", 4, 4096)
	if n := len(msgsOf[deploy.LaunchDriver](w)); n != 0 {
		t.Errorf("killed driver launched")
	}
}

func TestUnknownDriver(t *testing.T) {
	h := newAlive(t)
	r := h.s.RequestKillDriver("driver-nope")
	if r.Success || r.DriverID != "driver-nope" || r.Message != "Driver driver-nope has already finished or does not exist" {
		t.Errorf("kill: %+v", r)
	}
	if st := h.s.RequestDriverStatus("driver-nope"); st != (deploy.DriverStatusResponse{}) {
		t.Errorf("status: %+v, want found=false and nothing else", st)
	}
}

func TestRunningDriver(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	id := h.submit(driverDesc(2, 1024, false))
	l := lastOf[deploy.LaunchDriver](t, w)
	if l.DriverID != id || l.Desc.Cores != 2 {
		t.Errorf("LaunchDriver %+v", l)
	}
	worker := h.s.Worker("w1")
	if worker.CoresUsed != 2 || worker.MemoryUsed != 1024 {
		t.Errorf("worker uses %d cores %d MB", worker.CoresUsed, worker.MemoryUsed)
	}
	st := h.s.RequestDriverStatus(id)
	if !st.Found || *st.State != deploy.DriverRunning || *st.WorkerID != "w1" || *st.WorkerHostPort != fmt.Sprintf("%s:%d", worker.Host, worker.Port) {
		t.Errorf("status: %+v", st)
	}

	// Killing a running driver asks its worker; the driver stays until the
	// worker reports back.
	r := h.s.RequestKillDriver(id)
	if !r.Success || r.Message != "Kill request for "+id+" submitted" {
		t.Errorf("kill: %+v", r)
	}
	if k := msgsOf[deploy.KillDriver](w); len(k) != 1 || k[0].DriverID != id {
		t.Errorf("KillDriver %v", k)
	}
	if _, ok := h.activeDriver(id); !ok {
		t.Fatal("driver gone before the worker reported")
	}
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: deploy.DriverKilled})
	if d, ok := h.completedDriver(id); !ok || d.State != deploy.DriverKilled {
		t.Errorf("completed %+v", d)
	}
	if worker.CoresUsed != 0 || worker.MemoryUsed != 0 {
		t.Errorf("worker still uses %d cores %d MB", worker.CoresUsed, worker.MemoryUsed)
	}
}

func TestDriverStateChangedFinal(t *testing.T) {
	for _, st := range []deploy.DriverState{deploy.DriverFinished, deploy.DriverFailed, deploy.DriverError, deploy.DriverKilled} {
		t.Run(string(st), func(t *testing.T) {
			h := newAlive(t)
			w := h.addWorker("w1", 2, 2048)
			first := h.submit(driverDesc(2, 1024, false))
			second := h.submit(driverDesc(2, 1024, false)) // waits for the cores
			exc := "java.lang.Exception: boom"
			h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: first, State: st, Exception: &exc})
			d, ok := h.completedDriver(first)
			if !ok || d.State != st {
				t.Fatalf("completed %+v, want %s", d, st)
			}
			if s := h.s.RequestDriverStatus(first); s.Exception == nil || *s.Exception != exc {
				t.Errorf("status exception %v", s.Exception)
			}
			if !contains(h.fx.unpersists, "driver_"+first) {
				t.Errorf("unpersisted %v", h.fx.unpersists)
			}
			// Its resources go to the waiting driver.
			if l := msgsOf[deploy.LaunchDriver](w); len(l) != 2 || l[1].DriverID != second {
				t.Errorf("launches %+v, want %s next", l, second)
			}
		})
	}
}

func TestSupervisedDriverRelaunchedWhenWorkerDies(t *testing.T) {
	// SPARK-19900: the relaunch gets a new id, so reports about the old
	// driver cannot touch it.
	h := newAlive(t, func(c *Config) { c.SpreadOutDrivers = false })
	w1 := h.addWorker("w1", 4, 4096)
	w2 := h.addWorker("w2", 4, 4096)
	old := h.submit(driverDesc(1, 1024, true))
	if l := msgsOf[deploy.LaunchDriver](w1); len(l) != 1 {
		t.Fatalf("want the driver on w1 (first by id), w1 got %v", l)
	}

	h.s.Disconnected(w1.addr.Addr)

	if d, ok := h.completedDriver(old); !ok || d.State != deploy.DriverRelaunching {
		t.Errorf("old driver %+v, want completed RELAUNCHING", d)
	}
	l := lastOf[deploy.LaunchDriver](t, w2)
	nu := l.DriverID
	if nu == old || nu != "driver-20260102030405-0001" {
		t.Fatalf("relaunched as %q, want a new id", nu)
	}
	if st := h.s.RequestDriverStatus(nu); *st.State != deploy.DriverRunning || *st.WorkerID != "w2" {
		t.Errorf("new driver status %+v", st)
	}
	if _, ok := h.fx.persisted["driver_"+nu]; !ok {
		t.Errorf("persisted %v, want driver_%s", h.fx.persists, nu)
	}
	if _, ok := h.fx.persisted["driver_"+old]; ok || !contains(h.fx.unpersists, "driver_"+old) {
		t.Errorf("driver_%s still persisted", old)
	}

	// The old worker comes back, still running the old driver: the master
	// kills it, and its KILLED report does not remove the relaunched one.
	w1.reset()
	h.s.RegisterWorker(registerMsg("w1", w1, 4, 4096), w1)
	if r := lastOf[deploy.RegisteredWorker](t, w1); r.Duplicate {
		t.Errorf("re-registration %+v", r)
	}
	h.s.WorkerLatestState(deploy.WorkerLatestState{ID: "w1", DriverIDs: []string{old}})
	if k := msgsOf[deploy.KillDriver](w1); len(k) != 1 || k[0].DriverID != old {
		t.Errorf("KillDriver %v, want %s", k, old)
	}
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: old, State: deploy.DriverKilled})
	snap := h.s.Snapshot()
	if len(snap.ActiveDrivers) != 1 || snap.ActiveDrivers[0].ID != nu || snap.ActiveDrivers[0].Worker != "w2" {
		t.Errorf("active drivers %+v, want only %s on w2", snap.ActiveDrivers, nu)
	}
}

func TestSupervisedDriverWaitsForAWorker(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	old := h.submit(driverDesc(1, 1024, true))
	h.fx.advance(time.Hour)
	h.s.Disconnected(w.addr.Addr)
	snap := h.s.Snapshot()
	if len(snap.ActiveDrivers) != 1 {
		t.Fatalf("active drivers %+v", snap.ActiveDrivers)
	}
	nu := snap.ActiveDrivers[0]
	// A relaunched driver is a new submission (Spark's createDriver).
	if nu.ID == old || nu.ID != "driver-20260102040405-0001" || nu.State != deploy.DriverSubmitted || nu.Worker != "None" {
		t.Errorf("relaunched driver %+v, want a new SUBMITTED one without a worker", nu)
	}
	if later := t0.Add(time.Hour); nu.SubmitDate != javaDate(later) || nu.StartTime != strconv.FormatInt(later.UnixMilli(), 10) {
		t.Errorf("relaunched driver submitted %q at %s, want now", nu.SubmitDate, nu.StartTime)
	}
	if st := h.s.RequestDriverStatus(nu.ID); *st.State != deploy.DriverSubmitted {
		t.Errorf("status %s", *st.State)
	}
	if u := h.s.Utilization(); u.WaitingDrivers != 1 {
		t.Errorf("waiting drivers %d, want 1", u.WaitingDrivers)
	}
	w2 := h.addWorker("w2", 4, 4096)
	if l := msgsOf[deploy.LaunchDriver](w2); len(l) != 1 || l[0].DriverID != nu.ID {
		t.Errorf("w2 launches %v, want %s", l, nu.ID)
	}
}

func TestUnsupervisedDriverOnLostWorker(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	id := h.submit(driverDesc(1, 1024, false))
	h.s.Disconnected(w.addr.Addr)
	if d, ok := h.completedDriver(id); !ok || d.State != deploy.DriverError {
		t.Errorf("driver %+v, want completed ERROR", d)
	}
	if len(h.s.Snapshot().ActiveDrivers) != 0 {
		t.Error("driver relaunched")
	}
}

func TestRetainedDrivers(t *testing.T) {
	h := newAlive(t, func(c *Config) { c.RetainedDrivers = 10 })
	for i := 0; i < 11; i++ {
		h.s.RequestKillDriver(h.submit(driverDesc(1, 512, false)))
	}
	done := h.s.Snapshot().CompletedDrivers
	if len(done) != 10 || done[0].ID != "driver-20260102030405-0001" || done[9].ID != "driver-20260102030405-0010" {
		t.Errorf("kept %d completed drivers from %s", len(done), done[0].ID)
	}
}

func TestDriverStateChangedNotFinal(t *testing.T) {
	h := newAlive(t)
	h.addWorker("w1", 4, 4096)
	id := h.submit(driverDesc(1, 512, false))
	for _, st := range []deploy.DriverState{deploy.DriverRunning, deploy.DriverRelaunching, deploy.DriverUnknown, deploy.DriverSubmitted} {
		h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: st})
		if d, ok := h.activeDriver(id); !ok || d.State != deploy.DriverRunning || d.Worker != "w1" {
			t.Errorf("after %s: driver %+v, want still RUNNING on w1", st, d)
		}
	}
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: "driver-nope", State: deploy.DriverFinished})
	if len(h.s.Snapshot().CompletedDrivers) != 0 {
		t.Error("an unknown driver was completed")
	}
}
