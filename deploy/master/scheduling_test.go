package master

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// ---- MasterSuite: scheduleExecutorsOnWorkers on three 10-core 4 GB workers ----

// schedStep sets the app's executor limit (-1: none) and gives the cores
// each of the three workers must get, spread out and not.
type schedStep struct {
	limit        int
	spread, pack []int
}

func TestScheduleExecutorsOnWorkers(t *testing.T) {
	noLimit := func(spread, pack []int) []schedStep { return []schedStep{{-1, spread, pack}} }
	same := func(v ...int) []int { return v }
	cases := []struct {
		name  string
		desc  deploy.ApplicationDescription
		steps []schedStep
	}{
		{"basic scheduling", appDesc(1024), noLimit(same(10, 10, 10), same(10, 10, 10))},
		{"basic scheduling with more memory", appDesc(3072), noLimit(same(10, 10, 10), same(10, 10, 10))},
		{"max cores 8", appDesc(1024, maxCores(8)), noLimit(same(3, 3, 2), same(8, 0, 0))},
		{"max cores 16", appDesc(1024, maxCores(16)), noLimit(same(6, 5, 5), same(10, 6, 0))},
		// 4 executors of 2 cores per worker: memory allows only 4.
		{"cores per executor 2, 1 GB", appDesc(1024, coresPerExecutor(2)), noLimit(same(8, 8, 8), same(8, 8, 8))},
		{"cores per executor 2, 256 MB", appDesc(256, coresPerExecutor(2)), noLimit(same(10, 10, 10), same(10, 10, 10))},
		{"cores per executor 3", appDesc(256, coresPerExecutor(3)), noLimit(same(9, 9, 9), same(9, 9, 9))},
		{"cores per executor 2 AND max cores 4", appDesc(256, coresPerExecutor(2), maxCores(4)), noLimit(same(2, 2, 0), same(4, 0, 0))},
		{"cores per executor 2 AND max cores 20", appDesc(256, coresPerExecutor(2), maxCores(20)), noLimit(same(8, 6, 6), same(10, 10, 0))},
		{"cores per executor 3 AND max cores 20", appDesc(256, coresPerExecutor(3), maxCores(20)), noLimit(same(6, 6, 6), same(9, 9, 0))},
		{"executor limit", appDesc(256), []schedStep{
			{0, same(0, 0, 0), same(0, 0, 0)},
			{2, same(10, 10, 0), same(10, 10, 0)},
			{5, same(10, 10, 10), same(10, 10, 10)},
		}},
		{"executor limit AND max cores", appDesc(256, maxCores(16)), []schedStep{
			{0, same(0, 0, 0), same(0, 0, 0)},
			{2, same(8, 8, 0), same(10, 6, 0)},
			{5, same(6, 5, 5), same(10, 6, 0)},
		}},
		{"executor limit AND cores per executor", appDesc(256, coresPerExecutor(4)), []schedStep{
			{0, same(0, 0, 0), same(0, 0, 0)},
			{2, same(4, 4, 0), same(8, 0, 0)},
			{5, same(8, 8, 4), same(8, 8, 4)},
		}},
		{"executor limit AND cores per executor AND max cores", appDesc(256, coresPerExecutor(4), maxCores(18)), []schedStep{
			{0, same(0, 0, 0), same(0, 0, 0)},
			{2, same(4, 4, 0), same(8, 0, 0)},
			{5, same(8, 4, 4), same(8, 8, 0)},
		}},
	}
	for _, tc := range cases {
		for _, spread := range []bool{true, false} {
			name := tc.name + " - no spread out"
			if spread {
				name = tc.name + " - spread out"
			}
			t.Run(name, func(t *testing.T) {
				workers := make([]*WorkerInfo, 3)
				for i := range workers {
					workers[i] = &WorkerInfo{ID: fmt.Sprint(i), Host: "host", Port: 100, Cores: 10, MemoryMB: 4096,
						State: deploy.WorkerAlive, Executors: map[string]*ExecutorInfo{}, Drivers: map[string]*DriverInfo{}}
				}
				app := &AppInfo{ID: "app", Desc: tc.desc, Executors: map[int]*ExecutorInfo{}, ExecutorLimit: math.MaxInt32}
				for _, st := range tc.steps {
					if st.limit >= 0 {
						app.ExecutorLimit = st.limit
					}
					want := st.pack
					if spread {
						want = st.spread
					}
					got := ScheduleExecutorsOnWorkers(app, workers, spread, math.MaxInt32)
					if !slices.Equal(got, want) {
						t.Errorf("limit %d: scheduled cores %v, want %v", st.limit, got, want)
					}
				}
			})
		}
	}
}

// ---- the same scheduling, end to end through State ----

// threeWorkers registers w1..w3 with cores and memory each.
func (h *harness) threeWorkers(cores, memMB int) map[string]*fakePeer {
	return map[string]*fakePeer{"w1": h.addWorker("w1", cores, memMB), "w2": h.addWorker("w2", cores, memMB), "w3": h.addWorker("w3", cores, memMB)}
}

func TestSchedulingLaunchesExecutors(t *testing.T) {
	// Usable workers are ordered CORES_FREE_DESC with ties by id reversed:
	// w3, w2, w1 - so w3 gets what the first usable worker gets.
	cases := []struct {
		name       string
		spread     bool
		desc       deploy.ApplicationDescription
		wantCores  map[string]int
		wantExecs  map[string]int
		maxGranted int
	}{
		{"basic - spread out", true, appDesc(1024), map[string]int{"w1": 10, "w2": 10, "w3": 10}, map[string]int{"w1": 1, "w2": 1, "w3": 1}, 30},
		{"basic - no spread out", false, appDesc(1024), map[string]int{"w1": 10, "w2": 10, "w3": 10}, map[string]int{"w1": 1, "w2": 1, "w3": 1}, 30},
		{"more memory - spread out", true, appDesc(3072), map[string]int{"w1": 10, "w2": 10, "w3": 10}, map[string]int{"w1": 1, "w2": 1, "w3": 1}, 30},
		{"more memory - no spread out", false, appDesc(3072), map[string]int{"w1": 10, "w2": 10, "w3": 10}, map[string]int{"w1": 1, "w2": 1, "w3": 1}, 30},
		{"max cores - spread out", true, appDesc(1024, maxCores(8)), map[string]int{"w3": 3, "w2": 3, "w1": 2}, map[string]int{"w1": 1, "w2": 1, "w3": 1}, 8},
		{"max cores - no spread out", false, appDesc(1024, maxCores(8)), map[string]int{"w3": 8}, map[string]int{"w3": 1}, 8},
		{"cores per executor - spread out", true, appDesc(1024, coresPerExecutor(2)), map[string]int{"w1": 8, "w2": 8, "w3": 8}, map[string]int{"w1": 4, "w2": 4, "w3": 4}, 24},
		{"cores per executor 3 - no spread out", false, appDesc(256, coresPerExecutor(3)), map[string]int{"w1": 9, "w2": 9, "w3": 9}, map[string]int{"w1": 3, "w2": 3, "w3": 3}, 27},
		{"cores per executor AND max cores - spread out", true, appDesc(256, coresPerExecutor(2), maxCores(4)), map[string]int{"w3": 2, "w2": 2}, map[string]int{"w3": 1, "w2": 1}, 4},
		{"cores per executor AND max cores - no spread out", false, appDesc(256, coresPerExecutor(2), maxCores(4)), map[string]int{"w3": 4}, map[string]int{"w3": 2}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.SpreadOutApps = tc.spread })
			workers := h.threeWorkers(10, 4096)
			appID, driver := h.addApp(tc.desc)

			if got := coresByWorker(workers); !mapsEqual(got, tc.wantCores) {
				t.Errorf("cores launched per worker = %v, want %v", got, tc.wantCores)
			}
			execs := map[string]int{}
			seen := map[int]bool{}
			for wid, p := range workers {
				for _, l := range msgsOf[deploy.LaunchExecutor](p) {
					execs[wid]++
					if l.MasterURL != testMasterURL || l.AppID != appID || l.MemoryMB != tc.desc.MemoryPerExecutorMB || l.AppDesc.Name != tc.desc.Name {
						t.Errorf("LaunchExecutor to %s = %+v", wid, l)
					}
					if tc.desc.CoresPerExecutor != nil && l.Cores != *tc.desc.CoresPerExecutor {
						t.Errorf("LaunchExecutor to %s has %d cores, want units of %d", wid, l.Cores, *tc.desc.CoresPerExecutor)
					}
					if seen[l.ExecID] {
						t.Errorf("executor id %d launched twice", l.ExecID)
					}
					seen[l.ExecID] = true
				}
			}
			if !mapsEqual(execs, tc.wantExecs) {
				t.Errorf("executors per worker = %v, want %v", execs, tc.wantExecs)
			}
			// The driver hears of every executor, with the worker's host:port.
			added := msgsOf[deploy.ExecutorAdded](driver)
			if len(added) != len(seen) {
				t.Fatalf("driver got %d ExecutorAdded for %d launches", len(added), len(seen))
			}
			for i, a := range added {
				if a.ID != i {
					t.Errorf("ExecutorAdded #%d has id %d (ids start at 0 and go up)", i, a.ID)
				}
				w := h.s.Worker(a.WorkerID)
				if w == nil || a.HostPort != fmt.Sprintf("%s:%d", w.Host, w.Port) || a.MemoryMB != tc.desc.MemoryPerExecutorMB {
					t.Errorf("ExecutorAdded %+v does not match its worker", a)
				}
			}
			if got := appCores(driver); got != tc.maxGranted {
				t.Errorf("app got %d cores, want %d", got, tc.maxGranted)
			}
			app := h.s.App(appID)
			if app.CoresGranted != tc.maxGranted || app.State != deploy.AppRunning {
				t.Errorf("app: granted %d state %s, want %d RUNNING", app.CoresGranted, app.State, tc.maxGranted)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	clean := func(m map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range m {
			if v != 0 {
				out[k] = v
			}
		}
		return out
	}
	a, b = clean(a), clean(b)
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMaxCoresNeverExceededAsWorkersJoin(t *testing.T) {
	for _, spread := range []bool{true, false} {
		t.Run(fmt.Sprintf("spreadOut=%v", spread), func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.SpreadOutApps = spread })
			_, driver := h.addApp(appDesc(256, maxCores(7)))
			for i := 1; i <= 4; i++ {
				h.addWorker(fmt.Sprintf("w%d", i), 3, 4096)
				if got := appCores(driver); got > 7 {
					t.Fatalf("after %d workers the app has %d cores, above maxCores 7", i, got)
				}
			}
			if got := appCores(driver); got != 7 {
				t.Errorf("app has %d cores, want maxCores 7", got)
			}
		})
	}
}

// ---- executor limit (initial limit, RequestExecutors) ----

func TestExecutorLimit(t *testing.T) {
	type step struct {
		requestTotal int // -1: none (the initial limit)
		wantExecs    int
		wantCores    map[string]int // cumulative
	}
	cases := []struct {
		name  string
		desc  deploy.ApplicationDescription
		steps []step
	}{
		{"executor limit", appDesc(256, initialLimit(0)), []step{
			{-1, 0, nil},
			{2, 2, map[string]int{"w3": 10, "w2": 10}},
			{5, 3, map[string]int{"w3": 10, "w2": 10, "w1": 10}},
		}},
		{"executor limit AND max cores", appDesc(256, initialLimit(0), maxCores(16)), []step{
			{-1, 0, nil},
			{2, 2, map[string]int{"w3": 8, "w2": 8}},
			{5, 2, map[string]int{"w3": 8, "w2": 8}}, // maxCores reached
		}},
		{"executor limit AND cores per executor", appDesc(256, initialLimit(0), coresPerExecutor(4)), []step{
			{-1, 0, nil},
			{2, 2, map[string]int{"w3": 4, "w2": 4}},
			// Now w1 has the most free cores, then w3, w2 (ties by id reversed).
			{5, 5, map[string]int{"w1": 4, "w3": 8, "w2": 8}},
		}},
		{"executor limit AND cores per executor AND max cores", appDesc(256, initialLimit(0), coresPerExecutor(4), maxCores(18)), []step{
			{-1, 0, nil},
			{2, 2, map[string]int{"w3": 4, "w2": 4}},
			{5, 4, map[string]int{"w1": 4, "w3": 8, "w2": 4}}, // 16 cores: one more unit of 4 would pass 18
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newAlive(t) // spread out
			workers := h.threeWorkers(10, 4096)
			appID, driver := h.addApp(tc.desc)
			for _, st := range tc.steps {
				if st.requestTotal >= 0 {
					if !h.s.RequestExecutors(deploy.RequestExecutors{AppID: appID, RequestedTotal: st.requestTotal}) {
						t.Fatalf("RequestExecutors(%d) refused", st.requestTotal)
					}
				}
				if got := len(msgsOf[deploy.ExecutorAdded](driver)); got != st.wantExecs {
					t.Errorf("after total %d: %d executors, want %d", st.requestTotal, got, st.wantExecs)
				}
				if got := coresByWorker(workers); !mapsEqual(got, st.wantCores) {
					t.Errorf("after total %d: cores per worker %v, want %v", st.requestTotal, got, st.wantCores)
				}
				if mc := tc.desc.MaxCores; mc != nil && appCores(driver) > *mc {
					t.Errorf("app has %d cores, above maxCores %d", appCores(driver), *mc)
				}
			}
		})
	}
	t.Run("unknown app", func(t *testing.T) {
		h := newAlive(t)
		if h.s.RequestExecutors(deploy.RequestExecutors{AppID: "app-nope", RequestedTotal: 3}) {
			t.Error("RequestExecutors for an unknown app = true, want false")
		}
	})
}

// ---- WorkerSelectionSuite (SPARK-46881) ----

func TestWorkerSelectionPolicy(t *testing.T) {
	cases := []struct {
		policy string
		spread bool
		want   []string
	}{
		{"CORES_FREE_ASC", true, []string{"10001", "10002"}},
		{"CORES_FREE_ASC", false, []string{"10001"}},
		{"CORES_FREE_DESC", true, []string{"10002", "10003"}},
		{"CORES_FREE_DESC", false, []string{"10003"}},
		{"MEMORY_FREE_ASC", true, []string{"10001", "10003"}},
		{"MEMORY_FREE_ASC", false, []string{"10001"}},
		{"MEMORY_FREE_DESC", true, []string{"10002", "10003"}},
		{"MEMORY_FREE_DESC", false, []string{"10002"}},
		{"WORKER_ID", true, []string{"10001", "10002"}},
		{"WORKER_ID", false, []string{"10001"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s (%v)", tc.policy, tc.spread), func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.WorkerSelectionPolicy, c.SpreadOutApps = tc.policy, tc.spread })
			// Different cores and memory: 10001 5c/1280MB, 10002 6c/5120MB, 10003 7c/3840MB.
			for idx := 1; idx <= 3; idx++ {
				mem := 1280 * idx
				if idx >= 2 {
					mem = 1280 * (6 - idx)
				}
				h.addWorker(fmt.Sprint(10000+idx), 4+idx, mem)
			}
			// An application with two executors.
			appID, _ := h.addApp(appDesc(128, coresPerExecutor(2), maxCores(4)))
			var got []string
			for _, e := range h.s.App(appID).Executors {
				if !slices.Contains(got, e.Worker.ID) {
					got = append(got, e.Worker.ID)
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("executors on workers %v, want %v", got, tc.want)
			}
		})
	}
}

// ---- drivers: max drivers (SPARK-45174), spread out or not (SPARK-46800) ----

func TestMaxDrivers(t *testing.T) {
	h := newAlive(t, func(c *Config) { c.MaxDrivers = 4 })
	w := h.addWorker("w1", 10, 4096)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, h.submit(driverDesc(1, 1, false)))
	}
	if n := len(msgsOf[deploy.LaunchDriver](w)); n != 3 {
		t.Fatalf("%d drivers launched, want 3", n)
	}
	for i := 0; i < 3; i++ {
		ids = append(ids, h.submit(driverDesc(1, 1, false)))
	}
	if n := len(msgsOf[deploy.LaunchDriver](w)); n != 4 {
		t.Fatalf("%d drivers launched, want maxDrivers = 4", n)
	}
	if u := h.s.Utilization(); u.WaitingDrivers != 2 {
		t.Errorf("waiting drivers = %d, want 2", u.WaitingDrivers)
	}
	// A finished driver makes room for the next waiting one.
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: ids[0], State: deploy.DriverFinished})
	launched := msgsOf[deploy.LaunchDriver](w)
	if len(launched) != 5 || launched[4].DriverID != ids[4] {
		t.Errorf("after one finished: launches %v, want the 5th to be %s", launched, ids[4])
	}
	if u := h.s.Utilization(); u.WaitingDrivers != 1 {
		t.Errorf("waiting drivers = %d, want 1", u.WaitingDrivers)
	}
}

func TestSpreadOutDrivers(t *testing.T) {
	cases := []struct {
		spread bool
		want   map[string]int
	}{
		{true, map[string]int{"w1": 1, "w2": 1, "w3": 1}},
		{false, map[string]int{"w1": 3}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("spreadOutDrivers=%v", tc.spread), func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.SpreadOutDrivers = tc.spread })
			workers := h.threeWorkers(4, 4096)
			// An app holds every core, so the drivers wait...
			appID, _ := h.addApp(appDesc(1024))
			for i := 0; i < 3; i++ {
				h.submit(driverDesc(1, 512, false))
			}
			if u := h.s.Utilization(); u.WaitingDrivers != 3 {
				t.Fatalf("waiting drivers = %d, want 3", u.WaitingDrivers)
			}
			// ...and are all scheduled at once when it ends.
			h.s.UnregisterApplication(appID)
			got := map[string]int{}
			for id, p := range workers {
				got[id] = len(msgsOf[deploy.LaunchDriver](p))
			}
			if !mapsEqual(got, tc.want) {
				t.Errorf("drivers per worker = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWorkerSelectionPolicyTies(t *testing.T) {
	// Equal workers: the *_ASC policies and WORKER_ID take ids in order,
	// the *_DESC ones reversed (Spark sorts by (free, id) and reverses).
	for policy, want := range map[string]string{"CORES_FREE_ASC": "a", "MEMORY_FREE_ASC": "a", "WORKER_ID": "a",
		"CORES_FREE_DESC": "c", "MEMORY_FREE_DESC": "c"} {
		t.Run(policy, func(t *testing.T) {
			h := newAlive(t, func(c *Config) { c.WorkerSelectionPolicy, c.SpreadOutApps = policy, false })
			workers := map[string]*fakePeer{"b": h.addWorker("b", 4, 4096), "c": h.addWorker("c", 4, 4096), "a": h.addWorker("a", 4, 4096)}
			h.addApp(appDesc(512, maxCores(4)))
			if got := coresByWorker(workers); !mapsEqual(got, map[string]int{want: 4}) {
				t.Errorf("cores per worker %v, want all 4 on %s", got, want)
			}
		})
	}
}

func TestDefaultExecutorMemory(t *testing.T) {
	// An app that does not say gets 1024 MB executors.
	h := newAlive(t)
	w := h.addWorker("w1", 4, 4096)
	_, driver := h.addApp(appDesc(0))
	if l := lastOf[deploy.LaunchExecutor](t, w); l.MemoryMB != 1024 {
		t.Errorf("LaunchExecutor memory %d, want 1024", l.MemoryMB)
	}
	if a := lastOf[deploy.ExecutorAdded](t, driver); a.MemoryMB != 1024 {
		t.Errorf("ExecutorAdded memory %d, want 1024", a.MemoryMB)
	}
}
