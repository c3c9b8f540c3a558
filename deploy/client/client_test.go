package client

import (
	"context"
	"fmt"
	"github.com/ember-rpc/ember/internal/testutil"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/deploy/worker"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

var fakeExec string

func TestMain(m *testing.M) { testutil.MainWithProgram(m, "./testdata/fakeexec", &fakeExec) }

const waitLimit = 60 * time.Second

func quietLog() *slog.Logger {
	if os.Getenv("CLIENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder is a Listener that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []string
	appID  string
	added  []string
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Connected(appID string) {
	r.mu.Lock()
	r.appID = appID
	r.mu.Unlock()
	r.add("connected " + appID)
}
func (r *recorder) Disconnected()      { r.add("disconnected") }
func (r *recorder) Dead(reason string) { r.add("dead " + reason) }
func (r *recorder) ExecutorAdded(fullID, workerID, hostPort string, cores, memoryMB int) {
	r.mu.Lock()
	r.added = append(r.added, fullID)
	r.mu.Unlock()
	r.add(fmt.Sprintf("added %s %s %s %d %d", fullID, workerID, hostPort, cores, memoryMB))
}
func (r *recorder) ExecutorRemoved(fullID, message string, exitStatus *int, workerHost *string) {
	r.add("removed " + fullID + " " + message)
}
func (r *recorder) ExecutorDecommissioned(fullID, message string) { r.add("decommissioned " + fullID) }
func (r *recorder) WorkerRemoved(workerID, host, message string)  { r.add("workerRemoved " + workerID) }

func (r *recorder) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// cluster is an in-process master and one worker.
type cluster struct {
	m *master.Master
	w *worker.Worker
}

func startCluster(t *testing.T, cores int) *cluster {
	t.Helper()
	conf := sparkconf.New().Set("spark.worker.ember.registrationIntervalScale", "0.05")
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{m: m}
	t.Cleanup(c.close)
	w, err := worker.Start(worker.Options{Host: "127.0.0.1", Port: 0, Cores: cores, MemoryMB: 1024,
		WorkDir: t.TempDir(), MasterURLs: []string{m.MasterURL()}, Conf: conf, Logger: quietLog(),
		OnExit: func(code int) { t.Errorf("worker exited with %d", code) }})
	if err != nil {
		t.Fatal(err)
	}
	c.w = w
	waitFor(t, "the worker to register", func() bool {
		st, err := m.MasterState()
		return err == nil && st.AliveWorkers == 1
	})
	return c
}

func (c *cluster) close() {
	if c.w != nil {
		c.w.Shutdown()
	}
	c.m.Shutdown()
}

func driverEnv(t *testing.T) *rpcenv.Env {
	t.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: "driver", BindHost: "127.0.0.1", Port: 0, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	return env
}

func appDesc(coresPerExec, maxCores int) deploy.ApplicationDescription {
	return deploy.ApplicationDescription{Name: "AppClientSuite", MaxCores: &maxCores, CoresPerExecutor: &coresPerExec,
		MemoryPerExecutorMB: 64, User: "tester",
		Command: deploy.Command{MainClass: fakeExec, Arguments: []string{"--exec-id", "{{EXECUTOR_ID}}", "--app", "{{APP_ID}}"}}}
}

func appState(t *testing.T, m *master.Master, id string) (deploy.ApplicationState, bool) {
	t.Helper()
	st, err := m.MasterState()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.ActiveApps {
		if a.ID == id {
			return a.State, false
		}
	}
	for _, a := range st.CompletedApps {
		if a.ID == id {
			return a.State, true
		}
	}
	return "", false
}

// AppClientSuite "interface methods of AppClient using local Master".
func TestInterfaceMethodsWithLocalMaster(t *testing.T) {
	c := startCluster(t, 2)
	env := driverEnv(t)
	rec := &recorder{}
	ac, err := Start(env, []string{c.m.MasterURL()}, appDesc(1, 2), rec, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Stop()
	waitFor(t, "Connected", func() bool { return rec.has("connected app-") })
	appID := ac.AppID()
	if appID == "" || rec.appID != appID {
		t.Fatalf("app id %q, listener got %q", appID, rec.appID)
	}
	if ac.Master() == nil || ac.Master().Address().Addr != c.m.Address() {
		t.Fatalf("master ref %v, want %s", ac.Master(), c.m.Address())
	}
	waitFor(t, "2 ExecutorAdded", func() bool { return rec.count("added ") == 2 })
	rec.mu.Lock()
	first := rec.added[0]
	rec.mu.Unlock()
	if !strings.HasPrefix(first, appID+"/") {
		t.Fatalf("executor id %q does not start with %s/", first, appID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := ac.RequestTotalExecutors(ctx, 1)
	if err != nil || !ok {
		t.Fatalf("RequestTotalExecutors = %v, %v", ok, err)
	}
	ok, err = ac.KillExecutors(ctx, []string{strings.TrimPrefix(first, appID+"/")})
	if err != nil || !ok {
		t.Fatalf("KillExecutors = %v, %v", ok, err)
	}
	waitFor(t, "the master to keep one executor", func() bool {
		st, err := c.m.MasterState()
		return err == nil && len(st.ActiveApps) == 1 && st.ActiveApps[0].Cores == 1
	})
	ac.Stop()
	waitFor(t, "the app to be FINISHED", func() bool {
		s, done := appState(t, c.m, appID)
		return done && s == deploy.AppFinished
	})
	if rec.has("dead All masters") || rec.has("disconnected") {
		t.Fatalf("unexpected events: %q", rec.snapshot())
	}
}

// AppClientSuite "request from AppClient before initialized with master".
func TestRequestBeforeRegistration(t *testing.T) {
	env := driverEnv(t)
	ac, err := Start(env, []string{"spark://" + closedPort(t)}, appDesc(1, 1), &recorder{},
		Options{Logger: quietLog(), RegistrationTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Stop()
	ctx := context.Background()
	if ok, err := ac.RequestTotalExecutors(ctx, 3); ok || err != nil {
		t.Fatalf("RequestTotalExecutors before registration = %v, %v; want false, nil", ok, err)
	}
	if ok, err := ac.KillExecutors(ctx, []string{"1"}); ok || err != nil {
		t.Fatalf("KillExecutors before registration = %v, %v; want false, nil", ok, err)
	}
}

func TestAllMastersUnresponsive(t *testing.T) {
	env := driverEnv(t)
	rec := &recorder{}
	start := time.Now()
	ac, err := Start(env, []string{"spark://" + closedPort(t) + "," + closedPort(t)}, appDesc(1, 1), rec,
		Options{Logger: quietLog(), RegistrationTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Stop()
	waitFor(t, "Dead", func() bool { return rec.has("dead ") })
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("dead after %v, before 3 attempts of 100ms", el)
	}
	ev := rec.snapshot()
	if len(ev) != 1 || ev[0] != "dead "+UnresponsiveMessage {
		t.Fatalf("events %q", ev)
	}
}

func TestApplicationRemovedAndDisconnected(t *testing.T) {
	c := startCluster(t, 1)
	env := driverEnv(t)
	rec := &recorder{}
	ac, err := Start(env, []string{c.m.MasterURL()}, appDesc(1, 1), rec, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Stop()
	waitFor(t, "Connected", func() bool { return rec.has("connected ") })
	if err := c.m.KillApplication(ac.AppID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Dead", func() bool { return rec.has("dead ") })
	if !rec.has("dead Master removed our application: KILLED") {
		t.Fatalf("events %q", rec.snapshot())
	}

	// A second app: losing the master → Disconnected, once.
	env2 := driverEnv(t)
	rec2 := &recorder{}
	ac2, err := Start(env2, []string{c.m.MasterURL()}, appDesc(1, 1), rec2, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac2.Stop()
	waitFor(t, "Connected", func() bool { return rec2.has("connected ") })
	c.w.Shutdown()
	c.w = nil
	c.m.Shutdown()
	waitFor(t, "Disconnected", func() bool { return rec2.has("disconnected") })
	time.Sleep(100 * time.Millisecond)
	if n := rec2.count("disconnected"); n != 1 {
		t.Fatalf("%d Disconnected events: %q", n, rec2.snapshot())
	}
}

func TestStartNeedsServerMode(t *testing.T) {
	env, err := rpcenv.Create(rpcenv.Config{Name: "driver", ClientMode: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Shutdown()
	if _, err := Start(env, []string{"spark://127.0.0.1:7077"}, appDesc(1, 1), nil, Options{}); err != ErrNotServerMode {
		t.Fatalf("Start in client mode: %v", err)
	}
}

func TestParseMasterURLs(t *testing.T) {
	got, err := ParseMasterURLs([]string{"spark://h1:1,h2:2", "spark://h3:3"})
	if err != nil || len(got) != 3 || got[1] != rpcenv.NewAddress("h2", 2) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"http://h:1", "spark://", "spark://h"} {
		if _, err := ParseMasterURLs([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// closedPort returns host:port where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
