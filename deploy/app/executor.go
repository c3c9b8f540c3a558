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
	"sync"
	"time"

	"github.com/ember-rpc/ember/internal/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// TaskContext describes the attempt a TaskFunc runs.
type TaskContext struct {
	TaskID     int64
	Index      int
	Attempt    int
	ExecutorID string
	AppID      string
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
	// Conf for the executor's env (nil: defaults); Logger (nil: stderr).
	Conf   *sparkconf.Conf
	Logger *slog.Logger
}

// ParseExecutorArgs reads --driver-url, --executor-id, --hostname, --cores
// and --app-id (the arguments NewDriver gives its executors).
func ParseExecutorArgs(args []string) (ExecutorArgs, error) {
	var a ExecutorArgs
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.DriverURL, "driver-url", "", "the driver's scheduler endpoint URI")
	fs.StringVar(&a.ExecutorID, "executor-id", "", "this executor's id")
	fs.StringVar(&a.Hostname, "hostname", "127.0.0.1", "host to bind and advertise")
	fs.IntVar(&a.Cores, "cores", 1, "task slots")
	fs.StringVar(&a.AppID, "app-id", "", "the application's id")
	if err := fs.Parse(args); err != nil {
		return a, fmt.Errorf("executor: %w", err)
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("executor: unexpected arguments %q", fs.Args())
	}
	if a.DriverURL == "" || a.ExecutorID == "" {
		return a, errors.New("executor: --driver-url and --executor-id are required")
	}
	if a.Cores < 1 {
		return a, fmt.Errorf("executor: --cores must be positive, got %d", a.Cores)
	}
	return a, nil
}

// ErrDriverLost is what RunExecutor returns when the driver's connection
// went away.
var ErrDriverLost = errors.New("app: driver disassociated, shutting down")

// RunExecutor runs an executor until the driver sends StopExecutor
// (returns nil) or goes away (returns ErrDriverLost): it registers with the
// driver, then runs each LaunchTask on one of Cores slots and reports a
// StatusUpdate.
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
	err = <-ex.done
	cancel()
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
		up = StatusUpdate{ExecutorID: ex.args.ExecutorID, TaskID: t.TaskID, State: TaskFailed, Error: err.Error()}
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
		ExecutorID: ex.args.ExecutorID, AppID: ex.args.AppID}, t.Input)
}
