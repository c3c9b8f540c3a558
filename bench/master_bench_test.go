package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// The standalone master suite (package deploy/master): a master with many
// simulated workers. With -short every "1,000 workers" is 100 workers; the
// sub-benchmark name says how many (workers=<n>).
//
//   - BenchmarkMasterHeartbeatState/workers=<n>: the pure state machine
//     (master.State, no sockets; fake peers and effects, the clock is
//     time.Now as in the daemon) with n registered workers handles b.N
//     Heartbeats, round-robin over the workers. ns/op and allocs/op are the
//     cost of handling one heartbeat.
//   - BenchmarkMasterHeartbeatRPC/<mode>/workers=<n>: a real master
//     (master.Start on 127.0.0.1:0, recovery NONE, self-elected) and n
//     simulated workers: endpoints in 10 client-mode envs (n/10 each; each
//     env has ONE connection to the master, shared by its workers, and the
//     master answers them over it). Every worker registers (RegisterWorker,
//     then waits for RegisteredWorker) before the timer starts. Then one
//     sender goroutine per env sends its share of b.N Heartbeats, round-robin
//     over its workers; every 4096 heartbeats it asks the master
//     RequestReadyz (at most two such barriers outstanding per sender, so
//     queues stay bounded and the rate is a sustained one), and at the end
//     one RequestReadyz per env is the barrier: it goes over the same
//     connection after the env's heartbeats and the master endpoint
//     handles messages in arrival order, so its reply means every heartbeat
//     has been handled. Metrics: hb/s; cpu-s/1k-hb and cpu-cores, the CPU
//     time (user+system, getrusage(RUSAGE_SELF): the counters of
//     /proc/self/stat's utime+stime at microsecond resolution) of the WHOLE
//     process, that is the master AND the simulated workers sending
//     (encoding, writing) per 1,000 heartbeats, and per second of the run;
//     rss-MiB, VmRSS of the whole process after registration (after a GC
//     and debug.FreeOSMemory: the test binary, Go runtime, master AND
//     workers); heap-MiB, the growth of the live heap (after a GC) from
//     before the master started to after registration: the master with n
//     workers plus the 10 worker envs and their n endpoints (an RSS delta
//     was tried and is too noisy: it even went negative); reg-heap-MiB,
//     the part of it that the n registrations added (the envs, endpoints
//     and connections were set up before): mostly the master's state for
//     n workers. allocs/op and B/op are per heartbeat, whole process.
//   - BenchmarkMasterRegister100Workers/<mode>: each op is a fresh master
//     (started and elected with the timer stopped) and 100 simulated
//     workers, each in a client-mode env of its own (one connection each,
//     like 100 worker processes), that all at once look the master up
//     (SetupEndpointRef: connect and verifier ask, as Spark's worker does)
//     and send RegisterWorker; the op ends when all 100 got
//     RegisteredWorker. ns/op and ms/100-reg are the time for the 100
//     registrations; reg-p50-ns and reg-p99-ns are when, from the start of
//     the round, single workers were registered; reg/s the registrations
//     per second.
//   - BenchmarkMasterRecovery1000Workers: a FILESYSTEM recovery dir holding
//     n persisted workers (master.WorkerRecord JSON written with
//     recovery.NewFileSystem, once per process run, page-cached), whose
//     endpoints (spark://Worker@127.0.0.1:<20000+i>) do not exist.
//     state/workers=<n>: one op is one recovery by the state machine: read
//     and decode the records as the daemon does (Read of app_, driver_ and
//     worker_, sonic), build fake peers, State.ElectedLeader (RECOVERING,
//     n MasterChanged sends), then every worker answers
//     WorkerSchedulerStateResponse until the master is ALIVE; read-ms,
//     elect-ms and answer-ms split it. daemon/<mode>/workers=<n>: one op
//     is master.Start with that dir until MasterState (what /json renders)
//     reports RECOVERING with n workers, the MasterChanged fan-out to n
//     unreachable peers included (it must not block); ms/recovery. The
//     recovery timeout is set to an hour so nothing completes by timeout;
//     each master is shut down with the timer stopped.

const (
	// mbWorkers is the number of simulated workers (mbShortWorkers with
	// -short).
	mbWorkers      = 1000
	mbShortWorkers = 100
	// mbEnvs is the number of client-mode envs the simulated workers of the
	// heartbeat benchmark live in.
	mbEnvs = 10
	// mbRegWorkers is the number of workers BenchmarkMasterRegister100Workers
	// registers per op.
	mbRegWorkers = 100
	// mbWindow is how many heartbeats a sender sends between barriers.
	mbWindow = 4096
	// mbFirstPort is the (fake) port of worker 0; worker i has
	// mbFirstPort+i. Nothing listens there: it is only data, and the
	// addresses recovered workers are sent MasterChanged to.
	mbFirstPort = 20000
)

// mbWorkerCount is the number of simulated workers of the heartbeat and
// recovery benchmarks.
func mbWorkerCount() int {
	if testing.Short() {
		return mbShortWorkers
	}
	return mbWorkers
}

// mbWorkerID is worker i's id, as a worker makes it
// (worker-<timestamp>-<host>-<port>).
func mbWorkerID(i int) string {
	return "worker-20260101000000-127.0.0.1-" + strconv.Itoa(mbFirstPort+i)
}

// mbWorkerName is worker i's endpoint name. Endpoints of client-mode envs
// are known by name alone (spark-client://<name>), so every simulated
// worker needs a name of its own.
func mbWorkerName(i int) string { return fmt.Sprintf("Worker-%04d", i) }

// mbRegister is worker i's RegisterWorker.
func mbRegister(i int, self *rpcenv.Ref, masterAddr rpcenv.Address) deploy.RegisterWorker {
	return deploy.RegisterWorker{ID: mbWorkerID(i), Host: "127.0.0.1", Port: mbFirstPort + i, Worker: self,
		Cores: 8, MemoryMB: 16384, WorkerWebUIURL: "http://127.0.0.1:8081", MasterAddress: masterAddr}
}

// mbConf is the configuration of the master and the simulated workers.
func mbConf(mode string) *sparkconf.Conf {
	return sparkconf.New().
		Set("spark.rpc.io.mode", mode).
		Set("spark.rpc.askTimeout", "60s").
		Set("spark.rpc.lookupTimeout", "30s").
		// No recovery completes by timeout while a benchmark runs.
		Set("spark.deploy.recoveryTimeout", "3600s")
}

// ---- fakes for the state machine ----

// mbPeer is a worker as the state machine sees it: it counts what it is
// sent.
type mbPeer struct {
	addr rpcenv.EndpointAddress
	sent int
}

func (p *mbPeer) Send(any) error                  { p.sent++; return nil }
func (p *mbPeer) Address() rpcenv.EndpointAddress { return p.addr }

// mbEffects counts the state machine's effects; Send delivers to the peer.
type mbEffects struct {
	sends, persists, unpersists, schedules int
}

func (f *mbEffects) Send(to master.Peer, msg any) { f.sends++; _ = to.Send(msg) }
func (f *mbEffects) Answer(to master.Peer, msg any, _ rpcenv.Address) {
	f.Send(to, msg)
}
func (f *mbEffects) Persist(string, any)                    { f.persists++ }
func (f *mbEffects) Unpersist(string)                       { f.unpersists++ }
func (f *mbEffects) Now() time.Time                         { return time.Now() }
func (f *mbEffects) ScheduleCompleteRecovery(time.Duration) { f.schedules++ }

// mbStateConfig is the state machine's configuration (Spark's defaults).
func mbStateConfig() master.Config {
	cfg := master.DefaultConfig()
	cfg.MasterURL = "spark://127.0.0.1:7077"
	cfg.WebUIURL = "http://127.0.0.1:8080"
	return cfg
}

// mbPeerAddr is the endpoint address of (listening) worker i.
func mbPeerAddr(i int) rpcenv.EndpointAddress {
	return rpcenv.EndpointAddress{Addr: rpcenv.NewAddress("127.0.0.1", mbFirstPort+i), Name: deploy.WorkerEndpointName}
}

// ---- BenchmarkMasterHeartbeatState ----

func BenchmarkMasterHeartbeatState(b *testing.B) {
	n := mbWorkerCount()
	b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) { runMasterHeartbeatState(b, n) })
}

func runMasterHeartbeatState(b *testing.B, n int) {
	fx := &mbEffects{}
	st := master.NewState(mbStateConfig(), fx)
	st.ElectedLeader(master.Recovered{})
	if st.Status != deploy.StateAlive {
		b.Fatalf("master is %s after an election with nothing persisted, want ALIVE", st.Status)
	}
	peers := make([]*mbPeer, n)
	hbs := make([]deploy.Heartbeat, n)
	masterAddr := rpcenv.NewAddress("127.0.0.1", 7077)
	for i := range n {
		peers[i] = &mbPeer{addr: mbPeerAddr(i)}
		st.RegisterWorker(mbRegister(i, nil, masterAddr), peers[i])
		if peers[i].sent != 1 {
			b.Fatalf("worker %d was sent %d messages on registration, want 1 (RegisteredWorker)", i, peers[i].sent)
		}
		hbs[i] = deploy.Heartbeat{WorkerID: mbWorkerID(i)}
	}
	if got := len(st.Workers()); got != n || fx.persists != n {
		b.Fatalf("%d workers, %d persisted; want %d", got, fx.persists, n)
	}
	registered := time.Now()
	sends := fx.sends

	b.ReportAllocs()
	b.ResetTimer()
	k := 0
	for range b.N {
		st.Heartbeat(hbs[k], peers[k])
		if k++; k == n {
			k = 0
		}
	}
	b.StopTimer()

	if fx.sends != sends {
		b.Fatalf("heartbeats of registered workers made the master send %d messages", fx.sends-sends)
	}
	for i := range min(n, b.N) {
		if w := st.Worker(mbWorkerID(i)); w == nil || w.LastHeartbeat.Before(registered) {
			b.Fatalf("worker %d: heartbeat not recorded (%+v)", i, w)
		}
	}
}

// ---- the daemon and simulated workers ----

// mbStartMaster starts a master on 127.0.0.1:0 whose persistence engine is
// made by engine, self-elected, and returns once the election is queued on
// its endpoint (so anything sent afterwards is handled after it). With
// cleanup the master is shut down by b.Cleanup; else the caller shuts it
// down.
func mbStartMaster(b *testing.B, conf *sparkconf.Conf, log *slog.Logger, engine func() (recovery.Engine, error), cleanup bool) *master.Master {
	b.Helper()
	elected := make(chan struct{})
	var engErr error
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: log,
		OnRevoked: func() {},
		Recovery: func(l recovery.Leadership) (recovery.Engine, recovery.Agent, error) {
			defer close(elected)
			eng, err := engine()
			if err != nil {
				engErr = err
				return nil, nil, err
			}
			return eng, recovery.SelfElect(l), nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	if cleanup {
		b.Cleanup(m.Shutdown)
	}
	t := time.NewTimer(runLimit())
	defer t.Stop()
	select {
	case <-elected:
	case <-t.C:
		m.Shutdown()
		b.Fatalf("master never ran its election within %v", runLimit())
	}
	if engErr != nil {
		m.Shutdown()
		b.Fatal(engErr)
	}
	return m
}

// mbNoRecovery is recovery mode NONE.
func mbNoRecovery() (recovery.Engine, error) { return recovery.None(), nil }

// mbCountdown waits for n events (registrations); the first failure ends
// the wait.
type mbCountdown struct {
	n      int64
	left   atomic.Int64
	done   chan struct{}
	failed chan struct{}
	once   sync.Once
	err    firstError
}

func newMBCountdown(n int) *mbCountdown {
	c := &mbCountdown{n: int64(n), done: make(chan struct{}), failed: make(chan struct{})}
	c.left.Store(int64(n))
	if n == 0 {
		close(c.done)
	}
	return c
}

func (c *mbCountdown) tick() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *mbCountdown) fail(err error) {
	c.err.set(err)
	c.once.Do(func() { close(c.failed) })
}

// wait returns once all n events happened (nil unless something failed),
// at the first failure, or after limit.
func (c *mbCountdown) wait(limit time.Duration, what string) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err.get()
	case <-c.failed:
		return c.err.get()
	case <-t.C:
		return fmt.Errorf("bench: %s: %d of %d still missing after %v (first error: %v)", what, c.left.Load(), c.n, limit, c.err.get())
	}
}

// mbWorker is a simulated worker's endpoint: RegisteredWorker ticks the
// current countdown; anything else (MasterInStandby, RegisterWorkerFailed,
// ReconnectWorker, a duplicate registration) fails it.
type mbWorker struct {
	idx   int
	cd    atomic.Pointer[mbCountdown]
	regAt atomic.Int64 // nanotime of the last RegisteredWorker
}

func (w *mbWorker) Receive(msg any, _ rpcenv.Address) error {
	cd := w.cd.Load()
	if cd == nil {
		return nil
	}
	switch x := msg.(type) {
	case deploy.RegisteredWorker:
		if x.Duplicate || x.Master == nil {
			cd.fail(fmt.Errorf("bench: worker %d: unexpected %+v", w.idx, x))
			return nil
		}
		w.regAt.Store(nanotime())
		cd.tick()
	default:
		cd.fail(fmt.Errorf("bench: worker %d got %T %+v", w.idx, msg, msg))
	}
	return nil
}

func (w *mbWorker) ReceiveAndReply(_ any, cc rpcenv.CallContext) error {
	cc.SendFailure(rpcenv.ErrUnsupported)
	return nil
}

// mbClientEnv creates a client-mode env; b.Cleanup shuts it down.
func mbClientEnv(b *testing.B, name string, conf *sparkconf.Conf) *rpcenv.Env {
	b.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: name, ClientMode: true, Conf: conf, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Shutdown)
	return env
}

// mbMasterURI is the master endpoint's URI.
func mbMasterURI(m *master.Master) string {
	return rpcenv.EndpointAddress{Addr: m.Address(), Name: deploy.MasterEndpointName}.String()
}

// mbBarrier asks the master RequestReadyz: its reply comes after every
// message sent before it over the same connection has been handled.
func mbBarrier(ref *rpcenv.Ref, limit time.Duration) error {
	v, err := ref.AskTimeout(deploy.RequestReadyz{}, limit)
	if err != nil {
		return err
	}
	if ok, _ := v.(bool); !ok {
		return fmt.Errorf("bench: master answered RequestReadyz with %v", v)
	}
	return nil
}

// ---- process CPU and memory ----

// mbCPUTime is the process's user+system CPU time.
func mbCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mbRSS is the process's resident set (VmRSS) after a GC that returns
// free memory to the OS.
func mbRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("bench: no VmRSS in /proc/self/status")
}

// mbLiveHeap is the live heap right after a GC.
func mbLiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// ---- BenchmarkMasterHeartbeatRPC ----

func BenchmarkMasterHeartbeatRPC(b *testing.B) {
	n := mbWorkerCount()
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) {
			b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) { runMasterHeartbeatRPC(b, mode, n) })
		})
	}
}

func runMasterHeartbeatRPC(b *testing.B, mode string, n int) {
	conf := mbConf(mode)
	limit := runLimit()
	heap0 := mbLiveHeap()

	m := mbStartMaster(b, conf, logger, mbNoRecovery, true)
	per := (n + mbEnvs - 1) / mbEnvs
	masters := make([]*rpcenv.Ref, 0, mbEnvs) // per env
	hbs := make([][]any, 0, mbEnvs)           // per env: its workers' heartbeats, boxed once
	workers := make([]*mbWorker, n)
	selves := make([]*rpcenv.Ref, n)
	cd := newMBCountdown(n)
	for e := 0; e*per < n; e++ {
		env := mbClientEnv(b, fmt.Sprintf("bench-workers-%d", e), conf)
		ref, err := env.SetupEndpointRefByURI(mbMasterURI(m))
		if err != nil {
			b.Fatal(err)
		}
		masters = append(masters, ref)
		var msgs []any
		for i := e * per; i < min(n, (e+1)*per); i++ {
			workers[i] = &mbWorker{idx: i}
			workers[i].cd.Store(cd)
			if selves[i], err = env.SetupEndpoint(mbWorkerName(i), workers[i]); err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, deploy.Heartbeat{WorkerID: mbWorkerID(i), Worker: selves[i]})
		}
		hbs = append(hbs, msgs)
	}
	heapReg := mbLiveHeap()
	for i := range n {
		if err := masters[i/per].Send(mbRegister(i, selves[i], m.Address())); err != nil {
			b.Fatal(err)
		}
	}
	if err := cd.wait(limit, "registrations"); err != nil {
		b.Fatal(err)
	}
	heap1 := mbLiveHeap()
	rss, rssErr := mbRSS()
	for e, ref := range masters { // warm up outside the timer
		if err := mbHeartbeats(ref, hbs[e], 64, limit); err != nil {
			b.Fatal(err)
		}
	}

	var failed firstError
	var wg sync.WaitGroup
	start := make(chan struct{})
	for e, ref := range masters {
		count := b.N / len(masters)
		if e < b.N%len(masters) {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := mbHeartbeats(ref, hbs[e], count, limit); err != nil {
				failed.set(err)
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := mbCPUTime()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := mbCPUTime() - cpu0
	b.StopTimer()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
	if err := cd.err.get(); err != nil {
		b.Fatal(err)
	}
	st, err := m.MasterState()
	if err != nil {
		b.Fatal(err)
	}
	if len(st.Workers) != n || st.AliveWorkers != n {
		b.Fatalf("master lists %d workers, %d alive; want %d alive", len(st.Workers), st.AliveWorkers, n)
	}

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "hb/s")
	b.ReportMetric(cpu.Seconds()/(float64(b.N)/1000), "cpu-s/1k-hb")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cpu-cores")
	if rssErr == nil {
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	}
	b.ReportMetric((float64(heap1)-float64(heap0))/(1<<20), "heap-MiB")
	b.ReportMetric((float64(heap1)-float64(heapReg))/(1<<20), "reg-heap-MiB")
}

// mbHeartbeats sends count heartbeats from msgs (round-robin) to the
// master, with a RequestReadyz barrier every mbWindow heartbeats (at most
// two outstanding) and one at the end, which returns once the master has
// handled them all.
func mbHeartbeats(ref *rpcenv.Ref, msgs []any, count int, limit time.Duration) error {
	var prev chan error
	k := 0
	for i := range count {
		if err := ref.Send(msgs[k]); err != nil {
			return err
		}
		if k++; k == len(msgs) {
			k = 0
		}
		if (i+1)%mbWindow == 0 {
			if prev != nil {
				if err := <-prev; err != nil {
					return err
				}
			}
			prev = make(chan error, 1)
			go func(ch chan<- error) { ch <- mbBarrier(ref, limit) }(prev)
		}
	}
	if prev != nil {
		if err := <-prev; err != nil {
			return err
		}
	}
	return mbBarrier(ref, limit)
}

// ---- BenchmarkMasterRegister100Workers ----

func BenchmarkMasterRegister100Workers(b *testing.B) {
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) { runMasterRegister(b, mode) })
	}
}

func runMasterRegister(b *testing.B, mode string) {
	const n = mbRegWorkers
	conf := mbConf(mode)
	limit := runLimit()
	envs := make([]*rpcenv.Env, n)
	selves := make([]*rpcenv.Ref, n)
	workers := make([]*mbWorker, n)
	for i := range n {
		envs[i] = mbClientEnv(b, fmt.Sprintf("bench-worker-%d", i), conf)
		workers[i] = &mbWorker{idx: i}
		self, err := envs[i].SetupEndpoint(mbWorkerName(i), workers[i])
		if err != nil {
			b.Fatal(err)
		}
		selves[i] = self
	}

	// The master of the current op (shut down at its end, or by cleanup
	// when a run fails).
	var m *master.Master
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
		cd := newMBCountdown(n)
		for _, w := range workers {
			w.cd.Store(cd)
		}
		var wg sync.WaitGroup
		b.StartTimer()
		t0 := nanotime()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ref, err := envs[i].SetupEndpointRef(m.Address(), deploy.MasterEndpointName)
				if err == nil {
					err = ref.Send(mbRegister(i, selves[i], m.Address()))
				}
				if err != nil {
					cd.fail(fmt.Errorf("bench: worker %d: %w", i, err))
				}
			}()
		}
		err := cd.wait(limit, "registrations")
		t1 := nanotime()
		b.StopTimer()
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		timed += time.Duration(t1 - t0)
		for _, w := range workers {
			lat = append(lat, w.regAt.Load()-t0)
			w.cd.Store(nil)
		}
		m.Shutdown()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(timed.Seconds()*1000/float64(b.N), "ms/100-reg")
	b.ReportMetric(float64(percentile(lat, 50)), "reg-p50-ns")
	b.ReportMetric(float64(percentile(lat, 99)), "reg-p99-ns")
	b.ReportMetric(float64(n*b.N)/timed.Seconds(), "reg/s")
}

// ---- BenchmarkMasterRecovery1000Workers ----

func BenchmarkMasterRecovery1000Workers(b *testing.B) {
	n := mbWorkerCount()
	dir := b.TempDir()
	eng, err := recovery.NewFileSystem(dir, "")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		rec := master.WorkerRecord{ID: mbWorkerID(i), Host: "127.0.0.1", Port: mbFirstPort + i,
			Endpoint: mbPeerAddr(i).String(), Cores: 8, MemoryMB: 16384, WebUIAddress: "http://127.0.0.1:8081"}
		js, err := sonic.ConfigStd.Marshal(rec)
		if err == nil {
			err = eng.Persist("worker_"+rec.ID, js)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := eng.Close(); err != nil {
		b.Fatal(err)
	}
	workers := fmt.Sprintf("workers=%d", n)
	b.Run("state", func(b *testing.B) {
		b.Run(workers, func(b *testing.B) { runMasterRecoveryState(b, dir, n) })
	})
	b.Run("daemon", func(b *testing.B) {
		for _, mode := range rbModes {
			b.Run(mode, func(b *testing.B) {
				b.Run(workers, func(b *testing.B) { runMasterRecoveryDaemon(b, mode, dir, n) })
			})
		}
	})
}

// mbReadPersisted reads the engine's records and builds fake peers, as
// the daemon's readPersisted does (which makes refs).
func mbReadPersisted(eng recovery.Engine) (master.Recovered, error) {
	var rec master.Recovered
	for _, prefix := range []string{"app_", "driver_"} {
		got, err := eng.Read(prefix)
		if err != nil {
			return rec, err
		}
		if len(got) != 0 {
			return rec, fmt.Errorf("bench: %d unexpected %s records", len(got), prefix)
		}
	}
	got, err := eng.Read("worker_")
	if err != nil {
		return rec, err
	}
	rec.Workers = make([]master.RecoveredWorker, 0, len(got))
	for _, js := range got {
		var r master.WorkerRecord
		if err := sonic.ConfigStd.Unmarshal(js, &r); err != nil {
			return rec, err
		}
		ea, err := rpcenv.ParseEndpointURI(r.Endpoint)
		if err != nil {
			return rec, err
		}
		rec.Workers = append(rec.Workers, master.RecoveredWorker{Record: r, Peer: &mbPeer{addr: ea}})
	}
	return rec, nil
}

func runMasterRecoveryState(b *testing.B, dir string, n int) {
	eng, err := recovery.NewFileSystem(dir, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	answers := make([]deploy.WorkerSchedulerStateResponse, n)
	for i := range answers {
		answers[i] = deploy.WorkerSchedulerStateResponse{ID: mbWorkerID(i)}
	}
	var readNs, electNs, answerNs int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := nanotime()
		rec, err := mbReadPersisted(eng)
		if err != nil {
			b.Fatal(err)
		}
		t1 := nanotime()
		fx := &mbEffects{}
		st := master.NewState(mbStateConfig(), fx)
		st.ElectedLeader(rec)
		t2 := nanotime()
		if st.Status != deploy.StateRecovering || fx.sends != n || fx.schedules != 1 || len(rec.Workers) != n {
			b.Fatalf("after the election: %s, %d MasterChanged sent, %d recoveries scheduled, %d workers read; want RECOVERING, %d, 1, %d",
				st.Status, fx.sends, fx.schedules, len(rec.Workers), n, n)
		}
		for _, a := range answers {
			st.WorkerSchedulerStateResponse(a)
		}
		t3 := nanotime()
		if st.Status != deploy.StateAlive || fx.unpersists != 0 {
			b.Fatalf("after every worker answered: %s, %d unpersisted; want ALIVE, 0", st.Status, fx.unpersists)
		}
		readNs += t1 - t0
		electNs += t2 - t1
		answerNs += t3 - t2
	}
	b.StopTimer()
	b.ReportMetric(float64(readNs)/1e6/float64(b.N), "read-ms")
	b.ReportMetric(float64(electNs)/1e6/float64(b.N), "elect-ms")
	b.ReportMetric(float64(answerNs)/1e6/float64(b.N), "answer-ms")
}

func runMasterRecoveryDaemon(b *testing.B, mode, dir string, n int) {
	conf := mbConf(mode)
	// The MasterChanged sends to n peers that do not exist fail in the
	// background; keep their warnings out of the output.
	quiet := slog.New(slog.DiscardHandler)
	engine := func() (recovery.Engine, error) { return recovery.NewFileSystem(dir, "") }
	var m *master.Master // the current op's
	b.Cleanup(func() {
		if m != nil {
			m.Shutdown()
		}
	})
	var timed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := nanotime()
		m = mbStartMaster(b, conf, quiet, engine, false)
		st, err := m.MasterState()
		t1 := nanotime()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if st.Status != deploy.StateRecovering || len(st.Workers) != n {
			b.Fatalf("master is %s with %d workers, want RECOVERING with %d", st.Status, len(st.Workers), n)
		}
		for _, w := range st.Workers {
			if w.State != deploy.WorkerUnknown {
				b.Fatalf("recovered worker %s is %s, want UNKNOWN", w.ID, w.State)
			}
		}
		timed += time.Duration(t1 - t0)
		m.Shutdown()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(timed.Seconds()*1000/float64(b.N), "ms/recovery")
}
