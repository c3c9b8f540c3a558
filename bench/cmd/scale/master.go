package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// master: a standalone master in a process of its own and -workers
// simulated workers in this one, each a client-mode RPC env (so a
// connection of its own, as a real worker has) with a Worker endpoint.
//
//   - registration: every worker at once looks the master up
//     (SetupEndpointRef: connect and verify, as Spark's worker does) and
//     sends RegisterWorker; it is registered when RegisteredWorker arrives.
//   - heartbeat rounds: every worker at once sends a Heartbeat and then
//     asks RequestReadyz over the same connection; the master handles a
//     connection's messages in order, so the round ends when every worker
//     has its answer, with all n heartbeats handled.
//   - steady state: for -duration, heartbeats at Spark's rate (each worker
//     every spark.worker.timeout/4 = 15 s, spread evenly).
//
// The master's CPU time comes from /proc/<pid>/stat (10 ms resolution),
// its memory from /proc/<pid>/status.

// heartbeatInterval is Spark's worker heartbeat interval at the default
// spark.worker.timeout (60 s / 4).
const heartbeatInterval = 15 * time.Second

// firstWorkerPort is the (fake) port of simulated worker 0: the master
// refuses two live workers at one address.
const firstWorkerPort = 20000

// simWorker is a simulated worker's endpoint.
type simWorker struct {
	idx    int
	regAt  atomic.Int64 // nanoseconds since the round's start when RegisteredWorker came
	start  time.Time
	events *countdown
	other  atomic.Int64 // any other message
}

func (w *simWorker) Receive(msg any, _ rpcenv.Address) error {
	switch x := msg.(type) {
	case deploy.RegisteredWorker:
		if x.Duplicate || x.Master == nil {
			w.events.fail(fmt.Errorf("worker %d: unexpected %+v", w.idx, x))
			return nil
		}
		w.regAt.Store(int64(time.Since(w.start)))
		w.events.tick()
	default:
		w.other.Add(1)
	}
	return nil
}

func (w *simWorker) ReceiveAndReply(_ any, cc rpcenv.CallContext) error {
	cc.SendFailure(rpcenv.ErrUnsupported)
	return nil
}

// countdown waits for n events; the first failure ends the wait.
type countdown struct {
	left   atomic.Int64
	done   chan struct{}
	failed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
}

func newCountdown(n int) *countdown {
	c := &countdown{done: make(chan struct{}), failed: make(chan struct{})}
	c.left.Store(int64(n))
	return c
}

func (c *countdown) tick() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *countdown) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.once.Do(func() { close(c.failed) })
}

func (c *countdown) wait(limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-c.failed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	case <-t.C:
		return fmt.Errorf("%d events still missing after %v", c.left.Load(), limit)
	}
}

// masterResult is one mode's figures.
type masterResult struct {
	mode                     string
	workers                  int
	idle, registered, steady procStatus
	regTook                  time.Duration
	regP50, regP99           time.Duration
	regCPU                   time.Duration
	rounds                   []time.Duration
	roundCPU                 time.Duration
	steadyHB                 int
	steadyTook, steadyCPU    time.Duration
}

func runMaster(o *options) error {
	if _, err := raiseNoFile(uint64(2*o.workers + 1024)); err != nil {
		return err
	}
	var results []masterResult
	for _, mode := range o.modes {
		r, err := masterScale(o, string(mode))
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, r)
	}
	how := "this program in a child process (master.Start, as `ember master` calls it)"
	if o.ember != "" {
		how = "`" + o.ember + " master`"
	}
	fmt.Printf("A master (%s) and simulated workers, each a client-mode RPC env with a connection of its own, in another process.\n\n", how)
	fmt.Println("| mode | workers | register all (wall) | reg p50 / p99 | master CPU for registration | heartbeat round p50 / p99 (n heartbeats + n RequestReadyz) | master CPU per round | steady state: heartbeats/s | master CPU per heartbeat | master CPU share | master VmRSS idle → registered → steady (MiB) | VmHWM (MiB) |")
	fmt.Println("|---|---:|---:|---|---:|---|---:|---:|---:|---:|---|---:|")
	for _, r := range results {
		slices.Sort(r.rounds)
		perHB := time.Duration(0)
		if r.steadyHB > 0 {
			perHB = r.steadyCPU / time.Duration(r.steadyHB)
		}
		fmt.Printf("| %s | %d | %s | %s / %s | %s | %s / %s | %s | %.1f | %s | %.3f%% | %s → %s → %s | %s |\n",
			r.mode, r.workers, dur(r.regTook), dur(r.regP50), dur(r.regP99), dur(r.regCPU),
			dur(pct(r.rounds, 50)), dur(pct(r.rounds, 99)), dur(r.roundCPU),
			float64(r.steadyHB)/r.steadyTook.Seconds(), dur(perHB), 100*r.steadyCPU.Seconds()/r.steadyTook.Seconds(),
			mib(r.idle.RSS), mib(r.registered.RSS), mib(r.steady.RSS), mib(r.steady.HWM))
	}
	fmt.Println("\nCPU times are /proc/<pid>/stat utime+stime of the master process (10 ms ticks): short phases read 0 or 10 ms steps.")
	return nil
}

// pct is the nearest-rank p-th percentile of sorted.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func masterScale(o *options, mode string) (r masterResult, err error) {
	r.mode, r.workers = mode, o.workers
	port, err := freePort()
	if err != nil {
		return r, err
	}
	ui, err := freePort()
	if err != nil {
		return r, err
	}
	m, err := startDaemon(o, "master "+mode, "master", daemonArgs{Mode: mode, Port: port},
		"master", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--webui-port", strconv.Itoa(ui),
		"--conf", "spark.rpc.io.mode="+mode)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, m.stop()) }()
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", port), childLimit, m.dead); err != nil {
		return r, err
	}
	time.Sleep(500 * time.Millisecond)
	if r.idle, err = m.status(); err != nil {
		return r, err
	}

	// The simulated workers, set up before anything is timed.
	n := o.workers
	envs := make([]*rpcenv.Env, n)
	selves := make([]*rpcenv.Ref, n)
	workers := make([]*simWorker, n)
	defer func() {
		var wg sync.WaitGroup
		for _, e := range envs {
			if e != nil {
				wg.Add(1)
				go func() { defer wg.Done(); e.Shutdown() }()
			}
		}
		wg.Wait()
	}()
	err = forEach(n, o.parallel, func(i int) error {
		env, err := rpcenv.Create(rpcenv.Config{Name: fmt.Sprintf("sim-worker-%d", i), ClientMode: true,
			Conf: rpcConf(mode), Logger: logger, NumUsableCores: 1})
		if err != nil {
			return err
		}
		envs[i] = env
		workers[i] = &simWorker{idx: i}
		selves[i], err = env.SetupEndpoint(fmt.Sprintf("Worker-%05d", i), workers[i])
		return err
	})
	if err != nil {
		return r, err
	}
	masterAddr := rpcenv.NewAddress("127.0.0.1", port)

	// Registration: all at once.
	cd := newCountdown(n)
	start := time.Now()
	for _, w := range workers {
		w.events, w.start = cd, start
	}
	cpu0, err := m.cpu()
	if err != nil {
		return r, err
	}
	refs := make([]*rpcenv.Ref, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := envs[i].SetupEndpointRef(masterAddr, deploy.MasterEndpointName)
			if err == nil {
				refs[i] = ref
				err = ref.Send(deploy.RegisterWorker{ID: simWorkerID(i), Host: "127.0.0.1", Port: firstWorkerPort + i,
					Worker: selves[i], Cores: 8, MemoryMB: 16384, WorkerWebUIURL: "http://127.0.0.1:8081", MasterAddress: masterAddr})
			}
			if err != nil {
				cd.fail(fmt.Errorf("worker %d: %w", i, err))
			}
		}()
	}
	err = cd.wait(childLimit)
	r.regTook = time.Since(start)
	wg.Wait()
	if err != nil {
		return r, err
	}
	cpu1, err := m.cpu()
	if err != nil {
		return r, err
	}
	r.regCPU = cpu1 - cpu0
	lat := make([]time.Duration, n)
	for i, w := range workers {
		lat[i] = time.Duration(w.regAt.Load())
	}
	slices.Sort(lat)
	r.regP50, r.regP99 = pct(lat, 50), pct(lat, 99)
	time.Sleep(500 * time.Millisecond)
	if r.registered, err = m.status(); err != nil {
		return r, err
	}

	// Heartbeat rounds.
	hbs := make([]any, n)
	for i := range hbs {
		hbs[i] = deploy.Heartbeat{WorkerID: simWorkerID(i), Worker: selves[i]}
	}
	cpu0, err = m.cpu()
	if err != nil {
		return r, err
	}
	for range o.rounds {
		t0 := time.Now()
		err := forEach(n, n, func(i int) error {
			if err := refs[i].Send(hbs[i]); err != nil {
				return err
			}
			v, err := refs[i].AskTimeout(deploy.RequestReadyz{}, childLimit)
			if err != nil {
				return err
			}
			if ok, _ := v.(bool); !ok {
				return fmt.Errorf("master answered RequestReadyz with %v", v)
			}
			return nil
		})
		if err != nil {
			return r, err
		}
		r.rounds = append(r.rounds, time.Since(t0))
	}
	if cpu1, err = m.cpu(); err != nil {
		return r, err
	}
	if o.rounds > 0 {
		r.roundCPU = (cpu1 - cpu0) / time.Duration(o.rounds)
	}

	// Steady state at Spark's rate.
	tick := time.NewTicker(heartbeatInterval / time.Duration(n))
	defer tick.Stop()
	end := time.Now().Add(o.duration)
	if cpu0, err = m.cpu(); err != nil {
		return r, err
	}
	t0 := time.Now()
	k := 0
	for time.Now().Before(end) {
		<-tick.C
		if err := refs[k%n].Send(hbs[k%n]); err != nil {
			return r, err
		}
		k++
	}
	// The last heartbeat of each connection is handled once its barrier is.
	err = forEach(n, o.parallel, func(i int) error {
		_, err := refs[i].AskTimeout(deploy.RequestReadyz{}, childLimit)
		return err
	})
	r.steadyTook = time.Since(t0)
	if err != nil {
		return r, err
	}
	if cpu1, err = m.cpu(); err != nil {
		return r, err
	}
	r.steadyCPU, r.steadyHB = cpu1-cpu0, k
	for _, w := range workers {
		if x := w.other.Load(); x != 0 {
			return r, fmt.Errorf("worker %d got %d unexpected messages", w.idx, x)
		}
	}
	r.steady, err = m.status()
	return r, err
}

// simWorkerID is simulated worker i's id, as a worker makes it.
func simWorkerID(i int) string {
	return "worker-20260101000000-127.0.0.1-" + strconv.Itoa(firstWorkerPort+i)
}
