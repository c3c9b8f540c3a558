package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process of the benchmark, in a process group of its own; its
// output lines are timestamped as they arrive and kept (and copied to a
// log file).
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped

	mu    sync.Mutex // guards the following
	lines []line
	subs  []sub
}

type line struct {
	at   time.Time
	text string
}

type sub struct {
	match func(string) bool
	ch    chan time.Time
}

// startChild runs argv with env added to the environment, logging its
// output to logPath.
func startChild(name, logPath string, env []string, argv ...string) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			now := time.Now()
			t := sc.Text()
			fmt.Fprintln(logf, t)
			c.mu.Lock()
			c.lines = append(c.lines, line{now, t})
			keep := c.subs[:0]
			for _, s := range c.subs {
				if s.match(t) {
					s.ch <- now
				} else {
					keep = append(keep, s)
				}
			}
			c.subs = keep
			c.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	return c, nil
}

// cleanEnv is this process's environment without Spark's and Ember's
// variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SPARK_") || strings.HasPrefix(k, "EMBER_") || strings.HasPrefix(k, "_SPARK_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitLine waits (up to limit) for an output line containing s, seen
// before or after the call, and returns when it arrived.
func (c *child) waitLine(s string, limit time.Duration) (time.Time, error) {
	match := func(t string) bool { return strings.Contains(t, s) }
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	for _, l := range c.lines {
		if match(l.text) {
			c.mu.Unlock()
			return l.at, nil
		}
	}
	c.subs = append(c.subs, sub{match, ch})
	c.mu.Unlock()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case at := <-ch:
		return at, nil
	case <-c.done:
		select {
		case at := <-ch:
			return at, nil
		default:
		}
		return time.Time{}, fmt.Errorf("%s exited (%v) before printing %q:\n%s", c.name, c.cmd.ProcessState, s, c.tail(30))
	case <-timer.C:
		return time.Time{}, fmt.Errorf("%s printed no %q within %v:\n%s", c.name, s, limit, c.tail(30))
	}
}

// lineAt is when the first output line containing s arrived (false if
// none did).
func (c *child) lineAt(s string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if strings.Contains(l.text, s) {
			return l.at, true
		}
	}
	return time.Time{}, false
}

// contains reports whether some output line contains s.
func (c *child) contains(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if strings.Contains(l.text, s) {
			return true
		}
	}
	return false
}

// tail is the last n lines of output.
func (c *child) tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := c.lines
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("  " + l.text + "\n")
	}
	return b.String()
}

// wait waits up to limit for the child to exit.
func (c *child) wait(limit time.Duration) error {
	select {
	case <-c.done:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("%s did not exit within %v:\n%s", c.name, limit, c.tail(30))
	}
}

// kill sends SIGKILL to the child's process group and reaps it.
func (c *child) kill() {
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
}

// memKiB reads VmRSS and VmHWM of pid, in KiB.
func memKiB(pid int) (rss, hwm int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, hwm, nil
}

// cpuTicks is utime+stime of pid (all its threads), in clock ticks
// (USER_HZ = 100).
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3; utime and stime are 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return u + st, nil
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
