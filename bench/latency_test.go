package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Latency distributions of the comparison benchmarks (BenchmarkRPCMatrix,
// BenchmarkAskMatrix, BenchmarkFetchMatrix, BenchmarkOpenLoop). They report
// p50-ns, p99-ns and p99.9-ns of every operation of a run (reportDist)
// and, when the environment variable EMBER_BENCH_LATDIR names a directory,
// write the run's whole percentile curve there as JSON, one file per
// benchmark, for bench/cmd/compare to plot. A benchmark runs several times
// (b.N = 1, then larger); each run overwrites the file, so the file left
// is the one of the run whose line go test prints.

// latDirEnv names the directory the percentile curves are written to.
const latDirEnv = "EMBER_BENCH_LATDIR"

// latencyCurve is the file format of one curve: latency NS[i] (ns) at
// percentile P[i], for percentiles from 50 up to the highest one the run
// has at least one sample above.
type latencyCurve struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	P     []float64 `json:"p"`
	NS    []int64   `json:"ns"`
}

// curveSteps is the resolution of a curve: percentiles 100·(1−10^−x) for
// x = 0.3, 0.3+1/curveSteps, … (50, …, 90, …, 99, …, 99.9, …).
const curveSteps = 20

// reportDist sorts lat (per-operation latencies in ns) and reports ops/s
// (when elapsed > 0), p50-ns, p99-ns and p99.9-ns; it writes the curve
// when EMBER_BENCH_LATDIR is set.
func reportDist(b *testing.B, lat []int64, elapsed time.Duration) {
	b.Helper()
	slices.Sort(lat)
	if elapsed > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
	}
	b.ReportMetric(float64(percentile(lat, 50)), "p50-ns")
	b.ReportMetric(float64(percentile(lat, 99)), "p99-ns")
	b.ReportMetric(float64(percentile(lat, 99.9)), "p99.9-ns")
	if dir := os.Getenv(latDirEnv); dir != "" && len(lat) > 0 {
		if err := writeCurve(dir, b.Name(), lat); err != nil {
			b.Errorf("writing the latency curve: %v", err)
		}
	}
}

// writeCurve writes the curve of sorted to dir/<name>.json.
func writeCurve(dir, name string, sorted []int64) error {
	c := latencyCurve{Name: name, Count: len(sorted)}
	for k := 0; ; k++ {
		x := 0.3 + float64(k)/curveSteps
		tail := math.Pow(10, -x) // fraction of samples above the percentile
		if tail*float64(len(sorted)) < 1 {
			break
		}
		p := 100 * (1 - tail)
		c.P = append(c.P, p)
		c.NS = append(c.NS, percentile(sorted, p))
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, curveFileName(name)), data, 0o644)
}

// curveFileName maps a benchmark name to a file name: every byte other
// than a letter, a digit, '=', '.' or '-' becomes '_'.
func curveFileName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '=', r == '.', r == '-':
			return r
		}
		return '_'
	}, name) + ".json"
}

// driveClosed is the closed-loop driver: workers goroutines each take the
// next of b.N operations as soon as their previous one is done, op(w)
// runs one operation on worker w, and the latency of each is timed. The
// first error stops every worker and fails the benchmark. A watchdog calls
// abort, which must make every pending op return (by closing the
// connections), when the run takes longer than runLimit.
func driveClosed(b *testing.B, workers int, op func(w int) error, abort func()) {
	b.Helper()
	lat := make([]int64, b.N)
	var next atomic.Int64
	var failed firstError
	wd := startWatchdog(b, abort)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				i := next.Add(1) - 1
				if i >= int64(len(lat)) {
					return
				}
				t0 := nanotime()
				err := op(w)
				lat[i] = nanotime() - t0
				if err != nil {
					failed.set(err)
					next.Store(math.MaxInt64 / 2) // stop the others
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	wd.check(b, failed.get())
	reportDist(b, lat, elapsed)
}

// warmRounds is how many round trips each connection makes before a run:
// 16 for small payloads, fewer for large ones (at least one), so that
// warming 256 connections with 1 MiB payloads stays short.
func warmRounds(size int) int {
	return max(1, min(16, (64<<10)/max(size, 1)))
}
