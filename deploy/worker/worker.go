package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/ember-rpc/ember/shuffle"
	"go.uber.org/atomic"
)

// Options configure a Worker daemon. Zero values mean Spark's defaults.
type Options struct {
	// Host is the address to bind and advertise ("" binds every interface
	// and advertises 127.0.0.1).
	Host string
	// Port is the RPC port (0 picks a free one).
	Port int
	// WebUIPort is the port of the worker's web UI, which the caller
	// serves; it only goes into URLs (0 means 8081).
	WebUIPort int
	// Cores to offer (0: every CPU).
	Cores int
	// MemoryMB to offer (0: the machine's memory minus 1 GiB, at least
	// 1024).
	MemoryMB int
	// WorkDir holds the executors' and drivers' dirs (""
	// $SPARK_WORKER_DIR, else $SPARK_HOME/work, else ./work).
	WorkDir string
	// MasterURLs are the masters, each spark://host:port.
	MasterURLs []string
	// Conf holds the spark.* keys (nil: defaults).
	Conf *sparkconf.Conf
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// PublicDNS is SPARK_PUBLIC_DNS: the host put in the UI and log URLs
	// ("" : Host).
	PublicDNS string
	// Instance numbers the workers of one host (>= 1; 0 means 1): the RPC
	// env is sparkWorker<Instance>.
	Instance int
	// OnExit replaces os.Exit where Spark's worker exits: registration
	// given up, RegisterWorkerFailed before registering, executor state
	// sync given up. It is called at most once, possibly on the endpoint's
	// goroutine: it must not block, nor call Shutdown synchronously. Nil
	// means os.Exit.
	OnExit func(code int)
}

// Worker is the standalone worker daemon: the Worker endpoint on its own
// RPC env, its executor and driver runners, and the optional external
// shuffle service.
type Worker struct {
	cfg       *config
	conf      *sparkconf.Conf
	log       *slog.Logger
	env       *rpcenv.Env
	self      *rpcenv.Ref
	id        string
	host      string
	port      int
	workerURI string // spark://Worker@host:port
	webUIURL  string
	shuffle   *shuffle.Service
	onExit    func(int)

	initialInterval   time.Duration // registration retry, INITIAL_REGISTRATION_RETRY_INTERVAL
	prolongedInterval time.Duration // PROLONGED_REGISTRATION_RETRY_INTERVAL

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	stop   chan struct{} // closed by Shutdown

	mu      sync.Mutex // guards closing, live, and Add on wg and runners
	closing bool
	live    map[interface{ kill() }]struct{} // runners not yet finished
	wg      sync.WaitGroup                   // timers, registrations, state sync, cleanup
	runners sync.WaitGroup                   // runner goroutines and their process reapers

	shutdownOnce sync.Once
	exitOnce     sync.Once
	registeredA  atomic.Bool // mirrors registered for Registered()
	syncq        syncQueue

	// Loop-owned: touched only by the endpoint's methods.
	registered             bool
	connected              bool
	master                 *rpcenv.Ref
	activeMasterURL        string
	activeMasterWebUIURL   string
	masterAddressToConnect *rpcenv.Address
	retryTimer             *repeater
	attempts               int
	heartbeatTimer         *repeater
	cleanupTimer           *repeater
	executors              map[string]*executorRunner // appId/execId
	finishedExecutors      []*executorRunner          // oldest first
	drivers                map[string]*driverRunner
	finishedDrivers        []*driverRunner
	appDirs                map[string][]string // appId → executor-<uuid> dirs
	finishedApps           map[string]bool
	coresUsed              int
	memoryUsed             int
}

// Start validates the options, starts the shuffle service when
// spark.shuffle.service.enabled, creates the RPC env and the Worker
// endpoint, and registers with every master.
func Start(opts Options) (*Worker, error) {
	conf := opts.Conf
	if conf == nil {
		conf = sparkconf.New()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "worker")
	cfg, err := newConfig(opts, conf)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("worker: cannot create work dir %s: %w", cfg.workDir, err)
	}
	w := &Worker{cfg: cfg, conf: conf, log: log, onExit: opts.OnExit, stop: make(chan struct{}),
		live: map[interface{ kill() }]struct{}{}, executors: map[string]*executorRunner{},
		drivers: map[string]*driverRunner{}, appDirs: map[string][]string{}, finishedApps: map[string]bool{}}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.syncq.ready = make(chan struct{}, 1)
	if cfg.shuffleEnabled {
		dbDir := ""
		if cfg.shuffleDBEnabled {
			dbDir = filepath.Join(cfg.workDir, shuffleDBDir)
		}
		w.shuffle, err = shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: opts.Host, Port: -1, DBDir: dbDir, Logger: log})
		if err != nil {
			w.cancel()
			return nil, fmt.Errorf("worker: %w", err)
		}
	}
	fail := func(err error) (*Worker, error) {
		if w.env != nil {
			w.env.Shutdown()
		}
		if w.shuffle != nil {
			_ = w.shuffle.Close()
		}
		w.cancel()
		return nil, err
	}
	w.env, err = rpcenv.Create(rpcenv.Config{Name: "sparkWorker" + strconv.Itoa(cfg.instance), BindHost: opts.Host,
		Port: opts.Port, Conf: conf, Logger: log})
	if err != nil {
		return fail(err)
	}
	addr := w.env.Address()
	w.host, w.port = addr.Host, addr.Port
	cfg.publicAddr = opts.PublicDNS
	if cfg.publicAddr == "" {
		cfg.publicAddr = w.host
	}
	if w.id, err = formatWorkerID(cfg.idPattern, time.Now(), w.host, w.port); err != nil {
		return fail(err)
	}
	selfAddr := rpcenv.EndpointAddress{Addr: addr, Name: deploy.WorkerEndpointName}
	w.self = w.env.RefFor(selfAddr)
	w.workerURI = selfAddr.String()
	w.webUIURL = fmt.Sprintf("http://%s:%d", cfg.publicAddr, cfg.uiPort)
	fuzz := 0.5 + rand.Float64() // [0.5, 1.5), fixed per worker
	w.initialInterval = cfg.scaledInterval(math.Round(10 * fuzz))
	w.prolongedInterval = cfg.scaledInterval(math.Round(60 * fuzz))
	w.log = log.With("worker", w.id)
	w.spawn(w.syncLoop)
	if _, err := w.env.SetupEndpoint(deploy.WorkerEndpointName, &endpoint{w: w}); err != nil {
		w.shutdown()
		return nil, err
	}
	return w, nil
}

// scaledInterval is seconds × the registration interval scale.
func (c *config) scaledInterval(seconds float64) time.Duration {
	return max(time.Duration(seconds*c.intervalScale*float64(time.Second)), time.Millisecond)
}

// shuffleDBDir is the shuffle service's registration DB dir in workDir;
// WorkDirCleanup never removes it.
const shuffleDBDir = "shuffle-db"

// ID returns the worker id.
func (w *Worker) ID() string { return w.id }

// Address returns the worker's RPC address.
func (w *Worker) Address() rpcenv.Address { return w.env.Address() }

// WorkDir returns the absolute work dir.
func (w *Worker) WorkDir() string { return w.cfg.workDir }

// ShuffleService returns the external shuffle service, nil when disabled.
func (w *Worker) ShuffleService() *shuffle.Service { return w.shuffle }

// Registered reports whether a master accepted the worker (and no
// disconnect happened since).
func (w *Worker) Registered() bool { return w.registeredA.Load() }

// WorkerState asks the endpoint for the worker's state (the web UI's
// /json).
func (w *Worker) WorkerState() (deploy.WorkerStateResponse, error) {
	v, err := w.self.AskTimeout(deploy.RequestWorkerState{}, 30*time.Second)
	if err != nil {
		return deploy.WorkerStateResponse{}, err
	}
	st, ok := v.(deploy.WorkerStateResponse)
	if !ok {
		return st, fmt.Errorf("worker: unexpected reply %T", v)
	}
	return st, nil
}

// Shutdown stops the worker: it kills every executor and driver (SIGTERM,
// then SIGKILL after the grace period) and waits for them, stops the
// timers and goroutines, the RPC env and the shuffle service. It is
// idempotent and leaves no child process behind.
func (w *Worker) Shutdown() { w.shutdown() }

func (w *Worker) shutdown() {
	w.shutdownOnce.Do(func() {
		w.mu.Lock()
		w.closing = true
		live := make([]interface{ kill() }, 0, len(w.live))
		for r := range w.live {
			live = append(live, r)
		}
		w.mu.Unlock()
		close(w.stop)
		w.cancel()
		for _, r := range live {
			r.kill()
		}
		w.runners.Wait()
		// Every goroutine of ours ends on stop/ctx: join them before the
		// env goes, so that none uses it while it shuts down.
		w.wg.Wait()
		w.env.Shutdown()
		if w.shuffle != nil {
			if err := w.shuffle.Close(); err != nil {
				w.log.Warn("closing the shuffle service", "err", err)
			}
		}
	})
}

// spawn runs fn on a goroutine that Shutdown waits for; it refuses once
// Shutdown started.
func (w *Worker) spawn(fn func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
	return true
}

// startRunner runs a runner's goroutine; Shutdown kills it and waits.
func (w *Worker) startRunner(r interface{ kill() }, run func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.live[r] = struct{}{}
	w.runners.Add(1)
	go func() {
		defer w.runners.Done()
		defer func() {
			w.mu.Lock()
			delete(w.live, r)
			w.mu.Unlock()
		}()
		run()
	}()
	return true
}

// exit is Spark's System.exit: once, through Options.OnExit.
func (w *Worker) exit(code int) {
	w.exitOnce.Do(func() {
		if w.onExit != nil {
			w.onExit(code)
			return
		}
		os.Exit(code)
	})
}

// repeater is a periodic self-message (Spark's forwardMessageScheduler).
type repeater struct {
	stopCh chan struct{}
	once   sync.Once
}

func (r *repeater) cancel() {
	if r != nil {
		r.once.Do(func() { close(r.stopCh) })
	}
}

// every sends msg to the endpoint after first, then every period, until
// cancelled or Shutdown.
func (w *Worker) every(first, period time.Duration, msg any) *repeater {
	r := &repeater{stopCh: make(chan struct{})}
	w.spawn(func() {
		t := time.NewTimer(first)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = w.self.Send(msg)
				t.Reset(period)
			case <-r.stopCh:
				return
			case <-w.stop:
				return
			}
		}
	})
	return r
}

// ---- the endpoint ----

// endpoint is the Worker endpoint (thread-safe: one message at a time).
// All the loop-owned state of Worker is touched only from here.
type endpoint struct{ w *Worker }

// Self messages.
type (
	reregisterWithMaster struct{}
	sendHeartbeat        struct{}
	workDirCleanup       struct{}
	resyncExecutorState  struct{ msg deploy.ExecutorStateChanged }
	// executorInfoRequest asks for every executor's state, final message
	// and exit status (tests).
	executorInfoRequest struct{}
)

// executorInfo is one executor's state (executorInfoRequest).
type executorInfo struct {
	AppID      string
	ExecID     int
	State      deploy.ExecutorState
	Message    *string
	ExitStatus *int
	Finished   bool
	PID        int
}

// OnStart registers with the masters.
func (e *endpoint) OnStart() error {
	w := e.w
	w.log.Info("Starting Spark worker", "address", w.env.Address().String(), "cores", w.cfg.cores,
		"memoryMB", w.cfg.memoryMB, "workDir", w.cfg.workDir)
	w.registerWithMaster()
	return nil
}

// OnDisconnected re-registers when the master goes away.
func (e *endpoint) OnDisconnected(addr rpcenv.Address) {
	w := e.w
	if (w.master != nil && w.master.Address().Addr == addr) ||
		(w.masterAddressToConnect != nil && *w.masterAddressToConnect == addr) {
		w.log.Info("master disassociated", "master", addr.String())
		w.masterDisconnected()
	}
}

// OnError logs endpoint errors.
func (e *endpoint) OnError(err error) { e.w.log.Warn("worker endpoint error", "err", err) }

// Receive handles one-way messages.
func (e *endpoint) Receive(msg any, sender rpcenv.Address) error {
	w := e.w
	switch x := msg.(type) {
	case deploy.RegisteredWorker:
		w.handleRegistered(x)
	case deploy.RegisterWorkerFailed:
		if !w.registered {
			w.log.Error("Worker registration failed", "message", x.Message)
			w.exit(1)
		}
	case deploy.MasterInStandby:
		// a standby master: wait for the leader's answer
	case reregisterWithMaster:
		w.reregisterWithMaster()
	case sendHeartbeat:
		if w.connected && w.master != nil {
			w.sendToMaster(deploy.Heartbeat{WorkerID: w.id, Worker: w.self})
		}
	case deploy.ReconnectWorker:
		w.log.Info("Master asks re-registration", "master", x.MasterURL)
		w.registerWithMaster()
	case deploy.MasterChanged:
		w.handleMasterChanged(x)
	case workDirCleanup:
		w.cleanupWorkDir()
	case deploy.LaunchExecutor:
		w.launchExecutor(x)
	case deploy.KillExecutor:
		w.killExecutor(x)
	case executorStateFromRunner:
		w.executorStateChanged(x.r, x.msg)
	case resyncExecutorState:
		w.syncExecutorState(x.msg)
	case deploy.ApplicationFinished:
		w.finishedApps[x.ID] = true
		w.maybeCleanupApplication(x.ID)
	case deploy.LaunchDriver:
		w.launchDriver(x)
	case deploy.KillDriver:
		if d := w.drivers[x.DriverID]; d != nil {
			w.log.Info("Asked to kill driver", "driver", x.DriverID)
			d.kill()
		} else {
			w.log.Error("Asked to kill unknown driver", "driver", x.DriverID)
		}
	case driverStateFromRunner:
		w.driverStateChanged(x.d, x.msg)
	default:
		return fmt.Errorf("%w: worker got %T from %s", rpcenv.ErrUnsupported, msg, sender)
	}
	return nil
}

// ReceiveAndReply handles asks.
func (e *endpoint) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	w := e.w
	switch msg.(type) {
	case deploy.RequestWorkerState:
		cc.Reply(w.snapshot())
	case executorInfoRequest:
		cc.Reply(w.executorInfos())
	default:
		return fmt.Errorf("%w: worker got ask %T", rpcenv.ErrUnsupported, msg)
	}
	return nil
}

// ---- registration ----

// registerWithMaster starts a registration round unless one is running.
func (w *Worker) registerWithMaster() {
	if w.retryTimer != nil {
		w.log.Info("Not spawning another attempt to register with the master, since there is an attempt scheduled already.")
		return
	}
	w.setRegistered(false)
	w.tryRegisterAllMasters()
	w.attempts = 0
	w.retryTimer = w.every(w.initialInterval, w.initialInterval, reregisterWithMaster{})
}

func (w *Worker) setRegistered(v bool) {
	w.registered = v
	w.registeredA.Store(v)
}

func (w *Worker) tryRegisterAllMasters() {
	for _, a := range w.cfg.masters {
		w.registerAt(a)
	}
}

// registerAt sends RegisterWorker to the master at addr. Spark first
// looks the endpoint up (an ask to the remote endpoint-verifier); Ember
// sends at once, from the endpoint's loop, so that nothing waits on a
// lookup (which only spark.rpc.lookupTimeout or the env's end would
// interrupt): a master that is down or unknown simply never answers, and
// the retry schedule goes on.
func (w *Worker) registerAt(addr rpcenv.Address) {
	w.log.Info("Connecting to master", "master", addr.String())
	ref := w.env.RefFor(rpcenv.EndpointAddress{Addr: addr, Name: deploy.MasterEndpointName})
	msg := deploy.RegisterWorker{ID: w.id, Host: w.host, Port: w.port, Worker: w.self, Cores: w.cfg.cores,
		MemoryMB: w.cfg.memoryMB, WorkerWebUIURL: w.webUIURL, MasterAddress: addr}
	if err := ref.Send(msg); err != nil {
		w.log.Warn("Failed to send RegisterWorker", "master", addr.String(), "err", err)
	}
}

// reregisterWithMaster is one retry of the registration schedule.
func (w *Worker) reregisterWithMaster() {
	w.attempts++
	switch {
	case w.registered:
		w.cancelRegistrationRetry()
	case w.attempts <= w.cfg.maxRetries:
		w.log.Info("Retrying connection to master", "attempt", w.attempts)
		if w.master != nil {
			addr := w.master.Address().Addr
			if w.cfg.preferConfiguredMaster && w.masterAddressToConnect != nil {
				addr = *w.masterAddressToConnect
			}
			w.registerAt(addr)
		} else {
			w.tryRegisterAllMasters()
		}
		if w.attempts == w.cfg.initialRetries {
			w.retryTimer.cancel()
			w.retryTimer = w.every(w.prolongedInterval, w.prolongedInterval, reregisterWithMaster{})
		}
	default:
		w.log.Error("All masters are unresponsive! Giving up.")
		w.cancelRegistrationRetry()
		w.exit(1)
	}
}

func (w *Worker) cancelRegistrationRetry() {
	w.retryTimer.cancel()
	w.retryTimer = nil
}

func (w *Worker) handleRegistered(x deploy.RegisteredWorker) {
	if x.Master == nil {
		w.log.Warn("RegisteredWorker without a master ref; ignored")
		return
	}
	if x.Duplicate {
		w.log.Warn("Duplicate registration at master", "master", x.Master.Address().Addr.String())
	}
	w.log.Info("Successfully registered with master", "master", x.Master.Address().Addr.SparkURL())
	w.setRegistered(true)
	w.changeMaster(x.Master, x.MasterWebUIURL, x.MasterAddress)
	if w.heartbeatTimer == nil {
		w.heartbeatTimer = w.every(0, w.cfg.heartbeatInterval(), sendHeartbeat{})
	}
	if w.cfg.cleanupEnabled && w.cleanupTimer == nil {
		w.log.Info("Worker cleanup enabled; old application directories will be deleted", "workDir", w.cfg.workDir)
		w.cleanupTimer = w.every(w.cfg.cleanupInterval, w.cfg.cleanupInterval, workDirCleanup{})
	}
	execs, drivers := w.runningDescriptions()
	w.sendToMaster(deploy.WorkerLatestState{ID: w.id, Executors: execs, DriverIDs: drivers})
}

// changeMaster switches to a new active master.
func (w *Worker) changeMaster(ref *rpcenv.Ref, uiURL string, masterAddress rpcenv.Address) {
	// A ref by address: sends reconnect through the env's outbox rather
	// than stick to the connection the ref arrived on.
	if a := ref.Address(); !a.Addr.IsZero() {
		ref = w.env.RefFor(a)
	}
	w.activeMasterURL = ref.Address().Addr.SparkURL()
	w.activeMasterWebUIURL = uiURL
	if masterAddress.IsZero() {
		masterAddress = ref.Address().Addr
	}
	w.masterAddressToConnect = &masterAddress
	w.master = ref
	w.connected = true
	w.cancelRegistrationRetry()
}

func (w *Worker) handleMasterChanged(x deploy.MasterChanged) {
	if x.Master == nil {
		return
	}
	w.log.Info("Master has changed", "master", x.Master.Address().Addr.SparkURL())
	w.changeMaster(x.Master, x.MasterWebUIURL, x.Master.Address().Addr)
	execs, drivers := w.runningDescriptions()
	w.sendToMaster(deploy.WorkerSchedulerStateResponse{ID: w.id, Executors: execs, DriverIDs: drivers})
}

func (w *Worker) masterDisconnected() {
	w.log.Error("Connection to master failed! Waiting for master to reconnect...")
	w.connected = false
	w.registerWithMaster()
}

func (w *Worker) sendToMaster(msg any) {
	if w.master == nil {
		w.log.Warn("Dropping message because the connection to master has not yet been established", "msg", fmt.Sprintf("%T", msg))
		return
	}
	if err := w.master.Send(msg); err != nil {
		w.log.Warn("send to master failed", "msg", fmt.Sprintf("%T", msg), "err", err)
	}
}

// runningDescriptions lists the running executors and drivers, sorted.
func (w *Worker) runningDescriptions() ([]deploy.ExecutorDescription, []string) {
	execs := make([]deploy.ExecutorDescription, 0, len(w.executors))
	for _, r := range w.sortedExecutors() {
		execs = append(execs, r.description())
	}
	ids := make([]string, 0, len(w.drivers))
	for id := range w.drivers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return execs, ids
}

func (w *Worker) sortedExecutors() []*executorRunner {
	out := make([]*executorRunner, 0, len(w.executors))
	for _, r := range w.executors {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].appID != out[j].appID {
			return out[i].appID < out[j].appID
		}
		return out[i].execID < out[j].execID
	})
	return out
}

// ---- executors ----

// validPathName accepts an id that is one path element.
func validPathName(s string) error {
	if s == "" || s == "." || s == ".." || filepath.Base(s) != s || filepath.IsAbs(s) {
		return fmt.Errorf("invalid id %q for a directory name", s)
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r == 0 {
			return fmt.Errorf("invalid id %q for a directory name", s)
		}
	}
	return nil
}

func (w *Worker) launchExecutor(m deploy.LaunchExecutor) {
	if m.MasterURL != w.activeMasterURL {
		w.log.Warn("Invalid Master attempted to launch executor", "master", m.MasterURL, "executor", m.ExecID)
		return
	}
	fullID := m.AppID + "/" + strconv.Itoa(m.ExecID)
	w.log.Info("Asked to launch executor", "executor", fullID, "app", m.AppDesc.Name)
	err := func() error {
		if err := validPathName(m.AppID); err != nil {
			return err
		}
		if w.executors[fullID] != nil {
			return fmt.Errorf("executor %s is running already", fullID)
		}
		dir := filepath.Join(w.cfg.workDir, m.AppID, strconv.Itoa(m.ExecID))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("failed to create directory %s: %w", dir, err)
		}
		dirs, ok := w.appDirs[m.AppID]
		if !ok {
			var err error
			if dirs, err = createAppLocalDirs(w.cfg.localRoots, w.log); err != nil {
				return err
			}
			w.appDirs[m.AppID] = dirs
		}
		r := &executorRunner{w: w, appID: m.AppID, execID: m.ExecID, rpID: m.RPID, desc: m.AppDesc, cores: m.Cores,
			memoryMB: m.MemoryMB, dir: dir, localDirs: dirs, state: deploy.ExecutorLaunching, killCh: make(chan struct{})}
		if !w.startRunner(r, r.run) {
			return errors.New("the worker is shutting down")
		}
		w.executors[fullID] = r
		w.coresUsed += m.Cores
		w.memoryUsed += m.MemoryMB
		return nil
	}()
	if err != nil {
		w.log.Error("Failed to launch executor", "executor", fullID, "app", m.AppDesc.Name, "err", err)
		if r := w.executors[fullID]; r != nil {
			r.kill() // as Spark: a launch that fails kills what runs under that id
		}
		w.syncExecutorState(deploy.ExecutorStateChanged{AppID: m.AppID, ExecID: m.ExecID, State: deploy.ExecutorFailed,
			Message: ptr(err.Error())})
	}
}

func (w *Worker) killExecutor(m deploy.KillExecutor) {
	if m.MasterURL != w.activeMasterURL {
		w.log.Warn("Invalid Master attempted to kill executor", "master", m.MasterURL, "executor", m.ExecID)
		return
	}
	fullID := m.AppID + "/" + strconv.Itoa(m.ExecID)
	r := w.executors[fullID]
	if r == nil {
		w.log.Info("Asked to kill unknown executor", "executor", fullID)
		return
	}
	w.log.Info("Asked to kill executor", "executor", fullID)
	if !r.state.IsFinished() {
		r.state = deploy.ExecutorKilled
	}
	r.kill()
}

// executorStateChanged handles a runner's report (Spark's
// handleExecutorStateChanged).
func (w *Worker) executorStateChanged(r *executorRunner, m deploy.ExecutorStateChanged) {
	r.state = m.State
	if m.State.IsFinished() {
		r.message, r.exitStatus = m.Message, m.ExitStatus
	}
	w.syncExecutorState(m)
	if !m.State.IsFinished() {
		return
	}
	fullID := r.fullID()
	if w.executors[fullID] == r {
		w.log.Info("Executor finished", "executor", fullID, "state", m.State, "message", deref(m.Message), "exitStatus", derefInt(m.ExitStatus))
		delete(w.executors, fullID)
		w.finishedExecutors = trimFinished(append(w.finishedExecutors, r), w.cfg.retainedExecutors)
		w.coresUsed -= r.cores
		w.memoryUsed -= r.memoryMB
		if w.cfg.cleanupAfterExit && w.shuffle != nil {
			svc, appID, execID := w.shuffle, r.appID, strconv.Itoa(r.execID)
			w.spawn(func() { svc.ExecutorRemoved(appID, execID) })
		}
	} else {
		w.log.Info("Unknown Executor finished", "executor", fullID, "state", m.State)
	}
	w.maybeCleanupApplication(r.appID)
}

// trimFinished drops the oldest max(n/10, 1) entries once there are more
// than retained.
func trimFinished[T any](list []T, retained int) []T {
	if len(list) > retained {
		drop := min(max(len(list)/10, 1), len(list))
		list = append(list[:0:0], list[drop:]...)
	}
	return list
}

// maybeCleanupApplication deletes a finished app's local dirs once none of
// its executors runs, and tells the shuffle service.
func (w *Worker) maybeCleanupApplication(appID string) {
	if !w.finishedApps[appID] {
		return
	}
	for _, r := range w.executors {
		if r.appID == appID {
			return
		}
	}
	delete(w.finishedApps, appID)
	dirs, ok := w.appDirs[appID]
	delete(w.appDirs, appID)
	svc := w.shuffle
	if !ok && svc == nil {
		return
	}
	w.log.Info("Cleaning up local directories for application", "app", appID)
	w.spawn(func() {
		for _, d := range dirs {
			if err := os.RemoveAll(d); err != nil {
				w.log.Error("Clean up app dir failed", "dir", d, "err", err)
			}
		}
		if svc != nil {
			svc.ApplicationRemoved(appID, true)
		}
	})
}

// ---- executor state sync (worker → master asks) ----

// syncItem is one ExecutorStateChanged for the master.
type syncItem struct {
	master *rpcenv.Ref
	msg    deploy.ExecutorStateChanged
}

// syncQueue feeds the goroutine that asks the master, one state at a
// time, so that the master sees an executor's states in order.
type syncQueue struct {
	mu    sync.Mutex // guards items
	items []syncItem
	ready chan struct{} // capacity 1: items is not empty
}

func (q *syncQueue) push(it syncItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *syncQueue) drain() []syncItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}

// syncExecutorState asks the master to take the state (Spark's
// syncExecutorStateWithMaster), from the sync goroutine.
func (w *Worker) syncExecutorState(m deploy.ExecutorStateChanged) {
	if w.master == nil {
		w.log.Warn("Dropping executor state because the connection to master has not yet been established",
			"executor", m.AppID+"/"+strconv.Itoa(m.ExecID), "state", m.State)
		return
	}
	w.syncq.push(syncItem{master: w.master, msg: m})
}

// syncLoop asks the master for each queued state in turn. A failed ask is
// retried by sending the state to the endpoint again, after askTimeout
// unless the failure was a timeout; after
// spark.worker.executorStateSync.maxAttempts failures the worker exits.
func (w *Worker) syncLoop() {
	failures := map[string]int{}
	askTimeout, _ := w.env.AskTimeout()
	for {
		select {
		case <-w.syncq.ready:
		case <-w.stop:
			return
		}
		for _, it := range w.syncq.drain() {
			_, err := it.master.Ask(w.ctx, it.msg)
			if w.ctx.Err() != nil {
				return
			}
			id := it.msg.AppID + "/" + strconv.Itoa(it.msg.ExecID)
			if err == nil {
				delete(failures, id)
				continue
			}
			n := failures[id] + 1
			if n >= w.cfg.syncMaxAttempts {
				delete(failures, id)
				w.log.Error("Failed to send executor state to Master; giving up", "executor", id, "state", it.msg.State,
					"attempts", n, "err", err)
				w.exit(1)
				continue
			}
			failures[id] = n
			w.log.Error("Failed to send executor state to Master, will retry", "executor", id, "state", it.msg.State,
				"attempt", n, "max", w.cfg.syncMaxAttempts, "err", err)
			var delay time.Duration
			var te interface{ Timeout() bool }
			if !errors.As(err, &te) || !te.Timeout() {
				delay = askTimeout
			}
			msg := it.msg
			w.spawn(func() {
				t := time.NewTimer(delay)
				defer t.Stop()
				select {
				case <-t.C:
					_ = w.self.Send(resyncExecutorState{msg: msg})
				case <-w.stop:
				}
			})
		}
	}
}

// ---- drivers ----

func (w *Worker) launchDriver(m deploy.LaunchDriver) {
	w.log.Info("Asked to launch driver", "driver", m.DriverID)
	if w.drivers[m.DriverID] != nil {
		w.log.Warn("Asked to launch a driver that runs already; ignored", "driver", m.DriverID)
		return
	}
	if err := validPathName(m.DriverID); err != nil {
		w.log.Error("Cannot launch driver", "driver", m.DriverID, "err", err)
		w.sendToMaster(deploy.DriverStateChanged{DriverID: m.DriverID, State: deploy.DriverError, Exception: ptr(err.Error())})
		return
	}
	d := &driverRunner{w: w, id: m.DriverID, desc: m.Desc, dir: filepath.Join(w.cfg.workDir, m.DriverID),
		state: deploy.DriverRunning, killCh: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(w.ctx)
	if !w.startRunner(d, d.run) {
		d.cancel()
		return
	}
	w.drivers[m.DriverID] = d
	w.coresUsed += m.Desc.Cores
	w.memoryUsed += m.Desc.MemoryMB
}

// driverStateChanged handles a driver's final state (Spark's
// handleDriverStateChanged).
func (w *Worker) driverStateChanged(d *driverRunner, m deploy.DriverStateChanged) {
	switch m.State {
	case deploy.DriverError:
		w.log.Warn("Driver failed with exception", "driver", m.DriverID, "exception", deref(m.Exception))
	case deploy.DriverFailed:
		w.log.Warn("Driver exited with failure", "driver", m.DriverID)
	case deploy.DriverFinished:
		w.log.Info("Driver exited successfully", "driver", m.DriverID)
	case deploy.DriverKilled:
		w.log.Info("Driver was killed by user", "driver", m.DriverID)
	default:
		w.log.Debug("Driver changed state", "driver", m.DriverID, "state", m.State)
	}
	w.sendToMaster(m)
	if w.drivers[m.DriverID] != d {
		return
	}
	delete(w.drivers, m.DriverID)
	d.state, d.exception = m.State, m.Exception
	w.finishedDrivers = trimFinished(append(w.finishedDrivers, d), w.cfg.retainedDrivers)
	w.coresUsed -= d.desc.Cores
	w.memoryUsed -= d.desc.MemoryMB
}

// ---- state ----

func (w *Worker) executorInfos() []executorInfo {
	var out []executorInfo
	add := func(r *executorRunner, finished bool) {
		out = append(out, executorInfo{AppID: r.appID, ExecID: r.execID, State: r.state, Message: r.message,
			ExitStatus: r.exitStatus, Finished: finished, PID: int(r.pid.Load())})
	}
	for _, r := range w.sortedExecutors() {
		add(r, false)
	}
	for _, r := range w.finishedExecutors {
		add(r, true)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
