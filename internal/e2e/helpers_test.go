//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
)

// waitLimit bounds every wait: it turns a hang into a failure and never
// decides an outcome.
const waitLimit = testutil.WaitLimit

const testMarkerKey = "EMBER_E2E_TEST"

// cluster is one test's processes and files.
type cluster struct {
	t      *testing.T
	dir    string
	marker string // testMarkerKey=<unique>, in every child's environment

	mu      sync.Mutex
	procs   []*proc
	drivers []*driver
	n       int
}

// newCluster prepares a test's cluster; its cleanup kills every process
// the test started and checks none is left.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	requireE2E(t)
	c := &cluster{t: t, dir: t.TempDir(),
		marker: fmt.Sprintf("%s=%s-%d", testMarkerKey, t.Name(), time.Now().UnixNano())}
	t.Cleanup(c.cleanup) // after TempDir's: runs before the dir goes
	return c
}

// path returns a path in the test's dir.
func (c *cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// mkdir makes a dir in the test's dir.
func (c *cluster) mkdir(elem ...string) string {
	c.t.Helper()
	p := c.path(elem...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// baseEnv is the environment of every child: the test's, without Spark's
// and Ember's variables (a developer's SPARK_HOME must not leak in), plus
// the markers.
func (c *cluster) baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SPARK_") || strings.HasPrefix(k, "_SPARK_") || strings.HasPrefix(k, "EMBER_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, runMarker, c.marker)
}

// proc is a child process in a process group of its own, its stdout and
// stderr going to one log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the child is reaped
}

// start runs argv as a child. env entries are added to baseEnv.
func (c *cluster) start(name string, env []string, argv ...string) *proc {
	c.t.Helper()
	c.mu.Lock()
	c.n++
	logPath := c.path(fmt.Sprintf("%02d-%s.log", c.n, name))
	c.mu.Unlock()
	f, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(c.baseEnv(), env...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = f, f
	// A group of its own: the cleanup's SIGKILL reaches whatever it
	// started in it; Pdeathsig kills it should the test binary die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has exited (and been reaped).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode waits (bounded) for the child to exit and returns its exit
// code (-1 when killed by a signal).
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not exit within %v; its output:\n%s", p.name, waitLimit, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// output returns what the child printed so far.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// signalGroup sends sig to the child's process group.
func (p *proc) signalGroup(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid(), sig)
}

// kill9 kills the child's process group with SIGKILL and waits for the
// child to be reaped.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatalf("%s (pid %d) still runs %v after SIGKILL", p.name, p.pid(), waitLimit)
	}
}

// waitOutput waits until the child's output matches re and returns the
// submatches of the first match. It fails at once if the child exits
// without printing it.
func (p *proc) waitOutput(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	testutil.Eventually(t, waitLimit, fmt.Sprintf("%s to print %q", p.name, re), func() (bool, string) {
		out := p.output()
		if m = re.FindStringSubmatch(out); m != nil {
			return true, ""
		}
		if p.exited() {
			// One last read: it may have printed just before exiting.
			if m = re.FindStringSubmatch(p.output()); m != nil {
				return true, ""
			}
			t.Fatalf("%s exited (%v) without printing %q; its output:\n%s", p.name, p.cmd.ProcessState, re, out)
		}
		return false, tail(out, 2000)
	})
	return m
}

// countOutput counts the occurrences of s in the child's output.
func (p *proc) countOutput(s string) int {
	return strings.Count(p.output(), s)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// cleanup kills every process of the test (SIGKILL to each group), checks
// none is left behind, and prints the logs if the test failed.
func (c *cluster) cleanup() {
	t := c.t
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	drivers := append([]*driver(nil), c.drivers...)
	c.mu.Unlock()
	for _, d := range drivers {
		d.env.Shutdown()
	}
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		p.signalGroup(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(waitLimit):
			t.Errorf("%s (pid %d) still runs %v after SIGKILL", p.name, p.pid(), waitLimit)
		}
	}
	// Nothing of the groups, nor anything that inherited the test's
	// marker (executors run in groups of their own), may survive: an
	// orphaned executor must notice its worker is gone and exit.
	left := testutil.Poll(waitLimit, func() (bool, string) {
		var ps []testutil.Proc
		for _, p := range procs {
			ps = append(ps, testutil.ProcessesInGroup(p.pid())...)
		}
		ps = append(ps, testutil.ProcessesWithEnv(c.marker)...)
		if len(ps) == 0 {
			return true, ""
		}
		return false, fmt.Sprint(ps)
	})
	if left != "" {
		t.Errorf("processes left behind after the cleanup (killing them): %s", left)
		for _, p := range testutil.ProcessesWithEnv(c.marker) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	// Daemons built with -race (EMBER_E2E_RACE=1) report races in their
	// logs; a race killed by the cleanup's SIGKILL would go unnoticed.
	for _, p := range procs {
		if out := p.output(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race (log %s)", p.name, p.logPath)
		}
	}
	if t.Failed() {
		for _, p := range procs {
			t.Logf("==== output of %s (pid %d, %v), %s:\n%s", p.name, p.pid(), p.cmd.ProcessState, p.logPath, tail(p.output(), 12000))
		}
		for _, d := range drivers {
			b, _ := os.ReadFile(d.logPath)
			t.Logf("==== driver log %s:\n%s", d.logPath, tail(string(b), 6000))
			t.Logf("==== driver messages: %s", d.describe())
		}
	}
}

// ---- masters ----

type masterOpts struct {
	port, uiPort int      // 0: a free port
	conf         []string // --conf key=value
	workerTO     string   // spark.worker.timeout ("" : 10)
}

// master is an `ember master` child.
type master struct {
	*proc
	port, uiPort int
	url          string // spark://127.0.0.1:<port>
	uiURL        string // http://127.0.0.1:<uiPort>
}

var masterStarted = regexp.MustCompile(`Master at (spark://[^,\s]+), web UI at (http://\S+)`)

// startMaster starts `ember master` on loopback and waits until it serves
// its web UI.
func (c *cluster) startMaster(name string, o masterOpts) *master {
	c.t.Helper()
	if o.port == 0 {
		o.port = testutil.FreePort(c.t)
	}
	if o.uiPort == 0 {
		o.uiPort = testutil.FreePort(c.t)
	}
	if o.workerTO == "" {
		o.workerTO = "10"
	}
	argv := []string{emberBin, "master", "--host", "127.0.0.1", "--port", strconv.Itoa(o.port),
		"--webui-port", strconv.Itoa(o.uiPort), "--conf", "spark.worker.timeout=" + o.workerTO}
	for _, kv := range o.conf {
		argv = append(argv, "--conf", kv)
	}
	p := c.start(name, nil, argv...)
	m := p.waitOutput(c.t, masterStarted)
	ms := &master{proc: p, url: m[1], uiURL: m[2]}
	a, err := rpcenv.ParseSparkURL(ms.url)
	if err != nil {
		c.t.Fatalf("%s printed a bad URL: %v", name, err)
	}
	ms.port = a.Port
	ms.uiPort = portOf(c.t, ms.uiURL)
	return ms
}

func portOf(t *testing.T, u string) int {
	t.Helper()
	i := strings.LastIndexByte(u, ':')
	n, err := strconv.Atoi(strings.TrimRight(u[i+1:], "/"))
	if i < 0 || err != nil {
		t.Fatalf("no port in %q", u)
	}
	return n
}

// addr is the master's RPC address.
func (m *master) addr() rpcenv.Address { return rpcenv.NewAddress("127.0.0.1", m.port) }

var httpClient = &http.Client{Timeout: 10 * time.Second}

// getJSON fetches url into v.
func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w: %s", url, err, b)
	}
	return nil
}

// state fetches the master's /json.
func (m *master) state() (deploy.MasterStateResponse, error) {
	var st deploy.MasterStateResponse
	err := getJSON(m.uiURL+"/json", &st)
	return st, err
}

// waitState polls the master's /json until cond holds and returns that
// state. It fails at once if the master exits.
func (m *master) waitState(t *testing.T, what string, cond func(st deploy.MasterStateResponse) bool) deploy.MasterStateResponse {
	t.Helper()
	var st deploy.MasterStateResponse
	testutil.Eventually(t, waitLimit, m.name+": "+what, func() (bool, string) {
		if m.exited() {
			t.Fatalf("%s exited (%v) while waiting for %s; its output:\n%s", m.name, m.cmd.ProcessState, what, tail(m.output(), 8000))
		}
		s, err := m.state()
		if err != nil {
			return false, err.Error()
		}
		st = s
		return cond(s), s.Summary()
	})
	return st
}

// findApp returns the app with id among st's active apps.
func findApp(apps []deploy.ApplicationInfoJSON, id string) (deploy.ApplicationInfoJSON, bool) {
	for _, a := range apps {
		if a.ID == id {
			return a, true
		}
	}
	return deploy.ApplicationInfoJSON{}, false
}

// workerState is the state of worker id in st ("" if not listed).
func workerState(st deploy.MasterStateResponse, id string) deploy.WorkerState {
	w, _ := st.Worker(id)
	return w.State
}

// ---- workers ----

type workerOpts struct {
	port, uiPort int      // 0: RPC port random, UI port free
	cores        int      // 0: 2
	memory       string   // "": 512m
	conf         []string // --conf key=value
	workerTO     string   // spark.worker.timeout ("" : 10)
	workDir      string   // "": a new dir in the test's dir
	env          []string
	noWait       bool // do not wait for the "Worker ... at" line
	// sparkRetry keeps Spark's registration retry intervals (5-15 s, then
	// 30-90 s) instead of scaling them by 0.02.
	sparkRetry bool
}

// worker is an `ember worker` child.
type worker struct {
	*proc
	id      string
	port    int
	uiURL   string
	workDir string
}

var workerStarted = regexp.MustCompile(`Worker (\S+) at (\S+), web UI at (http://\S+)`)

// startWorker starts `ember worker` on loopback for masters
// (spark://h:p[,h:p]) and waits until it serves its web UI.
func (c *cluster) startWorker(name, masters string, o workerOpts) *worker {
	c.t.Helper()
	if o.uiPort == 0 {
		o.uiPort = testutil.FreePort(c.t)
	}
	if o.cores == 0 {
		o.cores = 2
	}
	if o.memory == "" {
		o.memory = "512m"
	}
	if o.workerTO == "" {
		o.workerTO = "10"
	}
	if o.workDir == "" {
		o.workDir = c.mkdir("work-" + name)
	}
	argv := []string{emberBin, "worker", "--host", "127.0.0.1", "--webui-port", strconv.Itoa(o.uiPort),
		"--cores", strconv.Itoa(o.cores), "--memory", o.memory, "--work-dir", o.workDir,
		"--conf", "spark.worker.timeout=" + o.workerTO,
		"--conf", "spark.worker.ember.executorKillGrace=5s"}
	if !o.sparkRetry {
		// Registration retries every 0.1-0.3 s instead of 5-15 s (and
		// the 16 retries are used up in about 10 s, not 10 minutes).
		argv = append(argv, "--conf", "spark.worker.ember.registrationIntervalScale=0.02")
	}
	if o.port != 0 {
		argv = append(argv, "--port", strconv.Itoa(o.port))
	}
	for _, kv := range o.conf {
		argv = append(argv, "--conf", kv)
	}
	argv = append(argv, masters)
	// Executors' scratch dirs go under the test's dir, not /tmp.
	env := append([]string{"SPARK_LOCAL_DIRS=" + c.mkdir("local-"+name)}, o.env...)
	p := c.start(name, env, argv...)
	w := &worker{proc: p, workDir: o.workDir, uiURL: fmt.Sprintf("http://127.0.0.1:%d", o.uiPort)}
	if o.noWait {
		return w
	}
	m := p.waitOutput(c.t, workerStarted)
	w.id, w.uiURL = m[1], m[3]
	a, err := rpcenv.ParseSparkURL("spark://" + m[2])
	if err != nil {
		c.t.Fatalf("%s printed a bad address %q: %v", name, m[2], err)
	}
	w.port = a.Port
	return w
}

// state fetches the worker's /json.
func (w *worker) state() (deploy.WorkerStateResponse, error) {
	var st deploy.WorkerStateResponse
	err := getJSON(w.uiURL+"/json", &st)
	return st, err
}

// waitState polls the worker's /json until cond holds.
func (w *worker) waitState(t *testing.T, what string, cond func(st deploy.WorkerStateResponse) bool) deploy.WorkerStateResponse {
	t.Helper()
	var st deploy.WorkerStateResponse
	testutil.Eventually(t, waitLimit, w.name+": "+what, func() (bool, string) {
		if w.exited() {
			t.Fatalf("%s exited (%v) while waiting for %s; its output:\n%s", w.name, w.cmd.ProcessState, what, tail(w.output(), 8000))
		}
		s, err := w.state()
		if err != nil {
			return false, err.Error()
		}
		st = s
		return cond(s), fmt.Sprintf("%+v", s)
	})
	return st
}

// executorDir is <workDir>/<appId>/<execId>.
func (w *worker) executorDir(appID string, execID int) string {
	return filepath.Join(w.workDir, appID, strconv.Itoa(execID))
}

// ---- the application's driver, in the test process ----

// driver is an application's driver: an AppClient endpoint on an RPC env
// of the test process. It records what the masters send and answers
// MasterChanged with MasterChangeAcknowledged, as Spark's
// StandaloneAppClient does.
type driver struct {
	t       *testing.T
	env     *rpcenv.Env
	self    *rpcenv.Ref
	masters []*rpcenv.Ref
	logPath string

	mu     sync.Mutex
	msgs   []any
	appID  string
	master *rpcenv.Ref // the master that accepted the app, or the last MasterChanged's
}

// newDriver creates the driver's env: client mode (it only connects out,
// as in the worker tests) or listening on loopback, as a real driver does
// (a recovered master must be able to reach it).
func (c *cluster) newDriver(clientMode bool, masters ...*master) *driver {
	c.t.Helper()
	c.mu.Lock()
	c.n++
	logPath := c.path(fmt.Sprintf("%02d-driver.log", c.n))
	c.mu.Unlock()
	f, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { f.Close() })
	log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := rpcenv.Config{Name: "sparkDriver", Logger: log, ClientMode: clientMode}
	if !clientMode {
		cfg.BindHost = "127.0.0.1"
	}
	env, err := rpcenv.Create(cfg)
	if err != nil {
		c.t.Fatalf("driver env: %v", err)
	}
	d := &driver{t: c.t, env: env, logPath: logPath}
	c.mu.Lock()
	c.drivers = append(c.drivers, d)
	c.mu.Unlock()
	if d.self, err = env.SetupEndpoint(deploy.AppClientEndpoint, d); err != nil {
		c.t.Fatalf("driver endpoint: %v", err)
	}
	for _, m := range masters {
		d.masters = append(d.masters, env.RefFor(rpcenv.EndpointAddress{Addr: m.addr(), Name: deploy.MasterEndpointName}))
	}
	return d
}

// Receive records a message; it acknowledges MasterChanged.
func (d *driver) Receive(msg any, _ rpcenv.Address) error {
	d.mu.Lock()
	d.msgs = append(d.msgs, msg)
	var ack *rpcenv.Ref
	switch x := msg.(type) {
	case deploy.RegisteredApplication:
		d.appID, d.master = x.AppID, x.Master
	case deploy.MasterChanged:
		d.master = x.Master
		ack = x.Master
	}
	appID := d.appID
	d.mu.Unlock()
	if ack != nil {
		return ack.Send(deploy.MasterChangeAcknowledged{AppID: appID})
	}
	return nil
}

// ReceiveAndReply refuses asks.
func (d *driver) ReceiveAndReply(msg any, _ rpcenv.CallContext) error {
	return fmt.Errorf("%w: driver got ask %T", rpcenv.ErrUnsupported, msg)
}

func (d *driver) messages() []any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]any(nil), d.msgs...)
}

// describe renders the messages received (the last 40), for failure
// messages.
func (d *driver) describe() string {
	msgs := d.messages()
	var parts []string
	if len(msgs) > 40 {
		parts = append(parts, fmt.Sprintf("... %d earlier", len(msgs)-40))
		msgs = msgs[len(msgs)-40:]
	}
	for _, m := range msgs {
		parts = append(parts, describeMsg(m))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func describeMsg(m any) string {
	opt := func(p *string) string {
		if p == nil {
			return "None"
		}
		return strconv.Quote(*p)
	}
	switch x := m.(type) {
	case deploy.ExecutorUpdated:
		exit := "None"
		if x.ExitStatus != nil {
			exit = strconv.Itoa(*x.ExitStatus)
		}
		return fmt.Sprintf("ExecutorUpdated(%d, %s, %s, %s, %s)", x.ID, x.State, opt(x.Message), exit, opt(x.WorkerHost))
	case deploy.MasterChanged:
		return fmt.Sprintf("MasterChanged(%v, %s)", x.Master, x.MasterWebUIURL)
	}
	return fmt.Sprintf("%T%+v", m, m)
}

// register sends RegisterApplication to every master and waits for the
// RegisteredApplication; it returns the app id.
func (d *driver) register(desc deploy.ApplicationDescription) string {
	d.t.Helper()
	for _, m := range d.masters {
		if err := m.Send(deploy.RegisterApplication{AppDescription: desc, Driver: d.self}); err != nil {
			d.t.Fatalf("RegisterApplication to %s: %v", m.Address(), err)
		}
	}
	var id string
	d.waitMsg("RegisteredApplication", func(m any) bool {
		r, ok := m.(deploy.RegisteredApplication)
		id = r.AppID
		return ok
	})
	return id
}

// unregister sends UnregisterApplication to the master that has the app.
func (d *driver) unregister() {
	d.t.Helper()
	d.mu.Lock()
	m, id := d.master, d.appID
	d.mu.Unlock()
	if err := m.Send(deploy.UnregisterApplication{AppID: id}); err != nil {
		d.t.Fatalf("UnregisterApplication: %v", err)
	}
}

// waitMsg waits until some received message satisfies pred.
func (d *driver) waitMsg(what string, pred func(m any) bool) {
	d.t.Helper()
	testutil.Eventually(d.t, waitLimit, "the driver to get "+what, func() (bool, string) {
		for _, m := range d.messages() {
			if pred(m) {
				return true, ""
			}
		}
		return false, d.describe()
	})
}

// appDesc describes an app whose executors are fakeexec, marked with
// marker among their arguments.
func appDesc(name string, maxCores int, marker string, env map[string]string) deploy.ApplicationDescription {
	d := deploy.ApplicationDescription{Name: name, MemoryPerExecutorMB: 64, User: "e2e",
		Command: deploy.Command{MainClass: fakeExec,
			Arguments:   []string{"--exec-id", "{{EXECUTOR_ID}}", "--app", "{{APP_ID}}", "--marker", marker},
			Environment: env}}
	if maxCores > 0 {
		d.MaxCores = &maxCores
	}
	return d
}

// ---- executor processes ----

// execOutput waits until an executor's stdout file has fakeexec's whole
// report and returns its key=value lines.
func execOutput(t *testing.T, path string) map[string]string {
	t.Helper()
	var text string
	testutil.Eventually(t, waitLimit, "fakeexec's report in "+path, func() (bool, string) {
		b, err := os.ReadFile(path)
		text = string(b)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(text, "\nready\n"), text
	})
	kv := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// cmdline returns a live process's arguments (nil if it is gone).
func cmdline(pid int) []string {
	if testutil.ProcessGone(pid) {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// markedProcesses lists the live processes with marker among their
// arguments.
func markedProcesses(marker string) []testutil.Proc {
	return testutil.Processes(func(p testutil.Proc, _ []string) bool {
		for _, a := range p.Cmdline {
			if a == marker {
				return true
			}
		}
		return false
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
