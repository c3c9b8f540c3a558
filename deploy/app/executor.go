package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// TaskContext describes the attempt a TaskFunc runs.
type TaskContext struct {
	TaskID     int64
	Index      int
	Attempt    int
	ExecutorID string
	AppID      string
	// Conf is the executor's startup configuration (spark.authenticate,
	// spark.rpc.*, ...; the secret itself comes from _SPARK_AUTH_SECRET).
	// Tasks that open connections (shuffle clients) pass it on. May be nil.
	Conf *sparkconf.Conf
}

// TaskFunc runs one task: input in, output out. ctx ends when the
// executor stops.
type TaskFunc func(ctx context.Context, tc TaskContext, input []byte) ([]byte, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]TaskFunc{}
)

// RegisterTask adds a task kind to the process-wide registry the executor
// looks kinds up in. It panics on an empty kind, a nil fn, or a kind
// registered twice (like flag and http.Handle).
func RegisterTask(kind string, fn TaskFunc) {
	if kind == "" || fn == nil {
		panic("app: RegisterTask needs a kind and a function")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("app: task kind registered twice: " + kind)
	}
	registry[kind] = fn
}

// TaskKinds lists the registered kinds, sorted.
func TaskKinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookupTask(kind string) TaskFunc {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[kind]
}

// ExecutorArgs are an executor's command-line arguments.
type ExecutorArgs struct {
	DriverURL  string // spark://CoarseGrainedScheduler@host:port
	ExecutorID string
	Hostname   string
	Cores      int
	AppID      string
	// WorkerURL is the worker that started the executor
	// (spark://Worker@host:port; "" for none): the executor exits when it
	// loses its connection to it (Spark's WorkerWatcher).
	WorkerURL string
	// HeartbeatInterval is how often the executor sends the driver a
	// Heartbeat (0: Conf's spark.executor.heartbeatInterval, default 10s).
	HeartbeatInterval time.Duration
	// Conf for the executor's env (nil: defaults); Logger (nil: stderr).
	// With spark.authenticate the secret comes from the environment
	// (_SPARK_AUTH_SECRET, set by the worker), never from the arguments.
	Conf   *sparkconf.Conf
	Logger *slog.Logger
}

// ParseExecutorArgs reads --driver-url, --executor-id, --hostname, --cores,
// --app-id and the optional --worker-url, --heartbeat-interval (a
// duration, bare numbers in ms) and repeated --conf key=value (the
// driver's executor startup settings, see NewDriver, into Conf) — the
// arguments NewDriver gives its executors.
func ParseExecutorArgs(args []string) (ExecutorArgs, error) {
	var a ExecutorArgs
	var hb string
	var confs []string
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	fs.Func("conf", "a spark.* setting key=value (repeatable)", func(kv string) error {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "spark.") {
			return fmt.Errorf("bad --conf %q: want spark.key=value", kv)
		}
		confs = append(confs, kv)
		return nil
	})
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.DriverURL, "driver-url", "", "the driver's scheduler endpoint URI")
	fs.StringVar(&a.ExecutorID, "executor-id", "", "this executor's id")
	fs.StringVar(&a.Hostname, "hostname", "127.0.0.1", "host to bind and advertise")
	fs.IntVar(&a.Cores, "cores", 1, "task slots")
	fs.StringVar(&a.AppID, "app-id", "", "the application's id")
	fs.StringVar(&a.WorkerURL, "worker-url", "", "the worker to watch: exit when it goes away")
	fs.StringVar(&hb, "heartbeat-interval", "", "how often to send the driver a heartbeat (default 10s)")
	if err := fs.Parse(args); err != nil {
		return a, fmt.Errorf("executor: %w", err)
	}
	if hb != "" {
		d, err := sparkconf.ParseDuration(hb, time.Millisecond)
		if err != nil {
			return a, fmt.Errorf("executor: --heartbeat-interval: %w", err)
		}
		if d <= 0 {
			return a, fmt.Errorf("executor: --heartbeat-interval must be positive, got %q", hb)
		}
		a.HeartbeatInterval = d
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("executor: unexpected arguments %q", fs.Args())
	}
	if a.DriverURL == "" || a.ExecutorID == "" {
		return a, errors.New("executor: --driver-url and --executor-id are required")
	}
	if len(confs) > 0 {
		a.Conf = sparkconf.New()
		for _, kv := range confs {
			k, v, _ := strings.Cut(kv, "=")
			a.Conf.Set(k, v)
		}
	}
	if a.Cores < 1 {
		return a, fmt.Errorf("executor: --cores must be positive, got %d", a.Cores)
	}
	return a, nil
}

// ErrDriverLost is what RunExecutor returns when the driver's connection
// went away.
var ErrDriverLost = errors.New("app: driver disassociated, shutting down")

// ErrWorkerLost is what RunExecutor returns when it cannot connect to
// its worker (ExecutorArgs.WorkerURL) or the connection went away.
var ErrWorkerLost = errors.New("app: lost the connection to the worker, shutting down")

// WorkerWatcherEndpoint is the name of the executor's endpoint that
// watches its worker's connection.
const WorkerWatcherEndpoint = "WorkerWatcher"

// RunExecutor runs an executor until the driver sends StopExecutor
// (returns nil), the driver goes away (returns ErrDriverLost) or its worker
// does (returns ErrWorkerLost): it connects to the worker when WorkerURL
// is set, registers with the driver, sends it a Heartbeat every
// HeartbeatInterval, runs each LaunchTask on one of Cores slots and
// reports a StatusUpdate.
func RunExecutor(a ExecutorArgs) error {
	if a.Cores < 1 {
		a.Cores = 1
	}
	log := a.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	log = log.With("executor", a.ExecutorID, "app", a.AppID)
	driverAddr, err := rpcenv.ParseEndpointURI(a.DriverURL)
	if err != nil {
		return err
	}
	hbInterval := a.HeartbeatInterval
	if hbInterval <= 0 {
		hbInterval = 10 * time.Second
		if a.Conf != nil {
			if hbInterval, err = a.Conf.GetDuration("spark.executor.heartbeatInterval", hbInterval, time.Millisecond); err != nil {
				return err
			}
			if hbInterval <= 0 {
				return fmt.Errorf("executor: spark.executor.heartbeatInterval must be positive, got %v", hbInterval)
			}
		}
	}
	var workerAddr rpcenv.EndpointAddress
	if a.WorkerURL != "" {
		if workerAddr, err = rpcenv.ParseEndpointURI(a.WorkerURL); err != nil {
			return fmt.Errorf("%w: bad worker URL %q: %v", ErrWorkerLost, a.WorkerURL, err)
		}
	}
	host := a.Hostname
	if host == "" {
		host = "127.0.0.1"
	}
	env, err := rpcenv.Create(rpcenv.Config{Name: "sparkExecutor", BindHost: host, Port: 0, Conf: a.Conf, Logger: log})
	if err != nil {
		return err
	}
	defer env.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ex := &executor{args: a, log: log, ctx: ctx, slots: make(chan struct{}, a.Cores),
		driverAddr: driverAddr.Addr, done: make(chan error, 1)}
	self, err := env.SetupEndpoint(ExecutorEndpoint, ex)
	if err != nil {
		return err
	}
	if a.WorkerURL != "" {
		// The watcher gets the env's connection events; the verified ref
		// opens the connection to the worker whose loss it watches for.
		w := &workerWatcher{worker: workerAddr.Addr, url: a.WorkerURL, log: log, lost: ex.finish}
		if _, err := env.SetupEndpoint(WorkerWatcherEndpoint, w); err != nil {
			return err
		}
		if _, err := env.SetupEndpointRefByURI(a.WorkerURL); err != nil {
			log.Error("Cannot connect to the worker, shutting down.", "worker", a.WorkerURL, "err", err)
			return fmt.Errorf("%w: cannot reach the worker at %s: %v", ErrWorkerLost, a.WorkerURL, err)
		}
		log.Info("Connected to the worker", "worker", a.WorkerURL)
	}
	var driver *rpcenv.Ref
	for attempt := 1; ; attempt++ {
		driver, err = env.SetupEndpointRefByURI(a.DriverURL)
		if err == nil {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("executor: cannot reach the driver at %s: %w", a.DriverURL, err)
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
	ex.mu.Lock()
	ex.driver = driver
	ex.mu.Unlock()
	ok, err := rpcenv.Ask[bool](ctx, driver, RegisterExecutor{ID: a.ExecutorID, Host: host, Cores: a.Cores, Executor: self})
	if err != nil {
		return fmt.Errorf("executor: registering with the driver: %w", err)
	}
	if !ok {
		return fmt.Errorf("executor: the driver refused executor id %s", a.ExecutorID)
	}
	log.Info("registered with the driver", "driver", a.DriverURL, "cores", a.Cores)
	hbDone := make(chan struct{})
	go ex.heartbeats(driver, hbInterval, hbDone)
	err = <-ex.done
	cancel()
	<-hbDone
	waited := make(chan struct{})
	go func() { ex.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		log.Warn("tasks still running at exit")
	}
	return err
}

// executor is the Executor endpoint.
type executor struct {
	args       ExecutorArgs
	log        *slog.Logger
	ctx        context.Context
	slots      chan struct{}
	driverAddr rpcenv.Address
	done       chan error
	doneOnce   sync.Once
	wg         sync.WaitGroup

	mu     sync.Mutex
	driver *rpcenv.Ref
}

func (ex *executor) finish(err error) { ex.doneOnce.Do(func() { ex.done <- err }) }

// heartbeats sends the driver a Heartbeat every interval until ex.ctx ends.
func (ex *executor) heartbeats(driver *rpcenv.Ref, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ex.ctx.Done():
			return
		case <-t.C:
		}
		if err := driver.Send(Heartbeat{ExecutorID: ex.args.ExecutorID}); err != nil {
			ex.log.Warn("sending a heartbeat failed", "err", err)
		}
	}
}

// workerWatcher ends the executor when the connection to its worker goes
// away (Spark's WorkerWatcher).
type workerWatcher struct {
	rpcenv.BaseEndpoint
	worker rpcenv.Address
	url    string
	log    *slog.Logger
	lost   func(error)
}

func (w *workerWatcher) OnDisconnected(addr rpcenv.Address) {
	if addr == w.worker {
		w.log.Error("Lost connection to worker endpoint. Shutting down.", "worker", w.url)
		w.lost(ErrWorkerLost)
	}
}

func (w *workerWatcher) OnNetworkError(err error, addr rpcenv.Address) {
	if addr == w.worker {
		w.log.Error("Could not reach the worker. Shutting down.", "worker", w.url, "err", err)
		w.lost(ErrWorkerLost)
	}
}

func (ex *executor) OnDisconnected(addr rpcenv.Address) {
	if addr == ex.driverAddr {
		ex.log.Error("Driver disassociated! Shutting down.", "driver", addr.String())
		ex.finish(ErrDriverLost)
	}
}

func (ex *executor) Receive(msg any, sender rpcenv.Address) error {
	switch x := msg.(type) {
	case LaunchTask:
		ex.wg.Add(1)
		go ex.run(x)
	case StopExecutor:
		ex.log.Info("Driver commanded a shutdown")
		ex.finish(nil)
	default:
		return fmt.Errorf("%w: executor got %T from %s", rpcenv.ErrUnsupported, msg, sender)
	}
	return nil
}

func (ex *executor) ReceiveAndReply(msg any, _ rpcenv.CallContext) error {
	return fmt.Errorf("%w: executor got ask %T", rpcenv.ErrUnsupported, msg)
}

func (ex *executor) run(t LaunchTask) {
	defer ex.wg.Done()
	select {
	case ex.slots <- struct{}{}:
	case <-ex.ctx.Done():
		return
	}
	defer func() { <-ex.slots }()
	out, err := ex.call(t)
	up := StatusUpdate{ExecutorID: ex.args.ExecutorID, TaskID: t.TaskID, State: TaskFinished, Output: out}
	if err != nil {
		up = StatusUpdate{ExecutorID: ex.args.ExecutorID, TaskID: t.TaskID, State: TaskFailed, Error: err.Error(),
			Permanent: IsPermanent(err)}
	}
	ex.mu.Lock()
	d := ex.driver
	ex.mu.Unlock()
	if d == nil {
		return
	}
	if err := d.Send(up); err != nil {
		ex.log.Warn("sending a status update failed", "task", t.TaskID, "err", err)
	}
}

func (ex *executor) call(t LaunchTask) (out []byte, err error) {
	fn := lookupTask(t.Kind)
	if fn == nil {
		return nil, fmt.Errorf("unknown task kind %q (registered: %q)", t.Kind, TaskKinds())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(ex.ctx, TaskContext{TaskID: t.TaskID, Index: t.Index, Attempt: t.Attempt,
		ExecutorID: ex.args.ExecutorID, AppID: ex.args.AppID, Conf: ex.args.Conf}, t.Input)
}
