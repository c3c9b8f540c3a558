package app

import (
	"context"
	"github.com/ember-rpc/ember/internal/testutil"
	"log/slog"
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
	"github.com/ember-rpc/ember/deploy/worker"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// appExec is the executor program, built by TestMain from testdata/appexec.
var appExec string

func TestMain(m *testing.M) { testutil.MainWithProgram(m, "./testdata/appexec", &appExec) }

const waitLimit = 60 * time.Second

func quietLog() *slog.Logger {
	if os.Getenv("APP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startCluster starts an in-process master and n workers of cores each.
func startCluster(t *testing.T, n, cores int) *master.Master {
	t.Helper()
	conf := sparkconf.New().Set("spark.worker.ember.registrationIntervalScale", "0.05")
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	for i := 1; i <= n; i++ {
		w, err := worker.Start(worker.Options{Host: "127.0.0.1", Port: 0, Cores: cores, MemoryMB: 1024,
			WorkDir: t.TempDir(), MasterURLs: []string{m.MasterURL()}, Conf: conf, Logger: quietLog(), Instance: i,
			OnExit: func(code int) { t.Errorf("worker exited with %d", code) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Shutdown)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		st, err := m.MasterState()
		if err == nil && st.AliveWorkers == n && st.Status == deploy.StateAlive {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers did not register: %+v, %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startDriver starts a driver whose executors are appexec, and waits for n.
func startDriver(t *testing.T, m *master.Master, n int, cfg DriverConfig) *Driver {
	t.Helper()
	cfg.Master = m.MasterURL()
	cfg.ExecutorProgram = appExec
	if cfg.Logger == nil {
		cfg.Logger = quietLog()
	}
	if cfg.CoresPerExecutor == 0 {
		cfg.CoresPerExecutor = 2
	}
	cfg.MemoryPerExecutorMB = 128
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := d.WaitExecutors(ctx, n); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRunTasksDoubled(t *testing.T) {
	m := startCluster(t, 2, 2)
	var mu sync.Mutex
	var progress []int
	d := startDriver(t, m, 2, DriverConfig{AppName: "doubler", Progress: func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total == 20 {
			progress = append(progress, done)
		} else if total != 3 {
			t.Errorf("progress total %d", total)
		}
	}})
	if d.AppID() == "" || len(d.Executors()) != 2 {
		t.Fatalf("app %q, executors %v", d.AppID(), d.Executors())
	}
	tasks := make([]Task, 20)
	for i := range tasks {
		tasks[i] = Task{Kind: "test.double", Input: []byte(strconv.Itoa(i + 1))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	res, err := d.RunTasks(ctx, tasks)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if want := strconv.Itoa(2 * (i + 1)); string(r.Output) != want {
			t.Errorf("task %d: output %q, want %q", i, r.Output, want)
		}
	}
	mu.Lock()
	if len(progress) != 20 || progress[19] != 20 {
		t.Errorf("progress %v", progress)
	}
	mu.Unlock()

	// A second stage on the same executors.
	res, err = d.RunTasks(ctx, tasks[:3])
	if err != nil || len(res) != 3 || string(res[2].Output) != "6" {
		t.Fatalf("second stage: %v, %v", res, err)
	}

	id := d.AppID()
	d.Stop()
	deadline := time.Now().Add(waitLimit)
	for {
		st, err := m.MasterState()
		if err == nil && len(st.ActiveApps) == 0 && len(st.CompletedApps) == 1 &&
			st.CompletedApps[0].ID == id && st.CompletedApps[0].State == deploy.AppFinished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app not finished at the master: %+v, %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecutorKilledMidStage(t *testing.T) {
	m := startCluster(t, 2, 2)
	d := startDriver(t, m, 2, DriverConfig{AppName: "killer"})
	victim, release := blockedStage(t, d)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	release()
}

// blockedStage runs 8 test.block tasks and waits until both executors run
// two each. It returns the pid of one executor and release, which lets the
// tasks finish and checks that the stage succeeds with no output from that
// executor (the caller has killed or frozen it: its tasks must rerun).
func blockedStage(t *testing.T, d *Driver) (victim int, release func()) {
	t.Helper()
	dir := t.TempDir()
	tasks := make([]Task, 8)
	for i := range tasks {
		tasks[i] = Task{Kind: "test.block", Input: []byte(dir)}
	}
	type outcome struct {
		res []Result
		err error
	}
	done := make(chan outcome, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	go func() {
		res, err := d.RunTasks(ctx, tasks)
		done <- outcome{res, err}
	}()
	deadline := time.Now().Add(waitLimit)
	for {
		ents, _ := os.ReadDir(dir)
		pids := map[string]bool{}
		for _, e := range ents {
			if p := strings.Split(e.Name(), "-"); len(p) == 3 {
				pids[p[1]] = true
				victim, _ = strconv.Atoi(p[1])
			}
		}
		if len(ents) >= 4 && len(pids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not start on both executors: %d reports", len(ents))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return victim, func() {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		o := <-done
		if o.err != nil {
			t.Fatal(o.err)
		}
		vs := strconv.Itoa(victim)
		for i, r := range o.res {
			if len(r.Output) == 0 || string(r.Output) == vs {
				t.Errorf("task %d: output %q (executor pid %s was taken away)", i, r.Output, vs)
			}
		}
	}
}

func TestAlwaysFailingTask(t *testing.T) {
	m := startCluster(t, 2, 1)
	d := startDriver(t, m, 2, DriverConfig{AppName: "failer", CoresPerExecutor: 1})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := d.RunTasks(ctx, []Task{{Kind: "test.double", Input: []byte("1")}, {Kind: "test.fail"}})
	if err == nil || !strings.Contains(err.Error(), "failed 4 times") || !strings.Contains(err.Error(), "boom") ||
		!strings.Contains(err.Error(), "task 1") {
		t.Fatalf("err = %v", err)
	}
	// An unknown kind fails the same way, with the registered kinds named.
	_, err = d.RunTasks(ctx, []Task{{Kind: "no.such"}})
	if err == nil || !strings.Contains(err.Error(), `unknown task kind "no.such"`) {
		t.Fatalf("err = %v", err)
	}
	// The driver still works.
	res, err := d.RunTasks(ctx, []Task{{Kind: "test.double", Input: []byte("21")}})
	if err != nil || string(res[0].Output) != "42" {
		t.Fatalf("after failures: %v, %v", res, err)
	}
}

func TestRunTasksCancelled(t *testing.T) {
	m := startCluster(t, 1, 1)
	d := startDriver(t, m, 1, DriverConfig{AppName: "cancel", CoresPerExecutor: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := d.RunTasks(ctx, []Task{{Kind: "test.block", Input: []byte(t.TempDir())}})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseExecutorArgs(t *testing.T) {
	a, err := ParseExecutorArgs([]string{"--driver-url", "spark://CoarseGrainedScheduler@h:1", "--executor-id", "3",
		"--hostname", "h", "--cores", "2", "--app-id", "app-1"})
	if err != nil || a.DriverURL != "spark://CoarseGrainedScheduler@h:1" || a.ExecutorID != "3" || a.Hostname != "h" ||
		a.Cores != 2 || a.AppID != "app-1" || a.WorkerURL != "" || a.HeartbeatInterval != 0 {
		t.Fatalf("%+v, %v", a, err)
	}
	a, err = ParseExecutorArgs([]string{"--driver-url", "u", "--executor-id", "1", "--worker-url", "spark://Worker@h:2",
		"--heartbeat-interval", "250"})
	if err != nil || a.WorkerURL != "spark://Worker@h:2" || a.HeartbeatInterval != 250*time.Millisecond {
		t.Fatalf("%+v, %v", a, err)
	}
	for _, bad := range [][]string{{"--executor-id", "1"}, {"--driver-url", "u"}, {"--driver-url", "u", "--executor-id", "1", "--cores", "0"},
		{"--driver-url", "u", "--executor-id", "1", "extra"},
		{"--driver-url", "u", "--executor-id", "1", "--heartbeat-interval", "soon"},
		{"--driver-url", "u", "--executor-id", "1", "--heartbeat-interval", "0"}} {
		if _, err := ParseExecutorArgs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

var uniqueKinds int

func TestRegisterTaskTwicePanics(t *testing.T) {
	uniqueKinds++
	kind := "test.unit." + strconv.Itoa(uniqueKinds) // -count=N reruns in one process
	RegisterTask(kind, func(context.Context, TaskContext, []byte) ([]byte, error) { return nil, nil })
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	RegisterTask(kind, func(context.Context, TaskContext, []byte) ([]byte, error) { return nil, nil })
}
