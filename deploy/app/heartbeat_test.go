package app

import (
	"bytes"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestHeartbeatConf(t *testing.T) {
	i, to, err := heartbeatConf(nil)
	if err != nil || i != 10*time.Second || to != 120*time.Second {
		t.Fatalf("defaults: %v %v %v", i, to, err)
	}
	i, to, err = heartbeatConf(sparkconf.New().Set("spark.executor.heartbeatInterval", "200").Set("spark.network.timeout", "2"))
	if err != nil || i != 200*time.Millisecond || to != 2*time.Second {
		t.Fatalf("bare numbers: %v %v %v", i, to, err)
	}
	if _, _, err := heartbeatConf(sparkconf.New().Set("spark.network.timeout", "never")); err == nil {
		t.Fatal("no error for a malformed timeout")
	}
}

// An executor that stops heartbeating (SIGSTOP: its connection stays up)
// is lost after spark.network.timeout; its tasks rerun on the other one.
func TestHeartbeatTimeout(t *testing.T) {
	m := startCluster(t, 2, 2)
	logs := &lockedBuffer{}
	conf := sparkconf.New().Set("spark.network.timeout", "2s").Set("spark.executor.heartbeatInterval", "200ms")
	d := startDriver(t, m, 2, DriverConfig{AppName: "heartbeat", Conf: conf,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	victim, release := blockedStage(t, d)
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Resume it before the driver and the cluster stop (cleanups run last
	// in, first out); it then gets the driver's StopExecutor.
	t.Cleanup(func() { _ = syscall.Kill(victim, syscall.SIGCONT) })
	release()
	if n := len(d.Executors()); n != 1 {
		t.Errorf("executors %v, want the stopped one removed", d.Executors())
	}
	if l := logs.String(); !strings.Contains(l, "Executor heartbeat timed out after") {
		t.Errorf("no heartbeat timeout in the driver's log:\n%s", l)
	}
}

// fakeScheduler accepts any executor and counts heartbeats.
type fakeScheduler struct {
	registered chan struct{}
	regOnce    sync.Once
	mu         sync.Mutex
	heartbeats int
}

func (f *fakeScheduler) Receive(msg any, _ rpcenv.Address) error {
	if _, ok := msg.(Heartbeat); ok {
		f.mu.Lock()
		f.heartbeats++
		f.mu.Unlock()
	}
	return nil
}

func (f *fakeScheduler) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	if _, ok := msg.(RegisterExecutor); ok {
		cc.Reply(true)
		f.regOnce.Do(func() { close(f.registered) })
		return nil
	}
	return rpcenv.ErrUnsupported
}

func (f *fakeScheduler) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heartbeats
}

type fakeWorker struct{ rpcenv.BaseEndpoint }

func newEnv(t *testing.T, name string) *rpcenv.Env {
	t.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: name, BindHost: "127.0.0.1", Port: 0, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	return env
}

// startExecutorProcess runs appexec as an executor of the fake driver
// watching workerURL; it returns the process's exit channel and stderr.
func startExecutorProcess(t *testing.T, driverURL, workerURL string) (<-chan error, *lockedBuffer) {
	t.Helper()
	stderr := &lockedBuffer{}
	cmd := exec.Command(appExec, "executor", "--driver-url", driverURL, "--executor-id", "7", "--hostname", "127.0.0.1",
		"--worker-url", workerURL, "--heartbeat-interval", "50ms")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	return exited, stderr
}

func waitExit(t *testing.T, exited <-chan error, stderr *lockedBuffer) int {
	t.Helper()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err == nil {
			return 0
		}
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return ee.ExitCode()
	case <-time.After(waitLimit):
		t.Fatalf("executor did not exit; stderr:\n%s", stderr.String())
	}
	return -1
}

func TestWorkerWatcher(t *testing.T) {
	drvEnv := newEnv(t, "fakeDriver")
	sched := &fakeScheduler{registered: make(chan struct{})}
	if _, err := drvEnv.SetupEndpoint(SchedulerEndpoint, sched); err != nil {
		t.Fatal(err)
	}
	wEnv := newEnv(t, "fakeWorker")
	if _, err := wEnv.SetupEndpoint("Worker", &fakeWorker{}); err != nil {
		t.Fatal(err)
	}
	driverURL := rpcenv.EndpointAddress{Addr: drvEnv.Address(), Name: SchedulerEndpoint}.String()
	workerURL := rpcenv.EndpointAddress{Addr: wEnv.Address(), Name: "Worker"}.String()
	exited, stderr := startExecutorProcess(t, driverURL, workerURL)
	select {
	case <-sched.registered:
	case err := <-exited:
		t.Fatalf("executor exited before registering: %v\n%s", err, stderr.String())
	case <-time.After(waitLimit):
		t.Fatalf("executor did not register:\n%s", stderr.String())
	}
	// It heartbeats (every 50ms).
	deadline := time.Now().Add(waitLimit)
	for sched.count() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeats:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	wEnv.Shutdown()
	if code := waitExit(t, exited, stderr); code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "Lost connection to worker endpoint") || !strings.Contains(out, ErrWorkerLost.Error()) {
		t.Fatalf("stderr does not report the lost worker:\n%s", out)
	}
}

func TestWorkerUnreachable(t *testing.T) {
	drvEnv := newEnv(t, "fakeDriver")
	sched := &fakeScheduler{registered: make(chan struct{})}
	if _, err := drvEnv.SetupEndpoint(SchedulerEndpoint, sched); err != nil {
		t.Fatal(err)
	}
	gone := newEnv(t, "goneWorker")
	workerURL := rpcenv.EndpointAddress{Addr: gone.Address(), Name: "Worker"}.String()
	gone.Shutdown()
	driverURL := rpcenv.EndpointAddress{Addr: drvEnv.Address(), Name: SchedulerEndpoint}.String()
	exited, stderr := startExecutorProcess(t, driverURL, workerURL)
	if code := waitExit(t, exited, stderr); code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, ErrWorkerLost.Error()) || !strings.Contains(out, "cannot reach the worker") {
		t.Fatalf("stderr does not report the unreachable worker:\n%s", out)
	}
	select {
	case <-sched.registered:
		t.Fatal("the executor registered with the driver without its worker")
	default:
	}
}
