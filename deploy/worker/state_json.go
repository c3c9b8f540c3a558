package worker

import (
	"sort"

	"github.com/ember-rpc/ember/deploy"
)

// snapshot renders the worker's state as Spark's worker JSON (plus
// Ember's host, port and drivers). Loop-only.
func (w *Worker) snapshot() deploy.WorkerStateResponse {
	r := deploy.WorkerStateResponse{ID: w.id, MasterURL: w.activeMasterURL, MasterWebUIURL: w.activeMasterWebUIURL,
		Cores: w.cfg.cores, CoresUsed: w.coresUsed, Memory: w.cfg.memoryMB, MemoryUsed: w.memoryUsed,
		Resources: map[string]deploy.ResourceInformation{}, ResourcesUsed: map[string]deploy.ResourceInformation{},
		Executors: []deploy.ExecutorRunnerJSON{}, FinishedExecutors: []deploy.ExecutorRunnerJSON{},
		Host: w.host, Port: w.port, Drivers: []deploy.DriverRunnerJSON{}, FinishedDrivers: []deploy.DriverRunnerJSON{}}
	for _, e := range w.sortedExecutors() {
		r.Executors = append(r.Executors, w.executorJSON(e))
	}
	for _, e := range w.finishedExecutors {
		r.FinishedExecutors = append(r.FinishedExecutors, w.executorJSON(e))
	}
	ids := make([]string, 0, len(w.drivers))
	for id := range w.drivers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.Drivers = append(r.Drivers, driverJSON(w.drivers[id]))
	}
	for _, d := range w.finishedDrivers {
		r.FinishedDrivers = append(r.FinishedDrivers, driverJSON(d))
	}
	return r
}

func (w *Worker) executorJSON(e *executorRunner) deploy.ExecutorRunnerJSON {
	d := e.desc
	maxCores := 0
	if d.MaxCores != nil {
		maxCores = *d.MaxCores
	}
	return deploy.ExecutorRunnerJSON{ID: e.execID, Memory: e.memoryMB, Resources: map[string]deploy.ResourceInformation{},
		AppID: e.appID, State: e.state,
		AppDesc: deploy.AppDescJSON{Name: d.Name, Cores: maxCores, MemoryPerExecutor: d.MemoryPerExecutorMB,
			ResourcesPerExecutor: []deploy.ResourceAmount{}, MemoryPerSlave: d.MemoryPerExecutorMB,
			ResourcesPerSlave: []deploy.ResourceAmount{}, User: d.User, Command: commandString(d.Command, w.cfg.redact)}}
}

func driverJSON(d *driverRunner) deploy.DriverRunnerJSON {
	main := d.desc.Command.MainClass
	if len(d.desc.Command.Arguments) > 2 {
		main = d.desc.Command.Arguments[2] // as the master's JSON: the user's main class
	}
	return deploy.DriverRunnerJSON{ID: d.id, State: d.state, Cores: d.desc.Cores, Memory: d.desc.MemoryMB, MainClass: main}
}
