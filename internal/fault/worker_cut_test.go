//go:build linux

package fault

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
)

// workerTimeout is spark.worker.timeout (seconds) in the cluster
// scenarios: a worker is DEAD this long after its last heartbeat.
const (
	workerTimeout    = "3"
	workerTimeoutDur = 3 * time.Second
)

// TestWorkerLinkCut: a master and three workers on four hosts, an
// application holding one core on each worker (every core busy with a
// task held at the job's gate). Cutting one worker's link makes the master
// mark it DEAD (spark.worker.timeout), report its executor lost to the
// driver, and grant the application a replacement executor on a live
// worker, where the lost task runs again; the job finishes with the right
// result and no result from the lost executor. Healing the link brings the
// same worker back (ReconnectWorker, re-registration), ALIVE and usable:
// a second application runs tasks on it, and the orphaned executor of the
// first is gone.
func TestWorkerLinkCut(t *testing.T) { scenarioWorkerCut(t, newRecord("worker-link-cut")) }

func scenarioWorkerCut(t *testing.T, rec *record) {
	s := newScene(t, netns.Options{Hosts: 4})
	m := s.startMaster(s.net.Host(0), "master", "spark.worker.timeout="+workerTimeout)
	var ws []*worker
	for i := 1; i <= 3; i++ {
		ws = append(ws, s.startWorker(s.net.Host(i), fmt.Sprintf("worker%d", i), m.url, 2,
			"spark.worker.timeout="+workerTimeout, "spark.worker.ember.registrationIntervalScale=0.2"))
	}
	m.waitState(t, "3 ALIVE workers", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 3 })

	// Three one-core executors, spread one per worker; six tasks, three
	// of them running (held at the gate), three waiting for a core.
	j := s.startJob(s.net.Host(0), "job", m.url, 6, 3)
	appID := j.appID(t)
	j.waitExecutors(t, "3 executors", func(ex []string) bool { return len(ex) == 3 })
	j.waitStarted(t, "3 tasks running", func(st []started) bool { return len(st) == 3 })
	victim := ws[2]
	vs := victim.waitState(t, "one executor of the app", func(st deploy.WorkerStateResponse) bool {
		return len(executorsOf(st, appID)) == 1
	})
	lostExec := executorsOf(vs, appID)[0]
	lostTask := -1
	for _, st := range j.started() {
		if st.exec == lostExec {
			lostTask = st.index
		}
	}
	if lostTask < 0 {
		t.Fatalf("no task started on executor %s of %s: %v", lostExec, victim.Name, j.started())
	}
	orphan := executorPid(appID, lostExec)
	if orphan == 0 {
		t.Fatalf("no process for executor %s of %s", lostExec, appID)
	}
	t.Logf("cutting %s (%s): executor %s (pid %d) runs task %d", victim.Name, victim.id, lostExec, orphan, lostTask)

	cut := time.Now()
	if err := victim.host.Cut(); err != nil {
		t.Fatal(err)
	}
	st := m.waitState(t, victim.Name+" DEAD", func(st deploy.MasterStateResponse) bool {
		return workerState(st, victim.id) == deploy.WorkerDead
	})
	detected := time.Since(cut)
	rec.add(t, "detection (cut → worker DEAD)", detected)
	// Heartbeats go every timeout/4, and the master checks every timeout:
	// DEAD comes no sooner than the timeout less one heartbeat interval,
	// and within two timeouts (plus a margin for a loaded machine).
	if lo, hi := workerTimeoutDur*3/4, 2*workerTimeoutDur+5*time.Second; detected < lo || detected > hi {
		t.Errorf("the master marked the cut worker DEAD after %v; spark.worker.timeout=%ss wants %v to %v", detected, workerTimeout, lo, hi)
	}
	if st.AliveWorkers != 2 {
		t.Errorf("after the cut: %s; want the 2 other workers ALIVE", st.Summary())
	}
	j.waitExecutors(t, "executor "+lostExec+" lost", func(ex []string) bool { return !slices.Contains(ex, lostExec) })
	rec.add(t, "executor lost at the driver", time.Since(cut))
	ex := j.waitExecutors(t, "a replacement executor", func(ex []string) bool {
		return len(ex) == 3 && !slices.Contains(ex, lostExec)
	})
	rec.add(t, "failover (cut → replacement executor registered)", time.Since(cut))
	st = m.waitState(t, "the app's 3 cores on the 2 live workers", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		w1, _ := st.Worker(ws[0].id)
		w2, _ := st.Worker(ws[1].id)
		return ok && a.Cores == 3 && w1.CoresUsed+w2.CoresUsed == 3
	})
	// The live workers run exactly the driver's executors.
	var onLive []string
	for _, w := range ws[:2] {
		ws, err := w.state()
		if err != nil {
			t.Fatal(err)
		}
		onLive = append(onLive, executorsOf(ws, appID)...)
	}
	slices.Sort(onLive)
	sorted := slices.Clone(ex)
	slices.Sort(sorted)
	if !slices.Equal(onLive, sorted) {
		t.Errorf("the live workers run executors %v; the driver has %v", onLive, ex)
	}
	// A cut is a partition, not a crash: the executor still runs.
	if testutil.ProcessGone(orphan) {
		t.Errorf("executor %s (pid %d) died from the cut", lostExec, orphan)
	}

	opened := time.Now()
	j.open(t)
	ran := j.finish(t)
	rec.add(t, "job finish (gate opened → driver exit)", time.Since(opened))
	for idx, r := range ran {
		if r.exec == lostExec {
			t.Errorf("task %d's result came from the lost executor %s", idx, lostExec)
		}
	}
	// The lost task ran again (a second attempt) on another executor; the
	// driver queues it behind the tasks that were waiting, so it starts
	// once the gate lets cores go.
	if r := ran[lostTask]; r.attempt < 1 || r.exec == lostExec {
		t.Errorf("task %d (lost with executor %s) finished as attempt %d on executor %s; want a later attempt elsewhere",
			lostTask, lostExec, r.attempt, r.exec)
	}
	m.waitState(t, "the app FINISHED", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.CompletedApps, appID)
		return ok && a.State == deploy.AppFinished
	})

	healed := time.Now()
	if err := victim.host.Heal(); err != nil {
		t.Fatal(err)
	}
	st = m.waitState(t, victim.Name+" ALIVE again", func(st deploy.MasterStateResponse) bool {
		return workerState(st, victim.id) == deploy.WorkerAlive
	})
	rec.add(t, "recovery (heal → same worker ALIVE)", time.Since(healed))
	if st.AliveWorkers != 3 || len(st.Workers) != 3 {
		t.Errorf("after healing: %s; want the 3 workers, ALIVE, listed once", st.Summary())
	}
	if !strings.Contains(victim.Output(), "Master asks re-registration") {
		t.Errorf("%s re-registered without the master's ReconnectWorker; its log ends:\n%s", victim.Name, tail(victim.Output(), 3000))
	}
	testutil.Eventually(t, waitLimit, fmt.Sprintf("the orphaned executor (pid %d) to exit", orphan), func() (bool, string) {
		return testutil.ProcessGone(orphan), fmt.Sprint(executorPid(appID, lostExec))
	})
	rec.add(t, "orphaned executor gone (heal → exit)", time.Since(healed))
	victim.waitState(t, "no executor of the finished app", func(st deploy.WorkerStateResponse) bool {
		return len(executorsOf(st, appID)) == 0
	})

	// Usable again: a second app takes every core (two executors per
	// worker), and tasks run on the healed worker's.
	j2 := s.startJob(s.net.Host(0), "job2", m.url, 6, 6)
	app2 := j2.appID(t)
	vs = victim.waitState(t, "executors of the second app", func(st deploy.WorkerStateResponse) bool {
		return len(executorsOf(st, app2)) == 2
	})
	onVictim := executorsOf(vs, app2)
	j2.waitStarted(t, "a task on each of the 6 executors", func(st []started) bool { return len(st) == 6 })
	j2.open(t)
	ran2 := j2.finish(t)
	n := 0
	for _, r := range ran2 {
		if slices.Contains(onVictim, r.exec) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the healed worker's executors %v ran %d of the second job's tasks (%v), want 2", onVictim, n, ran2)
	}
	rec.add(t, "usable (heal → second job done)", time.Since(healed))
}
