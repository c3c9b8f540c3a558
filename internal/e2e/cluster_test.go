//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestClusterForms: a master and two workers form a cluster; the master's
// /json lists both ALIVE with their cores and memory, and each worker's
// /json names the master.
func TestClusterForms(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w1 := c.startWorker("worker1", m.url, workerOpts{cores: 2, memory: "512m"})
	w2 := c.startWorker("worker2", m.url, workerOpts{cores: 3, memory: "1g"})

	st := m.waitState(t, "2 ALIVE workers", func(st deploy.MasterStateResponse) bool {
		return st.AliveWorkers == 2 && workerState(st, w1.id) == deploy.WorkerAlive && workerState(st, w2.id) == deploy.WorkerAlive
	})
	if st.Status != deploy.StateAlive {
		t.Errorf("status = %s, want ALIVE", st.Status)
	}
	if st.URL != m.url {
		t.Errorf("url = %q, want %q", st.URL, m.url)
	}
	if len(st.Workers) != 2 {
		t.Errorf("workers = %d, want 2: %s", len(st.Workers), st.Summary())
	}
	for _, want := range []struct {
		w            *worker
		cores, memMB int
	}{{w1, 2, 512}, {w2, 3, 1024}} {
		got, _ := st.Worker(want.w.id)
		if got.Host != "127.0.0.1" || got.Port != want.w.port {
			t.Errorf("%s: host:port = %s:%d, want 127.0.0.1:%d", want.w.name, got.Host, got.Port, want.w.port)
		}
		if got.Cores != want.cores || got.Memory != want.memMB || got.CoresFree != want.cores || got.MemoryFree != want.memMB {
			t.Errorf("%s: cores %d (free %d), memory %d (free %d); want %d cores, %d MB, all free",
				want.w.name, got.Cores, got.CoresFree, got.Memory, got.MemoryFree, want.cores, want.memMB)
		}
		if got.WebUIAddress != want.w.uiURL {
			t.Errorf("%s: webuiaddress = %q, want %q", want.w.name, got.WebUIAddress, want.w.uiURL)
		}
		if !strings.HasPrefix(got.ID, "worker-") || !strings.HasSuffix(got.ID, fmt.Sprintf("-127.0.0.1-%d", want.w.port)) {
			t.Errorf("%s: id %q, want worker-<yyyyMMddHHmmss>-127.0.0.1-%d", want.w.name, got.ID, want.w.port)
		}
	}
	if st.Cores != 5 || st.Memory != 1536 || st.CoresUsed != 0 || st.MemoryUsed != 0 {
		t.Errorf("totals: cores %d (used %d), memory %d (used %d); want 5 cores, 1536 MB, none used",
			st.Cores, st.CoresUsed, st.Memory, st.MemoryUsed)
	}

	// /json/<field> serves one field.
	var alive map[string]int
	if err := getJSON(m.uiURL+"/json/aliveworkers", &alive); err != nil || alive["aliveworkers"] != 2 {
		t.Errorf("/json/aliveworkers = %v (%v), want {aliveworkers: 2}", alive, err)
	}
	var status map[string]string
	if err := getJSON(m.uiURL+"/json/status", &status); err != nil || status["status"] != "ALIVE" {
		t.Errorf("/json/status = %v (%v), want {status: ALIVE}", status, err)
	}

	for _, w := range []*worker{w1, w2} {
		ws := w.waitState(t, "the master URL", func(st deploy.WorkerStateResponse) bool { return st.MasterURL == m.url })
		if ws.ID != w.id {
			t.Errorf("%s /json: id %q, want %q", w.name, ws.ID, w.id)
		}
		if ws.MasterWebUIURL != m.uiURL {
			t.Errorf("%s /json: masterwebuiurl %q, want %q", w.name, ws.MasterWebUIURL, m.uiURL)
		}
	}
}

// TestWorkerKilledAndRestarted: a worker killed with -9 is marked DEAD;
// one started again on the same port registers as a new worker.
func TestWorkerKilledAndRestarted(t *testing.T) {
	c := newCluster(t)
	const timeout = "2" // spark.worker.timeout, seconds
	m := c.startMaster("master", masterOpts{workerTO: timeout})
	port := testutil.FreePort(t)
	w1 := c.startWorker("worker1", m.url, workerOpts{port: port, workerTO: timeout})
	w2 := c.startWorker("worker2", m.url, workerOpts{workerTO: timeout})
	if w1.port != port {
		t.Fatalf("worker1 listens on %d, want --port %d", w1.port, port)
	}
	m.waitState(t, "2 ALIVE workers", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 2 })

	w1.kill9(t)
	st := m.waitState(t, "worker1 DEAD", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w1.id) == deploy.WorkerDead
	})
	if st.AliveWorkers != 1 || workerState(st, w2.id) != deploy.WorkerAlive {
		t.Errorf("after worker1's death: %s; want worker2 alone ALIVE", st.Summary())
	}
	if st.Cores != 2 {
		t.Errorf("cores = %d after worker1's death, want worker2's 2", st.Cores)
	}

	// Worker ids are worker-<yyyyMMddHHmmss>-host-port: a restart within
	// the same second would reuse the id. Wait for the clock's next second
	// (a condition, not a guess at how long anything takes).
	stamp := strings.Split(w1.id, "-")[1]
	testutil.Eventually(t, waitLimit, "the clock to pass "+stamp, func() (bool, string) {
		now := time.Now().Format("20060102150405")
		return now > stamp, now
	})
	w1b := c.startWorker("worker1-again", m.url, workerOpts{port: port, workerTO: timeout})
	if w1b.port != port {
		t.Fatalf("restarted worker listens on %d, want --port %d", w1b.port, port)
	}
	if w1b.id == w1.id {
		t.Fatalf("restarted worker has the dead one's id %s", w1.id)
	}
	st = m.waitState(t, "the restarted worker ALIVE", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w1b.id) == deploy.WorkerAlive && st.AliveWorkers == 2
	})
	// Spark's registerWorker first drops the DEAD workers with the new
	// one's host:port (DEPLOY.md §3), so the dead entry is gone, not
	// listed next to its replacement.
	if s := workerState(st, w1.id); s != "" {
		t.Errorf("the dead worker %s is still listed (%s) after a worker registered at its host:port; Spark drops it: %s", w1.id, s, st.Summary())
	}
	if len(st.Workers) != 2 {
		t.Errorf("workers listed: %s; want worker2 and the restarted worker", st.Summary())
	}
}

// TestWorkerHeartbeatTimeout: a stopped worker (SIGSTOP: its connection
// stays up, its heartbeats stop) is marked DEAD after spark.worker.timeout;
// once resumed, its heartbeat makes the master ask it to reconnect, and it
// registers again under the same id.
func TestWorkerHeartbeatTimeout(t *testing.T) {
	c := newCluster(t)
	const timeout = "2"
	m := c.startMaster("master", masterOpts{workerTO: timeout})
	w := c.startWorker("worker", m.url, workerOpts{workerTO: timeout})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	// The worker itself must have taken the RegisteredWorker (and started
	// heartbeating) before it is stopped.
	w.waitState(t, "registered", func(st deploy.WorkerStateResponse) bool { return st.MasterURL == m.url })

	w.signalGroup(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			w.signalGroup(syscall.SIGCONT)
		}
	}()
	m.waitState(t, "the stopped worker DEAD", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerDead
	})

	w.signalGroup(syscall.SIGCONT)
	stopped = false
	st := m.waitState(t, "the resumed worker ALIVE again", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	if st.AliveWorkers != 1 || len(st.Workers) != 1 {
		t.Errorf("after reconnecting: %s; want the one worker, ALIVE", st.Summary())
	}
	if w.countOutput("Master asks re-registration") == 0 {
		t.Errorf("the worker's log shows no ReconnectWorker:\n%s", tail(w.output(), 4000))
	}
}
