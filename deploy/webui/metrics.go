package webui

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ember-rpc/ember/deploy"
)

const mib = 1024 * 1024

// metricsHandler registers c with reg (a fresh registry with the Go and
// process collectors when reg is nil) and serves reg in the Prometheus
// text format. A collector of the same kind already in reg (a second
// handler on one registry) is kept.
func metricsHandler(reg *prometheus.Registry, c prometheus.Collector) http.Handler {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic("webui: registering metrics: " + err.Error())
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// gauge is one metric computed from a snapshot at scrape time.
type gauge[S any] struct {
	desc  *prometheus.Desc
	value func(S) float64
}

// stateCollector reads a snapshot on every scrape and reports its gauges;
// when the snapshot cannot be read only <prefix>_up 0 is reported.
type stateCollector[S any] struct {
	read   func() (S, error)
	up     *prometheus.Desc
	gauges []gauge[S]
	extra  func(S, chan<- prometheus.Metric)
	descs  []*prometheus.Desc
}

func (c *stateCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	for _, g := range c.gauges {
		ch <- g.desc
	}
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *stateCollector[S]) Collect(ch chan<- prometheus.Metric) {
	st, err := c.read()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, g := range c.gauges {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value(st))
	}
	if c.extra != nil {
		c.extra(st, ch)
	}
}

func countWorkers(st deploy.MasterStateResponse, s deploy.WorkerState) float64 {
	n := 0
	for _, w := range st.Workers {
		if w.State == s {
			n++
		}
	}
	return float64(n)
}

func countApps(apps []deploy.ApplicationInfoJSON, s deploy.ApplicationState) float64 {
	n := 0
	for _, a := range apps {
		if a.State == s {
			n++
		}
	}
	return float64(n)
}

// newMasterCollector reports ember_master_* gauges from MasterState.
func newMasterCollector(src MasterSource) prometheus.Collector {
	type S = deploy.MasterStateResponse
	g := func(name, help string, f func(S) float64) gauge[S] {
		return gauge[S]{prometheus.NewDesc("ember_master_"+name, help, nil, nil), f}
	}
	status := prometheus.NewDesc("ember_master_status",
		"The master's recovery state (1 for the current one).", []string{"status"}, nil)
	ready := prometheus.NewDesc("ember_master_ready",
		"1 when the master is not in STANDBY.", nil, nil)
	return &stateCollector[S]{
		read: src.MasterState,
		up:   prometheus.NewDesc("ember_master_up", "1 when the master's state could be read.", nil, nil),
		gauges: []gauge[S]{
			g("workers", "Registered workers, in any state.", func(s S) float64 { return float64(len(s.Workers)) }),
			g("alive_workers", "ALIVE workers.", func(s S) float64 { return countWorkers(s, deploy.WorkerAlive) }),
			g("dead_workers", "DEAD workers.", func(s S) float64 { return countWorkers(s, deploy.WorkerDead) }),
			g("decommissioned_workers", "DECOMMISSIONED workers.", func(s S) float64 { return countWorkers(s, deploy.WorkerDecommissioned) }),
			g("cores_total", "Cores of the ALIVE workers.", func(s S) float64 { return float64(s.Cores) }),
			g("cores_used", "Cores in use on the ALIVE workers.", func(s S) float64 { return float64(s.CoresUsed) }),
			g("memory_total_bytes", "Memory of the ALIVE workers.", func(s S) float64 { return float64(s.Memory) * mib }),
			g("memory_used_bytes", "Memory in use on the ALIVE workers.", func(s S) float64 { return float64(s.MemoryUsed) * mib }),
			g("apps_active", "Applications not finished (WAITING or RUNNING).", func(s S) float64 { return float64(len(s.ActiveApps)) }),
			g("apps_waiting", "Active applications in state WAITING.", func(s S) float64 { return countApps(s.ActiveApps, deploy.AppWaiting) }),
			g("apps_completed", "Completed applications the master keeps.", func(s S) float64 { return float64(len(s.CompletedApps)) }),
			g("drivers_active", "Drivers not finished.", func(s S) float64 { return float64(len(s.ActiveDrivers)) }),
			g("drivers_waiting", "Active drivers in state SUBMITTED.", func(s S) float64 { return float64(ComputeUtilization(s).WaitingDrivers) }),
			g("drivers_completed", "Completed drivers the master keeps.", func(s S) float64 { return float64(len(s.CompletedDrivers)) }),
		},
		descs: []*prometheus.Desc{status, ready},
		extra: func(s S, ch chan<- prometheus.Metric) {
			if s.Status != "" {
				ch <- prometheus.MustNewConstMetric(status, prometheus.GaugeValue, 1, string(s.Status))
			}
			r := 0.0
			if src.Ready() {
				r = 1
			}
			ch <- prometheus.MustNewConstMetric(ready, prometheus.GaugeValue, r)
		},
	}
}

// newWorkerCollector reports ember_worker_* gauges from WorkerState.
func newWorkerCollector(src WorkerSource) prometheus.Collector {
	type S = deploy.WorkerStateResponse
	g := func(name, help string, f func(S) float64) gauge[S] {
		return gauge[S]{prometheus.NewDesc("ember_worker_"+name, help, nil, nil), f}
	}
	return &stateCollector[S]{
		read: src.WorkerState,
		up:   prometheus.NewDesc("ember_worker_up", "1 when the worker's state could be read.", nil, nil),
		gauges: []gauge[S]{
			g("cores_total", "Cores the worker offers.", func(s S) float64 { return float64(s.Cores) }),
			g("cores_used", "Cores in use.", func(s S) float64 { return float64(s.CoresUsed) }),
			g("cores_free", "Cores free.", func(s S) float64 { return float64(s.Cores - s.CoresUsed) }),
			g("memory_total_bytes", "Memory the worker offers.", func(s S) float64 { return float64(s.Memory) * mib }),
			g("memory_used_bytes", "Memory in use.", func(s S) float64 { return float64(s.MemoryUsed) * mib }),
			g("memory_free_bytes", "Memory free.", func(s S) float64 { return float64(s.Memory-s.MemoryUsed) * mib }),
			g("executors_running", "Executors running.", func(s S) float64 { return float64(len(s.Executors)) }),
			g("executors_finished", "Finished executors the worker keeps.", func(s S) float64 { return float64(len(s.FinishedExecutors)) }),
			g("drivers_running", "Drivers running.", func(s S) float64 { return float64(len(s.Drivers)) }),
			g("drivers_finished", "Finished drivers the worker keeps.", func(s S) float64 { return float64(len(s.FinishedDrivers)) }),
		},
	}
}
