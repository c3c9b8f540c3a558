package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/ember-rpc/ember/deploy/launcher"
	"go.uber.org/atomic"
	"log/slog"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/client"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// DriverConfig configures NewDriver.
type DriverConfig struct {
	// Master is the masters' URL: spark://host:port[,host2:port2].
	Master string
	// AppName (default "ember-app").
	AppName string
	// Host the driver's env binds and advertises (default 127.0.0.1);
	// executors connect to it.
	Host string
	// ExecutorProgram is what the workers run as executors (default: this
	// program, os.Executable()); it must call RunExecutor when its first
	// argument is "executor".
	ExecutorProgram string
	// ExecutorEnv is added to the executors' environment.
	ExecutorEnv map[string]string
	// CoresPerExecutor (default 1), MaxCores (0: as many as the cluster
	// gives), MemoryPerExecutorMB (default 256).
	CoresPerExecutor    int
	MaxCores            int
	MemoryPerExecutorMB int
	// MaxTaskAttempts is how many times a task may fail (or lose its
	// executor) before its stage fails (default 4).
	MaxTaskAttempts int
	// Progress, when set, is called after every finished task with the
	// stage's done and total counts: one call at a time, in the order the
	// tasks finished, never under the driver's lock, and the last one
	// before RunTasks returns the stage's results.
	Progress func(done, total int)
	// Conf for the driver's env (nil: defaults); Logger (nil: slog.Default()).
	// The driver also reads spark.executor.heartbeatInterval (default 10s,
	// passed to the executors) and spark.network.timeout (default 120s: an
	// executor without a heartbeat for that long is lost).
	Conf   *sparkconf.Conf
	Logger *slog.Logger
	// Client tunes the app client (registration retries).
	Client client.Options
}

// Task is one unit of work: a kind registered in the executors (see
// RegisterTask) and its input.
type Task struct {
	Kind  string
	Input []byte
}

// Result is a finished task's output.
type Result struct {
	Output []byte
}

// Driver is an application's driver: its env, its registration with the
// masters, its executors and the task scheduler.
type Driver struct {
	cfg  DriverConfig
	log  *slog.Logger
	env  *rpcenv.Env
	ac   *client.AppClient
	url  string
	stop sync.Once

	stageMu sync.Mutex // one stage at a time

	backend *launcher.Backend // the launcher that started us, or nil
	killed  atomic.Bool       // stopped by the launcher's handle

	heartbeatInterval time.Duration
	heartbeatTimeout  time.Duration
	quit              chan struct{} // closed by Stop: ends the heartbeat checker
	bg                sync.WaitGroup

	mu         sync.Mutex // guards everything below
	appID      string
	dead       error
	stopped    bool
	executors  map[string]*execInfo
	changed    chan struct{} // closed and replaced when executors or dead change
	stage      *stage
	nextTaskID int64
	running    map[int64]*launch
	// progressQ holds Progress calls not yet made, in order; progressBusy
	// says a goroutine is making them (deliverProgress).
	progressQ    []progressCall
	progressBusy bool
}

// progressCall is one Progress call to make, or, when finished is set,
// a finished stage to announce once the calls before it are made.
type progressCall struct {
	done, total int
	finished    chan struct{}
}

type execInfo struct {
	id    string
	host  string
	ref   *rpcenv.Ref
	addr  rpcenv.Address
	cores int
	free  int
	// lastHeartbeat is when the executor registered or last sent a Heartbeat.
	lastHeartbeat time.Time
}

type launch struct {
	st   *stage
	idx  int
	exec string
}

type stage struct {
	tasks     []Task
	results   []Result
	failures  []int
	lastExec  []string
	lastError []string
	done      []bool
	pending   []int
	remaining int
	err       error
	finished  chan struct{}
}

// NewDriver starts the driver's env (listening on cfg.Host, a free port),
// its CoarseGrainedScheduler endpoint, and registers the application with
// the masters. Executors arrive as the masters grant them (WaitExecutors).
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if err := fromSubmitEnv(&cfg); err != nil {
		return nil, err
	}
	if cfg.Master == "" {
		return nil, errors.New("app: DriverConfig.Master is required (or " + EnvMaster + " from ember submit)")
	}
	if cfg.AppName == "" {
		cfg.AppName = "ember-app"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.CoresPerExecutor <= 0 {
		cfg.CoresPerExecutor = 1
	}
	if cfg.MemoryPerExecutorMB <= 0 {
		cfg.MemoryPerExecutorMB = 256
	}
	if cfg.MaxTaskAttempts <= 0 {
		cfg.MaxTaskAttempts = 4
	}
	if cfg.ExecutorProgram == "" {
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("app: finding this program for the executors: %w", err)
		}
		cfg.ExecutorProgram = p
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	hbInterval, hbTimeout, err := heartbeatConf(cfg.Conf)
	if err != nil {
		return nil, err
	}
	masters := []string{cfg.Master}
	if _, err := client.ParseMasterURLs(masters); err != nil {
		return nil, err
	}
	env, err := rpcenv.Create(rpcenv.Config{Name: "sparkDriver", BindHost: cfg.Host, Port: 0, Conf: cfg.Conf, Logger: log})
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, log: log.With("component", "driver"), env: env,
		executors: map[string]*execInfo{}, running: map[int64]*launch{}, changed: make(chan struct{}),
		heartbeatInterval: hbInterval, heartbeatTimeout: hbTimeout, quit: make(chan struct{})}
	d.url = rpcenv.EndpointAddress{Addr: env.Address(), Name: SchedulerEndpoint}.String()
	if _, err := env.SetupEndpoint(SchedulerEndpoint, &scheduler{d: d}); err != nil {
		env.Shutdown()
		return nil, err
	}
	desc := deploy.ApplicationDescription{
		Name:                cfg.AppName,
		MemoryPerExecutorMB: cfg.MemoryPerExecutorMB,
		CoresPerExecutor:    &cfg.CoresPerExecutor,
		User:                currentUser(),
		Command: deploy.Command{
			MainClass: cfg.ExecutorProgram,
			Arguments: append([]string{"executor", "--driver-url", d.url, "--executor-id", "{{EXECUTOR_ID}}",
				"--hostname", "{{HOSTNAME}}", "--cores", "{{CORES}}", "--app-id", "{{APP_ID}}",
				"--worker-url", "{{WORKER_URL}}",
				"--heartbeat-interval", strconv.FormatInt(hbInterval.Milliseconds(), 10) + "ms"},
				executorStartupArgs(cfg.Conf)...),
			Environment: cfg.ExecutorEnv,
		},
	}
	if cfg.MaxCores > 0 {
		mc := cfg.MaxCores
		desc.MaxCores = &mc
	}
	copts := cfg.Client
	if copts.Logger == nil {
		copts.Logger = log
	}
	// Connect to a launcher first, so the client's Connected can report the
	// app id to it.
	d.backend = d.connectLauncher()
	ac, err := client.Start(env, masters, desc, &listener{d: d}, copts)
	if err != nil {
		env.Shutdown()
		d.closeLauncher(true)
		return nil, err
	}
	d.mu.Lock()
	d.ac = ac
	stopped := d.stopped
	if !stopped { // under d.mu, so Stop's bg.Wait comes after the Add
		d.bg.Add(1)
		go d.checkHeartbeats()
	}
	d.mu.Unlock()
	if stopped { // the launcher stopped us while the client started
		ac.Stop()
	}
	return d, nil
}

// executorStartupArgs are the --conf arguments that give the executors the
// driver's settings they need before they can talk to anyone (Spark's
// SparkConf.isExecutorStartupConf, which Spark passes as -D options):
// spark.auth* (authentication: spark.authenticate,
// spark.authenticate.enableSaslEncryption, ...), spark.network.*
// (spark.network.crypto.*, timeouts), spark.rpc.* and spark.ssl.*. Never
// spark.authenticate.secret nor SSL passwords: the worker gives the
// executors its secret in their environment (_SPARK_AUTH_SECRET), so that
// it is on no command line.
func executorStartupArgs(c *sparkconf.Conf) []string {
	if c == nil {
		return nil
	}
	all := c.All()
	keys := make([]string, 0, len(all))
	for k := range all {
		startup := (strings.HasPrefix(k, "spark.auth") && k != "spark.authenticate.secret") ||
			strings.HasPrefix(k, "spark.rpc.") || strings.HasPrefix(k, "spark.network.") ||
			(strings.HasPrefix(k, "spark.ssl.") && !strings.Contains(strings.ToLower(k), "password"))
		if startup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, "--conf", k+"="+all[k])
	}
	return args
}

// heartbeatConf reads spark.executor.heartbeatInterval (default 10s, bare
// numbers in ms) and spark.network.timeout (default 120s, bare numbers in
// seconds).
func heartbeatConf(c *sparkconf.Conf) (interval, timeout time.Duration, err error) {
	interval, timeout = 10*time.Second, 120*time.Second
	if c == nil {
		return interval, timeout, nil
	}
	if interval, err = c.GetDuration("spark.executor.heartbeatInterval", interval, time.Millisecond); err != nil {
		return 0, 0, err
	}
	if timeout, err = c.GetDuration("spark.network.timeout", timeout, time.Second); err != nil {
		return 0, 0, err
	}
	if interval < time.Millisecond {
		return 0, 0, fmt.Errorf("app: spark.executor.heartbeatInterval must be at least 1ms, got %v", interval)
	}
	if timeout <= 0 {
		return 0, 0, fmt.Errorf("app: spark.network.timeout must be positive, got %v", timeout)
	}
	return interval, timeout, nil
}

// checkHeartbeats runs until Stop: every heartbeat interval it declares
// lost the executors whose last heartbeat is older than the network
// timeout (Spark's HeartbeatReceiver.expireDeadHosts).
func (d *Driver) checkHeartbeats() {
	defer d.bg.Done()
	t := time.NewTicker(d.heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
		now := time.Now()
		type expired struct {
			id      string
			ref     *rpcenv.Ref
			elapsed time.Duration
		}
		var dead []expired
		d.mu.Lock()
		for _, id := range d.sortedExecutors() {
			e := d.executors[id]
			if el := now.Sub(e.lastHeartbeat); el > d.heartbeatTimeout {
				dead = append(dead, expired{id: id, ref: e.ref, elapsed: el})
			}
		}
		d.mu.Unlock()
		for _, x := range dead {
			d.log.Warn("Removing executor with no recent heartbeats", "executor", x.id,
				"elapsed", x.elapsed.Round(time.Millisecond), "timeout", d.heartbeatTimeout)
			d.executorLost(x.id, "Executor heartbeat timed out after "+x.elapsed.Round(time.Millisecond).String())
			// Spark kills the executor; here it is told to stop.
			d.send([]outgoing{{ref: x.ref, msg: StopExecutor{}}})
		}
	}
}

// heartbeat records a Heartbeat from an executor.
func (d *Driver) heartbeat(id string) {
	d.mu.Lock()
	e := d.executors[id]
	if e != nil {
		e.lastHeartbeat = time.Now()
	}
	d.mu.Unlock()
	if e == nil {
		d.log.Debug("heartbeat from an unknown executor", "executor", id)
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// URL is the scheduler endpoint's URI, what executors connect to.
func (d *Driver) URL() string { return d.url }

// AppID is the application's id ("" until a master accepted it).
func (d *Driver) AppID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.appID
}

// Executors returns the ids of the registered executors, sorted.
func (d *Driver) Executors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sortedExecutors()
}

func (d *Driver) sortedExecutors() []string {
	ids := make([]string, 0, len(d.executors))
	for id := range d.executors {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) {
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
	return ids
}

// notify wakes the waiters of changed; d.mu held.
func (d *Driver) notify() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// WaitExecutors waits until at least n executors registered.
func (d *Driver) WaitExecutors(ctx context.Context, n int) error {
	for {
		d.mu.Lock()
		have, dead, ch := len(d.executors), d.dead, d.changed
		d.mu.Unlock()
		if have >= n {
			return nil
		}
		if dead != nil {
			return dead
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("app: %d of %d executors registered: %w", have, n, ctx.Err())
		}
	}
}

// RunTasks runs tasks on the executors' free cores and returns their
// outputs in order. A task whose executor is lost, or that fails, runs
// again (on another executor when one is free); after MaxTaskAttempts
// failures of one task the stage fails. Stages run one at a time.
func (d *Driver) RunTasks(ctx context.Context, tasks []Task) ([]Result, error) {
	d.stageMu.Lock()
	defer d.stageMu.Unlock()
	if len(tasks) == 0 {
		return nil, nil
	}
	n := len(tasks)
	st := &stage{tasks: tasks, results: make([]Result, n), failures: make([]int, n), lastExec: make([]string, n),
		lastError: make([]string, n), done: make([]bool, n), remaining: n, finished: make(chan struct{})}
	for i := range tasks {
		st.pending = append(st.pending, i)
	}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil, errors.New("app: driver stopped")
	}
	if d.dead != nil {
		d.mu.Unlock()
		return nil, d.dead
	}
	d.stage = st
	sends := d.schedule()
	d.mu.Unlock()
	d.send(sends)
	select {
	case <-st.finished:
	case <-ctx.Done():
		d.mu.Lock()
		d.endStage(st, fmt.Errorf("app: stage cancelled: %w", ctx.Err()))
		d.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st.err != nil {
		return nil, st.err
	}
	return st.results, nil
}

// endStage finishes st with err (nil: success); d.mu held.
func (d *Driver) endStage(st *stage, err error) {
	if d.stage != st {
		return
	}
	d.stage = nil
	st.err = err
	st.pending = nil
	close(st.finished)
}

type outgoing struct {
	ref *rpcenv.Ref
	msg any
}

func (d *Driver) send(out []outgoing) {
	for _, o := range out {
		if err := o.ref.Send(o.msg); err != nil {
			d.log.Warn("send failed", "to", o.ref.Address().String(), "msg", fmt.Sprintf("%T", o.msg), "err", err)
		}
	}
}

// schedule places pending tasks on free cores, preferring the executor
// with the most free cores that is not where the task last failed; d.mu
// held. It returns the LaunchTasks to send.
func (d *Driver) schedule() []outgoing {
	st := d.stage
	if st == nil || len(st.pending) == 0 {
		return nil
	}
	ids := d.sortedExecutors()
	var out []outgoing
	var left []int
	for _, idx := range st.pending {
		var best *execInfo
		for _, id := range ids {
			if e := d.executors[id]; e.free > 0 && (best == nil || better(e, best, st.lastExec[idx])) {
				best = e
			}
		}
		if best == nil {
			left = append(left, idx)
			continue
		}
		best.free--
		d.nextTaskID++
		tid := d.nextTaskID
		d.running[tid] = &launch{st: st, idx: idx, exec: best.id}
		out = append(out, outgoing{ref: best.ref, msg: LaunchTask{TaskID: tid, Index: idx, Attempt: st.failures[idx],
			Kind: st.tasks[idx].Kind, Input: st.tasks[idx].Input}})
	}
	st.pending = left
	return out
}

// better: a is a better place than b for a task that last failed on avoid.
func better(a, b *execInfo, avoid string) bool {
	if (a.id == avoid) != (b.id == avoid) {
		return b.id == avoid
	}
	return a.free > b.free
}

// taskFailed counts a failure of a running task and requeues it or fails
// the stage; d.mu held.
func (d *Driver) taskFailed(l *launch, reason string, permanent bool) {
	st := l.st
	if d.stage != st || st.done[l.idx] {
		return
	}
	st.failures[l.idx]++
	st.lastExec[l.idx] = l.exec
	st.lastError[l.idx] = reason
	d.log.Warn("task failed", "index", l.idx, "executor", l.exec, "failures", st.failures[l.idx], "reason", reason)
	if permanent {
		d.endStage(st, fmt.Errorf("app: task %d (kind %q) failed on executor %s and retrying cannot help, giving up on the stage: %s",
			l.idx, st.tasks[l.idx].Kind, l.exec, reason))
		return
	}
	if st.failures[l.idx] >= d.cfg.MaxTaskAttempts {
		d.endStage(st, fmt.Errorf("app: task %d (kind %q) failed %d times, giving up on the stage; most recent failure on executor %s: %s",
			l.idx, st.tasks[l.idx].Kind, st.failures[l.idx], l.exec, reason))
		return
	}
	st.pending = append(st.pending, l.idx)
}

// registerExecutor adds an executor; false for a duplicate id.
func (d *Driver) registerExecutor(x RegisterExecutor) bool {
	d.mu.Lock()
	if _, dup := d.executors[x.ID]; dup || x.Executor == nil || d.stopped || x.Cores < 1 {
		d.mu.Unlock()
		return false
	}
	d.executors[x.ID] = &execInfo{id: x.ID, host: x.Host, ref: x.Executor, addr: x.Executor.Address().Addr,
		cores: x.Cores, free: x.Cores, lastHeartbeat: time.Now()}
	d.notify()
	sends := d.schedule()
	d.mu.Unlock()
	d.log.Info("executor registered", "executor", x.ID, "host", x.Host, "cores", x.Cores)
	d.send(sends)
	return true
}

// statusUpdate ends a launch.
func (d *Driver) statusUpdate(x StatusUpdate) {
	progress := false
	d.mu.Lock()
	l := d.running[x.TaskID]
	if l == nil {
		d.mu.Unlock()
		return
	}
	delete(d.running, x.TaskID)
	if e := d.executors[l.exec]; e != nil {
		e.free++
	}
	st := l.st
	if d.stage == st && !st.done[l.idx] {
		switch x.State {
		case TaskFinished:
			st.done[l.idx] = true
			st.results[l.idx] = Result{Output: x.Output}
			st.remaining--
			if d.cfg.Progress != nil {
				progress = true
				d.progressQ = append(d.progressQ, progressCall{done: len(st.tasks) - st.remaining, total: len(st.tasks)})
			}
			if st.remaining == 0 {
				if progress {
					// RunTasks returns once the calls before are made.
					d.stage, st.pending = nil, nil
					d.progressQ = append(d.progressQ, progressCall{finished: st.finished})
				} else {
					d.endStage(st, nil)
				}
			}
		default:
			d.taskFailed(l, x.Error, x.Permanent)
		}
	}
	sends := d.schedule()
	d.mu.Unlock()
	d.send(sends)
	if progress {
		d.deliverProgress()
	}
}

// deliverProgress makes the queued Progress calls in order, unless
// another goroutine is making them (it will make these too).
func (d *Driver) deliverProgress() {
	d.mu.Lock()
	if d.progressBusy {
		d.mu.Unlock()
		return
	}
	d.progressBusy = true
	for len(d.progressQ) > 0 {
		c := d.progressQ[0]
		d.progressQ[0] = progressCall{}
		d.progressQ = d.progressQ[1:]
		d.mu.Unlock()
		if c.finished != nil {
			close(c.finished)
		} else {
			d.cfg.Progress(c.done, c.total)
		}
		d.mu.Lock()
	}
	d.progressBusy = false
	d.mu.Unlock()
}

// executorLost removes an executor and reruns its tasks.
func (d *Driver) executorLost(id, reason string) {
	d.mu.Lock()
	if _, ok := d.executors[id]; !ok {
		d.mu.Unlock()
		return
	}
	delete(d.executors, id)
	d.notify()
	d.log.Warn("executor lost", "executor", id, "reason", reason)
	tids := make([]int64, 0)
	for tid, l := range d.running {
		if l.exec == id {
			tids = append(tids, tid)
		}
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	for _, tid := range tids {
		l := d.running[tid]
		delete(d.running, tid)
		d.taskFailed(l, "executor "+id+" lost: "+reason, false)
	}
	sends := d.schedule()
	d.mu.Unlock()
	d.send(sends)
}

func (d *Driver) executorLostByAddress(addr rpcenv.Address) {
	d.mu.Lock()
	var ids []string
	for id, e := range d.executors {
		if e.addr == addr {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	for _, id := range ids {
		d.executorLost(id, "disconnected ("+addr.String()+")")
	}
}

// Stop ends the application: stops the executors, unregisters from the
// master and shuts the env down. It is idempotent.
func (d *Driver) Stop() {
	d.stop.Do(func() {
		d.mu.Lock()
		d.stopped = true
		var sends []outgoing
		for _, id := range d.sortedExecutors() {
			sends = append(sends, outgoing{ref: d.executors[id].ref, msg: StopExecutor{}})
		}
		if d.stage != nil {
			d.endStage(d.stage, errors.New("app: driver stopped"))
		}
		ac := d.ac
		failed := d.dead != nil // the outcome, before shutting down marks us dead
		d.mu.Unlock()
		d.send(sends)
		close(d.quit)
		d.bg.Wait()
		if ac != nil {
			ac.Stop()
		}
		d.env.Shutdown()
		d.closeLauncher(failed)
	})
}

// ---- the endpoint and the app client's listener ----

type scheduler struct{ d *Driver }

func (s *scheduler) Receive(msg any, sender rpcenv.Address) error {
	switch x := msg.(type) {
	case StatusUpdate:
		s.d.statusUpdate(x)
	case Heartbeat:
		s.d.heartbeat(x.ExecutorID)
	default:
		return fmt.Errorf("%w: scheduler got %T from %s", rpcenv.ErrUnsupported, msg, sender)
	}
	return nil
}

func (s *scheduler) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	switch x := msg.(type) {
	case RegisterExecutor:
		cc.Reply(s.d.registerExecutor(x))
	default:
		return fmt.Errorf("%w: scheduler got %T", rpcenv.ErrUnsupported, msg)
	}
	return nil
}

func (s *scheduler) OnDisconnected(addr rpcenv.Address) { s.d.executorLostByAddress(addr) }

func (s *scheduler) OnError(err error) { s.d.log.Warn("scheduler endpoint error", "err", err) }

type listener struct{ d *Driver }

func (l *listener) Connected(appID string) {
	l.d.mu.Lock()
	l.d.appID = appID
	l.d.mu.Unlock()
	l.d.log.Info("application registered", "appId", appID)
	l.d.reportLauncher(appID)
}

func (l *listener) Disconnected() { l.d.log.Warn("disconnected from the master") }

func (l *listener) Dead(reason string) {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead == nil {
		d.dead = fmt.Errorf("app: application is dead: %s", reason)
		d.notify()
	}
	if d.stage != nil {
		d.endStage(d.stage, d.dead)
	}
}

func (l *listener) ExecutorAdded(fullID, workerID, hostPort string, cores, memoryMB int) {
	l.d.log.Info("executor granted", "executor", fullID, "worker", workerID, "hostPort", hostPort, "cores", cores)
}

func (l *listener) ExecutorRemoved(fullID, message string, exitStatus *int, workerHost *string) {
	id := fullID[strings.LastIndexByte(fullID, '/')+1:]
	l.d.executorLost(id, message)
}

func (l *listener) ExecutorDecommissioned(fullID, message string) {}

func (l *listener) WorkerRemoved(workerID, host, message string) {
	l.d.log.Warn("worker removed", "worker", workerID, "host", host, "message", message)
}
