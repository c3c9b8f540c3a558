package bench

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/rpcenv"
)

// BenchmarkScaleMaster/<mode>/workers=<n>/<register|round>: a master
// (master.Start, in this process) and n simulated workers (1,000; 100 with
// -short), each in a client-mode env of its own, so each with a connection
// of its own, as n worker processes would have. It extends
// BenchmarkMasterRegister100Workers (100 workers) and
// BenchmarkMasterHeartbeatRPC (10 envs sharing connections) of
// master_bench_test.go, whose helpers it uses.
//
//   - register: each op is a fresh master (started and elected with the
//     timer stopped) and all n workers at once looking it up
//     (SetupEndpointRef) and sending RegisterWorker; the op ends when every
//     worker got RegisteredWorker. ms/reg-all is the wall time of an op;
//     reg-p50-ns / reg-p99-ns when single workers were registered.
//   - round: the n workers registered once; each op is one heartbeat
//     round: every worker at once sends a Heartbeat and then asks
//     RequestReadyz over the same connection (the master handles a
//     connection's messages in order, so the answer means its heartbeat was
//     handled). round-p50-ns / round-p99-ns are per round; cpu-ms/round is
//     the CPU time of the WHOLE process (the master and the n workers'
//     envs: encoding, sending, the readyz asks) per round. The master's own
//     CPU and memory are measured in a process of its own by
//     `go run ./cmd/scale -what master`.
func BenchmarkScaleMaster(b *testing.B) {
	n := mbWorkerCount()
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) {
			b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
				b.Run("register", func(b *testing.B) { runScaleMasterRegister(b, mode, n) })
				b.Run("round", func(b *testing.B) { runScaleMasterRound(b, mode, n) })
			})
		})
	}
}

// scaleWorkers are n simulated workers, each in a client-mode env of its
// own; b.Cleanup shuts the envs down.
type scaleWorkers struct {
	envs    []*rpcenv.Env
	selves  []*rpcenv.Ref
	workers []*mbWorker
}

func newScaleWorkers(b *testing.B, mode string, n int) *scaleWorkers {
	b.Helper()
	conf := mbConf(mode)
	w := &scaleWorkers{envs: make([]*rpcenv.Env, n), selves: make([]*rpcenv.Ref, n), workers: make([]*mbWorker, n)}
	for i := range n {
		w.envs[i] = mbClientEnv(b, fmt.Sprintf("bench-worker-%d", i), conf)
		w.workers[i] = &mbWorker{idx: i}
		self, err := w.envs[i].SetupEndpoint(mbWorkerName(i), w.workers[i])
		if err != nil {
			b.Fatal(err)
		}
		w.selves[i] = self
	}
	return w
}

// register makes every worker look m up and register at once, and waits
// until all are registered. It returns the refs to m and when each worker
// was registered (nanotime).
func (w *scaleWorkers) register(m *master.Master, limit time.Duration) ([]*rpcenv.Ref, error) {
	n := len(w.envs)
	cd := newMBCountdown(n)
	for _, wk := range w.workers {
		wk.cd.Store(cd)
	}
	defer func() {
		for _, wk := range w.workers {
			wk.cd.Store(nil)
		}
	}()
	refs := make([]*rpcenv.Ref, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := w.envs[i].SetupEndpointRef(m.Address(), deploy.MasterEndpointName)
			if err == nil {
				refs[i] = ref
				err = ref.Send(mbRegister(i, w.selves[i], m.Address()))
			}
			if err != nil {
				cd.fail(fmt.Errorf("bench: worker %d: %w", i, err))
			}
		}()
	}
	err := cd.wait(limit, "registrations")
	wg.Wait()
	return refs, err
}

func runScaleMasterRegister(b *testing.B, mode string, n int) {
	conf := mbConf(mode)
	limit := runLimit()
	w := newScaleWorkers(b, mode, n)
	var m *master.Master // the current op's
	b.Cleanup(func() {
		if m != nil {
			m.Shutdown()
		}
	})
	lat := make([]int64, 0, n*b.N)
	var timed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m = mbStartMaster(b, conf, logger, mbNoRecovery, false)
		b.StartTimer()
		t0 := nanotime()
		_, err := w.register(m, limit)
		t1 := nanotime()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		timed += time.Duration(t1 - t0)
		for _, wk := range w.workers {
			lat = append(lat, wk.regAt.Load()-t0)
		}
		m.Shutdown()
		m = nil
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(timed.Seconds()*1000/float64(b.N), "ms/reg-all")
	b.ReportMetric(float64(percentile(lat, 50)), "reg-p50-ns")
	b.ReportMetric(float64(percentile(lat, 99)), "reg-p99-ns")
	b.ReportMetric(float64(n*b.N)/timed.Seconds(), "reg/s")
}

func runScaleMasterRound(b *testing.B, mode string, n int) {
	conf := mbConf(mode)
	limit := runLimit()
	w := newScaleWorkers(b, mode, n)
	m := mbStartMaster(b, conf, logger, mbNoRecovery, true)
	refs, err := w.register(m, limit)
	if err != nil {
		b.Fatal(err)
	}
	hbs := make([]any, n)
	for i := range hbs {
		hbs[i] = deploy.Heartbeat{WorkerID: mbWorkerID(i), Worker: w.selves[i]}
	}
	round := func() error {
		var failed firstError
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := refs[i].Send(hbs[i]); err != nil {
					failed.set(err)
					return
				}
				if err := mbBarrier(refs[i], limit); err != nil {
					failed.set(err)
				}
			}()
		}
		wg.Wait()
		return failed.get()
	}
	if err := round(); err != nil { // warm up outside the timer
		b.Fatal(err)
	}
	lat := make([]int64, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := mbCPUTime()
	t0 := time.Now()
	for range b.N {
		r0 := nanotime()
		if err := round(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, nanotime()-r0)
	}
	elapsed := time.Since(t0)
	cpu := mbCPUTime() - cpu0
	b.StopTimer()
	st, err := m.MasterState()
	if err != nil {
		b.Fatal(err)
	}
	if st.AliveWorkers != n {
		b.Fatalf("master has %d alive workers, want %d", st.AliveWorkers, n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50)), "round-p50-ns")
	b.ReportMetric(float64(percentile(lat, 99)), "round-p99-ns")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/round")
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "hb/s")
}
