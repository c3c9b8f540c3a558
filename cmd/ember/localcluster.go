package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/deploy/webui"
	"github.com/ember-rpc/ember/deploy/worker"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// localCluster is an in-process master and workers on loopback.
type localCluster struct {
	master   *master.Master
	masterUI *webui.Server
	workers  []*worker.Worker
	uis      []*webui.Server
}

// startLocalCluster starts a master and n workers (cores and memory each)
// on free loopback ports, with work dirs under dir.
func startLocalCluster(n, cores, memMB int, dir string, conf *sparkconf.Conf, log *slog.Logger) (*localCluster, error) {
	lc := &localCluster{}
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: log})
	if err != nil {
		return nil, err
	}
	lc.master = m
	ui, err := webui.Listen("127.0.0.1", 0, webui.NewMasterHandler(m, webui.Options{KillEnabled: true, Title: "Ember Master"}))
	if err != nil {
		lc.close()
		return nil, err
	}
	lc.masterUI = ui
	m.SetWebUIURL(ui.URL(), ui.Port())
	for i := 1; i <= n; i++ {
		wui, err := webui.Listen("127.0.0.1", 0, nil)
		if err != nil {
			lc.close()
			return nil, err
		}
		lc.uis = append(lc.uis, wui)
		w, err := worker.Start(worker.Options{Host: "127.0.0.1", Port: 0, WebUIPort: wui.Port(), Cores: cores, MemoryMB: memMB,
			WorkDir: fmt.Sprintf("%s/worker%d", dir, i), MasterURLs: []string{m.MasterURL()}, Conf: conf, Logger: log, Instance: i,
			OnExit: func(code int) { log.Error("worker gave up", "code", code) }})
		if err != nil {
			lc.close()
			return nil, err
		}
		wui.SetHandler(webui.NewWorkerHandler(w, webui.Options{Title: "Ember Worker"}))
		lc.workers = append(lc.workers, w)
	}
	return lc, nil
}

// waitAlive polls the master UI's /json until n workers are ALIVE.
func (lc *localCluster) waitAlive(n int, timeout time.Duration) (deploy.MasterStateResponse, error) {
	deadline := time.Now().Add(timeout)
	var st deploy.MasterStateResponse
	for {
		resp, err := http.Get(lc.masterUI.URL() + "/json")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(body, &st); err == nil && st.AliveWorkers >= n && st.Status == deploy.StateAlive {
				return st, nil
			}
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("only %d of %d workers registered within %s", st.AliveWorkers, n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (lc *localCluster) close() {
	for _, w := range lc.workers {
		w.Shutdown()
	}
	for _, u := range lc.uis {
		u.Close()
	}
	if lc.masterUI != nil {
		lc.masterUI.Close()
	}
	if lc.master != nil {
		lc.master.Shutdown()
	}
}

// checkCluster is selfcheck's cluster stage.
func checkCluster() error {
	dir, err := os.MkdirTemp("", "ember-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conf := sparkconf.New().Set("spark.worker.ember.registrationIntervalScale", "0.05")
	start := time.Now()
	lc, err := startLocalCluster(2, 1, 1024, dir, conf, log)
	if err != nil {
		return err
	}
	defer lc.close()
	st, err := lc.waitAlive(2, 60*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("[cluster] master %s (web UI %s): %d workers ALIVE, %d cores, %d MB, in %v\n",
		st.URL, lc.masterUI.URL(), st.AliveWorkers, st.Cores, st.Memory, time.Since(start).Round(time.Millisecond))
	for i, u := range lc.uis {
		fmt.Printf("[cluster] worker %d: %s (web UI %s)\n", i+1, lc.workers[i].ID(), u.URL())
	}
	return nil
}
