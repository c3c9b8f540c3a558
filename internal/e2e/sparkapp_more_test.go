//go:build linux

package e2e

import (
	"archive/zip"
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// More real Spark 4.1 applications on Ember's master and worker, each
// acting on the cluster while the job runs: a shuffle-heavy job whose map
// outputs outlive their executors (dynamic allocation with Ember's
// external shuffle service), an executor killed with SIGKILL mid-job, a
// master failover under ZooKeeper with a live app, and spark.authenticate.
//
// The applications are in internal/interop/jvm/sparkapp2: ShuffleJob, and
// GatedPi, whose tasks announce themselves in a gate dir and wait for the
// test to open the gate, so that the test acts mid-job on an event.

// sparkApp2Jar compiles internal/interop/jvm/sparkapp2 and packs it into
// a jar in dir.
func sparkApp2Jar(t *testing.T, home, dir string) string {
	t.Helper()
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "sparkapp2"))
	jarPath := filepath.Join(dir, "ember-sparkapp2.jar")
	f, err := os.Create(jarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = filepath.Walk(classes, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".class") {
			return err
		}
		rel, _ := filepath.Rel(classes, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("packing %s: %v", jarPath, err)
	}
	return jarPath
}

// quickJVM is in the environment of every JVM of these tests (the
// executors inherit the worker's): the client compiler only and the
// serial collector, which on a loaded two-core machine make the short
// jobs (and JVM startup) take about a third of the time.
const quickJVM = "JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

// newQuickSparkCluster is newSparkCluster with quickJVM in the worker's
// environment and workerConf on its command line.
func newQuickSparkCluster(t *testing.T, workerConf ...string) *sparkCluster {
	t.Helper()
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w := c.startWorker("worker", m.url, workerOpts{cores: 2, memory: "2g", env: []string{"SPARK_HOME=" + home, quickJVM},
		conf: workerConf})
	m.waitState(t, "the worker to register", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	return &sparkCluster{cluster: c, home: home, m: m, w: w}
}

// submitTo runs spark-submit in client mode against masters (a spark://
// URL, possibly of several masters); props are written to the run's
// spark-defaults.conf (so that a secret stays off the command line).
func (sc *sparkCluster) submitTo(masters, name string, props []string, args ...string) *proc {
	confDir := sc.mkdir("conf-" + name)
	if len(props) > 0 {
		writeProps(sc.t, confDir, "spark-defaults.conf", props...)
	}
	argv := append([]string{filepath.Join(sc.home, "bin", "spark-submit"), "--master", masters,
		"--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
		"--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false"}, args...)
	env := []string{"SPARK_HOME=" + sc.home, "SPARK_LOCAL_IP=127.0.0.1", "SPARK_CONF_DIR=" + confDir, quickJVM}
	return sc.start(name, env, argv...)
}

// finishedApp waits until m lists appName as FINISHED among its completed
// apps and returns it.
func finishedApp(t *testing.T, m *master, appName string) deploy.ApplicationInfoJSON {
	t.Helper()
	var app deploy.ApplicationInfoJSON
	m.waitState(t, appName+" FINISHED", func(st deploy.MasterStateResponse) bool {
		for _, a := range st.CompletedApps {
			if a.Name == appName && a.State == deploy.AppFinished {
				app = a
				return true
			}
		}
		return false
	})
	return app
}

// checkAppRun asserts a finished client-mode run: spark-submit exited 0
// with out in its output, the app is FINISHED in m's /json, every one of
// its executors on w left stdout and stderr (stderr showing a JVM
// executor watching Ember's worker), and no log (spark-submit's, the
// executors', the daemons') shows deserialization trouble. It returns the
// app and its executors' stderr by executor id.
func checkAppRun(t *testing.T, p *proc, m *master, w *worker, appName string, out *regexp.Regexp, daemons ...*proc) (deploy.ApplicationInfoJSON, map[int]string) {
	t.Helper()
	if code := waitExit(t, p); code != 0 {
		t.Fatalf("spark-submit exited %d:\n%s", code, tail(p.output(), 8000))
	}
	driverOut := p.output()
	if !out.MatchString(driverOut) {
		t.Errorf("no %q in the driver's output:\n%s", out, tail(driverOut, 4000))
	}
	app := finishedApp(t, m, appName)
	ents, err := os.ReadDir(filepath.Join(w.workDir, app.ID))
	if err != nil || len(ents) == 0 {
		t.Fatalf("no executor dirs of %s under %s: %v", app.ID, w.workDir, err)
	}
	stderrs := map[int]string{}
	nRegistered := 0
	logs := map[string]string{"spark-submit": driverOut}
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := w.executorDir(app.ID, id)
		if _, err := os.Stat(filepath.Join(dir, "stdout")); err != nil {
			t.Errorf("executor %d: %v", id, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "stderr"))
		if err != nil {
			t.Errorf("executor %d: %v", id, err)
		}
		s := string(b)
		stderrs[id] = s
		logs[fmt.Sprintf("executor %d stderr", id)] = s
		// An executor the driver registered (not one started just before
		// the app ended) ran as a JVM executor watching Ember's worker.
		registered := regexp.MustCompile(fmt.Sprintf(`Registered executor .* with ID %d,`, id)).MatchString(driverOut)
		nRegistered += btoi(registered)
		if registered {
			if why := watchesWorker(s, w); why != "" {
				t.Errorf("executor %d's stderr shows no JVM executor watching Ember's worker (%s):\n%s", id, why, tail(s, 4000))
			}
		}
	}
	if nRegistered == 0 {
		t.Errorf("no executor of %s registered with the driver:\n%s", app.ID, tail(driverOut, 4000))
	}
	for _, d := range append(daemons, w.proc) {
		logs[d.name] = d.output()
	}
	for name, l := range logs {
		if m := sparkLogProblems.FindString(l); m != "" {
			t.Errorf("%s log has %s:\n%s", name, m, tail(l, 6000))
		}
	}
	return app, stderrs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gate is GatedPi's gate dir: its tasks write started-<partition>-<attempt>
// ("<executor-id> <pid>") and wait until the file open exists.
type gate struct{ dir string }

// gateStart is one task attempt at the gate.
type gateStart struct {
	partition, attempt int
	execID             string
	pid                int
}

var gateFile = regexp.MustCompile(`^started-(\d+)-(\d+)$`)

// starts lists the task attempts that reached the gate.
func (g gate) starts() []gateStart {
	ents, _ := os.ReadDir(g.dir)
	var out []gateStart
	for _, e := range ents {
		m := gateFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(g.dir, e.Name()))
		f := strings.Fields(string(b))
		if err != nil || len(f) != 2 {
			continue
		}
		part, _ := strconv.Atoi(m[1])
		att, _ := strconv.Atoi(m[2])
		pid, _ := strconv.Atoi(f[1])
		out = append(out, gateStart{partition: part, attempt: att, execID: f[0], pid: pid})
	}
	return out
}

// waitStarts waits until n task attempts wait at the gate (failing at
// once if p exits) and returns them.
func (g gate) waitStarts(t *testing.T, p *proc, n int) []gateStart {
	t.Helper()
	var got []gateStart
	testutil.Eventually(t, submitLimit, fmt.Sprintf("%d tasks at the gate", n), func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited (%v) before %d tasks reached the gate:\n%s", p.name, p.cmd.ProcessState, n, tail(p.output(), 6000))
		}
		got = g.starts()
		return len(got) >= n, fmt.Sprintf("%v; driver: %s", got, tail(p.output(), 1500))
	})
	return got
}

// open lets the tasks through.
func (g gate) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// executorCmdline checks that pid is a live executor JVM of appID with id
// execID and returns its command line.
func executorCmdline(t *testing.T, pid int, appID, execID string) []string {
	t.Helper()
	args := cmdline(pid)
	i := slices.Index(args, "--executor-id")
	if i < 0 || i+1 >= len(args) || args[i+1] != execID || !slices.Contains(args, appID) ||
		!slices.Contains(args, "org.apache.spark.executor.CoarseGrainedExecutorBackend") {
		t.Fatalf("pid %d is not executor %s of %s: %q", pid, execID, appID, args)
	}
	return args
}

// activeApp waits until m lists a RUNNING app named appName and returns it.
func activeApp(t *testing.T, m *master, appName string) deploy.ApplicationInfoJSON {
	t.Helper()
	var app deploy.ApplicationInfoJSON
	m.waitState(t, appName+" RUNNING", func(st deploy.MasterStateResponse) bool {
		for _, a := range st.ActiveApps {
			if a.Name == appName && a.State == deploy.AppRunning {
				app = a
				return true
			}
		}
		return false
	})
	return app
}

// promMetric reads one unlabelled sample from a Prometheus text page.
func promMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(string(httpBody(t, url))))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("%s: %q", name, sc.Text())
			}
			return v
		}
	}
	t.Fatalf("no %s at %s", name, url)
	return 0
}

var (
	shuffleJobSets = regexp.MustCompile(`(?m)^(map|reduce) executors: \[([^\]]*)\]$`)
	shuffleJobSums = regexp.MustCompile(`(?m)^groups=(\d+) records=(\d+) badBytes=0 checksum=(-?\d+) expected=(-?\d+) sorted=true$`)
	piLine         = regexp.MustCompile(`Pi is roughly 3\.1`)
)

// TestSparkAppShuffleServiceDynamicAllocation: a shuffle of about 240 MB
// (2.4 M records of 100-byte values, 16 map tasks, groupByKey then
// sortByKey; about 80 MB once Spark compresses the shuffle) under dynamic
// allocation, the worker running Ember's external shuffle service. The first job writes the map outputs and
// reads them; the driver then waits until every executor was released
// (KillExecutors through the master); the second job reads the same map
// outputs on new executors, so every block comes from the shuffle service
// of executors that are gone. Proof: the second job's executors are
// disjoint from the map stage's, the map tasks ran once (no FetchFailed,
// no recomputation), the result checks out, and the worker's shuffle
// service counted the blocks it served.
func TestSparkAppShuffleServiceDynamicAllocation(t *testing.T) {
	shufflePort := testutil.FreePort(t)
	sc := newQuickSparkCluster(t, "spark.shuffle.service.enabled=true", "spark.shuffle.service.port="+strconv.Itoa(shufflePort))
	m, w := sc.m, sc.w
	jar := sparkApp2Jar(t, sc.home, sc.dir)
	const records, parts, keys = 2_400_000, 16, 50_000
	p := sc.submitTo(m.url, "spark-submit-shuffle", nil,
		"--conf", "spark.executor.cores=1",
		"--conf", "spark.dynamicAllocation.enabled=true",
		"--conf", "spark.dynamicAllocation.maxExecutors=2",
		"--conf", "spark.dynamicAllocation.executorIdleTimeout=1s",
		"--conf", "spark.shuffle.service.enabled=true",
		"--conf", "spark.shuffle.service.port="+strconv.Itoa(shufflePort),
		// Blocks of another executor on this host come through the
		// service, not from its dirs on disk.
		"--conf", "spark.shuffle.readHostLocalDisk=false",
		"--conf", "spark.serializer=org.apache.spark.serializer.KryoSerializer",
		"--class", "ember.sparkapp2.ShuffleJob", jar,
		strconv.Itoa(records), strconv.Itoa(parts), strconv.Itoa(keys))
	_, stderrs := checkAppRun(t, p, m, w, "EmberShuffleJob", regexp.MustCompile(`(?m)^ShuffleJob OK$`), m.proc)
	out := p.output()

	sets := map[string][]string{}
	for _, s := range shuffleJobSets.FindAllStringSubmatch(out, -1) {
		sets[s[1]] = strings.Split(strings.ReplaceAll(s[2], " ", ""), ",")
	}
	if len(sets["map"]) == 0 || len(sets["reduce"]) == 0 {
		t.Fatalf("no executor sets in the output:\n%s", tail(out, 4000))
	}
	for _, id := range sets["reduce"] {
		if slices.Contains(sets["map"], id) {
			t.Errorf("executor %s ran map tasks and the second job's reads (map %v, reduce %v): the reads were not of released executors' outputs",
				id, sets["map"], sets["reduce"])
		}
	}
	if !strings.Contains(out, "\nExecutors released\n") || !strings.Contains(out, fmt.Sprintf("map tasks run: %d\n", parts)) {
		t.Errorf("want every executor released between the jobs and %d map tasks run once:\n%s", parts, tail(out, 4000))
	}
	if sm := shuffleJobSums.FindStringSubmatch(out); sm == nil || sm[1] != strconv.Itoa(keys) || sm[2] != strconv.Itoa(records) || sm[3] != sm[4] {
		t.Errorf("want %d groups of %d records in all, the checksum as expected, sorted:\n%s", keys, records, tail(out, 4000))
	}
	for _, bad := range []string{"FetchFailed", "Resubmitting"} {
		if strings.Contains(out, bad) {
			t.Errorf("the driver's log has %q: the map outputs were not served after their executors left", bad)
		}
	}
	if !strings.Contains(out, "Actual list of executor(s) to be killed is") {
		t.Errorf("dynamic allocation killed no executor:\n%s", tail(out, 4000))
	}
	// Every executor registered with the worker's shuffle service.
	if len(stderrs) < len(sets["map"])+len(sets["reduce"]) {
		t.Errorf("%d executor dirs for map executors %v and reduce executors %v", len(stderrs), sets["map"], sets["reduce"])
	}
	for id, s := range stderrs {
		if !strings.Contains(s, "Registering executor with local external shuffle service") {
			t.Errorf("executor %d did not register with the shuffle service:\n%s", id, tail(s, 4000))
		}
	}
	metrics := w.uiURL + "/metrics/prometheus"
	served := promMetric(t, metrics, "ember_shuffle_blocks_served_total")
	bytes := promMetric(t, metrics, "ember_shuffle_bytes_served_total")
	// The second job's reducers fetch every map output (16 x 16 blocks,
	// none empty: every map task has records of every key) from the
	// service, their writers being gone.
	if served < parts*parts || bytes <= 0 {
		t.Errorf("the shuffle service served %v blocks, %v bytes; want at least the second job's %d", served, bytes, parts*parts)
	}
	t.Logf("Ember's shuffle service served %v blocks, %v bytes; map executors %v, reduce executors %v", served, bytes, sets["map"], sets["reduce"])
}

// TestSparkAppExecutorKilled: an executor JVM is killed with SIGKILL while
// its task waits mid-job. The worker reports it EXITED with code 137 (as
// Spark's ExecutorRunner does: the exit status of a process killed by
// signal 9); the master tells the driver, which logs the executor's loss
// and reruns its task (a second attempt of the partition reaches the
// gate); the master launches a replacement executor; the job finishes
// with the right result.
func TestSparkAppExecutorKilled(t *testing.T) {
	sc := newQuickSparkCluster(t)
	jar := sparkApp2Jar(t, sc.home, sc.dir)
	g := gate{dir: sc.mkdir("gate")}
	p := sc.submitTo(sc.m.url, "spark-submit-gated", nil,
		"--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2",
		"--class", "ember.sparkapp2.GatedPi", jar, g.dir, "4")
	starts := g.waitStarts(t, p, 2)
	app := activeApp(t, sc.m, "EmberGatedPi")
	victim := starts[0]
	executorCmdline(t, victim.pid, app.ID, victim.execID)
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", victim.pid, err)
	}
	full := app.ID + "/" + victim.execID
	lost := p.waitOutput(t, regexp.MustCompile(regexp.QuoteMeta("Executor updated: "+full+" is now EXITED (Command exited with code 137)")))
	t.Logf("killed executor %s (pid %d, partition %d); the driver: %s", victim.execID, victim.pid, victim.partition, lost[0])
	p.waitOutput(t, regexp.MustCompile(`Lost executor `+victim.execID+` on 127\.0\.0\.1`))
	// The master gives the app its core back with a new executor.
	p.waitOutput(t, regexp.MustCompile(`Executor added: `+regexp.QuoteMeta(app.ID)+`/2 on `))
	ws := sc.w.waitState(t, "the killed executor among the finished", func(st deploy.WorkerStateResponse) bool {
		for _, e := range st.FinishedExecutors {
			if e.AppID == app.ID && strconv.Itoa(e.ID) == victim.execID {
				return true
			}
		}
		return false
	})
	for _, e := range ws.FinishedExecutors {
		if e.AppID == app.ID && strconv.Itoa(e.ID) == victim.execID && e.State != deploy.ExecutorExited {
			t.Errorf("the worker lists the killed executor as %s, want EXITED", e.State)
		}
	}
	g.open(t)
	checkAppRun(t, p, sc.m, sc.w, "EmberGatedPi", piLine, sc.m.proc)
	// The killed executor's task ran again.
	rerun := false
	for _, s := range g.starts() {
		rerun = rerun || (s.partition == victim.partition && s.attempt > 0)
	}
	if !rerun {
		t.Errorf("partition %d, whose executor was killed, was not attempted again: %v", victim.partition, g.starts())
	}
}

// TestSparkAppMasterFailoverZooKeeper: two masters under ZooKeeper, a
// worker and a Spark driver that know both; the leader is killed with -9
// while the job's tasks wait. The standby takes over, recovers the worker
// and the app from ZooKeeper, and tells the driver (MasterChanged), which
// acknowledges it (the app is RUNNING on the new master, not finished as
// unresponsive); the job then finishes and the app ends FINISHED on the
// new master.
func TestSparkAppMasterFailoverZooKeeper(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	zk := testutil.StartZooKeeperServer(t, testutil.ZooKeeperOptions{TickTime: time.Second, MaxSessionTimeout: 6 * time.Second})
	conf := []string{
		"spark.deploy.recoveryMode=ZOOKEEPER",
		"spark.deploy.zookeeper.url=" + zk.Addr,
		"spark.deploy.recoveryTimeout=120s",
	}
	m1 := c.startMaster("master1", masterOpts{conf: conf})
	m1.waitState(t, "ALIVE (the first master leads)", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateAlive
	})
	m2 := c.startMaster("master2", masterOpts{conf: conf})
	m2.waitState(t, "STANDBY", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateStandby
	})
	masters := fmt.Sprintf("spark://127.0.0.1:%d,127.0.0.1:%d", m1.port, m2.port)
	// Spark's registration retries: the worker must outlast the election.
	w := c.startWorker("worker", masters, workerOpts{cores: 2, memory: "2g", sparkRetry: true,
		env: []string{"SPARK_HOME=" + home, quickJVM}})
	m1.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	sc := &sparkCluster{cluster: c, home: home, m: m1, w: w}
	jar := sparkApp2Jar(t, home, c.dir)
	g := gate{dir: c.mkdir("gate")}
	p := sc.submitTo(masters, "spark-submit-failover", nil,
		"--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2",
		"--class", "ember.sparkapp2.GatedPi", jar, g.dir, "2")
	g.waitStarts(t, p, 1)
	app := activeApp(t, m1, "EmberGatedPi")
	if st, err := m2.state(); err != nil || st.Status != deploy.StateStandby || len(st.ActiveApps) != 0 {
		t.Errorf("the standby: %s (%v); want STANDBY without the app", st.Summary(), err)
	}

	m1.kill9(t)
	m2.waitState(t, "ALIVE with the worker and the app", func(st deploy.MasterStateResponse) bool {
		_, ok := findApp(st.ActiveApps, app.ID)
		return st.Status == deploy.StateAlive && workerState(st, w.id) == deploy.WorkerAlive && ok
	})
	changed := p.waitOutput(t, regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("Master has changed, new master is at spark://127.0.0.1:%d", m2.port))))
	t.Logf("the driver: %s", changed[0])
	// The driver's acknowledgement: the recovery keeps the app (an app
	// that never answers is finished when the recovery completes).
	m2.waitState(t, "the app RUNNING after the recovery", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, app.ID)
		return st.Status == deploy.StateAlive && ok && a.State == deploy.AppRunning && a.Cores == 2
	})
	g.open(t)
	got, execs := checkAppRun(t, p, m2, w, "EmberGatedPi", piLine, m1.proc, m2.proc)
	if got.ID != app.ID {
		t.Errorf("the new master finished app %s, want %s", got.ID, app.ID)
	}
	// The executors lived through the failover: none was started again.
	if len(execs) != 2 {
		t.Errorf("%d executors ran for the app, want its first 2 only", len(execs))
	}
	if out := p.output(); strings.Contains(out, "All masters are unresponsive") || strings.Contains(out, "Master removed our application") {
		t.Errorf("the driver lost its app:\n%s", tail(out, 4000))
	}
}

// TestSparkAppAuthenticate: master, worker and driver share a secret
// (spark.authenticate, from properties files). A GatedPi job finishes; the
// secret is on no command line of the cluster (the executors get it in
// their environment, _SPARK_AUTH_SECRET) and in no executor log. A
// driver with a wrong secret, run at the same time, cannot register: every
// connection fails authentication, it gives up (Spark's three 20 s
// registration rounds) and its context stops, and no app of it reaches
// the master. (That driver runs no job: a job submitted as the context
// stops may wait forever in Spark 4.1, or fail with a
// NullPointerException.)
func TestSparkAppAuthenticate(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	secret, wrong := randomSecret(t), randomSecret(t)
	confDir := t.TempDir()
	props := writeProps(t, confDir, "auth.conf", "spark.authenticate=true", "spark.authenticate.secret="+secret)
	m := startAuthMaster(c, props)
	w := startAuthWorker(c, m.url, props, []string{"SPARK_HOME=" + home, quickJVM})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	sc := &sparkCluster{cluster: c, home: home, m: m, w: w}
	jar := sparkApp2Jar(t, home, c.dir)

	bad := sc.submitTo(m.url, "spark-submit-wrong-secret", []string{"spark.authenticate=true", "spark.authenticate.secret=" + wrong},
		"--class", "ember.sparkapp2.RegisterOnly", jar, "30")
	g := gate{dir: c.mkdir("gate")}
	p := sc.submitTo(m.url, "spark-submit-auth", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret},
		"--class", "ember.sparkapp2.GatedPi", jar, g.dir, "2")
	start := g.waitStarts(t, p, 1)[0]
	app := activeApp(t, m, "EmberGatedPi")
	args := executorCmdline(t, start.pid, app.ID, start.execID)
	if strings.Contains(strings.Join(args, " "), secret) {
		t.Errorf("the secret is on executor %s's command line", start.execID)
	}
	if !slices.Contains(environ(start.pid), "_SPARK_AUTH_SECRET="+secret) {
		t.Errorf("executor %s (pid %d) has no _SPARK_AUTH_SECRET in its environment", start.execID, start.pid)
	}
	checkCmdlines(t, c, secret)
	g.open(t)
	_, stderrs := checkAppRun(t, p, m, w, "EmberGatedPi", piLine, m.proc)
	for id, s := range stderrs {
		if !strings.HasPrefix(s, "Spark Executor Command: ") || strings.Contains(s, secret) {
			t.Errorf("executor %d's stderr: want the command header and no secret:\n%s", id, tail(s, 3000))
		}
	}

	// The wrong secret: refused at every attempt, then Spark gives up.
	if code := waitExit(t, bad); code != 3 {
		t.Errorf("the driver with a wrong secret exited %d, want 3 (its context stopped):\n%s", code, tail(bad.output(), 6000))
	}
	badOut := bad.output()
	if !strings.Contains(badOut, "All masters are unresponsive! Giving up.") || strings.Contains(badOut, "Connected to Spark cluster") {
		t.Errorf("the driver with a wrong secret did not give up on registering:\n%s", tail(badOut, 6000))
	}
	// The master refused each attempt for the secret. The driver's own
	// account of a refusal races inside Spark: the master's failure answer
	// makes its bootstrap throw "Authentication failed", while the close
	// that follows stops the connection's outbox, which interrupts that
	// same thread (InterruptedException) if it has not thrown yet. Both
	// were seen; the master's log is the deterministic witness.
	refusals := strings.Count(m.proc.output(), "authentication failed; closing connection")
	if refusals == 0 {
		t.Errorf("the master logged no authentication failure for the wrong secret")
	}
	t.Logf("the wrong secret's driver: %d attempts refused by the master (%d seen by the driver as Authentication failed), then %q, exit 3",
		refusals, strings.Count(badOut, "java.lang.RuntimeException: Authentication failed."), "All masters are unresponsive! Giving up.")
	if strings.Contains(badOut, wrong) || strings.Contains(badOut, secret) {
		t.Errorf("a secret is in the wrong driver's output")
	}
	st, err := m.state()
	if err != nil {
		t.Fatal(err)
	}
	if apps := append(st.ActiveApps, st.CompletedApps...); len(apps) != 1 {
		t.Errorf("the master lists %d apps, want only the right secret's: %s", len(apps), st.Summary())
	}
	for name, l := range map[string]string{"master": m.output(), "worker": w.output(), "wrong driver": badOut} {
		if mm := sparkLogProblems.FindString(l); mm != "" {
			t.Errorf("%s log has %s:\n%s", name, mm, tail(l, 6000))
		}
	}
}

// watchesWorker says why an executor's stderr does not show a JVM
// executor (CoarseGrainedExecutorBackend) whose WorkerWatcher connected
// to Ember's worker w, or "" when it does. The evidence is the watcher's
// "Connecting to worker spark://Worker@host:port" with w's port, and the
// transport's "Successfully created connection to /host:port" to that
// address: the executor opens no other connection to its worker. The
// watcher's own "Successfully connected" line is not required: Spark's
// WorkerWatcher starts connecting in its constructor, before the RPC env
// registers it, so when the connection comes up first the watcher never
// hears of it and the line is not logged (seen under load in CI).
func watchesWorker(stderr string, w *worker) string {
	if !strings.Contains(stderr, "CoarseGrainedExecutorBackend") {
		return "no CoarseGrainedExecutorBackend"
	}
	m := regexp.MustCompile(`WorkerWatcher: Connecting to worker spark://Worker@(\S+:` + strconv.Itoa(w.port) + `)\b`).FindStringSubmatch(stderr)
	if m == nil {
		return fmt.Sprintf("no WorkerWatcher connecting to a worker at port %d", w.port)
	}
	if !strings.Contains(stderr, "Successfully created connection to /"+m[1]+" ") &&
		!strings.Contains(stderr, "WorkerWatcher: Successfully connected to spark://Worker@"+m[1]) {
		return "no connection made to the worker at " + m[1]
	}
	return ""
}
