package bench

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOpenLoop/<system>/load=<closed|10%|50%|80%> measures latency
// under a fixed offered load, for the 64-byte echo systems of
// BenchmarkRPCMatrix and the asks of BenchmarkAskMatrix (ask-EPOLL,
// ask-NIO), each with openLoopWorkers callers:
//
//   - load=closed: closed loop, each caller sends its next request when its
//     previous one is answered (the saturation point: what ops/s reports is
//     the system's maximum with that many callers);
//   - load=<f>%: open loop at f% of that maximum. Before the timer starts,
//     the process measures the maximum once per system (a closed-loop run
//     of openLoopCalibration) and caches it. A pacer goroutine then
//     releases request i at start + i/rate by the wall clock, whatever the
//     answers do, onto a queue that idle callers take requests from; a
//     request's latency runs from its SCHEDULED time to its answer, so
//     time spent queued behind slow answers counts (no coordinated
//     omission). b.N is the number of requests, so with -benchtime=1s a
//     run offers about one second of load.
//
// Besides ops/s (achieved) and the percentiles it reports target-ops/s
// and lag-p99-ns, the 99th percentile of how late the pacer released a
// request: latencies below that are the generator's resolution, not the
// system's. (On Linux the pacer sleeps with nanosleep(2) at a 1 ns timer
// slack, see pacer_linux_test.go; Go's timers are up to 1 ms late on an
// idle process.)
func BenchmarkOpenLoop(b *testing.B) {
	systems := slices.Clone(echoSystems)
	for _, s := range askSystems {
		systems = append(systems, echoSystem{name: "ask-" + s.name, setup: s.setup})
	}
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			for _, load := range openLoopLoads {
				b.Run("load="+load.name, func(b *testing.B) {
					op, abort := sys.setup(b, openLoopSize, openLoopWorkers)
					b.SetBytes(openLoopSize)
					if load.fraction == 0 {
						driveClosed(b, openLoopWorkers, op, abort)
						return
					}
					rate := load.fraction * calibratedRate(b, sys.name, op, abort)
					driveOpen(b, openLoopWorkers, rate, op, abort)
				})
			}
		})
	}
}

const (
	// openLoopWorkers is how many callers (and so requests in flight at
	// most) an open-loop system has; a request released while all are
	// busy waits in the queue, and the wait counts.
	openLoopWorkers = 32
	// openLoopSize is the echoed payload.
	openLoopSize = 64
)

// openLoopLoads are the offered loads, as fractions of the closed-loop
// maximum (0: the closed loop itself).
var openLoopLoads = []struct {
	name     string
	fraction float64
}{{"closed", 0}, {"10%", 0.1}, {"50%", 0.5}, {"80%", 0.8}}

// openLoopCalibration is how long the closed-loop run that measures a
// system's maximum lasts.
func openLoopCalibration() time.Duration {
	if testing.Short() {
		return 20 * time.Millisecond
	}
	return 500 * time.Millisecond
}

// maxRates caches each system's measured maximum (ops/s) for the process.
var maxRates struct {
	mu   sync.Mutex
	rate map[string]float64
}

// calibratedRate returns the closed-loop maximum of system with
// openLoopWorkers callers, measuring it with op on first use. It runs
// before the benchmark's timer starts.
func calibratedRate(b *testing.B, system string, op func(int) error, abort func()) float64 {
	b.Helper()
	maxRates.mu.Lock()
	defer maxRates.mu.Unlock()
	if r, ok := maxRates.rate[system]; ok {
		return r
	}
	wd := startWatchdog(b, abort)
	deadline := nanotime() + int64(openLoopCalibration())
	var ops atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	t0 := nanotime()
	for w := range openLoopWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for nanotime() < deadline && failed.get() == nil {
				if err := op(w); err != nil {
					failed.set(err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Duration(nanotime() - t0)
	wd.check(b, failed.get())
	r := float64(ops.Load()) / elapsed.Seconds()
	if r <= 0 {
		b.Fatalf("calibrating %s: no operation completed in %v", system, elapsed)
	}
	if maxRates.rate == nil {
		maxRates.rate = make(map[string]float64)
	}
	maxRates.rate[system] = r
	return r
}

// driveOpen is the open-loop driver: it releases b.N requests at rate per
// second by the wall clock to workers callers (op(w) runs one on caller w)
// and reports the latencies from each request's scheduled time. The first
// error stops the run and fails the benchmark; a watchdog calls abort
// (which must make pending ops return) when the run takes longer than
// runLimit.
func driveOpen(b *testing.B, workers int, rate float64, op func(w int) error, abort func()) {
	b.Helper()
	if rate <= 0 {
		b.Fatalf("open loop at %v requests/s", rate)
	}
	n := b.N
	sched := make([]int64, n)  // scheduled time of request i
	lat := make([]int64, n)    // answer time − sched[i]
	lag := make([]int64, n)    // release time − sched[i]
	queue := make(chan int, n) // never full: the pacer never waits for callers
	var stop atomic.Bool
	var failed firstError
	wd := startWatchdog(b, func() {
		stop.Store(true)
		abort()
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if stop.Load() {
					continue // drain
				}
				err := op(w)
				lat[i] = nanotime() - sched[i]
				if err != nil {
					failed.set(fmt.Errorf("request %d: %w", i, err))
					stop.Store(true)
				}
			}
		}()
	}
	interval := float64(time.Second) / rate
	paced := make(chan struct{})

	b.ReportAllocs()
	b.ResetTimer()
	begin := nanotime() + int64(50*time.Microsecond)
	go func() {
		defer close(paced)
		defer close(queue)
		p := newPacer()
		for i := range n {
			if stop.Load() {
				return
			}
			at := begin + int64(float64(i)*interval)
			p.waitUntil(at)
			sched[i] = at
			lag[i] = nanotime() - at
			queue <- i
		}
	}()
	<-paced
	wg.Wait()
	elapsed := time.Duration(nanotime() - begin)
	b.StopTimer()
	wd.check(b, failed.get())
	reportDist(b, lat, elapsed)
	b.ReportMetric(rate, "target-ops/s")
	slices.Sort(lag)
	b.ReportMetric(float64(percentile(lag, 99)), "lag-p99-ns")
}
