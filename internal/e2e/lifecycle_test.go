//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestWorkerLostWithExecutors: when a worker running an executor is
// killed with -9, the driver is told the executor is LOST and the worker
// removed, the orphaned executor process ends, and the app keeps its
// executor on the other worker.
func TestWorkerLostWithExecutors(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w1 := c.startWorker("worker1", m.url, workerOpts{cores: 1})
	w2 := c.startWorker("worker2", m.url, workerOpts{cores: 1})
	m.waitState(t, "2 ALIVE workers", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 2 })
	marker := "e2e-lost-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(c.dir)
	d := c.newDriver(true, m)
	appID := d.register(appDesc("e2e-lost", 2, marker, nil))
	byWorker := map[string]int{}
	d.waitMsg("ExecutorAdded on both workers", func(msg any) bool {
		if a, ok := msg.(deploy.ExecutorAdded); ok {
			byWorker[a.WorkerID] = a.ID
		}
		return len(byWorker) == 2
	})
	lostID := byWorker[w1.id]
	out := execOutput(t, filepath.Join(w1.executorDir(appID, lostID), "stdout"))
	pid := atoi(t, out["pid"])
	execOutput(t, filepath.Join(w2.executorDir(appID, byWorker[w2.id]), "stdout"))

	w1.kill9(t)
	d.waitMsg(fmt.Sprintf("ExecutorUpdated(%d, LOST)", lostID), func(msg any) bool {
		u, ok := msg.(deploy.ExecutorUpdated)
		return ok && u.ID == lostID && u.State == deploy.ExecutorLost && u.Message != nil &&
			strings.HasPrefix(*u.Message, "worker lost: ")
	})
	d.waitMsg("WorkerRemoved", func(msg any) bool {
		r, ok := msg.(deploy.WorkerRemoved)
		return ok && r.ID == w1.id
	})
	// fakeexec, like an executor, ends when its worker is gone.
	testutil.Eventually(t, waitLimit, fmt.Sprintf("the orphaned executor (pid %d) to exit", pid), func() (bool, string) {
		return testutil.ProcessGone(pid), fmt.Sprint(cmdline(pid))
	})
	st := m.waitState(t, "worker1 DEAD, the app on worker2", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		return workerState(st, w1.id) == deploy.WorkerDead && ok && a.Cores == 1
	})
	if ws, _ := st.Worker(w2.id); ws.CoresUsed != 1 {
		t.Errorf("worker2 uses %d cores, want its executor's 1: %s", ws.CoresUsed, st.Summary())
	}
}

// TestDriverGoneFinishesApp: when the driver's process goes away without
// unregistering, the master finishes its app and the executors are
// stopped.
func TestDriverGoneFinishesApp(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w := c.startWorker("worker", m.url, workerOpts{cores: 1})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })
	marker := "e2e-gone-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(c.dir)
	d := c.newDriver(false, m)
	appID, pid := appWithExecutor(t, d, w, marker)

	d.env.Shutdown() // the driver's connections close
	m.waitState(t, "the app FINISHED", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.CompletedApps, appID)
		return ok && a.State == deploy.AppFinished && st.CoresUsed == 0
	})
	testutil.Eventually(t, waitLimit, fmt.Sprintf("the executor (pid %d) to exit", pid), func() (bool, string) {
		return testutil.ProcessGone(pid), fmt.Sprint(cmdline(pid))
	})
	w.waitState(t, "no executor", func(st deploy.WorkerStateResponse) bool { return len(st.Executors) == 0 })
}

// TestExecutorsFailToLaunch: executors whose command cannot start (FAILED,
// never RUNNING) are replaced until spark.deploy.maxExecutorRetries
// failures in a row; then the master removes the app as FAILED and tells
// the driver. (An executor that reaches RUNNING resets the count, in
// Spark as in Ember: one that starts and then exits non-zero is relaunched
// for ever.)
func TestExecutorsFailToLaunch(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{conf: []string{"spark.deploy.maxExecutorRetries=3"}})
	w := c.startWorker("worker", m.url, workerOpts{cores: 1})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })
	d := c.newDriver(true, m)
	desc := appDesc("e2e-fail", 1, "unused", nil)
	desc.Command.MainClass = c.path("no-such-program")
	appID := d.register(desc)

	d.waitMsg("ApplicationRemoved(FAILED)", func(msg any) bool {
		r, ok := msg.(deploy.ApplicationRemoved)
		return ok && r.Message == string(deploy.AppFailed)
	})
	failed := 0
	for _, msg := range d.messages() {
		if u, ok := msg.(deploy.ExecutorUpdated); ok {
			if u.State != deploy.ExecutorFailed || u.Message == nil || !strings.HasPrefix(*u.Message, "Error running executor: ") {
				t.Errorf("%s: want FAILED, \"Error running executor: ...\"", describeMsg(u))
			}
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d executors failed before the app did, want spark.deploy.maxExecutorRetries = 3: %s", failed, d.describe())
	}
	m.waitState(t, "the app FAILED", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.CompletedApps, appID)
		return ok && a.State == deploy.AppFailed && len(st.ActiveApps) == 0 && st.CoresUsed == 0
	})
	w.waitState(t, "its executors finished", func(st deploy.WorkerStateResponse) bool {
		return len(st.Executors) == 0 && len(st.FinishedExecutors) == 3 && st.CoresUsed == 0
	})
}

// TestWorkerStopKillsExecutors: a worker stopped with SIGTERM (as
// ember-daemon.sh stop does) kills its executors before it exits, and the
// master marks it DEAD.
func TestWorkerStopKillsExecutors(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w := c.startWorker("worker", m.url, workerOpts{cores: 1})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })
	marker := "e2e-stop-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(c.dir)
	d := c.newDriver(true, m)
	_, pid := appWithExecutor(t, d, w, marker)

	if err := syscall.Kill(w.pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := w.exitCode(t); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM, want 0", code)
	}
	if !testutil.ProcessGone(pid) {
		t.Errorf("the executor (pid %d) outlived its worker's shutdown: %q", pid, cmdline(pid))
	}
	m.waitState(t, "the worker DEAD", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerDead
	})
	d.waitMsg("ExecutorUpdated(0, LOST or KILLED)", func(msg any) bool {
		u, ok := msg.(deploy.ExecutorUpdated)
		return ok && u.ID == 0 && (u.State == deploy.ExecutorLost || u.State == deploy.ExecutorKilled)
	})
}
