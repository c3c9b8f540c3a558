package app

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ember-rpc/ember/deploy/launcher"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Environment set by `ember submit` for the program it starts: the master
// URL and every spark.* setting as a JSON object.
const (
	EnvMaster   = "SPARK_MASTER"
	EnvConfJSON = "SPARK_CONF_JSON"
)

// fromSubmitEnv fills what the caller left empty from the environment of
// `ember submit`: the master, the conf (spark.app.name, spark.executor.memory,
// spark.executor.cores, spark.cores.max).
func fromSubmitEnv(cfg *DriverConfig) error {
	if cfg.Master == "" {
		cfg.Master = os.Getenv(EnvMaster)
	}
	if js := os.Getenv(EnvConfJSON); js != "" && cfg.Conf == nil {
		var m map[string]string
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return fmt.Errorf("app: %s is not a JSON object of strings: %w", EnvConfJSON, err)
		}
		cfg.Conf = sparkconf.FromMap(m)
	}
	if cfg.Conf == nil {
		return nil
	}
	c := cfg.Conf
	if cfg.Master == "" {
		cfg.Master = c.GetString("spark.master", "")
	}
	if cfg.AppName == "" {
		cfg.AppName = c.GetString("spark.app.name", "")
	}
	if cfg.MemoryPerExecutorMB <= 0 && c.Contains("spark.executor.memory") {
		b, err := c.GetBytes("spark.executor.memory", 0, 1<<20)
		if err != nil {
			return err
		}
		cfg.MemoryPerExecutorMB = int(b >> 20)
	}
	if cfg.CoresPerExecutor <= 0 && c.Contains("spark.executor.cores") {
		n, err := c.GetInt("spark.executor.cores", 0)
		if err != nil {
			return err
		}
		cfg.CoresPerExecutor = n
	}
	if cfg.MaxCores <= 0 && c.Contains("spark.cores.max") {
		n, err := c.GetInt("spark.cores.max", 0)
		if err != nil {
			return err
		}
		cfg.MaxCores = n
	}
	return nil
}

// connectLauncher reports to the launcher that started this program (the
// LauncherBackend), when `ember submit` or another launcher set the
// rendezvous variables; nil otherwise. A Stop from the handle stops the
// driver, which then reports KILLED.
func (d *Driver) connectLauncher() *launcher.Backend {
	conf := map[string]string{}
	if d.cfg.Conf != nil {
		for k, v := range d.cfg.Conf.All() {
			if strings.HasPrefix(k, "spark.launcher.") {
				conf[k] = v
			}
		}
	}
	b := &launcher.Backend{OnStop: func() {
		d.killed.Store(true)
		d.Stop()
	}}
	if err := b.Connect(conf); err != nil || !b.IsConnected() {
		if err != nil {
			d.log.Warn("could not connect to the launcher", "err", err)
		}
		return nil
	}
	_ = b.SetState(launcher.StateSubmitted)
	return b
}

// reportLauncher tells the launcher the app id and that it runs.
func (d *Driver) reportLauncher(appID string) {
	if b := d.backend; b != nil {
		_ = b.SetAppID(appID)
		_ = b.SetState(launcher.StateRunning)
	}
}

// closeLauncher reports the final state (KILLED when the handle stopped
// us, FAILED when the app died, else FINISHED) and disconnects.
func (d *Driver) closeLauncher(failed bool) {
	b := d.backend
	if b == nil {
		return
	}
	st := launcher.StateFinished
	switch {
	case d.killed.Load():
		st = launcher.StateKilled
	case failed:
		st = launcher.StateFailed
	}
	_ = b.SetState(st)
	_ = b.Close()
}
