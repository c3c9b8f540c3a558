package master

import (
	"fmt"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

func exit(n int) *int { return &n }

// ---- registration and ids ----

func TestRegisterApplication(t *testing.T) {
	h := newAlive(t)
	appID, driver := h.addApp(appDesc(512))
	if appID != "app-20260102030405-0000" {
		t.Errorf("app id %q, want app-<yyyyMMddHHmmss>-0000", appID)
	}
	a := h.s.App(appID)
	if a == nil || a.State != deploy.AppWaiting || !a.StartTime.Equal(t0) {
		t.Fatalf("app = %+v, want WAITING (no workers yet)", a)
	}
	rec, ok := h.fx.persisted["app_"+appID].(AppRecord)
	if !ok || rec.ID != appID || rec.Driver != driver.addr.String() || rec.StartTime != t0.UnixMilli() || rec.Desc.MemoryPerExecutorMB != 512 {
		t.Errorf("persisted %+v (keys %v)", rec, h.fx.persists)
	}

	// The same driver registering again is ignored.
	h.s.RegisterApplication(deploy.RegisterApplication{AppDescription: appDesc(512)}, driver)
	if n := len(msgsOf[deploy.RegisteredApplication](driver)); n != 1 {
		t.Errorf("%d RegisteredApplication after a duplicate registration, want 1", n)
	}
	if len(h.s.Apps()) != 1 || len(h.fx.persists) != 1 {
		t.Errorf("duplicate registration recorded: apps %d, persists %v", len(h.s.Apps()), h.fx.persists)
	}

	// Ids count up; the timestamp is the registration's second.
	h.fx.advance(time.Hour)
	next, _ := h.addApp(appDesc(512))
	if next != "app-20260102040405-0001" {
		t.Errorf("next app id %q", next)
	}
}

func TestRegisterApplicationInStandbyIgnored(t *testing.T) {
	h := newStandby(t)
	p := h.driverPeer()
	h.s.RegisterApplication(deploy.RegisterApplication{AppDescription: appDesc(512)}, p)
	if len(p.msgs) != 0 || len(h.s.Apps()) != 0 || len(h.fx.persists) != 0 {
		t.Errorf("standby master answered %s / recorded the app", describe(p.msgs))
	}
}

func TestIDPatterns(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"default", nil, []string{"app-20260102030405-0000", "app-20260102030405-0001", "app-20260102030405-0002"}},
		{"modulo wraps the number", func(c *Config) { c.AppNumberModulo = 2 },
			[]string{"app-20260102030405-0000", "app-20260102030405-0001", "app-20260102030405-0000", "app-20260102030405-0001"}},
		{"custom pattern", func(c *Config) { c.AppIDPattern = "my-app-%05[2]d" }, []string{"my-app-00000", "my-app-00001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*Config)
			if tc.mutate != nil {
				mut = append(mut, tc.mutate)
			}
			h := newAlive(t, mut...)
			for i, want := range tc.want {
				if got, _ := h.addApp(appDesc(512)); got != want {
					t.Errorf("app #%d id %q, want %q", i, got, want)
				}
			}
		})
	}
	t.Run("driver ids", func(t *testing.T) {
		h := newAlive(t)
		for i := 0; i < 2; i++ {
			want := fmt.Sprintf("driver-20260102030405-%04d", i)
			r := h.s.RequestSubmitDriver(driverDesc(1, 512, false))
			if r.DriverID == nil || *r.DriverID != want || r.Message != "Driver successfully submitted as "+want {
				t.Errorf("submit #%d: %+v, want id %s", i, r, want)
			}
		}
	})
}

// ---- unregister, kill, retention ----

func TestUnregisterApplication(t *testing.T) {
	h := newAlive(t)
	w1 := h.addWorker("w1", 4, 4096)
	w2 := h.addWorker("w2", 4, 4096)
	w3 := h.addWorker("w3", 4, 4096)
	appID, driver := h.addApp(appDesc(1024, maxCores(8)))
	// w3 dies but stays listed (DEAD): it is still told the app finished.
	h.s.Disconnected(w3.addr.Addr)
	var killed int
	for _, w := range []*fakePeer{w1, w2} {
		killed += len(msgsOf[deploy.LaunchExecutor](w))
	}

	h.s.UnregisterApplication(appID)

	a, ok := h.completedApp(appID)
	if !ok || a.State != deploy.AppFinished {
		t.Fatalf("completed app %+v, want FINISHED", a)
	}
	if len(msgsOf[deploy.ApplicationRemoved](driver)) != 0 {
		t.Error("ApplicationRemoved sent for FINISHED")
	}
	for name, w := range map[string]*fakePeer{"w1": w1, "w2": w2, "w3 (DEAD)": w3} {
		if f := msgsOf[deploy.ApplicationFinished](w); len(f) != 1 || f[0].ID != appID {
			t.Errorf("%s got ApplicationFinished %v, want one for %s", name, f, appID)
		}
	}
	var kills int
	for _, w := range []*fakePeer{w1, w2} {
		kills += len(msgsOf[deploy.KillExecutor](w))
	}
	if kills != killed {
		t.Errorf("%d KillExecutor for %d live executors", kills, killed)
	}
	if h.s.Worker("w1").CoresUsed+h.s.Worker("w2").CoresUsed != 0 {
		t.Error("cores not freed")
	}
	if !contains(h.fx.unpersists, "app_"+appID) {
		t.Errorf("unpersisted %v", h.fx.unpersists)
	}
	// Unknown or repeated: nothing.
	h.s.UnregisterApplication(appID)
	h.s.UnregisterApplication("app-nope")
	if n := len(msgsOf[deploy.ApplicationFinished](w1)); n != 1 {
		t.Errorf("%d ApplicationFinished after repeats", n)
	}
}

func TestKillApplication(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	appID, driver := h.addApp(appDesc(1024))
	if !h.s.KillApplication(appID) {
		t.Fatal("KillApplication = false")
	}
	if a, ok := h.completedApp(appID); !ok || a.State != deploy.AppKilled {
		t.Errorf("completed app %+v, want KILLED", a)
	}
	if r := msgsOf[deploy.ApplicationRemoved](driver); len(r) != 1 || r[0].Message != "KILLED" {
		t.Errorf("ApplicationRemoved %v, want KILLED", r)
	}
	if k := msgsOf[deploy.KillExecutor](w); len(k) != 1 {
		t.Errorf("KillExecutor %v", k)
	}
	if h.s.KillApplication(appID) || h.s.KillApplication("app-nope") {
		t.Error("KillApplication of a gone app = true")
	}
}

func TestRetainedApplications(t *testing.T) {
	cases := []struct {
		retained, finished int
		wantFirst, wantLen int // first kept app number, number kept
	}{
		{retained: 20, finished: 25, wantFirst: 6, wantLen: 19}, // drops 2 at a time
		{retained: 5, finished: 8, wantFirst: 3, wantLen: 5},    // drops max(5/10,1) = 1
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("retain %d of %d", tc.retained, tc.finished), func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.RetainedApps = tc.retained })
			for i := 0; i < tc.finished; i++ {
				id, _ := h.addApp(appDesc(512))
				h.s.UnregisterApplication(id)
			}
			done := h.s.Snapshot().CompletedApps
			if len(done) != tc.wantLen || done[0].ID != fmt.Sprintf("app-20260102030405-%04d", tc.wantFirst) {
				first := ""
				if len(done) > 0 {
					first = done[0].ID
				}
				t.Errorf("kept %d, oldest %s; want %d from #%d", len(done), first, tc.wantLen, tc.wantFirst)
			}
		})
	}
}

// ---- executor state changes ----

func TestExecutorStateChanged(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	appID, driver := h.addApp(appDesc(1024))
	driver.reset()

	// RUNNING only from LAUNCHING.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorRunning})
	if e := h.s.App(appID).Executors[0]; e.State != deploy.ExecutorRunning {
		t.Fatalf("executor state %s, want RUNNING", e.State)
	}
	if u := lastOf[deploy.ExecutorUpdated](t, driver); u.ID != 0 || u.State != deploy.ExecutorRunning || u.WorkerHost != nil {
		t.Errorf("ExecutorUpdated %+v", u)
	}
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorRunning})
	if n := len(msgsOf[deploy.ExecutorUpdated](driver)); n != 1 {
		t.Errorf("RUNNING from RUNNING forwarded (%d updates)", n)
	}
	// Unknown executors and apps are ignored.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 7, State: deploy.ExecutorExited})
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: "app-nope", ExecID: 0, State: deploy.ExecutorExited})
	if n := len(msgsOf[deploy.ExecutorUpdated](driver)); n != 1 {
		t.Errorf("updates for unknown executors were forwarded")
	}

	// A normal exit frees the worker and does not count as a failure; the
	// cores are given to a new executor at once.
	msg := "Command exited with code 0"
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorExited, Message: &msg, ExitStatus: exit(0)})
	u := lastOf[deploy.ExecutorUpdated](t, driver)
	if u.State != deploy.ExecutorExited || *u.Message != msg || *u.ExitStatus != 0 {
		t.Errorf("ExecutorUpdated %+v", u)
	}
	a := h.s.App(appID)
	if a.RetryCount != 0 {
		t.Errorf("retry count %d after a normal exit", a.RetryCount)
	}
	if l := msgsOf[deploy.LaunchExecutor](w); len(l) != 2 || l[1].ExecID != 1 {
		t.Errorf("launches %+v, want a replacement executor 1", l)
	}
	if _, still := a.Executors[0]; still {
		t.Error("exited executor still in the app")
	}

	// An abnormal exit counts.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 1, State: deploy.ExecutorFailed, ExitStatus: exit(1)})
	if a.RetryCount != 1 {
		t.Errorf("retry count %d after an abnormal exit, want 1", a.RetryCount)
	}
	// A decommissioned executor's exit does not count.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 2, State: deploy.ExecutorDecommissioned})
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 2, State: deploy.ExecutorFailed, ExitStatus: exit(1)})
	if a.RetryCount != 1 {
		t.Errorf("retry count %d after a decommissioned executor failed, want 1", a.RetryCount)
	}
	// RUNNING resets the count.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 3, State: deploy.ExecutorRunning})
	if a.RetryCount != 0 {
		t.Errorf("retry count %d after RUNNING, want 0", a.RetryCount)
	}
}

// failLatest fails the last executor launched on w.
func (h *harness) failLatest(w *fakePeer) {
	h.t.Helper()
	l := lastOf[deploy.LaunchExecutor](h.t, w)
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: l.AppID, ExecID: l.ExecID, State: deploy.ExecutorFailed})
}

func TestMaxExecutorRetries(t *testing.T) {
	// SPARK-27510: executors that keep failing to launch end the app after
	// maxExecutorRetries instead of looping forever.
	for _, retries := range []int{3, 10} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.MaxExecutorRetries = retries })
			w := h.addWorker("w1", 10, 1234*3)
			appID, driver := h.addApp(appDesc(1024))
			failures := 0
			for h.s.App(appID) != nil {
				if failures > retries {
					t.Fatalf("app still alive after %d failures", failures)
				}
				h.failLatest(w)
				failures++
			}
			if failures != retries {
				t.Errorf("app removed after %d failures, want %d", failures, retries)
			}
			if n := len(msgsOf[deploy.LaunchExecutor](w)); n != retries {
				t.Errorf("%d launches, want %d", n, retries)
			}
			if a, ok := h.completedApp(appID); !ok || a.State != deploy.AppFailed {
				t.Errorf("completed app %+v, want FAILED", a)
			}
			if r := msgsOf[deploy.ApplicationRemoved](driver); len(r) != 1 || r[0].Message != "FAILED" {
				t.Errorf("ApplicationRemoved %v, want FAILED", r)
			}
		})
	}
	t.Run("a running executor keeps the app", func(t *testing.T) {
		h := newAlive(t, func(c *Config) { c.MaxExecutorRetries = 3 })
		w1 := h.addWorker("w1", 4, 4096)
		w2 := h.addWorker("w2", 4, 4096)
		appID, driver := h.addApp(appDesc(1024))
		good := lastOf[deploy.LaunchExecutor](t, w1)
		h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: good.ExecID, State: deploy.ExecutorRunning})
		for i := 0; i < 6; i++ {
			h.failLatest(w2)
		}
		a := h.s.App(appID)
		if a == nil || a.RetryCount != 6 {
			t.Fatalf("app %+v, want alive with 6 retries", a)
		}
		if len(msgsOf[deploy.ApplicationRemoved](driver)) != 0 {
			t.Error("ApplicationRemoved sent")
		}
	})
	t.Run("negative turns it off", func(t *testing.T) {
		h := newAlive(t, func(c *Config) { c.MaxExecutorRetries = -1 })
		w := h.addWorker("w1", 4, 4096)
		appID, _ := h.addApp(appDesc(1024))
		for i := 0; i < 20; i++ {
			h.failLatest(w)
		}
		if h.s.App(appID) == nil {
			t.Error("app removed with maxExecutorRetries < 0")
		}
	})
}

// ---- KillExecutors and dynamic allocation (StandaloneDynamicAllocationSuite) ----

func TestKillExecutors(t *testing.T) {
	h := newAlive(t)
	w1 := h.addWorker("w1", 10, 2048)
	w2 := h.addWorker("w2", 10, 2048)
	appID, driver := h.addApp(appDesc(1024))
	if n := len(msgsOf[deploy.ExecutorAdded](driver)); n != 2 {
		t.Fatalf("%d executors, want 2", n)
	}
	if h.s.KillExecutors(deploy.KillExecutors{AppID: "app-nope", ExecutorIDs: []string{"0"}}) {
		t.Error("KillExecutors for an unknown app = true")
	}
	// Lower the target first, as the driver does, so nothing relaunches.
	h.s.RequestExecutors(deploy.RequestExecutors{AppID: appID, RequestedTotal: 1})
	if !h.s.KillExecutors(deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"not-a-number", "0", "42"}}) {
		t.Fatal("KillExecutors = false")
	}
	kills := append(msgsOf[deploy.KillExecutor](w1), msgsOf[deploy.KillExecutor](w2)...)
	if len(kills) != 1 || kills[0] != (deploy.KillExecutor{MasterURL: testMasterURL, AppID: appID, ExecID: 0}) {
		t.Fatalf("kills %+v, want executor 0 only", kills)
	}
	a := h.s.App(appID)
	if _, ok := a.Executors[0]; ok || len(a.Executors) != 1 || a.CoresGranted != 10 {
		t.Errorf("app executors %v, granted %d", a.Executors, a.CoresGranted)
	}
	// SPARK-9795: killing the same executor twice is harmless.
	if !h.s.KillExecutors(deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}}) {
		t.Error("second KillExecutors = false")
	}
	if n := len(msgsOf[deploy.KillExecutor](w1)) + len(msgsOf[deploy.KillExecutor](w2)); n != 1 {
		t.Errorf("%d KillExecutor after killing twice, want 1", n)
	}
	if n := len(msgsOf[deploy.LaunchExecutor](w1)) + len(msgsOf[deploy.LaunchExecutor](w2)); n != 2 {
		t.Errorf("%d launches: a killed executor was replaced below the target", n)
	}
}

func TestDynamicAllocation(t *testing.T) {
	// Two workers with 10 cores and 2 GB; executors of 1 GB take a whole worker.
	h := newAlive(t)
	workers := map[string]*fakePeer{"w1": h.addWorker("w1", 10, 2048), "w2": h.addWorker("w2", 10, 2048)}
	appID, driver := h.addApp(appDesc(1024))
	live := func() int { return len(h.s.App(appID).Executors) }
	launches := func() int {
		n := 0
		for _, w := range workers {
			n += len(msgsOf[deploy.LaunchExecutor](w))
		}
		return n
	}
	request := func(n int) {
		t.Helper()
		if !h.s.RequestExecutors(deploy.RequestExecutors{AppID: appID, RequestedTotal: n}) {
			t.Fatalf("RequestExecutors(%d) = false", n)
		}
	}
	kill := func(ids ...string) {
		t.Helper()
		if !h.s.KillExecutors(deploy.KillExecutors{AppID: appID, ExecutorIDs: ids}) {
			t.Fatalf("KillExecutors(%v) = false", ids)
		}
	}
	if live() != 2 || appCores(driver) != 20 {
		t.Fatalf("start: %d executors, %d cores", live(), appCores(driver))
	}
	// Lowering the target kills nothing by itself.
	request(1)
	if live() != 2 {
		t.Errorf("request 1: %d executors, want 2 still", live())
	}
	kill("1")
	if live() != 1 || launches() != 2 {
		t.Errorf("kill 1: %d executors, %d launches; want 1 and no relaunch", live(), launches())
	}
	// Raising it launches on the freed worker.
	request(2)
	if live() != 2 || launches() != 3 {
		t.Errorf("request 2: %d executors, %d launches; want 2, 3", live(), launches())
	}
	// More than the cluster holds: nothing to launch.
	request(3)
	if live() != 2 || launches() != 3 {
		t.Errorf("request 3: %d executors, %d launches", live(), launches())
	}
	// Down to zero.
	request(0)
	kill("0", "2")
	if live() != 0 || launches() != 3 {
		t.Errorf("request 0 and kill all: %d executors, %d launches", live(), launches())
	}
	for id := range workers {
		if w := h.s.Worker(id); w.CoresUsed != 0 || w.MemoryUsed != 0 {
			t.Errorf("%s still uses %d cores / %d MB", id, w.CoresUsed, w.MemoryUsed)
		}
	}
	request(1)
	if live() != 1 {
		t.Errorf("request 1 again: %d executors", live())
	}
}

func TestInitialExecutorLimit(t *testing.T) {
	h := newAlive(t)
	h.addWorker("w1", 10, 2048)
	h.addWorker("w2", 10, 2048)
	appID, driver := h.addApp(appDesc(1024, initialLimit(1)))
	if n := len(msgsOf[deploy.ExecutorAdded](driver)); n != 1 {
		t.Fatalf("%d executors with an initial limit of 1", n)
	}
	h.s.RequestExecutors(deploy.RequestExecutors{AppID: appID, RequestedTotal: 2})
	if n := len(msgsOf[deploy.ExecutorAdded](driver)); n != 2 {
		t.Errorf("%d executors after requesting 2", n)
	}
}
