package webui

import (
	"github.com/ember-rpc/ember/deploy"
)

// ComputeUtilization derives /json/clusterutilization from a master state
// the way Spark's JsonProtocol does: sums over ALIVE workers, waiting
// drivers are the active drivers still SUBMITTED, and a utilization is
// 100*used/total as an integer, or 100 when the total is 0.
func ComputeUtilization(st deploy.MasterStateResponse) deploy.ClusterUtilization {
	var u deploy.ClusterUtilization
	for _, w := range st.Workers {
		if w.State != deploy.WorkerAlive {
			continue
		}
		u.Cores += w.Cores
		u.CoresUsed += w.CoresUsed
		u.Memory += w.Memory
		u.MemoryUsed += w.MemoryUsed
	}
	for _, d := range st.ActiveDrivers {
		if d.State == deploy.DriverSubmitted {
			u.WaitingDrivers++
		}
	}
	u.CoresUtilization = percent(u.CoresUsed, u.Cores)
	u.MemoryUtilization = percent(u.MemoryUsed, u.Memory)
	return u
}

// percent is 100*used/total as an integer, 100 when total is 0.
func percent(used, total int) int {
	if total == 0 {
		return 100
	}
	return 100 * used / total
}

// MasterFields are the names /json/<field> knows, in /json's order.
var MasterFields = []string{
	"url", "workers", "aliveworkers", "cores", "coresused", "memory",
	"memoryused", "resources", "resourcesused", "activeapps",
	"completedapps", "activedrivers", "completeddrivers", "status",
}

// masterField is the value of one /json/<field>; ok is false for an
// unknown field.
func masterField(st deploy.MasterStateResponse, field string) (any, bool) {
	switch field {
	case "url":
		return st.URL, true
	case "workers":
		return st.Workers, true
	case "aliveworkers":
		return st.AliveWorkers, true
	case "cores":
		return st.Cores, true
	case "coresused":
		return st.CoresUsed, true
	case "memory":
		return st.Memory, true
	case "memoryused":
		return st.MemoryUsed, true
	case "resources":
		return st.Resources, true
	case "resourcesused":
		return st.ResourcesUsed, true
	case "activeapps":
		return st.ActiveApps, true
	case "completedapps":
		return st.CompletedApps, true
	case "activedrivers":
		return st.ActiveDrivers, true
	case "completeddrivers":
		return st.CompletedDrivers, true
	case "status":
		return st.Status, true
	}
	return nil, false
}

// fieldObject is {"<field>": value}, as Spark's writeMasterState(state,
// Some(field)) renders it; an unknown field gives {"<field>": ""}.
func fieldObject(st deploy.MasterStateResponse, field string) map[string]any {
	v, ok := masterField(st, field)
	if !ok {
		v = ""
	}
	return map[string]any{field: v}
}

// The normalizers give Spark's shapes for what a source may leave nil:
// lists render as [] and maps as {} (never null). They copy what they
// change, so the source's snapshot is never modified.

func normResources(m map[string]deploy.ResourceInformation) map[string]deploy.ResourceInformation {
	out := make(map[string]deploy.ResourceInformation, len(m))
	for k, v := range m {
		if v.Addresses == nil {
			v.Addresses = []string{}
		}
		out[k] = v
	}
	return out
}

func normAmounts(a []deploy.ResourceAmount) []deploy.ResourceAmount {
	if a == nil {
		return []deploy.ResourceAmount{}
	}
	return a
}

func normalizeMaster(st deploy.MasterStateResponse) deploy.MasterStateResponse {
	workers := make([]deploy.WorkerInfoJSON, len(st.Workers))
	for i, w := range st.Workers {
		w.Resources = normResources(w.Resources)
		w.ResourcesUsed = normResources(w.ResourcesUsed)
		w.ResourcesFree = normResources(w.ResourcesFree)
		workers[i] = w
	}
	st.Workers = workers
	st.Resources = normResourceList(st.Resources)
	st.ResourcesUsed = normResourceList(st.ResourcesUsed)
	st.ActiveApps = normApps(st.ActiveApps)
	st.CompletedApps = normApps(st.CompletedApps)
	st.ActiveDrivers = normDrivers(st.ActiveDrivers)
	st.CompletedDrivers = normDrivers(st.CompletedDrivers)
	return st
}

func normResourceList(l []map[string]deploy.ResourceInformation) []map[string]deploy.ResourceInformation {
	out := make([]map[string]deploy.ResourceInformation, len(l))
	for i, m := range l {
		out[i] = normResources(m)
	}
	return out
}

func normApps(apps []deploy.ApplicationInfoJSON) []deploy.ApplicationInfoJSON {
	out := make([]deploy.ApplicationInfoJSON, len(apps))
	for i, a := range apps {
		a.ResourcesPerExecutor = normAmounts(a.ResourcesPerExecutor)
		a.ResourcesPerSlave = normAmounts(a.ResourcesPerSlave)
		out[i] = a
	}
	return out
}

func normDrivers(ds []deploy.DriverInfoJSON) []deploy.DriverInfoJSON {
	out := make([]deploy.DriverInfoJSON, len(ds))
	for i, d := range ds {
		d.Resources = normResources(d.Resources)
		out[i] = d
	}
	return out
}

func normalizeWorker(st deploy.WorkerStateResponse) deploy.WorkerStateResponse {
	st.Resources = normResources(st.Resources)
	st.ResourcesUsed = normResources(st.ResourcesUsed)
	st.Executors = normExecutors(st.Executors)
	st.FinishedExecutors = normExecutors(st.FinishedExecutors)
	return st
}

func normExecutors(es []deploy.ExecutorRunnerJSON) []deploy.ExecutorRunnerJSON {
	out := make([]deploy.ExecutorRunnerJSON, len(es))
	for i, e := range es {
		e.Resources = normResources(e.Resources)
		e.AppDesc.ResourcesPerExecutor = normAmounts(e.AppDesc.ResourcesPerExecutor)
		e.AppDesc.ResourcesPerSlave = normAmounts(e.AppDesc.ResourcesPerSlave)
		out[i] = e
	}
	return out
}
