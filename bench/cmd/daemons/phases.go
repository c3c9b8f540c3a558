package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// startLimit bounds a daemon's start; runLimit a spark-submit run. They
// only turn a hang into an error.
const (
	startLimit = 2 * time.Minute
	runLimit   = 4 * time.Minute
	pollEvery  = 50 * time.Millisecond
)

// cluster is a master and its workers of one system.
type cluster struct {
	sys     system
	master  *daemon
	workers []*daemon
}

// startCluster starts a master and nWorkers workers and waits until the
// workers are ALIVE on the master.
func (e *env) startCluster(sys system, tag string, nWorkers, cores int, mem string) (*cluster, error) {
	m, err := e.startMaster(sys, string(sys)+"-master-"+tag, nil)
	if err != nil {
		return nil, err
	}
	if _, _, err := m.waitState("ALIVE", 200*time.Millisecond, startLimit, func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateAlive
	}); err != nil {
		return nil, err
	}
	c := &cluster{sys: sys, master: m}
	for i := range nWorkers {
		w, err := e.startWorker(sys, fmt.Sprintf("%s-worker-%s-%d", sys, tag, i), m.masterURL(), cores, mem, nil)
		if err != nil {
			return nil, err
		}
		c.workers = append(c.workers, w)
	}
	_, _, err = m.waitState(fmt.Sprintf("%d workers ALIVE", nWorkers), 200*time.Millisecond, startLimit,
		func(st deploy.MasterStateResponse) bool { return aliveWorkers(st) == nWorkers })
	return c, err
}

// submitPi runs the JVM SparkPi (or, with py, Spark's examples' pi.py)
// against masters with args after the jar (or script).
func (e *env) submitPi(name, masters string, py bool, props []string, args ...string) (*child, time.Time, error) {
	argv := []string{filepath.Join(e.sparkHome, "bin", "spark-submit"), "--master", masters,
		"--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
		"--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false"}
	for _, kv := range props {
		argv = append(argv, "--conf", kv)
	}
	if py {
		argv = append(argv, filepath.Join(e.sparkHome, "examples", "src", "main", "python", "pi.py"))
	} else {
		argv = append(argv, "--class", "ember.sparkapp.SparkPi", e.appJar)
	}
	argv = append(argv, args...)
	t0 := time.Now()
	c, err := e.start(name, []string{"SPARK_HOME=" + e.sparkHome, "SPARK_LOCAL_IP=127.0.0.1", "PYSPARK_PYTHON=python3",
		"SPARK_CONF_DIR=" + e.mkdir("conf-"+name)}, argv...)
	return c, t0, err
}

// firstTaskLine is the driver's log line for the first task sent to an
// executor (TaskSetManager, INFO).
const firstTaskLine = "Starting task 0.0 in stage 0.0"

// Milestones in the driver's log between its start and the first task:
// the master registered the app (RegisteredApplication), and the
// executor the worker launched registered with the driver.
const (
	connectedLine = "Connected to Spark cluster with app ID"
	executorLine  = "Registered executor NettyRpcEndpointRef"
)

// piRun is one timed spark-submit.
type piRun struct {
	sys                 system
	connected, executor time.Duration // 0 when the line was missing
	firstTask, exit     time.Duration
}

// runPi submits SparkPi (py: pi.py) once to c and times it.
func (e *env) runPi(c *cluster, rep int, py bool) (piRun, error) {
	name := fmt.Sprintf("%s-pi-%d", c.sys, rep)
	if py {
		name = fmt.Sprintf("%s-pypi-%d", c.sys, rep)
	}
	p, t0, err := e.submitPi(name, c.master.masterURL(), py, nil, "2")
	if err != nil {
		return piRun{}, err
	}
	at, err := p.waitLine(firstTaskLine, runLimit)
	if err != nil {
		p.kill()
		return piRun{}, err
	}
	if err := p.wait(runLimit); err != nil {
		p.kill()
		return piRun{}, err
	}
	end := time.Now()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 || !p.contains("Pi is roughly 3.1") {
		return piRun{}, fmt.Errorf("%s: exit %d, pi printed: %v:\n%s", p.name, code, p.contains("Pi is roughly 3.1"), p.tail(30))
	}
	r := piRun{sys: c.sys, firstTask: at.Sub(t0), exit: end.Sub(t0)}
	if t, ok := p.lineAt(connectedLine); ok {
		r.connected = t.Sub(t0)
	}
	if t, ok := p.lineAt(executorLine); ok {
		r.executor = t.Sub(t0)
	}
	return r, nil
}

// usage is one process's memory and CPU over an interval.
type usage struct {
	rssKiB, hwmKiB int64
	cpuPct         float64 // of one core, over the interval
}

// sample measures pids over interval: CPU from /proc/<pid>/stat at both
// ends, memory at the end.
func sample(pids []int, interval time.Duration) ([]usage, error) {
	before := make([]int64, len(pids))
	for i, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil {
			return nil, err
		}
		before[i] = t
	}
	t0 := time.Now()
	time.Sleep(interval) // the measuring interval itself
	el := time.Since(t0).Seconds()
	out := make([]usage, len(pids))
	for i, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil {
			return nil, err
		}
		rss, hwm, err := memKiB(pid)
		if err != nil {
			return nil, err
		}
		out[i] = usage{rssKiB: rss, hwmKiB: hwm, cpuPct: float64(t-before[i]) / 100 / el * 100}
	}
	return out, nil
}

// fleetRun registers n apps with c's master from one JVM (AppFleet),
// waits until the master lists them, samples the daemons, then kills the
// fleet. It returns the master's and the first worker's usage and the
// time to register all apps: from the fleet's first "Connecting to
// master" line to its "REGISTERED n" line (every RegisteredApplication
// received).
func (e *env) fleetRun(c *cluster, n int, interval time.Duration) (m, w usage, reg time.Duration, err error) {
	argv := []string{e.java}
	argv = append(argv, testutil.SparkJavaOptions...)
	argv = append(argv, "-cp", e.fleet+":"+filepath.Join(e.sparkHome, "jars", "*"), "ember.daemonbench.AppFleet",
		c.master.masterURL(), fmt.Sprint(n))
	f, err := e.start(string(c.sys)+"-fleet", []string{"SPARK_HOME=" + e.sparkHome, "SPARK_LOCAL_IP=127.0.0.1"}, argv...)
	if err != nil {
		return
	}
	defer f.kill()
	done, err := f.waitLine(fmt.Sprintf("REGISTERED %d", n), runLimit)
	if err != nil {
		return
	}
	first, ok := f.lineAt("Connecting to master")
	if !ok {
		err = fmt.Errorf("%s: no \"Connecting to master\" line:\n%s", f.name, f.tail(20))
		return
	}
	reg = done.Sub(first)
	if _, _, err = c.master.waitState(fmt.Sprintf("%d apps", n), 200*time.Millisecond, time.Minute,
		func(st deploy.MasterStateResponse) bool { return len(st.ActiveApps) >= n }); err != nil {
		return
	}
	us, err := sample([]int{c.master.pid(), c.workers[0].pid()}, interval)
	if err != nil {
		return
	}
	if f.contains("EXECUTOR ") {
		err = fmt.Errorf("%s: an executor was granted to a 64 GiB app:\n%s", f.name, f.tail(20))
		return
	}
	return us[0], us[1], reg, nil
}
