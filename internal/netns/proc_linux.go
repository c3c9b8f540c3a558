//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

const sigKill = syscall.SIGKILL

// StartOption tunes Host.Start.
type StartOption interface{ apply(*startOpts) }

type startOpts struct {
	env []string
	dir string
}

type startOptFunc func(*startOpts)

func (f startOptFunc) apply(o *startOpts) { f(o) }

// WithEnv sets the process's whole environment (default: the test
// process's).
func WithEnv(env []string) StartOption {
	return startOptFunc(func(o *startOpts) { o.env = append([]string(nil), env...) })
}

// WithDir sets the process's working directory (default: the net's log
// directory).
func WithDir(dir string) StartOption { return startOptFunc(func(o *startOpts) { o.dir = dir }) }

// childAttr puts a child in a process group of its own (a group kill
// reaches what it starts in it) and has the kernel kill it if the test
// process dies first. `ip netns exec` execs the program in place, so both
// hold for the program itself.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Proc is a process started on a host by Host.Start.
type Proc struct {
	// Name is what the test called it; Host where it runs; LogPath the
	// file with its stdout and stderr.
	Name    string
	Host    *Host
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
}

// Start runs argv on the host (`ip netns exec <ns> argv...`) in a process
// group of its own, its output going to a log file in the net's directory.
// The net's teardown kills it. It fails once the net is closing.
func (h *Host) Start(name string, argv []string, opts ...StartOption) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("netns: Start with no program")
	}
	n := h.net
	o := startOpts{dir: n.dir}
	for _, opt := range opts {
		opt.apply(&o)
	}
	logPath := n.logPath(h, name)
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.Name}, argv...)...)
	cmd.Env = o.env
	cmd.Dir = o.dir
	cmd.Stdout, cmd.Stderr = f, f // a file: no copying goroutine
	cmd.SysProcAttr = childAttr()
	p := &Proc{Name: name, Host: h, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	// Under n.mu, so that the teardown either sees the process or refuses
	// it: nothing starts in a namespace being emptied.
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return nil, fmt.Errorf("netns: %s: the net is closing; not starting %s", h, name)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: %s: starting %s: %w", h, name, err)
	}
	n.procs = append(n.procs, p)
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the process's exit code once it exited: -1 if a signal
// killed it or it still runs.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// State describes the process: "running" or how it ended.
func (p *Proc) State() string {
	if !p.Exited() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// Output returns what the process printed so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Signal sends sig to the process's group.
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("netns: signalling %s (pid %d): %w", p.Name, p.Pid(), err)
	}
	return nil
}

func (p *Proc) signalGroup(sig syscall.Signal) { _ = p.Signal(sig) }

// Kill9 sends SIGKILL to the process's group and waits (at most a minute)
// until the process has been reaped.
func (p *Proc) Kill9() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !p.waitDone(time.Minute) {
		return fmt.Errorf("netns: %s (pid %d) still runs a minute after SIGKILL", p.Name, p.Pid())
	}
	return nil
}

// Wait waits at most limit for the process to exit and returns its exit
// code, or an error naming what it printed last if it still runs.
func (p *Proc) Wait(limit time.Duration) (int, error) {
	if !p.waitDone(limit) {
		return -1, fmt.Errorf("netns: %s (pid %d) still runs after %v; its output ends:\n%s", p.Name, p.Pid(), limit, tail(p.Output(), 3000))
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

func (p *Proc) waitDone(limit time.Duration) bool {
	if limit <= 0 {
		return p.Exited()
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// WaitOutput waits at most limit until the process's output matches re and
// returns the submatches of the first match. It fails early if the
// process exits without printing it.
func (p *Proc) WaitOutput(re *regexp.Regexp, limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	for {
		exited := p.Exited() // before reading: a last line printed just before exiting is seen
		out := p.Output()
		if m := re.FindStringSubmatch(out); m != nil {
			return m, nil
		}
		if exited {
			return nil, fmt.Errorf("netns: %s exited (%s) without printing %q; its output ends:\n%s", p.Name, p.State(), re, tail(out, 3000))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("netns: %s did not print %q within %v; its output ends:\n%s", p.Name, re, limit, tail(out, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
