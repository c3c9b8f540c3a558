//go:build linux

package fault

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
)

// waitLimit bounds every wait: it turns a hang into a failure and never
// decides an outcome (a loaded two-core machine must pass).
const waitLimit = testutil.WaitLimit

// Every host has its own port space: the daemons use fixed ports.
const (
	masterPort    = 7077
	masterUIPort  = 8080
	workerPort    = 7078
	workerUIPort  = 8081
	shufflePort   = 7337
	echoPort      = 7100
	zooKeeperPort = 2181
)

// scene is one scenario's network and files.
type scene struct {
	t   *testing.T
	net *netns.Net
	dir string
}

// newScene builds hosts for a scenario (skipping or failing as
// requireFault says).
func newScene(t *testing.T, opts netns.Options) *scene {
	t.Helper()
	requireFault(t)
	dir := t.TempDir()
	opts.Dir = dir
	return &scene{t: t, net: netns.New(t, opts), dir: dir}
}

func (s *scene) mkdir(elem ...string) string {
	s.t.Helper()
	p := filepath.Join(append([]string{s.dir}, elem...)...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// env is the environment of every child: the test's, without Spark's and
// Ember's variables, plus extra. The daemons run with protected mode off
// (spark.ember.protectedMode=false): these scenarios are about faults
// between hosts, which an unauthenticated daemon in protected mode would
// refuse to serve (TestProtectedModeAcrossHosts covers that).
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SPARK_") || strings.HasPrefix(k, "_SPARK_") || strings.HasPrefix(k, "EMBER_") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "SPARK_DAEMON_JAVA_OPTS=-Dspark.ember.protectedMode=false")
	return append(out, extra...)
}

// start runs argv on h, failing t if it cannot.
func (s *scene) start(h *netns.Host, name string, argv []string, extraEnv ...string) *netns.Proc {
	s.t.Helper()
	p, err := h.Start(name, argv, netns.WithEnv(env(extraEnv...)), netns.WithDir(s.dir))
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func waitOutput(t *testing.T, p *netns.Proc, re *regexp.Regexp) []string {
	t.Helper()
	m, err := p.WaitOutput(re, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ---- masters ----

type master struct {
	*netns.Proc
	host  *netns.Host
	url   string // spark://ip:7077
	uiURL string // http://ip:8080
}

var masterStarted = regexp.MustCompile(`Master at (spark://[^,\s]+), web UI at (http://\S+)`)

// startMaster runs `ember master` on h and waits until it serves.
func (s *scene) startMaster(h *netns.Host, name string, conf ...string) *master {
	s.t.Helper()
	argv := []string{emberBin, "master", "--host", h.IP, "--port", strconv.Itoa(masterPort),
		"--webui-port", strconv.Itoa(masterUIPort)}
	for _, kv := range conf {
		argv = append(argv, "--conf", kv)
	}
	p := s.start(h, name, argv)
	m := waitOutput(s.t, p, masterStarted)
	return &master{Proc: p, host: h, url: m[1], uiURL: m[2]}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

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
	return json.Unmarshal(b, v)
}

func (m *master) state() (deploy.MasterStateResponse, error) {
	var st deploy.MasterStateResponse
	err := getJSON(m.uiURL+"/json", &st)
	return st, err
}

// waitState polls the master's /json until cond holds; it fails at once
// if the master exits.
func (m *master) waitState(t *testing.T, what string, cond func(deploy.MasterStateResponse) bool) deploy.MasterStateResponse {
	t.Helper()
	var st deploy.MasterStateResponse
	testutil.Eventually(t, waitLimit, m.Name+": "+what, func() (bool, string) {
		if m.Exited() {
			t.Fatalf("%s exited (%s) while waiting for %s; its output ends:\n%s", m.Name, m.State(), what, tail(m.Output(), 6000))
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

func workerState(st deploy.MasterStateResponse, id string) deploy.WorkerState {
	w, _ := st.Worker(id)
	return w.State
}

func findApp(apps []deploy.ApplicationInfoJSON, id string) (deploy.ApplicationInfoJSON, bool) {
	for _, a := range apps {
		if a.ID == id {
			return a, true
		}
	}
	return deploy.ApplicationInfoJSON{}, false
}

// ---- workers ----

type worker struct {
	*netns.Proc
	host  *netns.Host
	id    string
	uiURL string
}

var workerStarted = regexp.MustCompile(`Worker (\S+) at (\S+), web UI at (http://\S+)`)

// startWorker runs `ember worker` on h with cores and waits until it
// serves its web UI.
func (s *scene) startWorker(h *netns.Host, name, masters string, cores int, conf ...string) *worker {
	s.t.Helper()
	argv := []string{emberBin, "worker", "--host", h.IP, "--port", strconv.Itoa(workerPort),
		"--webui-port", strconv.Itoa(workerUIPort), "--cores", strconv.Itoa(cores), "--memory", "1g",
		"--work-dir", s.mkdir("work-" + name)}
	for _, kv := range conf {
		argv = append(argv, "--conf", kv)
	}
	argv = append(argv, masters)
	p := s.start(h, name, argv, "SPARK_LOCAL_DIRS="+s.mkdir("local-"+name))
	m := waitOutput(s.t, p, workerStarted)
	return &worker{Proc: p, host: h, id: m[1], uiURL: m[3]}
}

func (w *worker) state() (deploy.WorkerStateResponse, error) {
	var st deploy.WorkerStateResponse
	err := getJSON(w.uiURL+"/json", &st)
	return st, err
}

// waitState polls the worker's /json until cond holds.
func (w *worker) waitState(t *testing.T, what string, cond func(deploy.WorkerStateResponse) bool) deploy.WorkerStateResponse {
	t.Helper()
	var st deploy.WorkerStateResponse
	testutil.Eventually(t, waitLimit, w.Name+": "+what, func() (bool, string) {
		if w.Exited() {
			t.Fatalf("%s exited (%s) while waiting for %s; its output ends:\n%s", w.Name, w.State(), what, tail(w.Output(), 6000))
		}
		s, err := w.state()
		if err != nil {
			return false, err.Error()
		}
		st = s
		return cond(s), fmt.Sprintf("%+v", s.Executors)
	})
	return st
}

// executorsOf returns the ids of app's running executors in a worker's
// state.
func executorsOf(st deploy.WorkerStateResponse, appID string) []string {
	var ids []string
	for _, e := range st.Executors {
		if e.AppID == appID {
			ids = append(ids, strconv.Itoa(e.ID))
		}
	}
	return ids
}

// ---- the application (faultprog driver) ----

// job is a faultprog driver and the files it shares with its tasks.
type job struct {
	*netns.Proc
	gate, markers string
	tasks         int
}

// startJob runs faultprog's driver on h for masters, with tasks gated
// tasks (the gate closed).
func (s *scene) startJob(h *netns.Host, name, masters string, tasks, maxCores int, extra ...string) *job {
	s.t.Helper()
	j := &job{gate: filepath.Join(s.dir, name+".gate"), markers: s.mkdir(name + "-markers"), tasks: tasks}
	argv := []string{faultBin, "driver", "--master", masters, "--host", h.IP, "--name", name,
		"--tasks", strconv.Itoa(tasks), "--max-cores", strconv.Itoa(maxCores),
		"--gate", j.gate, "--markers", j.markers,
		"--conf", "spark.executor.heartbeatInterval=500ms"}
	argv = append(argv, extra...)
	j.Proc = s.start(h, name, argv)
	return j
}

var (
	appLine       = regexp.MustCompile(`(?m)^APP (\S+)$`)
	executorsLine = regexp.MustCompile(`(?m)^EXECUTORS (\S*)$`)
	ranLine       = regexp.MustCompile(`(?m)^RAN (\d+) exec=(\S+) attempt=(\d+)$`)
	resultLine    = regexp.MustCompile(`(?m)^RESULT (-?\d+)$`)
)

// appID waits for the driver's APP line.
func (j *job) appID(t *testing.T) string { return waitOutput(t, j.Proc, appLine)[1] }

// executors returns the driver's last reported executor set.
func (j *job) executors() []string {
	all := executorsLine.FindAllStringSubmatch(j.Output(), -1)
	if len(all) == 0 || all[len(all)-1][1] == "" {
		return nil
	}
	return strings.Split(all[len(all)-1][1], ",")
}

// executorHistory returns every executor set the driver reported.
func (j *job) executorHistory() [][]string {
	var out [][]string
	for _, m := range executorsLine.FindAllStringSubmatch(j.Output(), -1) {
		var ids []string
		if m[1] != "" {
			ids = strings.Split(m[1], ",")
		}
		out = append(out, ids)
	}
	return out
}

// waitExecutors waits until the driver reports a set for which cond holds.
func (j *job) waitExecutors(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	var ex []string
	testutil.Eventually(t, waitLimit, j.Name+": "+what, func() (bool, string) {
		if j.Exited() {
			t.Fatalf("%s exited (%s) while waiting for %s; its output ends:\n%s", j.Name, j.State(), what, tail(j.Output(), 6000))
		}
		ex = j.executors()
		return cond(ex), fmt.Sprint(ex)
	})
	return ex
}

// started lists the tasks' started markers: index, attempt, executor.
type started struct {
	index, attempt int
	exec           string
}

func (j *job) started() []started {
	ents, _ := os.ReadDir(j.markers)
	var out []started
	for _, e := range ents {
		f := strings.SplitN(e.Name(), "-", 4) // started-<index>-<attempt>-<exec>
		if len(f) != 4 || f[0] != "started" {
			continue
		}
		i, err1 := strconv.Atoi(f[1])
		a, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			out = append(out, started{index: i, attempt: a, exec: f[3]})
		}
	}
	return out
}

// waitStarted waits until the markers satisfy cond.
func (j *job) waitStarted(t *testing.T, what string, cond func([]started) bool) []started {
	t.Helper()
	var st []started
	testutil.Eventually(t, waitLimit, j.Name+": "+what, func() (bool, string) {
		if j.Exited() {
			t.Fatalf("%s exited (%s) while waiting for %s; its output ends:\n%s", j.Name, j.State(), what, tail(j.Output(), 6000))
		}
		st = j.started()
		return cond(st), fmt.Sprint(st)
	})
	return st
}

// open opens the gate: the tasks finish.
func (j *job) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(j.gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectedSum is the RESULT of a job of n tasks.
func expectedSum(n int) int64 {
	var s int64
	for i := range n {
		s += int64(i)*int64(i) + 1
	}
	return s
}

// ran is where a task's accepted result came from.
type ran struct {
	exec    string
	attempt int
}

// finish waits for the driver to exit and checks it succeeded with the
// right result; it returns where each task's result came from.
func (j *job) finish(t *testing.T) map[int]ran {
	t.Helper()
	code, err := j.Wait(waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	out := j.Output()
	m := resultLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("%s exited %d without a RESULT; its output ends:\n%s", j.Name, code, tail(out, 6000))
	}
	if got, want := m[1], strconv.FormatInt(expectedSum(j.tasks), 10); got != want {
		t.Errorf("%s: RESULT %s, want %s", j.Name, got, want)
	}
	results := map[int]ran{}
	for _, r := range ranLine.FindAllStringSubmatch(out, -1) {
		i, _ := strconv.Atoi(r[1])
		a, _ := strconv.Atoi(r[3])
		results[i] = ran{exec: r[2], attempt: a}
	}
	if len(results) != j.tasks {
		t.Errorf("%s reported %d task results, want %d", j.Name, len(results), j.tasks)
	}
	return results
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// executorPid finds the process of executor execID of appID (its command
// line names both), or 0.
func executorPid(appID, execID string) int {
	ps := testutil.Processes(func(p testutil.Proc, _ []string) bool {
		return hasArgs(p.Cmdline, "--app-id", appID) && hasArgs(p.Cmdline, "--executor-id", execID)
	})
	if len(ps) != 1 {
		return 0
	}
	return ps[0].PID
}

// hasArgs reports whether args holds flag followed by value.
func hasArgs(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}
