package main

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
)

// sampleOutput is go test -bench output as the benchmarks print it,
// including a line split by a log message and a failed benchmark.
const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/ember-rpc/ember/bench
cpu: Intel(R) Xeon(R) Processor
BenchmarkRPCMatrix/NIO/64B/inflight=1-2          	   93519	     10878 ns/op	   5.88 MB/s	     91929 ops/s	      8512 p50-ns	     44937 p99-ns	     61234 p99.9-ns	     184 B/op	       4 allocs/op
BenchmarkOpenLoop/rawtcp/load=10%-2              	   17594	     66728 ns/op	   0.96 MB/s	     12329 lag-p99-ns	     14987 ops/s	     83645 p50-ns	    261285 p99-ns	    261285 p99.9-ns	     14987 target-ops/s	       0 B/op	       0 allocs/op
BenchmarkMasterRecovery1000Workers/daemon/EPOLL/workers=1000-2         	2026/11/21 07:22:22 NETPOLL: netFD[8] close error: bad file descriptor
2026/11/21 07:22:22 NETPOLL: netFD[8] close error: bad file descriptor
      74	  15716074 ns/op	        15.72 ms/recovery	 5397043 B/op	   49250 allocs/op
BenchmarkOneWayMatrix/NIO/64B                    	  507127	      2607 ns/op	  24.55 MB/s	    383650 msgs/s	      48 B/op	       1 allocs/op
BenchmarkFetchMatrix/EPOLL/inflight=8/conns=4-2
--- FAIL: BenchmarkFetchMatrix/EPOLL/inflight=8/conns=4-2
    fetch_matrix_bench_test.go:150: run of 10 ops did not finish within 2m0s
BenchmarkShuffleMatrix/rawsendfile/maps=64/reducers=64/block=4KiB-16   	      10	  44212960 ns/op	 379.46 MB/s	     92643 blocks/s	  393219 B/op	   20480 allocs/op
FAIL
exit status 1
FAIL	github.com/ember-rpc/ember/bench	148.028s
`

func TestParseOutput(t *testing.T) {
	results, problems, err := parseOutput(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name    string
		procs   int
		n       int64
		metrics map[string]float64
	}{
		{"BenchmarkRPCMatrix/NIO/64B/inflight=1", 2, 93519, map[string]float64{
			"ns/op": 10878, "MB/s": 5.88, "ops/s": 91929, "p50-ns": 8512, "p99-ns": 44937, "p99.9-ns": 61234, "B/op": 184, "allocs/op": 4}},
		{"BenchmarkOpenLoop/rawtcp/load=10%", 2, 17594, map[string]float64{
			"ns/op": 66728, "MB/s": 0.96, "lag-p99-ns": 12329, "ops/s": 14987, "p50-ns": 83645, "p99-ns": 261285,
			"p99.9-ns": 261285, "target-ops/s": 14987, "B/op": 0, "allocs/op": 0}},
		{"BenchmarkMasterRecovery1000Workers/daemon/EPOLL/workers=1000", 2, 74, map[string]float64{
			"ns/op": 15716074, "ms/recovery": 15.72, "B/op": 5397043, "allocs/op": 49250}},
		{"BenchmarkOneWayMatrix/NIO/64B", 1, 507127, map[string]float64{
			"ns/op": 2607, "MB/s": 24.55, "msgs/s": 383650, "B/op": 48, "allocs/op": 1}},
		{"BenchmarkShuffleMatrix/rawsendfile/maps=64/reducers=64/block=4KiB", 16, 10, map[string]float64{
			"ns/op": 44212960, "MB/s": 379.46, "blocks/s": 92643, "B/op": 393219, "allocs/op": 20480}},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(results), len(want), results)
	}
	for i, w := range want {
		got := results[i]
		if got.name != w.name || got.procs != w.procs || got.n != w.n {
			t.Errorf("result %d: got %s (procs %d, n %d), want %s (procs %d, n %d)", i, got.name, got.procs, got.n, w.name, w.procs, w.n)
		}
		if len(got.metrics) != len(w.metrics) {
			t.Errorf("%s: got metrics %v, want %v", w.name, got.metrics, w.metrics)
		}
		for unit, v := range w.metrics {
			if g, ok := got.metrics[unit]; !ok || math.Abs(g-v) > 1e-9 {
				t.Errorf("%s: %s = %v (present %v), want %v", w.name, unit, g, ok, v)
			}
		}
	}
	wantProblems := []string{
		"--- FAIL: BenchmarkFetchMatrix/EPOLL/inflight=8/conns=4-2",
		"FAIL",
		"FAIL\tgithub.com/ember-rpc/ember/bench\t148.028s",
	}
	if strings.Join(problems, "\n") != strings.Join(wantProblems, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(wantProblems, "\n"))
	}
}

func TestSplitProcs(t *testing.T) {
	for _, tc := range []struct {
		in    string
		name  string
		procs int
	}{
		{"BenchmarkX-2", "BenchmarkX", 2},
		{"BenchmarkX/a=1-128", "BenchmarkX/a=1", 128},
		{"BenchmarkX/grpc-unary", "BenchmarkX/grpc-unary", 1},
		{"BenchmarkX/grpc-unary-4", "BenchmarkX/grpc-unary", 4},
		{"BenchmarkX-", "BenchmarkX-", 1},
	} {
		name, procs := splitProcs(tc.in)
		if name != tc.name || procs != tc.procs {
			t.Errorf("splitProcs(%q) = %q, %d; want %q, %d", tc.in, name, procs, tc.name, tc.procs)
		}
	}
}

// matchesLikeTesting applies a -test.bench pattern to a benchmark name the
// way package testing does for patterns without parentheses spanning
// '/' or '|': some '|'-alternative whose '/'-elements each match the
// name's element at the same level (and no more elements than the name).
func matchesLikeTesting(t *testing.T, pattern, name string) bool {
	t.Helper()
	elems := strings.Split(name, "/")
	for _, alt := range splitTopLevel(pattern, '|') {
		pats := splitTopLevel(alt, '/')
		if len(pats) > len(elems) {
			continue
		}
		ok := true
		for i, p := range pats {
			re, err := regexp.Compile(p)
			if err != nil {
				t.Fatalf("pattern element %q: %v", p, err)
			}
			if !re.MatchString(elems[i]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// splitTopLevel splits s at sep outside parentheses and brackets.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func TestBenchPattern(t *testing.T) {
	names := []string{
		"BenchmarkRPCMatrix/NIO/64B/inflight=1",
		"BenchmarkRPCMatrix/NIO/64B/inflight=32",
		"BenchmarkOpenLoop/rawtcp/load=10%",
		"BenchmarkAskMatrix/EPOLL/inflight=256",
	}
	pat := benchPattern(names)
	if want := `^BenchmarkRPCMatrix$/^NIO$/^64B$/^(inflight=1|inflight=32)$|^BenchmarkOpenLoop$/^rawtcp$/^load=10%$|^BenchmarkAskMatrix$/^EPOLL$/^inflight=256$`; pat != want {
		t.Errorf("benchPattern = %s\nwant %s", pat, want)
	}
	for _, n := range names {
		if !matchesLikeTesting(t, pat, n) {
			t.Errorf("%s does not match %s", n, pat)
		}
	}
	for _, n := range []string{
		"BenchmarkRPCMatrix/NIO/64B/inflight=256",
		"BenchmarkRPCMatrix/NIO/64B/inflight=10",
		"BenchmarkRPCMatrix/EPOLL/64B/inflight=1",
		"BenchmarkOpenLoop/rawtcp/load=100%",
		"BenchmarkAskMatrix/EPOLL/inflight=25",
	} {
		if matchesLikeTesting(t, pat, n) {
			t.Errorf("%s matches %s", n, pat)
		}
	}
}

func TestBuildPlanInterleaves(t *testing.T) {
	suites := defineSuites(false)
	var rpc, ask suite
	for _, s := range suites {
		switch s.name {
		case "rpc":
			rpc = s
		case "ask":
			ask = s
		}
	}
	plan := buildPlan([]suite{rpc, ask}, 2)
	// Per round: 3 sizes × 7 systems for rpc, then only the two ask
	// systems (the 64B echoes already ran in the rpc suite of the round).
	perRound := 3*len(rpc.systems) + 2
	if len(plan) != 2*perRound {
		t.Fatalf("got %d units, want %d", len(plan), 2*perRound)
	}
	for i := range perRound {
		a, b := plan[i], plan[perRound+i]
		if a.round != 1 || b.round != 2 || a.suite != b.suite || a.group != b.group || a.sys != b.sys {
			t.Fatalf("unit %d of round 2 (%v) is not unit %d of round 1 (%v)", i, b, i, a)
		}
	}
	for i := 0; i < len(rpc.systems); i++ { // the first group: every system in order
		if plan[i].group != "64B" || plan[i].sys != rpc.systems[i].key || len(plan[i].benches) != 3 {
			t.Errorf("unit %d is %v, want 64B %s with 3 benchmarks", i, plan[i], rpc.systems[i].key)
		}
	}
	last := plan[perRound-1]
	if last.suite != "ask" || last.sys != "ask-NIO" {
		t.Errorf("last unit of round 1 is %v", last)
	}
	// Without rpc, the ask suite runs its echo peers itself.
	if n := len(buildPlan([]suite{ask}, 1)); n != len(ask.systems) {
		t.Errorf("ask alone: %d units, want %d", n, len(ask.systems))
	}
}

func TestStatsAndTable(t *testing.T) {
	st := newStore()
	for round, out := range []string{
		"BenchmarkRPCMatrix/rawtcp/64B/inflight=1-2 100 6000 ns/op 160000 ops/s 6000 p50-ns 7000 p99-ns 9000 p99.9-ns 0 B/op 0 allocs/op\n" +
			"BenchmarkRPCMatrix/NIO/64B/inflight=1-2 100 9000 ns/op 90000 ops/s 8500 p50-ns 45000 p99-ns 90000 p99.9-ns 184 B/op 4 allocs/op\n",
		"BenchmarkRPCMatrix/rawtcp/64B/inflight=1-2 100 6000 ns/op 140000 ops/s 6400 p50-ns 7000 p99-ns 9000 p99.9-ns 0 B/op 0 allocs/op\n" +
			"BenchmarkRPCMatrix/NIO/64B/inflight=1-2 100 9000 ns/op 110000 ops/s 8700 p50-ns 45000 p99-ns 90000 p99.9-ns 184 B/op 3 allocs/op\n",
		"BenchmarkRPCMatrix/rawtcp/64B/inflight=1-2 100 6000 ns/op 150000 ops/s 6200 p50-ns 7000 p99-ns 9000 p99.9-ns 0 B/op 0 allocs/op\n",
	} {
		results, _, err := parseOutput(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			st.add(round+1, r)
		}
	}
	s, ok := st.stat("BenchmarkRPCMatrix/rawtcp/64B/inflight=1", "ops/s")
	if !ok || s.median != 150000 || s.min != 140000 || s.max != 160000 || s.n != 3 {
		t.Errorf("raw ops/s stat = %+v, %v", s, ok)
	}
	s, ok = st.stat("BenchmarkRPCMatrix/NIO/64B/inflight=1", "ops/s")
	if !ok || s.median != 100000 || s.n != 2 {
		t.Errorf("NIO ops/s stat = %+v, %v (even count: mean of the middle two)", s, ok)
	}
	if _, ok := st.stat("BenchmarkRPCMatrix/NIO/64B/inflight=1", "blocks/s"); ok {
		t.Error("stat of a metric no sample has")
	}

	var rpc suite
	for _, s := range defineSuites(false) {
		if s.name == "rpc" {
			rpc = s
		}
	}
	var buf bytes.Buffer
	writeSuite(&buf, suite{name: rpc.name, title: rpc.title, systems: rpc.systems, workloads: rpc.workloads[:1]}, st, nil)
	got := buf.String()
	for _, want := range []string{
		"| system | ops/s | min | max | p50 | p99 | p99.9 | allocs/op | ops/s vs raw Go TCP ping-pong | p50 vs raw Go TCP ping-pong |",
		"| raw Go TCP ping-pong (baseline) | 150k | 140k | 160k | 6.20 µs | 7.00 µs | 9.00 µs | 0 | 1.00 | 1.00 |",
		"| **Ember NIO** | 100k | 90.0k | 110k | 8.60 µs | 45.0 µs | 90.0 µs | 3.5 | 0.67 | 1.39 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\nin\n%s", want, got)
		}
	}
	if strings.Contains(got, "grpc") {
		t.Errorf("table has rows for systems without results:\n%s", got)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		metric string
		v      float64
		want   string
	}{
		{"p50-ns", 812, "812 ns"},
		{"p50-ns", 6171, "6.17 µs"},
		{"p99-ns", 186165, "186 µs"},
		{"p99-ns", 4033775, "4.03 ms"},
		{"ops/s", 158307, "158k"},
		{"ops/s", 23766, "23.8k"},
		{"msgs/s", 8727935, "8.73M"},
		{"ops/s", 591.8, "592"},
		{"MB/s", 2781.41, "2781"},
		{"MB/s", 7.15, "7.2"},
		{"allocs/op", 26, "26"},
		{"allocs/op", 3.5, "3.5"},
	} {
		if got := formatMetric(tc.metric, tc.v); got != tc.want {
			t.Errorf("formatMetric(%s, %v) = %q, want %q", tc.metric, tc.v, got, tc.want)
		}
	}
}

func TestMedianCurve(t *testing.T) {
	st := newStore()
	st.curves["B"] = []curve{
		{Name: "B", P: []float64{50, 90, 99}, NS: []int64{10, 20, 30}},
		{Name: "B", P: []float64{50, 90}, NS: []int64{14, 40}},
		{Name: "B", P: []float64{50, 90, 99}, NS: []int64{12, 30, 50}},
	}
	ps, ns := st.medianCurve("B")
	if len(ps) != 2 || ps[0] != 50 || ps[1] != 90 || ns[0] != 12 || ns[1] != 30 {
		t.Errorf("medianCurve = %v, %v", ps, ns)
	}
}

func TestTickLabels(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{micros(500), "500 µs"},
		{micros(2000), "2 ms"},
		{micros(1), "1 µs"},
		{micros(0.5), "500 ns"},
		{trimZeros(formatCount(1500)), "1.5k"},
		{trimZeros(formatCount(200000)), "200k"},
		{trimZeros(formatCount(1e6)), "1M"},
		{trimZeros("10"), "10"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestOpenLoopMarks(t *testing.T) {
	st := newStore()
	out := "BenchmarkOpenLoop/rawtcp/load=10%-2 100 60000 ns/op 16800 ops/s 16800 target-ops/s 1000 lag-p99-ns 37000 p50-ns 90000 p99-ns 99000 p99.9-ns 0 allocs/op\n" +
		"BenchmarkOpenLoop/EPOLL/load=10%-2 100 70000 ns/op 13500 ops/s 13500 target-ops/s 14000000 lag-p99-ns 30000 p50-ns 14800000 p99-ns 16000000 p99.9-ns 4 allocs/op\n" +
		"BenchmarkOpenLoop/NIO/load=10%-2 100 70000 ns/op 12000 ops/s 18500 target-ops/s 2000 lag-p99-ns 30000 p50-ns 400000 p99-ns 500000 p99.9-ns 4 allocs/op\n"
	results, _, err := parseOutput(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		st.add(1, r)
	}
	var ol suite
	for _, s := range defineSuites(false) {
		if s.name == "openloop" {
			ol = s
		}
	}
	var buf bytes.Buffer
	writeTable(&buf, ol.workloads[0], map[string]string{"rawtcp": "raw", "EPOLL": "epoll", "NIO": "nio"}, st)
	got := buf.String()
	for _, want := range []string{"| raw (baseline) | 90.0 µs |", "| epoll † | 14.8 ms |", "| nio ‡ | 400 µs |", "\n† The load generator", "\n‡ Fell more than 3% behind"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestFilterSystems(t *testing.T) {
	cfg, err := parseFlags([]string{"-suite", "rpc,fetch,shuffle", "-systems", "NIO,spark-jvm,spark-ess-NIO"})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(s suite) []string {
		var k []string
		for _, sys := range s.systems {
			k = append(k, sys.key)
		}
		return k
	}
	want := map[string]string{
		"rpc":     "rawtcp NIO spark-jvm",
		"fetch":   "rawsendfile NIO spark-jvm iperf3",
		"shuffle": "rawsendfile NIO spark-ess-NIO",
	}
	suites := selectedSuites(cfg)
	if len(suites) != 3 {
		t.Fatalf("%d suites, want 3", len(suites))
	}
	for _, s := range suites {
		if got := strings.Join(keys(s), " "); got != want[s.name] {
			t.Errorf("%s keeps %q, want %q", s.name, got, want[s.name])
		}
		for _, w := range s.workloads {
			for _, c := range w.cells {
				if !strings.Contains(want[s.name], c.sys) {
					t.Errorf("%s keeps a cell of %s", w.id, c.sys)
				}
			}
		}
	}
	plan := buildPlan(suites, 1)
	if n := len(plan); n != 3*3+2*3+2*3 {
		t.Errorf("plan has %d units, want 21", n)
	}

	// Without Spark every JVM row goes, whatever -systems says.
	cfg.noSpark = "no Spark here"
	for _, s := range selectedSuites(cfg) {
		for _, sys := range s.systems {
			if isSparkSystem(sys.key) {
				t.Errorf("%s keeps %s without Spark", s.name, sys.key)
			}
		}
	}
	if _, err := parseFlags([]string{"-systems", "NIO,spark"}); err == nil || !strings.Contains(err.Error(), `unknown system "spark"`) {
		t.Errorf("unknown system: %v", err)
	}
	if why := sparkMissing(config{short: true}); !strings.Contains(why, "-short") {
		t.Errorf("sparkMissing with -short = %q", why)
	}
}

func TestSparkColumns(t *testing.T) {
	st := newStore()
	results, _, err := parseOutput(strings.NewReader(
		"BenchmarkRPCMatrix/rawtcp/64B/inflight=1-2 100 6000 ns/op 160000 ops/s 6000 p50-ns 7000 p99-ns 9000 p99.9-ns 0 B/op 0 allocs/op\n" +
			"BenchmarkRPCMatrix/NIO/64B/inflight=1-2 100 9000 ns/op 100000 ops/s 9000 p50-ns 45000 p99-ns 90000 p99.9-ns 96 B/op 2 allocs/op\n" +
			"BenchmarkRPCMatrix/EPOLL/64B/inflight=1-2 100 9000 ns/op 50000 ops/s 18000 p50-ns 45000 p99-ns 90000 p99.9-ns 96 B/op 5 allocs/op\n" +
			"BenchmarkRPCMatrix/spark-jvm/64B/inflight=1-2 100 20000 ns/op 25000 ops/s 36000 p50-ns 90000 p99-ns 190000 p99.9-ns 16 B/op 1 allocs/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		st.add(1, r)
	}
	var rpc suite
	for _, s := range defineSuites(false) {
		if s.name == "rpc" {
			rpc = s
		}
	}
	var buf bytes.Buffer
	writeTable(&buf, rpc.workloads[0], map[string]string{"rawtcp": "raw", "NIO": "nio", "EPOLL": "epoll", sparkJVM: "spark"}, st)
	got := buf.String()
	for _, want := range []string{
		"| system | ops/s | min | max | p50 | p99 | p99.9 | allocs/op | ops/s vs raw | p50 vs raw | ops/s vs Spark 4.1 JVM | p50 vs Spark 4.1 JVM |",
		"| nio | 100k | 100k | 100k | 9.00 µs | 45.0 µs | 90.0 µs | 2 | 0.62 | 1.50 | 4.00 | 0.25 |",
		"| epoll | 50.0k | 50.0k | 50.0k | 18.0 µs | 45.0 µs | 90.0 µs | 5 | 0.31 | 3.00 | 2.00 | 0.50 |",
		"| spark | 25.0k | 25.0k | 25.0k | 36.0 µs | 90.0 µs | 190 µs | n/a (JVM) | 0.16 | 6.00 | — | — |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\nin\n%s", want, got)
		}
	}
}
