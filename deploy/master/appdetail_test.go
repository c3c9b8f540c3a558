package master

import (
	"errors"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

func TestApplicationDetail(t *testing.T) {
	h := newAlive(t)
	h.addWorker("w1", 4, 4096)
	h.addWorker("w2", 4, 4096)
	appID, _ := h.addApp(appDesc(1024, maxCores(4), coresPerExecutor(2), func(d *deploy.ApplicationDescription) {
		d.AppUIURL = "http://driver.example:4040"
	}))
	// Two executors of 2 cores, one per worker (spread out).
	d, ok := h.s.ApplicationDetail(appID)
	if !ok {
		t.Fatal("active app not found")
	}
	if d.ID != appID || d.Name != "test" || d.User != "tester" || d.Cores != 4 || d.MemoryPerExecutor != 1024 || d.State != deploy.AppRunning {
		t.Errorf("summary %+v", d.ApplicationInfoJSON)
	}
	if d.CoresRequested == nil || *d.CoresRequested != 4 || d.CoresPerExecutor == nil || *d.CoresPerExecutor != 2 ||
		d.ExecutorLimit != nil || d.AppUIURL != "http://driver.example:4040" {
		t.Errorf("detail %+v", d)
	}
	if len(d.Executors) != 2 || len(d.RemovedExecutors) != 0 {
		t.Fatalf("executors %+v removed %+v", d.Executors, d.RemovedExecutors)
	}
	workers := map[string]bool{}
	for i, e := range d.Executors {
		w := h.listedWorker(e.WorkerID)
		if e.ID != i || e.Cores != 2 || e.Memory != 1024 || e.State != deploy.ExecutorLaunching || w == nil ||
			e.WorkerHost != w.Host || e.WorkerPort != w.Port || e.WorkerWebUI != w.WebUIAddress || e.WorkerWebUI == "" {
			t.Errorf("executor %d: %+v", i, e)
		}
		workers[e.WorkerID] = true
	}
	if len(workers) != 2 {
		t.Errorf("executors on %v, want both workers", workers)
	}

	// A failed executor moves to the removed list; its replacement is live.
	h.s.ExecutorStateChanged(deploy.ExecutorStateChanged{AppID: appID, ExecID: 0, State: deploy.ExecutorFailed, ExitStatus: exit(1)})
	d, _ = h.s.ApplicationDetail(appID)
	if len(d.RemovedExecutors) != 1 || d.RemovedExecutors[0].ID != 0 || d.RemovedExecutors[0].State != deploy.ExecutorFailed {
		t.Errorf("removed %+v", d.RemovedExecutors)
	}
	if len(d.Executors) != 2 || d.Executors[0].ID != 1 || d.Executors[1].ID != 2 {
		t.Errorf("executors %+v, want 1 and 2", d.Executors)
	}

	// A completed app is found too, its executors KILLED.
	h.s.UnregisterApplication(appID)
	d, ok = h.s.ApplicationDetail(appID)
	if !ok || d.State != deploy.AppFinished || len(d.Executors) != 2 || d.Executors[0].State != deploy.ExecutorKilled {
		t.Errorf("completed app: ok=%v %+v", ok, d)
	}
	if _, ok := h.s.ApplicationDetail("app-nope"); ok {
		t.Error("unknown app found")
	}
}

func TestMasterApplicationDetail(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf)
		// The web UI finds the method through its ApplicationSource interface.
		var src interface {
			ApplicationDetail(string) (deploy.ApplicationDetail, error)
		} = m
		if _, err := src.ApplicationDetail("app-nope"); !errors.Is(err, errNoApplication) {
			t.Errorf("unknown app: err %v, want errNoApplication", err)
		}
	})
}
