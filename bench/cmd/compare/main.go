// Command compare runs Ember's benchmarks and those of its peers A/B/A/B
// on loopback and writes a markdown report of medians, spreads and ratios
// with PNG latency plots.
//
//	go run ./cmd/compare                       # everything, 2 rounds, -benchtime=1s
//	go run ./cmd/compare -suite rpc,openloop -rounds 3
//	go run ./cmd/compare -rounds 1 -benchtime 200ms -short   # a quick look
//	go run ./cmd/compare -suite rpc,fetch,oneway,shuffle \
//	    -systems EPOLL,NIO,essproc-EPOLL,essproc-NIO,spark-jvm,spark-ess-EPOLL,spark-ess-NIO
//	                                                 # Ember against Spark 4.1's JVM only (and the baselines)
//
// Run it inside bench/, the benchmark module's root. It compiles the benchmark package
// (. in bench/) once with go test -c, then runs the test binary once per unit:
// one system's benchmarks of one group of workloads (for example every
// in-flight level of BenchmarkRPCMatrix/NIO/64B), with -test.run='^$'
// -test.bench=<exactly those> -test.benchtime=<-benchtime> -test.count=1
// -test.benchmem. A round runs every selected suite's groups, each group
// system after system in a fixed order, and the rounds repeat that order:
// A/B/A/B, so that drift of the machine (thermal, other load, page cache)
// touches every system alike instead of favouring whichever ran first.
// Each unit writes its latency percentile curves through
// EMBER_BENCH_LATDIR (bench/latency_test.go).
//
// Suites (-suite, comma-separated; default all):
//
//	rpc       BenchmarkRPCMatrix: echo RPCs, 64B/4KiB/1MiB × 1/32/256 in flight; baseline raw TCP
//	ask       BenchmarkAskMatrix: rpcenv asks next to 64B echoes; baseline grpc-go unary
//	fetch     BenchmarkFetchMatrix: 1 MiB chunks, 1/8/32 in flight × 1/4 connections; baseline raw sendfile
//	oneway    BenchmarkOneWayMatrix: 64-byte one-way messages; baseline raw TCP
//	shuffle   BenchmarkShuffleMatrix: 64 × 64 shuffle reads; baseline raw sendfile of the same blocks
//	openloop  BenchmarkOpenLoop: closed loop and open loop at 10/50/80% of the maximum; baseline raw TCP
//	iperf     iperf3 -Z on loopback, 1 and 4 streams (installed with apt-get when missing and
//	          running as root; skipped with a note otherwise)
//
// -systems keeps only the named systems (the keys in the benchmark names;
// every suite's baseline always runs). The Spark 4.1 JVM peers (systems
// spark-jvm in rpc, fetch and oneway, spark-ess-EPOLL and spark-ess-NIO
// in shuffle; bench/jvm_peer_test.go) need Spark 4.1.4's jars and a JDK, found as the
// tests find them (SPARK_HOME, else .spark/pyspark-4.1.4/pyspark from
// scripts/spark.sh; java and javac from JAVA_HOME or PATH); without them,
// or with -short, those rows are left out of the plan and the report says
// why. Their tables get "vs Spark 4.1 JVM" ratio columns for Ember's rows.
//
// The report (-out, default results/compare.md in bench/) has a table per
// workload: per system the median, min and max over rounds of the key
// metric, the median p50/p99/p99.9 latencies where measured, allocs/op,
// and ratios to the workload's baseline. The PNGs (-plots, default the
// report's directory) are latency-percentile curves per workload and, for
// the open loop, latency against throughput. All raw output goes to -raw
// (default <out>-raw.txt).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// config is the command line.
type config struct {
	rounds    int
	benchtime string
	suites    []string
	out       string
	plots     string
	raw       string
	short     bool
	timeout   time.Duration
	pkg       string
	iperfTime time.Duration
	dryRun    bool
	verbose   bool
	systems   []string // -systems; empty: all
	noSpark   string   // why the Spark JVM rows cannot run ("" when they can)
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.IntVar(&c.rounds, "rounds", 2, "rounds; each runs every system once, in the same order (A/B/A/B)")
	fs.StringVar(&c.benchtime, "benchtime", "1s", "go test -benchtime for every benchmark")
	suites := fs.String("suite", strings.Join(suiteNames, ","), "comma-separated suites: "+strings.Join(suiteNames, ", "))
	fs.StringVar(&c.out, "out", filepath.Join("results", "compare.md"), "markdown report")
	fs.StringVar(&c.plots, "plots", "", "directory of the PNG plots (default: the report's directory)")
	fs.StringVar(&c.raw, "raw", "", "file of all raw benchmark output (default: <out without .md>-raw.txt)")
	fs.BoolVar(&c.short, "short", false, "run the benchmarks with -test.short (small sizes; for trying the command out)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "-test.timeout of each benchmark process")
	fs.StringVar(&c.pkg, "pkg", ".", "the benchmark package (run inside bench/, the benchmark module)")
	fs.DurationVar(&c.iperfTime, "iperf-time", 5*time.Second, "duration of each iperf3 run")
	fs.BoolVar(&c.dryRun, "n", false, "print the plan (and each process's command line) and exit")
	fs.BoolVar(&c.verbose, "v", false, "copy the benchmarks' output to stderr as they run")
	systems := fs.String("systems", "", "comma-separated systems to run (default: all); each suite's baseline always runs")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.rounds < 1 {
		return c, errors.New("-rounds must be at least 1")
	}
	for _, s := range strings.Split(*suites, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(suiteNames, s) {
			return c, fmt.Errorf("unknown suite %q (have %s)", s, strings.Join(suiteNames, ", "))
		}
		if !slices.Contains(c.suites, s) {
			c.suites = append(c.suites, s)
		}
	}
	if len(c.suites) == 0 {
		return c, errors.New("no suite selected")
	}
	known := map[string]bool{}
	var keys []string
	for _, s := range defineSuites(false) {
		for _, sys := range s.systems {
			if !known[sys.key] {
				known[sys.key] = true
				keys = append(keys, sys.key)
			}
		}
	}
	for _, k := range strings.Split(*systems, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !known[k] {
			return c, fmt.Errorf("unknown system %q (have %s)", k, strings.Join(keys, ", "))
		}
		c.systems = append(c.systems, k)
	}
	if c.plots == "" {
		c.plots = filepath.Dir(c.out)
	}
	if c.raw == "" {
		c.raw = strings.TrimSuffix(c.out, ".md") + "-raw.txt"
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// selectedSuites are the suites cfg names, in run order, each with the
// systems cfg keeps.
func selectedSuites(cfg config) []suite {
	var out []suite
	for _, s := range defineSuites(cfg.short) {
		if slices.Contains(cfg.suites, s.name) {
			out = append(out, filterSystems(s, cfg))
		}
	}
	return out
}

// filterSystems drops the systems of s that cfg does not keep: those not
// named by -systems (when given), and the Spark JVM peers when they cannot
// run. Baselines and reference rows (iperf3) stay.
func filterSystems(s suite, cfg config) suite {
	fixed := map[string]bool{"iperf3": true}
	for _, w := range s.workloads {
		fixed[w.baseline] = true
	}
	keep := func(key string) bool {
		if cfg.noSpark != "" && isSparkSystem(key) {
			return false
		}
		return fixed[key] || len(cfg.systems) == 0 || slices.Contains(cfg.systems, key)
	}
	out := s
	out.systems = nil
	for _, sys := range s.systems {
		if keep(sys.key) {
			out.systems = append(out.systems, sys)
		}
	}
	out.workloads = nil
	for _, w := range s.workloads {
		w.cells = slices.DeleteFunc(slices.Clone(w.cells), func(c cell) bool { return !keep(c.sys) })
		out.workloads = append(out.workloads, w)
	}
	return out
}

// sparkMissing says why the Spark 4.1 JVM peers cannot run ("" when they
// can): no Spark distribution or JDK found as the tests find them, or
// -short (testutil.RequireSpark skips them then).
func sparkMissing(cfg config) string {
	if cfg.short {
		return "-short: the Spark 4.1 JVM rows are skipped (live Spark peers run only without -short)"
	}
	if _, err := testutil.FindSparkHome(); err != nil {
		return fmt.Sprintf("the Spark 4.1 JVM rows are skipped: %v", err)
	}
	if _, _, err := testutil.FindJava(); err != nil {
		return fmt.Sprintf("the Spark 4.1 JVM rows are skipped: %v", err)
	}
	return ""
}

func run(ctx context.Context, cfg config) error {
	var notes []string
	for _, s := range defineSuites(cfg.short) {
		if slices.Contains(cfg.suites, s.name) && slices.ContainsFunc(filterSystems(s, cfg).systems, func(sys system) bool { return isSparkSystem(sys.key) }) {
			if cfg.noSpark = sparkMissing(cfg); cfg.noSpark != "" {
				fmt.Fprintln(os.Stderr, "note:", cfg.noSpark)
				notes = append(notes, cfg.noSpark)
			}
			break
		}
	}
	suites := selectedSuites(cfg)
	plan := buildPlan(suites, cfg.rounds)
	r := &runner{cfg: cfg, store: newStore(), started: time.Now()}
	r.store.notes = notes
	if cfg.dryRun {
		for i, u := range plan {
			fmt.Printf("%3d %s\n", i+1, u)
			if u.suite != "iperf" {
				fmt.Printf("    bench.test %s\n", strings.Join(quoteArgs(r.testArgs(u.benches)), " "))
			}
		}
		return nil
	}

	for _, p := range []string{filepath.Dir(cfg.out), cfg.plots, filepath.Dir(cfg.raw)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "ember-compare-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r.tmp = tmp
	rawFile, err := os.Create(cfg.raw)
	if err != nil {
		return err
	}
	defer rawFile.Close()
	r.raw = rawFile
	fmt.Fprintf(rawFile, "# %s %s, %d CPUs: go run ./cmd/compare %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), strings.Join(quoteArgs(os.Args[1:]), " "))

	if slices.Contains(cfg.suites, "iperf") {
		path, why := findIperf(ctx)
		r.iperf = path
		if why != "" {
			fmt.Fprintln(os.Stderr, "note:", why)
			r.store.notes = append(r.store.notes, why)
		}
	}
	fmt.Fprintf(os.Stderr, "compiling %s\n", cfg.pkg)
	if err := r.compile(ctx); err != nil {
		return err
	}
	for i, u := range plan {
		if ctx.Err() != nil {
			r.store.notes = append(r.store.notes, "interrupted: the report covers the units that ran")
			break
		}
		r.runUnit(ctx, i+1, len(plan), u)
	}

	plots, err := makePlots(cfg.plots, cfg.out, suites, r.store)
	if err != nil {
		return err
	}
	f, err := os.Create(cfg.out)
	if err != nil {
		return err
	}
	writeReport(f, reportHeader{
		command:   "go run ./cmd/compare " + strings.Join(quoteArgs(os.Args[1:]), " "),
		date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		goVersion: runtime.Version(),
		cpus:      runtime.NumCPU(),
		rounds:    cfg.rounds,
		benchtime: cfg.benchtime,
		short:     cfg.short,
		raw:       relPath(cfg.out, cfg.raw),
		notes:     r.store.notes,
	}, suites, r.store, plots)
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%d plots in %s) in %s\n", cfg.out, len(plots), cfg.plots, time.Since(r.started).Round(time.Second))
	return nil
}
