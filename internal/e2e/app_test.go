//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestApplicationExecutors: an application registered from a client-mode
// driver gets one executor on each of two workers (spread out); they are
// real processes running the app's command with the placeholders
// replaced; UnregisterApplication stops them.
func TestApplicationExecutors(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w1 := c.startWorker("worker1", m.url, workerOpts{cores: 2})
	w2 := c.startWorker("worker2", m.url, workerOpts{cores: 2})
	m.waitState(t, "2 ALIVE workers", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 2 })
	workers := map[string]*worker{w1.id: w1, w2.id: w2}

	marker := "e2e-app-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(c.dir)
	pidDir := c.mkdir("pids")
	d := c.newDriver(true, m)
	// Two cores spread over two workers with two free cores each: one
	// executor of one core on each.
	appID := d.register(appDesc("e2e-app", 2, marker, map[string]string{"FAKEEXEC_PID_DIR": pidDir}))
	if !strings.HasPrefix(appID, "app-") {
		t.Errorf("app id %q, want app-<yyyyMMddHHmmss>-<nnnn>", appID)
	}

	// ExecutorAdded for an executor on each worker.
	added := map[int]deploy.ExecutorAdded{}
	d.waitMsg("ExecutorAdded on both workers", func(msg any) bool {
		if a, ok := msg.(deploy.ExecutorAdded); ok {
			added[a.ID] = a
		}
		return len(added) == 2
	})
	onWorker := map[string]int{} // worker id → executor id
	for id, a := range added {
		w := workers[a.WorkerID]
		if w == nil {
			t.Fatalf("ExecutorAdded %+v names an unknown worker", a)
		}
		onWorker[a.WorkerID] = id
		if a.Cores != 1 || a.MemoryMB != 64 {
			t.Errorf("ExecutorAdded %+v: want 1 core and 64 MB", a)
		}
		if a.HostPort != fmt.Sprintf("127.0.0.1:%d", w.port) {
			t.Errorf("ExecutorAdded %+v: hostPort, want 127.0.0.1:%d", a, w.port)
		}
	}
	if len(onWorker) != 2 {
		t.Fatalf("executors %v are not on both workers", added)
	}
	for id := range added {
		d.waitMsg(fmt.Sprintf("ExecutorUpdated(%d, RUNNING)", id), func(msg any) bool {
			u, ok := msg.(deploy.ExecutorUpdated)
			return ok && u.ID == id && u.State == deploy.ExecutorRunning
		})
	}

	// Each executor is a live process whose stdout sits in
	// <workDir>/<appId>/<execId>/stdout, with the placeholders replaced.
	pids := map[int]int{} // executor id → pid
	for wid, id := range onWorker {
		w := workers[wid]
		dir := w.executorDir(appID, id)
		out := execOutput(t, filepath.Join(dir, "stdout"))
		wantArgs := []string{"--exec-id", strconv.Itoa(id), "--app", appID, "--marker", marker}
		for i, want := range wantArgs {
			if got := out[fmt.Sprintf("arg[%d]", i)]; got != want {
				t.Errorf("executor %d on %s: arg[%d] = %q, want %q (stdout: %v)", id, w.name, i, got, want, out)
			}
		}
		if out["cwd"] != dir {
			t.Errorf("executor %d: working dir %q, want %q", id, out["cwd"], dir)
		}
		if got := out["env.SPARK_EXECUTOR_MEMORY"]; got != "64m" {
			t.Errorf("executor %d: SPARK_EXECUTOR_MEMORY = %q, want 64m", id, got)
		}
		stderr, err := os.ReadFile(filepath.Join(dir, "stderr"))
		if err != nil || !strings.HasPrefix(string(stderr), `Spark Executor Command: "`+fakeExec+`" "--exec-id" "`+strconv.Itoa(id)+`"`) {
			t.Errorf("executor %d: stderr does not start with the command header: %q (%v)", id, stderr, err)
		}
		pid := atoi(t, out["pid"])
		pids[id] = pid
		if args := cmdline(pid); !slices.Contains(args, marker) || !slices.Contains(args, appID) {
			t.Errorf("executor %d: process %d is not running fakeexec for the app: %q", id, pid, args)
		}
		if _, err := os.Stat(filepath.Join(pidDir, strconv.Itoa(pid)+".pid")); err != nil {
			t.Errorf("executor %d: no pid file: %v", id, err)
		}
	}
	if ps := markedProcesses(marker); len(ps) != 2 {
		t.Errorf("processes with the app's marker: %v, want the 2 executors", ps)
	}

	st := m.waitState(t, "the app RUNNING with 2 cores", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		return ok && a.State == deploy.AppRunning && a.Cores == 2
	})
	for _, w := range st.Workers {
		if w.CoresUsed != 1 || w.MemoryUsed != 64 {
			t.Errorf("worker %s uses %d cores and %d MB, want 1 and 64", w.ID, w.CoresUsed, w.MemoryUsed)
		}
	}
	for wid, id := range onWorker {
		w := workers[wid]
		ws := w.waitState(t, "its executor listed", func(st deploy.WorkerStateResponse) bool {
			return len(st.Executors) == 1
		})
		if e := ws.Executors[0]; e.ID != id || e.AppID != appID || e.Memory != 64 || e.AppDesc.Name != "e2e-app" {
			t.Errorf("%s /json executor %+v, want executor %d of %s", w.name, e, id, appID)
		}
	}

	// Unregistering ends the app and its executor processes.
	d.unregister()
	for id, pid := range pids {
		testutil.Eventually(t, waitLimit, fmt.Sprintf("executor %d (pid %d) to exit", id, pid), func() (bool, string) {
			return testutil.ProcessGone(pid), fmt.Sprint(cmdline(pid))
		})
	}
	testutil.Eventually(t, waitLimit, "no process with the app's marker", func() (bool, string) {
		ps := markedProcesses(marker)
		return len(ps) == 0, fmt.Sprint(ps)
	})
	st = m.waitState(t, "the app FINISHED and its cores free", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.CompletedApps, appID)
		return ok && a.State == deploy.AppFinished && len(st.ActiveApps) == 0 && st.CoresUsed == 0 && st.MemoryUsed == 0
	})
	for wid := range onWorker {
		w := workers[wid]
		w.waitState(t, "its executor finished", func(st deploy.WorkerStateResponse) bool {
			return len(st.Executors) == 0 && len(st.FinishedExecutors) == 1 && st.CoresUsed == 0
		})
		if b, err := os.ReadFile(filepath.Join(w.executorDir(appID, onWorker[wid]), "stdout")); err != nil || !strings.Contains(string(b), "terminated=terminated") {
			t.Errorf("%s: the executor was not stopped with SIGTERM; stdout: %q (%v)", w.name, b, err)
		}
	}
}
