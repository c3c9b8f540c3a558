package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results is everything one run measured.
type results struct {
	cfg                                                  config
	took                                                 time.Duration
	loadStart, loadIdle, loadPi, loadFleet, loadRecovery string
	loadEnd                                              string
	pi, piPy                                             map[system][]piRun
	idle, afterPi, fleet                                 map[owner]usage
	fleetReg                                             map[system]time.Duration
	recovery                                             map[system][]recoveryRun
	notes                                                []string
}

func newResults(cfg config) *results {
	return &results{cfg: cfg, pi: map[system][]piRun{}, piPy: map[system][]piRun{}, idle: map[owner]usage{}, afterPi: map[owner]usage{},
		fleet: map[owner]usage{}, fleetReg: map[system]time.Duration{}, recovery: map[system][]recoveryRun{}}
}

// spread is a sample's median, min and max.
type spread struct{ med, lo, hi time.Duration }

func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med, s[0], s[len(s)-1]}
}

func (s spread) String() string {
	if s.hi == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s (%.2f–%.2f)", s.med.Seconds(), s.lo.Seconds(), s.hi.Seconds())
}

// ratio is spark ÷ ember ("" when either is missing).
func ratio(spark, ember float64) string {
	if spark <= 0 || ember <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", spark/ember)
}

func mib(kib int64) string {
	if kib == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}

func pct(u usage, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", u.cpuPct)
}

// markdown renders the report.
func (r *results) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Ember's daemons vs Spark 4.1's Master and Worker\n\n")
	w("Command: `go run ./cmd/daemons %s` — took %v on %d cores (%s/%s).\n\n",
		r.flagsLine(), r.took.Round(time.Second), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	w("Load average (1, 5, 15 min): start %s; idle sample %s; after pi %s; after fleet %s; after recovery %s; end %s.\n\n",
		r.loadStart, r.loadIdle, r.loadPi, r.loadFleet, r.loadRecovery, r.loadEnd)

	w("## 1. spark-submit of the JVM SparkPi (2 slices), client mode\n\n")
	w("From spark-submit's start to the driver's `%s` line (first task sent to an executor) and to the process's exit; "+
		"median (min–max) of %d runs per system, alternating the systems. One master and one 2-core worker per system; "+
		"the executor is Spark's CoarseGrainedExecutorBackend JVM in both.\n\n", firstTaskLine, r.cfg.reps)
	r.piTable(&b, r.pi)
	if len(r.piPy) > 0 {
		w("The same for Spark's own `examples/src/main/python/pi.py 2` (PySpark: a Python driver process behind the JVM driver, Python workers in the executor):\n\n")
		r.piTable(&b, r.piPy)
	}
	w("## 2. Master and worker: memory and CPU\n\n")
	w("VmRSS / VmHWM from /proc/<pid>/status (MiB); CPU = utime+stime over %v, %% of one core. "+
		"Idle: %v after both clusters were up. After pi: the same daemons after the %d pi runs (HWM is the peak while they ran). "+
		"With %d apps: one JVM (AppFleet) registered %d applications through Spark's own StandaloneAppClient "+
		"(64 GiB executors, more than the worker has: apps WAITING, no executor), sampled once the master's /json listed them.\n\n",
		r.cfg.interval, r.cfg.idle, 2*r.cfg.reps, r.cfg.apps, r.cfg.apps)
	w("| daemon | state | Ember RSS | Spark RSS | RSS Spark ÷ Ember | Ember HWM | Spark HWM | Ember CPU %% | Spark CPU %% |\n")
	w("|---|---|---|---|---|---|---|---|---|\n")
	for _, role := range []string{"master", "worker"} {
		for _, st := range []struct {
			name string
			m    map[owner]usage
			cpu  bool
		}{{"idle", r.idle, true}, {"after pi", r.afterPi, false}, {fmt.Sprintf("%d apps", r.cfg.apps), r.fleet, true}} {
			eu, eok := st.m[owner{emberSys, role}]
			su, sok := st.m[owner{sparkSys, role}]
			if !eok && !sok {
				continue
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", role, st.name, mib(eu.rssKiB), mib(su.rssKiB),
				ratio(float64(su.rssKiB), float64(eu.rssKiB)), mib(eu.hwmKiB), mib(su.hwmKiB), pct(eu, eok && st.cpu), pct(su, sok && st.cpu))
		}
	}
	if len(r.fleetReg) > 0 {
		w("\nTime for AppFleet to register the %d apps (from its first `Connecting to master` line to the last RegisteredApplication; the JVM has 50 RpcEnvs): Ember %.2f s, Spark %.2f s.\n",
			r.cfg.apps, r.fleetReg[emberSys].Seconds(), r.fleetReg[sparkSys].Seconds())
	}
	w("\n")

	w("## 3. Master failover through ZooKeeper\n\n")
	w("Two masters (spark.deploy.recoveryMode=ZOOKEEPER, one ZooKeeper with tickTime %v and maxSessionTimeout %v, "+
		"so both systems' sessions are %v), %d workers (1 core each), one live app (SparkPi lingering with its executors). "+
		"The leader is killed with SIGKILL; the standby's /json is polled every %v. Median (min–max) of %d failovers per system, from the kill.\n\n",
		zkTick, zkMaxSession, zkMaxSession, r.cfg.haWorkers, pollEvery, r.cfg.haReps)
	w("| | Ember | Spark | Spark ÷ Ember |\n|---|---|---|---|\n")
	var eL, sL, ea, sa, eF, sF []time.Duration
	for _, x := range r.recovery[emberSys] {
		eL, ea, eF = append(eL, x.elected), append(ea, x.alive), append(eF, x.full)
	}
	for _, x := range r.recovery[sparkSys] {
		sL, sa, sF = append(sL, x.elected), append(sa, x.alive), append(sF, x.full)
	}
	w("| standby leads (status no longer STANDBY) | %s | %s | %s |\n", spreadOf(eL), spreadOf(sL), ratio(spreadOf(sL).med.Seconds(), spreadOf(eL).med.Seconds()))
	w("| standby ALIVE | %s | %s | %s |\n", spreadOf(ea), spreadOf(sa), ratio(spreadOf(sa).med.Seconds(), spreadOf(ea).med.Seconds()))
	w("| ALIVE + %d workers ALIVE + app RUNNING | %s | %s | %s |\n\n", r.cfg.haWorkers, spreadOf(eF), spreadOf(sF), ratio(spreadOf(sF).med.Seconds(), spreadOf(eF).med.Seconds()))
	for _, n := range r.notes {
		w("Note: %s\n\n", n)
	}
	return b.String()
}

func (r *results) flagsLine() string {
	var f []string
	if r.cfg.out != "" {
		f = append(f, "-out "+r.cfg.out)
	}
	d := newDefaults()
	if r.cfg.reps != d.reps {
		f = append(f, fmt.Sprintf("-reps %d", r.cfg.reps))
	}
	if r.cfg.haReps != d.haReps {
		f = append(f, fmt.Sprintf("-ha-reps %d", r.cfg.haReps))
	}
	if r.cfg.haWorkers != d.haWorkers {
		f = append(f, fmt.Sprintf("-ha-workers %d", r.cfg.haWorkers))
	}
	if r.cfg.apps != d.apps {
		f = append(f, fmt.Sprintf("-apps %d", r.cfg.apps))
	}
	return strings.Join(f, " ")
}

func newDefaults() config {
	c, _ := parseFlags(nil)
	return c
}

// piTable renders one app's pi timings.
func (r *results) piTable(b *strings.Builder, runs map[system][]piRun) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("| | Ember | Spark | Spark ÷ Ember |\n|---|---|---|---|\n")
	var ec, sc, ee, se, ef, sf, ex, sx []time.Duration
	for _, p := range runs[emberSys] {
		ec, ee, ef, ex = append(ec, p.connected), append(ee, p.executor), append(ef, p.firstTask), append(ex, p.exit)
	}
	for _, p := range runs[sparkSys] {
		sc, se, sf, sx = append(sc, p.connected), append(se, p.executor), append(sf, p.firstTask), append(sx, p.exit)
	}
	w("| to app registered (`%s`) | %s | %s | %s |\n", connectedLine, spreadOf(ec), spreadOf(sc), ratio(spreadOf(sc).med.Seconds(), spreadOf(ec).med.Seconds()))
	w("| to executor registered with the driver | %s | %s | %s |\n", spreadOf(ee), spreadOf(se), ratio(spreadOf(se).med.Seconds(), spreadOf(ee).med.Seconds()))
	w("| to first task | %s | %s | %s |\n", spreadOf(ef), spreadOf(sf), ratio(spreadOf(sf).med.Seconds(), spreadOf(ef).med.Seconds()))
	w("| to exit | %s | %s | %s |\n\n", spreadOf(ex), spreadOf(sx), ratio(spreadOf(sx).med.Seconds(), spreadOf(ex).med.Seconds()))
}
