package master

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// referenceSchedule is Spark's scheduleExecutorsOnWorkers placed one unit
// at a time, as the master did before placing runs at once: the oracle
// the bounded version must agree with.
func referenceSchedule(app *AppInfo, usable []*WorkerInfo, spreadOut bool, defaultCores int) []int {
	minCores, oneExecPerWorker := 1, true
	if app.Desc.CoresPerExecutor != nil {
		minCores, oneExecPerWorker = *app.Desc.CoresPerExecutor, false
	}
	memPerExec := app.memoryPerExecutor()
	n := len(usable)
	assigned := make([]int, n)
	assignedExecs := make([]int, n)
	total := 0
	for _, w := range usable {
		total += w.CoresFree()
	}
	toAssign := min(app.coresLeft(defaultCores), total)
	canLaunch := func(pos int) bool {
		keep := toAssign >= minCores
		enoughCores := usable[pos].CoresFree()-assigned[pos] >= minCores
		if !oneExecPerWorker || assignedExecs[pos] == 0 {
			enoughMem := usable[pos].MemoryFree()-assignedExecs[pos]*memPerExec >= memPerExec
			sumExecs := 0
			for _, x := range assignedExecs {
				sumExecs += x
			}
			return keep && enoughCores && enoughMem && sumExecs+len(app.Executors) < app.ExecutorLimit
		}
		return keep && enoughCores
	}
	var free []int
	for i := range usable {
		if canLaunch(i) {
			free = append(free, i)
		}
	}
	for len(free) > 0 {
		for _, pos := range free {
			for canLaunch(pos) {
				toAssign -= minCores
				assigned[pos] += minCores
				if oneExecPerWorker {
					assignedExecs[pos] = 1
				} else {
					assignedExecs[pos]++
				}
				if spreadOut {
					break
				}
			}
		}
		next := free[:0]
		for _, pos := range free {
			if canLaunch(pos) {
				next = append(next, pos)
			}
		}
		free = next
	}
	return assigned
}

func schedWorker(id string, cores, memMB, coresUsed, memUsed int) *WorkerInfo {
	return &WorkerInfo{ID: id, Host: "h", Port: 1, Cores: cores, MemoryMB: memMB, CoresUsed: coresUsed, MemoryUsed: memUsed,
		State: deploy.WorkerAlive, Executors: map[string]*ExecutorInfo{}, Drivers: map[string]*DriverInfo{}}
}

// TestScheduleMatchesReference: on random clusters and apps the bounded
// scheduler gives exactly the unit-by-unit answer.
func TestScheduleMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		n := 1 + rng.IntN(6)
		ws := make([]*WorkerInfo, n)
		for j := range ws {
			cores := 1 + rng.IntN(40)
			mem := 256 * (1 + rng.IntN(64))
			ws[j] = schedWorker(fmt.Sprint(j), cores, mem, rng.IntN(cores), rng.IntN(mem/2+1))
		}
		var opts []func(*deploy.ApplicationDescription)
		if rng.IntN(2) == 0 {
			opts = append(opts, coresPerExecutor(1+rng.IntN(8)))
		}
		if rng.IntN(2) == 0 {
			opts = append(opts, maxCores(1+rng.IntN(120)))
		}
		app := &AppInfo{ID: "app", Desc: appDesc(128*(1+rng.IntN(32)), opts...), Executors: map[int]*ExecutorInfo{},
			ExecutorLimit: math.MaxInt32}
		if rng.IntN(3) == 0 {
			app.ExecutorLimit = rng.IntN(20)
		}
		app.CoresGranted = rng.IntN(10)
		spread := rng.IntN(2) == 0
		want := referenceSchedule(app, ws, spread, math.MaxInt32)
		got, steps := scheduleExecutors(app, ws, spread, math.MaxInt32)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (spread %v, desc %+v, limit %d, workers %s): got %v, want %v", i, spread, app.Desc, app.ExecutorLimit,
				describeWorkers(ws), got, want)
		}
		if bound := schedBound(n); steps > bound {
			t.Fatalf("case %d: %d steps for %d workers, bound %d", i, steps, n, bound)
		}
	}
}

func describeWorkers(ws []*WorkerInfo) string {
	s := ""
	for _, w := range ws {
		s += fmt.Sprintf("[%d/%d cores, %d/%d MB]", w.CoresUsed, w.Cores, w.MemoryUsed, w.MemoryMB)
	}
	return s
}

// schedBound is the most steps scheduleExecutors may take for n workers:
// at most 2n+2 rounds, each with its checks, one bulk placement and one
// unit per worker.
func schedBound(n int) int { return 4 * (n + 1) * (n + 1) }

// TestScheduleAbsurdValuesIsBounded is the scheduling stall: a
// ghost worker with 2^40 MB and 2^20 cores and apps whose executors are
// tiny, unlimited, or have no cores; the pass takes O(workers²) steps and
// gives the answer the values imply.
func TestScheduleAbsurdValuesIsBounded(t *testing.T) {
	const ghostMem, ghostCores = 1 << 40, 1 << 20
	cases := []struct {
		name    string
		desc    deploy.ApplicationDescription
		workers int
		want    int // cores given to each worker
	}{
		{"coresPerExecutor 0", appDesc(1, coresPerExecutor(0)), 1, 0},
		{"coresPerExecutor -1", appDesc(1, coresPerExecutor(-1)), 3, 0},
		{"1 MB, 1 core executors", appDesc(1, coresPerExecutor(1)), 1, ghostCores},
		{"1 MB executors, one per worker", appDesc(1), 4, ghostCores},
		{"1 MB, 1 core executors, 16 ghosts", appDesc(1, coresPerExecutor(1)), 16, ghostCores},
	}
	for _, tc := range cases {
		for _, spread := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s spread=%v", tc.name, spread), func(t *testing.T) {
				ws := make([]*WorkerInfo, tc.workers)
				for i := range ws {
					ws[i] = schedWorker(fmt.Sprint(i), ghostCores, ghostMem, 0, 0)
				}
				app := &AppInfo{ID: "app", Desc: tc.desc, Executors: map[int]*ExecutorInfo{}, ExecutorLimit: math.MaxInt32}
				got, steps := scheduleExecutors(app, ws, spread, math.MaxInt32)
				for i, g := range got {
					if g != tc.want {
						t.Fatalf("worker %d got %d cores, want %d (all: %v)", i, g, tc.want, got)
					}
				}
				if bound := schedBound(tc.workers); steps > bound {
					t.Fatalf("%d steps for %d workers, bound %d", steps, tc.workers, bound)
				}
				t.Logf("%d steps, %d cores placed per worker", steps, got[0])
			})
		}
	}
}

// TestGhostAppDoesNotStallMaster drives the state: a ghost worker with
// absurd resources and an app with coresPerExecutor 0 (which Admit would
// refuse; the state must still not loop or divide by zero), then a
// legitimate app is scheduled normally on a real worker.
func TestGhostAppDoesNotStallMaster(t *testing.T) {
	h := newAlive(t)
	ghost := h.addWorker("ghost", 1<<20, 1<<40)
	h.addApp(appDesc(1, coresPerExecutor(0)))
	if n := len(msgsOf[deploy.LaunchExecutor](ghost)); n != 0 {
		t.Fatalf("%d executors launched for coresPerExecutor 0", n)
	}
	h.addWorker("real", 4, 4096)
	id, _ := h.addApp(appDesc(512, coresPerExecutor(1), maxCores(2)))
	if a := h.s.App(id); a == nil || a.CoresGranted != 2 {
		t.Fatalf("legitimate app not scheduled: %+v", a)
	}
}
