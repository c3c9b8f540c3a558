package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// latDirEnv is the environment variable through which the benchmarks
// write their percentile curves (bench/latency_test.go).
const latDirEnv = "EMBER_BENCH_LATDIR"

// runner executes the plan's units.
type runner struct {
	cfg     config
	bin     string    // the compiled test binary
	pkgDir  string    // its package's directory (the tests' working directory)
	tmp     string    // scratch directory
	raw     io.Writer // every process's output, with a header per unit
	store   *store
	iperf   string // iperf3's path, "" when it is not available
	started time.Time
}

// compile builds the benchmark package's test binary once, so that every
// unit runs the same code without relinking.
func (r *runner) compile(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", r.cfg.pkg).Output()
	if err != nil {
		return fmt.Errorf("go list %s: %w", r.cfg.pkg, err)
	}
	r.pkgDir = strings.TrimSpace(string(out))
	r.bin = filepath.Join(r.tmp, "bench.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", r.bin, r.cfg.pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -c %s: %w", r.cfg.pkg, err)
	}
	return nil
}

// testArgs are the test binary's flags for the benchmarks in names.
func (r *runner) testArgs(names []string) []string {
	args := []string{
		"-test.run=^$",
		"-test.bench=" + benchPattern(names),
		"-test.benchtime=" + r.cfg.benchtime,
		"-test.count=1",
		"-test.benchmem",
		"-test.timeout=" + r.cfg.timeout.String(),
	}
	if r.cfg.short {
		args = append(args, "-test.short")
	}
	return args
}

// runUnit runs one unit and records what it measured.
func (r *runner) runUnit(ctx context.Context, i, total int, u unit) {
	fmt.Fprintf(os.Stderr, "[%3d/%d %s] %s\n", i, total, time.Since(r.started).Round(time.Second), u)
	if u.suite == "iperf" {
		r.runIperf(ctx, u)
		return
	}
	latDir := filepath.Join(r.tmp, fmt.Sprintf("lat-%03d", i))
	args := r.testArgs(u.benches)
	// The process's own -test.timeout fires first; this one is a backstop.
	cctx, cancel := context.WithTimeout(ctx, r.cfg.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.bin, args...)
	cmd.Dir = r.pkgDir
	cmd.Env = append(os.Environ(), latDirEnv+"="+latDir)
	var out bytes.Buffer
	var w io.Writer = &out
	if r.cfg.verbose {
		w = io.MultiWriter(&out, os.Stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	fmt.Fprintf(r.raw, "### %s\n### %s %s\n", u, r.bin, strings.Join(quoteArgs(args), " "))
	runErr := cmd.Run()
	r.raw.Write(out.Bytes())

	results, problems, err := parseOutput(bytes.NewReader(out.Bytes()))
	if err != nil {
		r.note(u, "reading its output: %v", err)
	}
	got := map[string]bool{}
	for _, res := range results {
		r.store.add(u.round, res)
		got[res.name] = true
	}
	for _, p := range problems {
		if p != "FAIL" && !strings.HasPrefix(p, "FAIL\t") {
			r.note(u, "%s", p)
		}
	}
	if runErr != nil {
		r.note(u, "exited: %v", runErr)
	}
	if isSparkSystem(u.sys) && bytes.Contains(out.Bytes(), []byte("Netty transport NIO")) {
		r.note(u, "the Spark JVM ran on Netty's NIO transport: native epoll did not load (see the raw output)")
	}
	for _, b := range u.benches {
		if !got[b] {
			r.note(u, "no result for %s", b)
		}
	}
	if err := r.store.loadCurves(latDir); err != nil {
		r.note(u, "reading latency curves: %v", err)
	}
}

func (r *runner) note(u unit, format string, args ...any) {
	msg := fmt.Sprintf("round %d, %s, %s: ", u.round, u.suite, u.sys) + fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "  note:", msg)
	r.store.notes = append(r.store.notes, msg)
}

// quoteArgs quotes the arguments a shell would split or expand.
func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " $|^*()[]\\'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return q
}

// ---- iperf3 ----

// findIperf returns iperf3's path, installing the Debian package with
// apt-get when it is missing and the command runs as root; "" and a reason
// when it is not available.
func findIperf(ctx context.Context) (string, string) {
	if p, err := exec.LookPath("iperf3"); err == nil {
		return p, ""
	}
	if os.Geteuid() != 0 {
		return "", "iperf3 is not installed and this is not root, so it was not installed; the iperf3 rows are skipped"
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "iperf3 is not installed and there is no apt-get; the iperf3 rows are skipped"
	}
	fmt.Fprintln(os.Stderr, "installing iperf3 with apt-get")
	install := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.Run()
	}
	if install("install", "-y", "iperf3") != nil {
		_ = install("update")
		if err := install("install", "-y", "iperf3"); err != nil {
			return "", fmt.Sprintf("apt-get install iperf3 failed (%v); the iperf3 rows are skipped", err)
		}
	}
	if p, err := exec.LookPath("iperf3"); err == nil {
		return p, ""
	}
	return "", "iperf3 is still not on PATH after apt-get; the iperf3 rows are skipped"
}

// runIperf measures loopback TCP throughput with iperf3 -Z for each
// benchmark of u (named iperf3/streams=<n>).
func (r *runner) runIperf(ctx context.Context, u unit) {
	if r.iperf == "" {
		return
	}
	for _, name := range u.benches {
		streams, err := strconv.Atoi(strings.TrimPrefix(name, "iperf3/streams="))
		if err != nil {
			r.note(u, "bad iperf3 benchmark name %q", name)
			continue
		}
		mbps, err := iperfOnce(ctx, r.iperf, streams, r.cfg.iperfTime, r.raw)
		if err != nil {
			r.note(u, "iperf3 -P %d: %v", streams, err)
			continue
		}
		fmt.Fprintf(r.raw, "%s\t1\t%.0f ns/op\t%.2f MB/s\n", name, float64(r.cfg.iperfTime), mbps)
		r.store.add(u.round, result{name: name, procs: 1, n: 1, metrics: map[string]float64{"MB/s": mbps}})
	}
}

// iperfOnce runs an iperf3 server for one test on a free loopback port and
// a client with -Z (sendfile) and streams parallel streams for d; it
// returns the received MB/s (10^6 bytes per second).
func iperfOnce(ctx context.Context, iperf string, streams int, d time.Duration, raw io.Writer) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	sctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	srv := exec.CommandContext(sctx, iperf, "-s", "-1", "-B", "127.0.0.1", "-p", port)
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cancel()
		_ = srv.Wait()
	}()

	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	var out []byte
	for attempt := 0; ; attempt++ {
		// The server needs a moment to listen; a refused client is retried.
		time.Sleep(300 * time.Millisecond)
		cmd := exec.CommandContext(sctx, iperf, "-c", "127.0.0.1", "-p", port, "-Z", "-J", "-t", secs, "-P", strconv.Itoa(streams))
		out, err = cmd.Output()
		if err == nil || attempt == 5 {
			break
		}
	}
	fmt.Fprintf(raw, "### iperf3 -c 127.0.0.1 -Z -t %s -P %d\n", secs, streams)
	var rep struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		if err != nil {
			return 0, err
		}
		return 0, jerr
	}
	if rep.Error != "" {
		return 0, errors.New(rep.Error)
	}
	if rep.End.SumReceived.BitsPerSecond <= 0 {
		return 0, errors.New("no receiver summary in iperf3's report")
	}
	return rep.End.SumReceived.BitsPerSecond / 8 / 1e6, nil
}
