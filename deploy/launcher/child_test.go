package launcher

import (
	"bytes"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

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

func startChild(t *testing.T, srv *Server, rec *recorder, args ...string) (*Handle, *lockedBuffer) {
	t.Helper()
	var stderr lockedBuffer
	l := &Launcher{Program: childBin, Args: args, Server: srv, Stderr: &stderr,
		Env: map[string]string{EnvLauncherSecret: "must-be-overridden"}}
	h, err := l.StartApplication(rec)
	if err != nil {
		t.Fatal(err)
	}
	return h, &stderr
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -2
	}
	return 0
}

// testSparkSubmitVmShutsDown / ChildProcAppHandleSuite.testProcMonitor* /
// testFailedChildProc: the child's exit decides the final state.
func TestChildExit(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		final  State
		events []State
	}{
		{"exit 0 while running", []string{"-mode", "exit"}, 0, StateLost,
			[]State{StateConnected, StateSubmitted, StateRunning, StateLost}},
		{"exit 3 while running", []string{"-mode", "exit", "-code", "3"}, 3, StateFailed,
			[]State{StateConnected, StateSubmitted, StateRunning, StateFailed}},
		{"finished then exit 0", []string{"-mode", "finish-exit"}, 0, StateFinished,
			[]State{StateConnected, StateSubmitted, StateRunning, StateFinished}},
		{"finished then exit 1", []string{"-mode", "finish-exit", "-code", "1"}, 1, StateFailed,
			[]State{StateConnected, StateSubmitted, StateRunning, StateFinished, StateFailed}},
		{"no connect, exit 0", []string{"-mode", "no-connect"}, 0, StateLost,
			[]State{StateLost}},
		{"no connect, exit 2", []string{"-mode", "no-connect", "-code", "2"}, 2, StateFailed,
			[]State{StateFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			h, stderr := startChild(t, srv, rec, tc.args...)
			err := h.Wait()
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", got, tc.code, stderr.String())
			}
			if h.State() != tc.final {
				t.Fatalf("state %v, want %v", h.State(), tc.final)
			}
			if got := rec.snapshot(); !equalStates(got, tc.events) {
				t.Fatalf("events %v, want %v", got, tc.events)
			}
			if len(tc.events) > 1 && h.AppID() != "app-child" {
				t.Fatalf("app id %q", h.AppID())
			}
			if !h.Disposed() || srv.isPending(h) {
				t.Fatal("handle not disposed")
			}
		})
	}
	if srv.Refs() != 1 {
		t.Fatalf("refs %d after all children exited", srv.Refs())
	}
}

// LauncherBackendSuite "launcher handle": CONNECTED → RUNNING → stop() →
// final state, through the shared server.
func TestChildStop(t *testing.T) {
	rec := newRecorder()
	l := &Launcher{Program: childBin, Args: []string{"-mode", "wait-stop", "-appid", "app-stop"}}
	h, err := l.StartApplication(rec)
	if err != nil {
		t.Fatal(err)
	}
	srv := h.Server()
	if srv != SharedServer() {
		t.Fatal("launcher did not use the shared server")
	}
	rec.awaitState(StateRunning)
	if h.AppID() != "app-stop" {
		t.Fatalf("app id %q", h.AppID())
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if h.State() != StateKilled {
		t.Fatalf("state %v", h.State())
	}
	<-srv.Done() // the last handle released the shared server
	if SharedServer() != nil {
		t.Fatal("shared server still registered")
	}
}

func TestChildKill(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := startChild(t, srv, rec, "-mode", "hang")
	rec.awaitState(StateRunning)
	h.Kill()
	err := h.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child not killed: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child exit: %v", err)
	}
	if h.State() != StateKilled {
		t.Fatalf("state %v", h.State())
	}
	if got, want := rec.snapshot(), []State{StateConnected, StateSubmitted, StateRunning, StateKilled}; !equalStates(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	h.Kill() // no-op once disposed
}

// Disconnect leaves the child running; killing it afterwards changes
// nothing on the disposed handle.
func TestChildDisconnect(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := startChild(t, srv, rec, "-mode", "hang")
	rec.awaitState(StateRunning)
	h.mu.Lock()
	proc := h.proc
	h.mu.Unlock()
	h.Disconnect()
	if h.State() != StateLost {
		t.Fatalf("state %v", h.State())
	}
	proc.Kill()
	h.Wait()
	if h.State() != StateLost {
		t.Fatalf("state %v after the child died", h.State())
	}
}

func TestStartFailure(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	l := &Launcher{Program: childBin + ".missing", Server: srv}
	if _, err := l.StartApplication(rec); err == nil {
		t.Fatal("started a missing program")
	}
	if srv.Refs() != 1 {
		t.Fatalf("refs %d", srv.Refs())
	}
	if _, err := (&Launcher{}).StartApplication(); err == nil {
		t.Fatal("started no program")
	}
}
