package worker

import (
	"github.com/ember-rpc/ember/deploy"
)

// snapshot renders the worker's state as Spark's worker JSON (plus
// Ember's host, port and drivers). Loop-only.
func (w *Worker) snapshot() deploy.WorkerStateResponse {
	r := w.core.Snapshot()
	r.Host, r.Port = w.host, w.port
	return r
}

// Snapshot renders the core's state as Spark's worker JSON (without
// Ember's host and port, which the shell adds).
func (c *Core) Snapshot() deploy.WorkerStateResponse {
	r := deploy.WorkerStateResponse{ID: c.cfg.ID, MasterURL: c.activeMasterURL, MasterWebUIURL: c.activeMasterWebUIURL,
		Cores: c.cfg.Cores, CoresUsed: c.coresUsed, Memory: c.cfg.MemoryMB, MemoryUsed: c.memoryUsed,
		Resources: map[string]deploy.ResourceInformation{}, ResourcesUsed: map[string]deploy.ResourceInformation{},
		Executors: []deploy.ExecutorRunnerJSON{}, FinishedExecutors: []deploy.ExecutorRunnerJSON{},
		Drivers: []deploy.DriverRunnerJSON{}, FinishedDrivers: []deploy.DriverRunnerJSON{}}
	for name, ri := range c.cfg.Resources {
		r.Resources[name] = deploy.ResourceInformation{Name: name, Addresses: append([]string{}, ri.Addresses...)}
	}
	for name, addrs := range c.resourcesUsed {
		r.ResourcesUsed[name] = deploy.ResourceInformation{Name: name, Addresses: append([]string{}, addrs...)}
	}
	for _, e := range c.Executors() {
		r.Executors = append(r.Executors, c.executorJSON(e))
	}
	for _, e := range c.finishedExecutors {
		r.FinishedExecutors = append(r.FinishedExecutors, c.executorJSON(e))
	}
	for _, d := range c.Drivers() {
		r.Drivers = append(r.Drivers, driverJSON(d))
	}
	for _, d := range c.finishedDrivers {
		r.FinishedDrivers = append(r.FinishedDrivers, driverJSON(d))
	}
	return r
}

func (c *Core) executorJSON(e *Executor) deploy.ExecutorRunnerJSON {
	d := e.Desc
	maxCores := 0
	if d.MaxCores != nil {
		maxCores = *d.MaxCores
	}
	res := map[string]deploy.ResourceInformation{}
	for name, ri := range e.Resources {
		res[name] = deploy.ResourceInformation{Name: name, Addresses: append([]string{}, ri.Addresses...)}
	}
	return deploy.ExecutorRunnerJSON{ID: e.ExecID, Memory: e.MemoryMB, Resources: res,
		AppID: e.AppID, State: e.State, Cores: e.Cores,
		AppDesc: deploy.AppDescJSON{Name: d.Name, Cores: maxCores, MemoryPerExecutor: d.MemoryPerExecutorMB,
			ResourcesPerExecutor: []deploy.ResourceAmount{}, MemoryPerSlave: d.MemoryPerExecutorMB,
			ResourcesPerSlave: []deploy.ResourceAmount{}, User: d.User, Command: commandString(d.Command, c.cfg.Redact)}}
}

func driverJSON(d *Driver) deploy.DriverRunnerJSON {
	return deploy.DriverRunnerJSON{ID: d.ID, State: d.State, Cores: d.Desc.Cores, Memory: d.Desc.MemoryMB,
		MainClass: deploy.DriverMainClass(d.Desc.Command)}
}
