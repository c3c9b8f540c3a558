package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
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
	// $SPARK_WORKER_DIR, else $EMBER_HOME/work, else ./work; never in
	// SPARK_HOME, the Spark distribution).
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
	// SparkHome is the Spark installation JVM executors and drivers run
	// from ($SPARK_HOME/jars, $SPARK_HOME/conf): "" means the key
	// spark.worker.ember.sparkHome (KeySparkHome), else $SPARK_HOME, else
	// the current directory, as Spark's worker. Go programs need none.
	SparkHome string
	// OnExit replaces os.Exit where Spark's worker exits: registration
	// given up, RegisterWorkerFailed before registering, executor state
	// sync given up. It is called at most once, possibly on the endpoint's
	// goroutine: it must not block, nor call Shutdown synchronously. Nil
	// means os.Exit.
	OnExit func(code int)
}

// Worker is the standalone worker daemon: the Worker endpoint on its own
// RPC env, its executor and driver runners, and the optional external
// shuffle service. Its decisions are taken by a Core, which the endpoint
// feeds with messages; Worker performs the Core's effects.
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

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	stop   chan struct{} // closed by Shutdown

	mu      sync.Mutex // guards closing, live, byID, and Add on wg and runners
	closing bool
	live    map[killer]struct{} // runners not yet finished
	byID    map[string]killer   // the live runner of each executor (app/exec) and driver id
	wg      sync.WaitGroup      // timers, state sync, cleanup
	runners sync.WaitGroup      // runner goroutines and their process reapers

	shutdownOnce sync.Once
	exitOnce     sync.Once
	registeredA  atomic.Bool // mirrors core.Registered() for Registered()
	syncq        syncQueue

	// Loop-owned: touched only by the endpoint's methods.
	core   *Core
	timers map[Timer]*repeater

	refusals *authority.Refusals // one line per peer per interval for refused messages
	names    *authority.Resolver // the masters' host names, resolved off the loop (CoreConfig.Names)
}

// killer is a runner: kill asks it to stop and does not wait.
type killer interface{ kill() }

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
		live: map[killer]struct{}{}, byID: map[string]killer{}, timers: map[Timer]*repeater{},
		refusals: authority.NewRefusals(), names: authority.NewResolver(nil, peerLookups)}
	// Protected mode (spark.ember.protectedMode) when spark.authenticate
	// is off: the worker and its shuffle service serve only this host.
	sec, err := auth.ProtectedMode(conf, "worker", opts.Host, log)
	if err != nil {
		return nil, err
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.syncq.ready = make(chan struct{}, 1)
	if cfg.shuffleEnabled {
		dbDir := ""
		if cfg.shuffleDBEnabled {
			dbDir = filepath.Join(cfg.workDir, shuffleDBDir)
		}
		// Executors' local dirs are made under the local roots; the work
		// dir is allowed too.
		roots := append(append([]string(nil), cfg.localRoots...), cfg.workDir)
		w.shuffle, err = shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: opts.Host, Port: -1, DBDir: dbDir, Logger: log,
			LocalDirRoots: roots, Bootstraps: sec.ShuffleBootstraps(log)})
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
		Port: opts.Port, Conf: conf, Logger: log, ServerBootstraps: sec.Bootstraps})
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
	w.log = log.With("worker", w.id)
	w.core = NewCore(CoreConfig{ID: w.id, Host: w.host, Port: w.port, WebUIURL: w.webUIURL, Cores: cfg.cores,
		MemoryMB: cfg.memoryMB, Resources: cfg.resources, WorkDir: cfg.workDir, Masters: cfg.masters,
		InitialInterval: cfg.scaledInterval(math.Round(10 * fuzz)), ProlongedInterval: cfg.scaledInterval(math.Round(60 * fuzz)),
		InitialRetries: cfg.initialRetries, MaxRetries: cfg.maxRetries, PreferConfiguredMaster: cfg.preferConfiguredMaster,
		HeartbeatInterval: cfg.heartbeatInterval(), CleanupEnabled: cfg.cleanupEnabled, CleanupInterval: cfg.cleanupInterval,
		ExecutorFilesCleanup: cfg.cleanupAfterExit && w.shuffle != nil, ShuffleService: w.shuffle != nil,
		RetainedExecutors: cfg.retainedExecutors, RetainedDrivers: cfg.retainedDrivers, Redact: cfg.redact, Logger: w.log,
		Names: w.names},
		(*effects)(w))
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

// SparkHome returns the Spark installation JVM children run from.
func (w *Worker) SparkHome() string { return w.cfg.sparkHome }

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
		live := make([]killer, 0, len(w.live))
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
		w.names.Close()
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

// startRunner runs a runner's goroutine under id; Shutdown kills it and
// waits.
func (w *Worker) startRunner(id string, r killer, run func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.live[r] = struct{}{}
	w.byID[id] = r
	w.runners.Add(1)
	go func() {
		defer w.runners.Done()
		defer func() {
			w.mu.Lock()
			delete(w.live, r)
			if w.byID[id] == r {
				delete(w.byID, id)
			}
			w.mu.Unlock()
		}()
		run()
	}()
	return true
}

// killRunner asks the live runner of id to stop.
func (w *Worker) killRunner(id string) {
	w.mu.Lock()
	r := w.byID[id]
	w.mu.Unlock()
	if r != nil {
		r.kill()
	}
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
