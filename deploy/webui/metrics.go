package webui

import (
	"bytes"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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

// ---- Spark's PrometheusServlet ----
//
// Spark's standalone daemons report their gauges through Dropwizard
// metric registries; with the PrometheusServlet sink configured (as
// conf/metrics.properties.template shows) the master's UI serves the
// master's at /metrics/master/prometheus and the applications' at
// /metrics/applications/prometheus, and the worker's UI serves the
// worker's at /metrics/prometheus. Each gauge <source>.<name> becomes two
// lines, in the order of the keys:
//
//	metrics_<key>_Number{type="gauges"} <value>
//	metrics_<key>_Value{type="gauges"} <value>
//
// where <key> is <source>.<name> with every character other than
// [a-zA-Z0-9] replaced by '_'. Ember serves the same lines at the same
// paths (always, no sink to configure), and adds them after its own
// ember_* metrics at /metrics/prometheus on both UIs.

// promContentType is the Prometheus text format, version 0.0.4.
const promContentType = "text/plain; version=0.0.4; charset=utf-8"

// sparkGauge is one Dropwizard gauge: its registry key and value.
type sparkGauge struct {
	key   string
	value int64
}

// sparkMetricName is PrometheusServlet's metrics_<key>_ for a key.
func sparkMetricName(key string) string {
	var b strings.Builder
	b.Grow(len("metrics__") + len(key))
	b.WriteString("metrics_")
	for _, r := range key {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	return b.String()
}

// writeSparkGauges writes the gauges as PrometheusServlet does: two
// lines per gauge, sorted by key. Of gauges whose names clash the first
// given is kept, as Spark's registry refuses a second registration.
func writeSparkGauges(buf *bytes.Buffer, gs []sparkGauge) {
	type line struct{ key, name, value string }
	seen := make(map[string]bool, len(gs))
	lines := make([]line, 0, len(gs))
	for _, g := range gs {
		name := sparkMetricName(g.key)
		if seen[name] {
			continue
		}
		seen[name] = true
		lines = append(lines, line{g.key, name, strconv.FormatInt(g.value, 10)})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].key < lines[j].key })
	for _, l := range lines {
		buf.WriteString(l.name + `Number{type="gauges"} ` + l.value + "\n")
		buf.WriteString(l.name + `Value{type="gauges"} ` + l.value + "\n")
	}
}

// sparkMasterGauges are Spark's MasterSource gauges: every listed worker,
// the ALIVE ones, the active (waiting or running) applications and the
// WAITING ones.
func sparkMasterGauges(st deploy.MasterStateResponse) []sparkGauge {
	return []sparkGauge{
		{"master.workers", int64(len(st.Workers))},
		{"master.aliveWorkers", int64(countWorkers(st, deploy.WorkerAlive))},
		{"master.apps", int64(len(st.ActiveApps))},
		{"master.waitingApps", int64(countApps(st.ActiveApps, deploy.AppWaiting))},
	}
}

// sparkAppGauges are Spark's ApplicationSource gauges for the active
// applications (Spark's master drops an app's source when it finishes):
// application.<name>.<registration ms>.runtime_ms and .cores (granted).
// Its status gauge is a string, which PrometheusServlet leaves out.
func sparkAppGauges(st deploy.MasterStateResponse) []sparkGauge {
	apps := append([]deploy.ApplicationInfoJSON(nil), st.ActiveApps...)
	// Oldest first: of two apps whose names clash, the first registered
	// is reported.
	sort.SliceStable(apps, func(i, j int) bool { return apps[i].StartTime < apps[j].StartTime })
	gs := make([]sparkGauge, 0, 2*len(apps))
	for _, a := range apps {
		src := "application." + a.Name + "." + strconv.FormatInt(a.StartTime, 10) + "."
		gs = append(gs, sparkGauge{src + "runtime_ms", a.Duration}, sparkGauge{src + "cores", int64(a.Cores)})
	}
	return gs
}

// sparkWorkerGauges are Spark's WorkerSource gauges.
func sparkWorkerGauges(st deploy.WorkerStateResponse) []sparkGauge {
	return []sparkGauge{
		{"worker.executors", int64(len(st.Executors))},
		{"worker.coresUsed", int64(st.CoresUsed)},
		{"worker.memUsed_MB", int64(st.MemoryUsed)},
		{"worker.coresFree", int64(st.Cores - st.CoresUsed)},
		{"worker.memFree_MB", int64(st.Memory - st.MemoryUsed)},
	}
}

// sparkMetricsHandler serves gauges(state) in PrometheusServlet's format;
// 503 when the state cannot be read.
func sparkMetricsHandler[S any](read func() (S, error), gauges ...func(S) []sparkGauge) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := read()
		if err != nil {
			unavailable(w, err)
			return
		}
		var buf bytes.Buffer
		var gs []sparkGauge
		for _, g := range gauges {
			gs = append(gs, g(st)...)
		}
		writeSparkGauges(&buf, gs)
		writeMetrics(w, r, buf.Bytes())
	})
}

// combinedMetricsHandler serves Ember's registry (through promhttp, in
// the text format) followed by Spark's lines for the state; when the
// state cannot be read, Spark's lines are left out (Ember's <prefix>_up
// says so).
func combinedMetricsHandler[S any](ember http.Handler, read func() (S, error), gauges ...func(S) []sparkGauge) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A bare GET: no Accept (the text format) and no Accept-Encoding
		// (no gzip), so Spark's lines can follow.
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
		ember.ServeHTTP(rec, req)
		if rec.code != http.StatusOK {
			http.Error(w, strings.TrimSpace(rec.body.String()), rec.code)
			return
		}
		if st, err := read(); err == nil {
			var gs []sparkGauge
			for _, g := range gauges {
				gs = append(gs, g(st)...)
			}
			writeSparkGauges(&rec.body, gs)
		}
		writeMetrics(w, r, rec.body.Bytes())
	})
}

func writeMetrics(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Content-Type", promContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// bufferedResponse collects a handler's answer.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
