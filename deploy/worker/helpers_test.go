package worker

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/ember-rpc/ember/internal/testutil"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// fakeExec is the test executor program, built once by TestMain.
var fakeExec string

func TestMain(m *testing.M) { testutil.MainWithProgram(m, "./testdata/fakeexec", &fakeExec) }

// testTimeout bounds every wait of a test.
const testTimeout = 60 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("WORKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConf(kv ...string) *sparkconf.Conf {
	c := sparkconf.New()
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}

// waitFor polls cond until it holds or the test deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startMaster(t *testing.T, kv ...string) *master.Master {
	t.Helper()
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: 0, Conf: testConf(kv...), Logger: testLogger(),
		OnRevoked: func() {}})
	if err != nil {
		t.Fatalf("master.Start: %v", err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

// exitRecorder records OnExit calls.
type exitRecorder struct{ ch chan int }

func newExitRecorder() *exitRecorder { return &exitRecorder{ch: make(chan int, 4)} }

func (e *exitRecorder) onExit(code int) {
	select {
	case e.ch <- code:
	default:
	}
}

func (e *exitRecorder) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-e.ch:
		return c
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for OnExit")
		return 0
	}
}

// none fails if OnExit was called.
func (e *exitRecorder) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-e.ch:
		t.Fatalf("unexpected OnExit(%d)", c)
	default:
	}
}

type workerSpec struct {
	masters []string
	conf    []string
	cores   int
	memory  int
	exits   *exitRecorder
	workDir string
	mutate  func(*Options)
}

// startWorker starts a worker on 127.0.0.1 with small registration
// intervals; Shutdown runs at cleanup.
func startWorker(t *testing.T, s workerSpec) *Worker {
	t.Helper()
	conf := testConf(KeyRegistrationIntervalScale, "0.03", "spark.local.dir", t.TempDir())
	for i := 0; i+1 < len(s.conf); i += 2 {
		conf.Set(s.conf[i], s.conf[i+1])
	}
	if s.cores == 0 {
		s.cores = 2
	}
	if s.memory == 0 {
		s.memory = 1024
	}
	if s.workDir == "" {
		s.workDir = t.TempDir()
	}
	if s.exits == nil {
		s.exits = newExitRecorder()
		t.Cleanup(func() { s.exits.none(t) })
	}
	opts := Options{Host: "127.0.0.1", Cores: s.cores, MemoryMB: s.memory, WorkDir: s.workDir, MasterURLs: s.masters,
		Conf: conf, Logger: testLogger(), OnExit: s.exits.onExit}
	if s.mutate != nil {
		s.mutate(&opts)
	}
	w, err := Start(opts)
	if err != nil {
		t.Fatalf("worker.Start: %v", err)
	}
	t.Cleanup(w.Shutdown)
	return w
}

// aliveWorker polls the master until it lists w as ALIVE.
func aliveWorker(t *testing.T, m *master.Master, w *Worker) deploy.WorkerInfoJSON {
	t.Helper()
	var found deploy.WorkerInfoJSON
	waitFor(t, "the worker to be ALIVE at the master", func() bool {
		st, err := m.MasterState()
		if err != nil {
			return false
		}
		for _, wi := range st.Workers {
			if wi.ID == w.ID() && wi.State == deploy.WorkerAlive {
				found = wi
				return true
			}
		}
		return false
	})
	return found
}

func workerState(t *testing.T, w *Worker) deploy.WorkerStateResponse {
	t.Helper()
	st, err := w.WorkerState()
	if err != nil {
		t.Fatalf("WorkerState: %v", err)
	}
	return st
}

// executorInfos asks the worker for every executor's state.
func executorInfos(t *testing.T, w *Worker) []executorInfo {
	t.Helper()
	v, err := w.self.AskTimeout(executorInfoRequest{}, 30*time.Second)
	if err != nil {
		t.Fatalf("executorInfoRequest: %v", err)
	}
	return v.([]executorInfo)
}

// finishedExecutor waits until executor app/id is finished and returns it.
func finishedExecutor(t *testing.T, w *Worker, appID string, id int) executorInfo {
	t.Helper()
	var out executorInfo
	waitFor(t, fmt.Sprintf("executor %s/%d to finish", appID, id), func() bool {
		for _, e := range executorInfos(t, w) {
			if e.AppID == appID && e.ExecID == id && e.Finished {
				out = e
				return true
			}
		}
		return false
	})
	return out
}

// ---- a driver (app client) ----

// appDriver is a test app: a client-mode env whose AppClient endpoint
// records what the master sends.
type appDriver struct {
	env    *rpcenv.Env
	self   *rpcenv.Ref
	master *rpcenv.Ref

	mu   sync.Mutex
	msgs []any
}

func (d *appDriver) Receive(msg any, _ rpcenv.Address) error {
	d.mu.Lock()
	d.msgs = append(d.msgs, msg)
	d.mu.Unlock()
	return nil
}

func (d *appDriver) ReceiveAndReply(msg any, _ rpcenv.CallContext) error {
	return fmt.Errorf("%w: %T", rpcenv.ErrUnsupported, msg)
}

func (d *appDriver) messages() []any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]any(nil), d.msgs...)
}

// newClient connects a client-mode env to the master.
func newClient(t *testing.T, m *master.Master, kv ...string) *appDriver {
	t.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: "driver", ClientMode: true, Logger: testLogger(), Conf: testConf(kv...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	d := &appDriver{env: env}
	if d.self, err = env.SetupEndpoint(deploy.AppClientEndpoint, d); err != nil {
		t.Fatal(err)
	}
	if d.master, err = env.SetupEndpointRef(m.Address(), deploy.MasterEndpointName); err != nil {
		t.Fatal(err)
	}
	return d
}

// registerApp registers an application and returns its id.
func (d *appDriver) registerApp(t *testing.T, desc deploy.ApplicationDescription) string {
	t.Helper()
	if err := d.master.Send(deploy.RegisterApplication{AppDescription: desc, Driver: d.self}); err != nil {
		t.Fatal(err)
	}
	var id string
	waitFor(t, "RegisteredApplication", func() bool {
		for _, m := range d.messages() {
			if r, ok := m.(deploy.RegisteredApplication); ok {
				id = r.AppID
				return true
			}
		}
		return false
	})
	return id
}

// executorUpdate waits for an ExecutorUpdated of executor id in state st.
func (d *appDriver) executorUpdate(t *testing.T, id int, st deploy.ExecutorState) (deploy.ExecutorUpdated, int) {
	t.Helper()
	var out deploy.ExecutorUpdated
	idx := -1
	waitFor(t, fmt.Sprintf("ExecutorUpdated(%d, %s)", id, st), func() bool {
		for i, m := range d.messages() {
			if u, ok := m.(deploy.ExecutorUpdated); ok && u.ID == id && u.State == st {
				out, idx = u, i
				return true
			}
		}
		return false
	})
	return out, idx
}

func (d *appDriver) ask(t *testing.T, msg any) any {
	t.Helper()
	v, err := d.master.AskTimeout(msg, 30*time.Second)
	if err != nil {
		t.Fatalf("ask %T: %v", msg, err)
	}
	return v
}

// appDesc describes an app that runs fakeexec with the brief's arguments.
func appDesc(env map[string]string) deploy.ApplicationDescription {
	return deploy.ApplicationDescription{Name: "test-app", MemoryPerExecutorMB: 64, User: "tester",
		Command: deploy.Command{MainClass: fakeExec,
			Arguments: []string{"--exec-id", "{{EXECUTOR_ID}}", "--app", "{{APP_ID}}", "--worker", "{{WORKER_URL}}",
				"--cores", "{{CORES}}"},
			Environment: env}}
}

// ---- executor and driver output ----

// output waits for a fakeexec stdout file to end its report ("ready") and
// returns its key=value lines (repeated keys keep the last value).
func output(t *testing.T, path string) map[string]string {
	t.Helper()
	var text string
	waitFor(t, "fakeexec output in "+path, func() bool {
		b, err := os.ReadFile(path)
		text = string(b)
		return err == nil && strings.Contains(text, "ready\n")
	})
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func executorDir(w *Worker, appID string, id int) string {
	return filepath.Join(w.WorkDir(), appID, strconv.Itoa(id))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// processGone reports whether pid no longer runs (a zombie left for init
// to reap counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("process %d to be gone", pid), func() bool { return processGone(pid) })
}

// freePort returns a port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}
