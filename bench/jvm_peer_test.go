package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
)

// The Spark 4.1 JVM peer: Spark's own network stack (spark-network-common,
// spark-network-shuffle) in a JVM running internal/interop/jvm/bench's
// BenchPeer, compiled against $SPARK_HOME/jars (testutil.CompileJava) and
// driven over its stdin and stdout. Its rows sit next to Ember's in the
// comparison matrices:
//
//   - BenchmarkRPCMatrix/spark-jvm/<size>/inflight=<n>: Spark's
//     TransportClient echoing through Spark's TransportServer in one JVM
//     (BenchPeer transport), n requests outstanding on the factory's one
//     pooled connection, as Ember's rows share one connection. The JVM's
//     callers are callbacks: each answer sends the next request from
//     Netty's event loop (Spark's async style), where Ember's are
//     goroutines waiting on a channel.
//   - BenchmarkFetchMatrix/spark-jvm/inflight=<n>/conns=<c>: Spark's
//     fetchChunk of 1 MiB FileSegmentManagedBuffers of the same page-cached
//     file Ember's rows read, registered in Spark's OneForOneStreamManager
//     64 chunks per stream, n outstanding on each of c connections.
//   - BenchmarkOneWayMatrix/spark-jvm/64B: Spark's TransportClient.send of
//     64-byte one-way messages from one thread on the pooled connection;
//     the run ends when the server's RpcHandler has counted them all.
//   - BenchmarkShuffleMatrix/spark-ess-<EPOLL|NIO>/...: Ember's shuffle
//     client (in that io mode) reading the same sort-shuffle layout from
//     Spark's external shuffle service (BenchPeer shuffle-service: a
//     TransportServer with an ExternalBlockHandler, -Xmx1g as Spark's
//     daemons default), with the JVM's peak and current RSS
//     (/proc/<pid>/status VmHWM, VmRSS) as peak-RSS-MiB and RSS-MiB.
//
// The JVM uses Netty's native EPOLL transport when it loads (it does on
// linux-x86_64 with Spark 4.1.4's jars), else NIO, and the benchmark logs
// which. Latencies are measured in the JVM (System.nanoTime around each
// operation) and handed over as a file, so reportDist computes the same
// percentiles and curves as for every other row; ops/s is the JVM's own
// elapsed time. allocs/op of the spark-jvm rows count only the Go process
// driving it and mean nothing.
//
// JVM warm-up: before the first measured run of each configuration in a
// JVM process, the JVM runs a fixed warm-up at that configuration:
// jvmWarmRPCs round trips (or one-way messages), jvmWarmChunks chunk
// fetches, jvmWarmShuffles whole shuffle reads. Without Spark (testutil.FindSparkHome: SPARK_HOME,
// or .spark/pyspark-4.1.4/pyspark) the rows skip, saying why; they also
// skip with -short (testutil.RequireSpark).

const (
	// sparkJVMSystem is the system name of the JVM transport rows.
	sparkJVMSystem = "spark-jvm"
	// sparkESSPrefix prefixes the system names of the rows reading from
	// Spark's shuffle service.
	sparkESSPrefix = "spark-ess-"
	// jvmPeerMain is the peer's main class.
	jvmPeerMain = "ember.interop.bench.BenchPeer"
	// jvmStartLimit bounds a JVM's start (to its READY line).
	jvmStartLimit = 2 * time.Minute
	// jvmWarmChunks is the warm-up of a fetch configuration (1 GiB).
	jvmWarmChunks = 1000
	// jvmWarmShuffles is the warm-up of a shuffle layout: whole reads.
	jvmWarmShuffles = 2
)

// jvmWarmRPCs is the warm-up of an RPC configuration: 20,000 round trips
// of payloads up to 64 KiB, 1,000 of larger ones.
func jvmWarmRPCs(size int) int {
	if size <= 64<<10 {
		return 20000
	}
	return 1000
}

// jvmPeerSources is the directory of BenchPeer.java.
func jvmPeerSources() (string, error) {
	root, err := testutil.ProjectRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "internal", "interop", "jvm", "bench"), nil
}

// jvmPeer is one running BenchPeer JVM.
type jvmPeer struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.WriteCloser
	lines  chan string   // protocol lines, without the prefix; closed at EOF
	read   chan struct{} // closed when stdout is drained
	stderr *testutil.LogBuffer
	dir    string // scratch directory (latency files)

	port int
	pid  int
	io   string // EPOLL or NIO: the JVM's Netty transport

	warmed map[string]bool // configurations already warmed up
	broken bool            // a command failed: the next get starts a new JVM
}

// startJVMPeer starts BenchPeer <what> with -Xmx<heap> and waits for its
// READY line. It skips tb when Spark or a JDK is missing (fails it under
// EMBER_REQUIRE_SPARK=1). The caller stops the peer.
func startJVMPeer(tb testing.TB, what, heap string) (*jvmPeer, error) {
	tb.Helper()
	home, java := testutil.RequireSpark(tb)
	src, err := jvmPeerSources()
	if err != nil {
		return nil, err
	}
	classes := testutil.CompileJava(tb, home, src)
	dir, err := os.MkdirTemp("", "ember-jvm-peer-*")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dir, " \t\n") {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: temporary directory %q has white space, which the peer's commands cannot carry", dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, jvmPeerMain, what)
	cmd.Args = slices.Insert(cmd.Args, 1, "-Xmx"+heap)
	p := &jvmPeer{cmd: cmd, cancel: cancel, lines: make(chan string, 16), read: make(chan struct{}),
		stderr: &testutil.LogBuffer{}, dir: dir, warmed: map[string]bool{}}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	go func() {
		defer close(p.read)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "EMBERPEER "); ok {
				p.lines <- rest
			} else {
				fmt.Fprintln(p.stderr, sc.Text())
			}
		}
	}()
	line, err := p.next(jvmStartLimit)
	if err == nil {
		f := fieldsOf(line)
		if !strings.HasPrefix(line, "READY ") || f["port"] == "" || f["pid"] == "" {
			err = fmt.Errorf("bench: JVM peer said %q, want READY", line)
		} else {
			p.port, _ = strconv.Atoi(f["port"])
			p.pid, _ = strconv.Atoi(f["pid"])
			p.io = f["io"]
		}
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("starting the JVM peer (%s): %w", what, err)
	}
	return p, nil
}

// next returns the next protocol line, or an error after limit or when
// the JVM has gone (with the end of its stderr).
func (p *jvmPeer) next(limit time.Duration) (string, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("the JVM peer exited; its stderr ends:\n%s", tail(p.stderr.String(), 3000))
		}
		return line, nil
	case <-timer.C:
		p.broken = true
		return "", fmt.Errorf("the JVM peer did not answer within %v; its stderr ends:\n%s", limit, tail(p.stderr.String(), 3000))
	}
}

// call sends one command and returns the fields of its OK answer.
func (p *jvmPeer) call(limit time.Duration, command string) (map[string]string, error) {
	if _, err := fmt.Fprintln(p.stdin, command); err != nil {
		p.broken = true
		return nil, fmt.Errorf("writing to the JVM peer: %w", err)
	}
	line, err := p.next(limit)
	if err != nil {
		return nil, err
	}
	if msg, ok := strings.CutPrefix(line, "ERR "); ok {
		p.broken = true
		return nil, fmt.Errorf("JVM peer: %s: %s", command, msg)
	}
	if !strings.HasPrefix(line, "OK") {
		p.broken = true
		return nil, fmt.Errorf("JVM peer answered %q to %q", line, command)
	}
	return fieldsOf(line), nil
}

// run sends a measuring command (rpc or fetch) whose last argument is the
// latency file, and returns the n latencies and the JVM's elapsed time.
func (p *jvmPeer) run(limit time.Duration, n int, command string) ([]int64, time.Duration, error) {
	path := filepath.Join(p.dir, "lat.bin")
	f, err := p.call(limit, command+" "+path)
	if err != nil {
		return nil, 0, err
	}
	got, _ := strconv.Atoi(f["n"])
	ns, err := strconv.ParseInt(f["elapsed"], 10, 64)
	if got != n || err != nil || ns <= 0 {
		return nil, 0, fmt.Errorf("JVM peer: %q: answer n=%q elapsed=%q, want n=%d and a positive time", command, f["n"], f["elapsed"], n)
	}
	lat, err := readLatencies(path, n)
	return lat, time.Duration(ns), err
}

// readLatencies reads n little-endian int64 latencies from path.
func readLatencies(path string, n int) ([]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) != 8*n {
		return nil, fmt.Errorf("bench: latency file has %d bytes, want %d", len(data), 8*n)
	}
	lat := make([]int64, n)
	for i := range lat {
		lat[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		if lat[i] <= 0 {
			return nil, fmt.Errorf("bench: latency %d of the JVM peer is %d ns", i, lat[i])
		}
	}
	return lat, nil
}

// rss returns the JVM's peak and current resident set sizes in bytes
// (VmHWM and VmRSS of /proc/<pid>/status).
func (p *jvmPeer) rss() (peak, cur int64, err error) {
	return procRSS(p.pid)
}

// procRSS reads VmHWM and VmRSS of process pid, in bytes.
func procRSS(pid int) (peak, cur int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, 0, fmt.Errorf("bench: unexpected %s line %q", k, line)
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmHWM" {
			peak = kb << 10
		} else {
			cur = kb << 10
		}
	}
	if peak == 0 || cur == 0 {
		return 0, 0, fmt.Errorf("bench: no VmHWM/VmRSS in /proc/%d/status", pid)
	}
	return peak, cur, nil
}

// stop ends the JVM: quit, then a kill of its process group if it has
// not exited within 20 s. It removes the scratch directory.
func (p *jvmPeer) stop() {
	fmt.Fprintln(p.stdin, "quit")
	p.stdin.Close()
	select {
	case <-p.read:
	case <-time.After(20 * time.Second):
		if p.cmd.Process != nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-p.read
	}
	_ = p.cmd.Wait()
	p.cancel()
	os.RemoveAll(p.dir)
}

// fieldsOf parses the key=value words of a protocol line.
func fieldsOf(line string) map[string]string {
	f := map[string]string{}
	for _, w := range strings.Fields(line) {
		if k, v, ok := strings.Cut(w, "="); ok {
			f[k] = v
		}
	}
	return f
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// lazyJVM starts one JVM peer on first use and keeps it for the top-level
// benchmark it was made for (whose b.Cleanup stops it), so that the
// sub-benchmarks of a process share one warmed JVM.
type lazyJVM struct {
	what, heap string
	mu         sync.Mutex
	peer       *jvmPeer
}

func newLazyJVM(b *testing.B, what, heap string) *lazyJVM {
	l := &lazyJVM{what: what, heap: heap}
	b.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.peer != nil {
			l.peer.stop()
			l.peer = nil
		}
	})
	return l
}

// get returns the running peer, starting it (or a new one after a failed
// command) when needed; it skips b when Spark is missing.
func (l *lazyJVM) get(b *testing.B) *jvmPeer {
	b.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peer != nil && l.peer.broken {
		l.peer.stop()
		l.peer = nil
	}
	if l.peer == nil {
		p, err := startJVMPeer(b, l.what, l.heap)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("Spark %s JVM peer (%s): Netty transport %s", testutil.SparkVersion, l.what, p.io)
		l.peer = p
	}
	return l.peer
}

// ---- the benchmarks' JVM rows ----

// runJVMRPC is BenchmarkRPCMatrix/spark-jvm/<size>/inflight=<n>.
func runJVMRPC(b *testing.B, l *lazyJVM, size, inflight int) {
	p := l.get(b)
	limit := runLimit()
	if key := fmt.Sprintf("rpc %d %d", size, inflight); !p.warmed[key] {
		if _, err := p.call(limit, fmt.Sprintf("rpc %d %d %d -", size, inflight, jvmWarmRPCs(size))); err != nil {
			b.Fatal(err)
		}
		p.warmed[key] = true
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	lat, elapsed, err := p.run(limit, b.N, fmt.Sprintf("rpc %d %d %d", size, inflight, b.N))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportDist(b, lat, elapsed)
}

// runJVMOneWay is BenchmarkOneWayMatrix/spark-jvm/64B.
func runJVMOneWay(b *testing.B, l *lazyJVM) {
	p := l.get(b)
	limit := runLimit()
	if key := "oneway"; !p.warmed[key] {
		if _, err := p.call(limit, fmt.Sprintf("oneway %d %d", oneWaySize, jvmWarmRPCs(oneWaySize))); err != nil {
			b.Fatal(err)
		}
		p.warmed[key] = true
	}
	b.SetBytes(oneWaySize)
	b.ResetTimer()
	f, err := p.call(limit, fmt.Sprintf("oneway %d %d", oneWaySize, b.N))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseInt(f["elapsed"], 10, 64)
	if f["n"] != strconv.Itoa(b.N) || err != nil || ns <= 0 {
		b.Fatalf("JVM peer: oneway: answer n=%q elapsed=%q, want n=%d and a positive time", f["n"], f["elapsed"], b.N)
	}
	b.ReportMetric(float64(b.N)/time.Duration(ns).Seconds(), "msgs/s")
}

// runJVMFetch is BenchmarkFetchMatrix/spark-jvm/inflight=<n>/conns=<c>.
func runJVMFetch(b *testing.B, l *lazyJVM, inflight, conns int) {
	p := l.get(b)
	limit := runLimit()
	path, fsize := dataFile(b, chunkFileSize(b.N))
	fetch := func(n int) string {
		return fmt.Sprintf("fetch %s %d %d %d %d %d", path, fsize, chunkSize, inflight, conns, n)
	}
	if strings.ContainsAny(path, " \t\n") {
		b.Fatalf("bench: data file %q has white space, which the peer's commands cannot carry", path)
	}
	if key := fmt.Sprintf("fetch %d %d", inflight, conns); !p.warmed[key] {
		if _, err := p.call(limit, fetch(jvmWarmChunks)+" -"); err != nil {
			b.Fatal(err)
		}
		p.warmed[key] = true
	}
	n := max(b.N, conns) // every connection fetches at least one chunk
	b.SetBytes(chunkSize)
	b.ResetTimer()
	lat, elapsed, err := p.run(limit, n, fetch(n))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportDist(b, lat, elapsed)
}

// runJVMShuffle is BenchmarkShuffleMatrix/spark-ess-<mode>/...: Ember's
// shuffle client in mode reading layout s from Spark's external shuffle
// service, as runShuffleRead reads it from Ember's.
func runJVMShuffle(b *testing.B, l *lazyJVM, mode netpoll.IOMode, s shuffleShape) {
	lay := layoutFor(b, s)
	p := l.get(b)
	conf := sparkconf.New().Set("spark.shuffle.io.mode", string(mode))
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: shuffleAppID, TmpDir: b.TempDir(), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	info := shuffle.ExecutorShuffleInfo{LocalDirs: lay.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
	if err := cl.RegisterWithShuffleServer("127.0.0.1", p.port, shuffleExecID, info); err != nil {
		p.broken = true
		b.Fatal(err)
	}
	reqs := shuffleRequests(s, p.port)
	var blocks atomic.Int64
	onBlock := func(_ string, data codec.ManagedBuffer) error {
		if data.Size() != int64(s.block) {
			return errBlockLength
		}
		blocks.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	// Warm up outside the timer: the JVM's fixed warm-up per layout, then,
	// as runShuffleRead does, reducer 0 on this client's connection.
	if key := "shuffle " + s.String(); !p.warmed[key] {
		for range jvmWarmShuffles {
			if err := readShuffle(ctx, cl, reqs, onBlock); err != nil {
				p.broken = true
				b.Fatal(err)
			}
		}
		p.warmed[key] = true
	}
	if err := cl.FetchAll(ctx, reqs[0], onBlock); err != nil {
		p.broken = true
		b.Fatal(err)
	}
	blocks.Store(0)
	wd := startWatchdog(b, func() {
		cancel()
		cl.Close()
	})

	b.SetBytes(s.bytes())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err = readShuffle(ctx, cl, reqs, onBlock); err != nil {
			break
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	if err != nil {
		p.broken = true
	}
	wd.check(b, err)
	if got, want := blocks.Load(), int64(b.N)*int64(s.blocks()); got != want {
		b.Fatalf("read %d blocks, want %d", got, want)
	}
	reportShuffle(b, s, elapsed)
	peak, cur, err := p.rss()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(cur)/(1<<20), "RSS-MiB")
}

// ---- smoke test ----

// TestSparkJVMPeer checks the JVM peer's paths without timing them: 200
// echo RPCs of two sizes, 1,000 one-way messages, chunk fetches (stamps checked by the JVM) on
// Spark's transport, a wrong chunk stamp and a bad command reported as
// errors, and Ember's shuffle client in both io modes reading a small
// layout from Spark's shuffle service, every block checked, with the
// JVM's RSS read. It runs in CI's go test (not with -short:
// testutil.RequireSpark skips it there).
func TestSparkJVMPeer(t *testing.T) {
	testutil.CheckLeaks(t)
	const limit = 2 * time.Minute

	p, err := startJVMPeer(t, "transport", "512m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	if p.io != "EPOLL" && p.io != "NIO" {
		t.Fatalf("JVM peer io mode %q, want EPOLL or NIO", p.io)
	}
	t.Logf("Spark JVM peer: Netty transport %s, pid %d", p.io, p.pid)

	for _, size := range []int{64, 4 << 10} {
		lat, elapsed, err := p.run(limit, 200, fmt.Sprintf("rpc %d 8 200", size))
		if err != nil {
			t.Fatalf("rpc %d B: %v", size, err)
		}
		if len(lat) != 200 || elapsed <= 0 {
			t.Fatalf("rpc %d B: %d latencies in %v, want 200 in a positive time", size, len(lat), elapsed)
		}
	}

	if f, err := p.call(limit, "oneway 64 1000"); err != nil || f["n"] != "1000" {
		t.Fatalf("oneway: %v (answer %v), want n=1000", err, f)
	}

	const chunks = 8
	path, err := makeDataFile(chunks * chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	for _, conns := range []int{1, 2} {
		// 12 chunks of an 8-chunk file: the walk wraps at its end.
		cmd := fmt.Sprintf("fetch %s %d %d 4 %d 12", path, chunks*chunkSize, chunkSize, conns)
		lat, _, err := p.run(limit, 12, cmd)
		if err != nil {
			t.Fatalf("fetch over %d connection(s): %v", conns, err)
		}
		if len(lat) != 12 {
			t.Fatalf("fetch: %d latencies, want 12", len(lat))
		}
	}

	// A file without the stamps: the JVM must notice.
	zeros := filepath.Join(t.TempDir(), "zeros.bin")
	if err := os.WriteFile(zeros, make([]byte, 2*chunkSize), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.call(limit, fmt.Sprintf("fetch %s %d %d 1 1 2 -", zeros, 2*chunkSize, chunkSize))
	if err == nil || !strings.Contains(err.Error(), "want the offset") {
		t.Fatalf("fetch of an unstamped file: %v, want a stamp mismatch", err)
	}
	if _, err := p.call(limit, "rpc 64"); err == nil || !strings.Contains(err.Error(), "takes 4 arguments") {
		t.Fatalf("short rpc command: %v, want an argument count error", err)
	}
	if _, err := p.call(limit, "rpc 64 1 5 -"); err != nil {
		t.Fatalf("the peer did not recover from bad commands: %v", err)
	}

	ess, err := startJVMPeer(t, "shuffle-service", "512m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ess.stop)
	s := shuffleShape{maps: 4, reducers: 4, block: 4 << 10}
	lay, err := writeLayout(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(lay.root) })
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			conf := sparkconf.New().Set("spark.shuffle.io.mode", string(mode))
			cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: shuffleAppID, TmpDir: t.TempDir(), Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			info := shuffle.ExecutorShuffleInfo{LocalDirs: lay.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
			if err := cl.RegisterWithShuffleServer("127.0.0.1", ess.port, shuffleExecID, info); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[string]bool{}
			onBlock := func(id string, data codec.ManagedBuffer) error {
				bid, err := shuffle.ParseBlockID(id)
				if err != nil {
					return err
				}
				b, err := data.Bytes()
				if err != nil {
					return err
				}
				if len(b) != s.block {
					return fmt.Errorf("block %s has %d bytes, want %d", id, len(b), s.block)
				}
				if got, want := binary.BigEndian.Uint64(b), uint64(bid.MapID)<<32|uint64(bid.ReduceID); got != want {
					return fmt.Errorf("block %s starts with %#x, want %#x", id, got, want)
				}
				mu.Lock()
				seen[id] = true
				mu.Unlock()
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			if err := readShuffle(ctx, cl, shuffleRequests(s, ess.port), onBlock); err != nil {
				t.Fatal(err)
			}
			if len(seen) != s.blocks() {
				t.Fatalf("read %d distinct blocks, want %d", len(seen), s.blocks())
			}
		})
	}
	peak, cur, err := ess.rss()
	if err != nil {
		t.Fatal(err)
	}
	if peak < cur || cur < 1<<20 {
		t.Fatalf("shuffle service JVM: peak RSS %d, RSS %d bytes: want peak >= current >= 1 MiB", peak, cur)
	}
	t.Logf("Spark shuffle service JVM: peak RSS %.1f MiB, RSS %.1f MiB", float64(peak)/(1<<20), float64(cur)/(1<<20))
}
