package launcher

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

var childBin string

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	dir, err := os.MkdirTemp("", "launcher-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	childBin = filepath.Join(dir, "child")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", childBin, "./testdata/child")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building test child:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// recorder is a Listener that keeps every event and lets a test block
// until a condition on them holds.
type recorder struct {
	mu      sync.Mutex
	states  []State
	appIDs  []string
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) StateChanged(h *Handle) {
	r.mu.Lock()
	r.states = append(r.states, h.State())
	r.bump()
	r.mu.Unlock()
}

func (r *recorder) InfoChanged(h *Handle) {
	r.mu.Lock()
	r.appIDs = append(r.appIDs, h.AppID())
	r.bump()
	r.mu.Unlock()
}

func (r *recorder) bump() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// await blocks until cond (called with the lock held) is true.
func (r *recorder) await(cond func(r *recorder) bool) {
	for {
		r.mu.Lock()
		ok, ch := cond(r), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		<-ch
	}
}

func (r *recorder) awaitState(s State) {
	r.await(func(r *recorder) bool {
		for _, x := range r.states {
			if x == s {
				return true
			}
		}
		return false
	})
}

func (r *recorder) snapshot() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]State(nil), r.states...)
}

func equalStates(a, b []State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func newTestServer(t *testing.T, cfg map[string]string) *Server {
	t.Helper()
	s, err := NewServer(ServerOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
