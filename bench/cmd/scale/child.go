package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child processes. A measurement that needs a clean RSS runs the side it
// measures in a process of its own: either this program again (a "self"
// child, picked by the environment variable childEnv, which speaks the
// line protocol below) or an external program such as `ember master`
// (measured from /proc only, stopped with SIGTERM).
//
// The protocol of a self child: it starts its role, then writes one line
// "ready <json>" to stdout (ports and the like). Then it reads commands
// from stdin, one a line, and answers each with one line of JSON (a
// childStat):
//
//	stat  the process's memory and GC figures now
//	gc    a GC and debug.FreeOSMemory first, then stat
//	mark  start the GC-pause window (Pauses in later stats) and stat
//	heap <file>  gc, then write a heap profile (pprof) to file, and stat
//
// End of stdin stops the role and ends the process. Logs go to stderr.

const (
	// childEnv names the role a self child plays; childArgsEnv holds its
	// arguments as JSON.
	childEnv     = "EMBER_SCALE_CHILD"
	childArgsEnv = "EMBER_SCALE_CHILD_ARGS"
	// childLimit bounds how long a child may take to start, answer or stop.
	childLimit = 2 * time.Minute
)

// childStat is a self child's answer to a command.
type childStat struct {
	Proc       procStatus       `json:"proc"`
	HeapInuse  uint64           `json:"heapInuse"`
	HeapAlloc  uint64           `json:"heapAlloc"`
	StackInuse uint64           `json:"stackInuse"`
	Sys        uint64           `json:"sys"`
	Mallocs    uint64           `json:"mallocs"`
	TotalAlloc uint64           `json:"totalAlloc"`
	NumGC      uint32           `json:"numGC"`
	Goroutines int              `json:"goroutines"`
	Pauses     pauseSummary     `json:"pauses"`
	Extra      map[string]int64 `json:"extra,omitempty"`
}

// role is what a self child runs. extra adds role figures to every stat
// (connections, messages counted); close stops the role.
type role struct {
	info  map[string]any
	extra func() map[string]int64
	close func() error
}

// roles are the self-child roles by name; each starts from its JSON
// arguments.
var roles = map[string]func(args json.RawMessage) (*role, error){}

// runChild plays the role named in the environment and serves the
// protocol until stdin ends.
func runChild(name string) error {
	start := roles[name]
	if start == nil {
		return fmt.Errorf("scale: unknown child role %q", name)
	}
	r, err := start(json.RawMessage(os.Getenv(childArgsEnv)))
	if err != nil {
		return err
	}
	info, err := json.Marshal(r.info)
	if err != nil {
		return errors.Join(err, r.close())
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %s\n", info)
	if err := out.Flush(); err != nil {
		return errors.Join(err, r.close())
	}
	var mark pauseMark
	mark.set()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		switch cmd {
		case "stat":
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
		case "mark":
			mark.set()
		case "heap":
			runtime.GC()
			if err := writeHeapProfile(arg); err != nil {
				fmt.Fprintln(os.Stderr, "scale child:", err)
			}
		default:
			fmt.Fprintf(os.Stderr, "scale child: unknown command %q\n", cmd)
		}
		st := selfStat(&mark)
		if r.extra != nil {
			st.Extra = r.extra()
		}
		js, err := json.Marshal(st)
		if err != nil {
			return errors.Join(err, r.close())
		}
		out.Write(js)
		out.WriteByte('\n')
		if err := out.Flush(); err != nil {
			return errors.Join(err, r.close())
		}
	}
	return r.close()
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

// selfStat is this process's childStat (without Extra).
func selfStat(mark *pauseMark) childStat {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := childStat{HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse, Sys: ms.Sys,
		Mallocs: ms.Mallocs, TotalAlloc: ms.TotalAlloc, NumGC: ms.NumGC, Goroutines: runtime.NumGoroutine()}
	st.Proc, _ = readStatus(os.Getpid())
	if mark != nil {
		st.Pauses = mark.since()
	}
	return st
}

// ---- GC pauses ----

// pauseSummary describes the GC stop-the-world pauses of a window: the
// exact cycle count and pause total (runtime.MemStats), the distribution
// of single pauses from runtime/metrics' /sched/pauses/total/gc:seconds
// histogram (percentiles are bucket upper bounds, a few percent coarse),
// and the share of the process's CPU time the GC used.
type pauseSummary struct {
	Seconds  float64 `json:"seconds"`  // the window
	Cycles   uint32  `json:"cycles"`   // GC cycles completed
	Pauses   uint64  `json:"pauses"`   // stop-the-world pauses (about two per cycle)
	TotalNs  uint64  `json:"totalNs"`  // sum of the pauses (MemStats.PauseTotalNs)
	P50Ns    float64 `json:"p50Ns"`    // single pause, bucket upper bound
	P99Ns    float64 `json:"p99Ns"`    //
	MaxNs    float64 `json:"maxNs"`    // upper bound of the highest bucket hit
	GCCPU    float64 `json:"gcCPU"`    // GC CPU seconds (/cpu/classes/gc/total)
	TotalCPU float64 `json:"totalCPU"` // all CPU seconds the runtime accounts (/cpu/classes/total)
}

const (
	pauseMetric    = "/sched/pauses/total/gc:seconds"
	gcCPUMetric    = "/cpu/classes/gc/total:cpu-seconds"
	totalCPUMetric = "/cpu/classes/total:cpu-seconds"
)

// pauseMark is the start of a GC-pause window.
type pauseMark struct {
	mu      sync.Mutex
	at      time.Time
	numGC   uint32
	totalNs uint64
	counts  []uint64
	gcCPU   float64
	cpu     float64
}

func readPauseMetrics() (h *metrics.Float64Histogram, gcCPU, cpu float64) {
	s := []metrics.Sample{{Name: pauseMetric}, {Name: gcCPUMetric}, {Name: totalCPUMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		h = s[0].Value.Float64Histogram()
	}
	if s[1].Value.Kind() == metrics.KindFloat64 {
		gcCPU = s[1].Value.Float64()
	}
	if s[2].Value.Kind() == metrics.KindFloat64 {
		cpu = s[2].Value.Float64()
	}
	return h, gcCPU, cpu
}

// set starts the window now.
func (m *pauseMark) set() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h, gcCPU, cpu := readPauseMetrics()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at, m.numGC, m.totalNs, m.gcCPU, m.cpu = time.Now(), ms.NumGC, ms.PauseTotalNs, gcCPU, cpu
	m.counts = nil
	if h != nil {
		m.counts = append([]uint64(nil), h.Counts...)
	}
}

// since summarizes the window from set to now.
func (m *pauseMark) since() pauseSummary {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h, gcCPU, cpu := readPauseMetrics()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := pauseSummary{Seconds: time.Since(m.at).Seconds(), Cycles: ms.NumGC - m.numGC,
		TotalNs: ms.PauseTotalNs - m.totalNs, GCCPU: gcCPU - m.gcCPU, TotalCPU: cpu - m.cpu}
	if h == nil {
		return s
	}
	counts := make([]uint64, len(h.Counts))
	for i, c := range h.Counts {
		counts[i] = c
		if i < len(m.counts) {
			counts[i] -= m.counts[i]
		}
		s.Pauses += counts[i]
	}
	upper := func(i int) float64 {
		b := h.Buckets[i+1]
		if math.IsInf(b, 1) {
			b = h.Buckets[i]
		}
		return b * 1e9
	}
	rank := func(p float64) float64 {
		want := uint64(math.Ceil(float64(s.Pauses) * p))
		var seen uint64
		for i, c := range counts {
			if seen += c; c > 0 && seen >= want {
				return upper(i)
			}
		}
		return 0
	}
	if s.Pauses > 0 {
		s.P50Ns, s.P99Ns = rank(0.50), rank(0.99)
		for i := len(counts) - 1; i >= 0; i-- {
			if counts[i] > 0 {
				s.MaxNs = upper(i)
				break
			}
		}
	}
	return s
}

// ---- the parent's side ----

// child is a process this program started.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // self children only
	lines chan string    // self children: stdout, line by line
	ready map[string]json.RawMessage
	dead  chan struct{} // closed once the process has exited
	err   error         // Wait's error, set before dead is closed

	stopOnce sync.Once
	stopErr  error
}

// startSelf starts this program as a self child playing role with args
// (marshalled to JSON) and waits for its ready line.
func startSelf(name, roleName string, args any) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+roleName, childArgsEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 4), dead: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go c.wait()
	line, err := c.readLine()
	if err == nil {
		js, ok := strings.CutPrefix(line, "ready ")
		if !ok {
			err = fmt.Errorf("%s: unexpected first line %q", name, line)
		} else {
			err = json.Unmarshal([]byte(js), &c.ready)
		}
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startExternal starts program path with args; its stdout and stderr go
// to this process's stderr.
func startExternal(name, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	c := &child{name: name, cmd: cmd, dead: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go c.wait()
	return c, nil
}

func (c *child) wait() {
	c.err = c.cmd.Wait()
	close(c.dead)
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// status reads the child's /proc/<pid>/status.
func (c *child) status() (procStatus, error) { return readStatus(c.pid()) }

// cpu is the child's CPU time so far.
func (c *child) cpu() (time.Duration, error) { return cpuTime(c.pid()) }

func (c *child) readLine() (string, error) {
	t := time.NewTimer(childLimit)
	defer t.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.dead
			return "", fmt.Errorf("%s exited: %v", c.name, c.err)
		}
		return line, nil
	case <-t.C:
		return "", fmt.Errorf("%s: no answer within %v", c.name, childLimit)
	}
}

// call sends a protocol command to a self child and returns its answer.
func (c *child) call(cmd string) (childStat, error) {
	var st childStat
	if c.stdin == nil {
		return st, fmt.Errorf("%s is not a self child", c.name)
	}
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return st, fmt.Errorf("%s: %w", c.name, err)
	}
	line, err := c.readLine()
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(line), &st)
}

// readyInt returns an integer from the ready line.
func (c *child) readyInt(key string) (int, error) {
	var n int
	raw, ok := c.ready[key]
	if !ok {
		return 0, fmt.Errorf("%s: no %q in its ready line", c.name, key)
	}
	return n, json.Unmarshal(raw, &n)
}

// stop ends the child: a self child by closing its stdin, an external one
// with SIGTERM; after childLimit it is killed. It waits for the exit and
// is idempotent.
func (c *child) stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stopNow() })
	return c.stopErr
}

func (c *child) stopNow() error {
	if c.stdin != nil {
		c.stdin.Close()
	} else {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(childLimit)
	defer t.Stop()
	select {
	case <-c.dead:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.dead
		return fmt.Errorf("%s did not stop within %v; killed", c.name, childLimit)
	}
	if c.lines != nil {
		for range c.lines { // drain, so the reader goroutine ends
		}
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && c.stdin == nil && ee.Sys().(syscall.WaitStatus).Signaled() {
		return nil // SIGTERM is how external children end
	}
	if c.err != nil {
		return fmt.Errorf("%s: %w", c.name, c.err)
	}
	return nil
}
