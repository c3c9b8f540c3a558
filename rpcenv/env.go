package rpcenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"go.uber.org/atomic"
)

// Config says how to create an Env (Spark's RpcEnvConfig).
type Config struct {
	// Name is the env's system name (sparkMaster, sparkWorker1, ...).
	Name string
	// BindHost is the address to listen on; AdvertiseHost is the one peers
	// are told (default BindHost).
	BindHost      string
	AdvertiseHost string
	// Port to listen on; 0 picks a free one. Taken ports are retried up to
	// spark.port.maxRetries times with the next port.
	Port int
	// Conf holds the spark.* properties (nil: all defaults).
	Conf *sparkconf.Conf
	// NumUsableCores sizes thread pools (0: the machine's cores).
	NumUsableCores int
	// ClientMode makes an env with no server: it only connects out.
	ClientMode bool
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// ClientBootstraps and ServerBootstraps run on every new connection
	// (authentication).
	ClientBootstraps []netpoll.ClientBootstrap
	ServerBootstraps []netpoll.ServerBootstrap
	// TLS, when set, is the env's TLS instead of spark.ssl.rpc.*
	// (netpoll.NewTLS makes one from crypto/tls configurations).
	TLS *netpoll.TLS
}

// Env is an RPC environment (Spark's NettyRpcEnv): endpoints registered by
// name, refs to local and remote endpoints, and the transport under them.
type Env struct {
	name string
	conf *sparkconf.Conf
	addr Address // advertised; zero in client mode
	log  *slog.Logger
	// warnings rate-limits the env's repeated warnings (refused Java
	// content, a peer's bad messages, endpoint errors), each under its own
	// key: one line per key per minute, with a count of what it held back.
	warnings *ratelog.Limiter

	tctx    *netpoll.Context
	sec     *auth.Setup // authentication and TLS from the conf
	server  *netpoll.Server
	factory *netpoll.ClientFactory
	files   *fileServer
	dl      *downloader

	askTimeout    timeoutSpec
	lookupTimeout timeoutSpec

	mu        sync.RWMutex // guards endpoints, refs, dedicated
	endpoints map[string]*endpointData
	refs      map[Endpoint]*Ref
	dedicated []*messageLoop
	stopped   atomic.Bool
	shared    *messageLoop

	outMu     sync.Mutex // guards outboxes and outClosed
	outClosed bool       // set first thing in Shutdown: no new outbox or connect
	outboxes  map[Address]*outbox
	connSem   chan struct{} // bounds concurrent connects (spark.rpc.connect.threads)
	connWg    sync.WaitGroup

	handler *rpcHandler

	shutdownOnce sync.Once
	terminated   chan struct{}
}

// VerifierName is the name of the endpoint every listening env has for
// lookups (CheckExistence).
const VerifierName = "endpoint-verifier"

// Create makes an env: binds the server (with Spark's port retry) unless in
// client mode, and registers the endpoint verifier.
func Create(cfg Config) (*Env, error) {
	conf := cfg.Conf
	if conf == nil {
		conf = sparkconf.New()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Env{
		name:       cfg.Name,
		conf:       conf,
		log:        log.With("env", cfg.Name),
		warnings:   ratelog.New(time.Minute, 1024),
		endpoints:  make(map[string]*endpointData),
		refs:       make(map[Endpoint]*Ref),
		outboxes:   make(map[Address]*outbox),
		terminated: make(chan struct{}),
	}
	var err error
	if e.askTimeout, err = readTimeout(conf, "spark.rpc.askTimeout", "spark.network.timeout"); err != nil {
		return nil, err
	}
	if e.lookupTimeout, err = readTimeout(conf, "spark.rpc.lookupTimeout", "spark.network.timeout"); err != nil {
		return nil, err
	}
	connThreads, err := conf.GetInt("spark.rpc.connect.threads", 64)
	if err != nil {
		return nil, err
	}
	e.connSem = make(chan struct{}, max(1, connThreads))

	cores := cfg.NumUsableCores
	if v, ok := conf.Get("spark.rpc.io.threads"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			cores = n
		}
	}
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	role := ""
	if id, ok := conf.Get("spark.executor.id"); ok {
		role = "executor"
		if id == "driver" {
			role = "driver"
		}
	}
	tconf, err := netpoll.NewConf("rpc", conf, role)
	if err != nil {
		return nil, err
	}
	tconf.NumConnectionsPerPeer = 1 // the RPC env uses one connection per peer
	if _, _, set := conf.ModuleLookup(role, "rpc", "serverThreads"); !set {
		tconf.ServerThreads = min(cores, 8)
	}
	if _, _, set := conf.ModuleLookup(role, "rpc", "clientThreads"); !set {
		tconf.ClientThreads = min(cores, 8)
	}
	threads, err := dispatcherThreads(e, cores)
	if err != nil {
		return nil, err
	}
	e.shared = newMessageLoop(threads, 1<<12)
	e.handler = &rpcHandler{env: e, remoteAddrs: make(map[string]peerAddrs)}
	e.files = newFileServer()
	// spark.authenticate and spark.ssl.rpc.*: RPC-env connections
	// authenticate as the SASL user, whatever the app.
	sec, err := auth.Configure(conf, "rpc", auth.SaslUser, e.log)
	if err != nil {
		e.shared.stop()
		return nil, fmt.Errorf("rpcenv: %w", err)
	}
	e.sec = sec
	if cfg.ClientBootstraps == nil {
		cfg.ClientBootstraps = sec.Client
	}
	if cfg.ServerBootstraps == nil {
		cfg.ServerBootstraps = sec.Server
	}
	topts := append(sec.ContextOptions(), netpoll.WithLogger(e.log))
	if cfg.TLS != nil {
		topts = append(topts, netpoll.WithTLS(cfg.TLS)) // applied last: wins
	}
	e.tctx = netpoll.NewContext(tconf, e.handler, topts...)
	e.factory = e.tctx.NewClientFactory(cfg.ClientBootstraps...)

	if !cfg.ClientMode {
		host := cfg.BindHost
		if host == "" {
			host = "0.0.0.0"
		}
		if err := e.startServer(host, cfg.Port, cfg.ServerBootstraps); err != nil {
			e.shared.stop()
			e.factory.Close()
			e.tctx.Close()
			return nil, err
		}
		adv := cfg.AdvertiseHost
		if adv == "" {
			adv = cfg.BindHost
		}
		if adv == "" || adv == "0.0.0.0" {
			adv = "127.0.0.1"
		}
		e.addr = NewAddress(adv, e.server.Port())
		if _, err := e.SetupEndpoint(VerifierName, &verifier{env: e}); err != nil {
			e.Shutdown()
			return nil, err
		}
	}
	if e.dl, err = newDownloader(e, conf); err != nil {
		e.Shutdown()
		return nil, err
	}
	return e, nil
}

// startServer binds with Spark's retry rule: on a taken port try
// ((port + k - 1024) % (65536 - 1024)) + 1024 for k = 1..maxRetries.
func (e *Env) startServer(host string, port int, bootstraps []netpoll.ServerBootstrap) error {
	if port != 0 && (port < 1024 || port > 65535) {
		return fmt.Errorf("rpcenv: port %d must be 0 or between 1024 and 65535", port)
	}
	def := 16
	if e.conf.Contains("spark.testing") {
		def = 100
	}
	retries, err := e.conf.GetInt("spark.port.maxRetries", def)
	if err != nil {
		return err
	}
	var last error
	for k := 0; k <= retries; k++ {
		try := port
		if port != 0 && k > 0 {
			try = ((port + k - 1024) % (65536 - 1024)) + 1024
		}
		srv, err := e.tctx.NewServer(host, try, bootstraps...)
		if err == nil {
			e.server = srv
			if k > 0 {
				e.log.Info("bound to another port", "wanted", port, "port", try)
			}
			return nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("rpcenv: cannot listen on %s: %w", net.JoinHostPort(host, strconv.Itoa(try)), err)
		}
	}
	if port == 0 {
		return fmt.Errorf("rpcenv: could not bind on a random free port after %d retries (check the bind address %q): %w", retries, host, last)
	}
	return fmt.Errorf("rpcenv: could not bind %s:%d after %d retries; consider raising spark.port.maxRetries: %w", host, port, retries, last)
}

// Name returns the env's system name.
func (e *Env) Name() string { return e.name }

// Address returns the advertised address (zero in client mode).
func (e *Env) Address() Address { return e.addr }

// Conf returns the env's configuration.
func (e *Env) Conf() *sparkconf.Conf { return e.conf }

// SetupEndpoint registers ep under name and returns its ref. OnStart runs
// before any message.
func (e *Env) SetupEndpoint(name string, ep Endpoint, opts ...EndpointOption) (*Ref, error) {
	var o endpointOpts
	if v, ok := e.conf.Get("spark.rpc.ember.inboxCapacity"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("rpcenv: spark.rpc.ember.inboxCapacity: bad value %q", v)
		}
		o.inboxCapacity = n
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return e.register(name, ep, o)
}

// EndpointRef returns the ref of a registered endpoint: its "self". It is
// nil before registration and after OnStop.
func (e *Env) EndpointRef(ep Endpoint) *Ref {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.refs[ep]
}

// Stop unregisters the endpoint of ref: OnStop is queued last and the name
// is free at once. Stopping twice is harmless.
func (e *Env) Stop(ref *Ref) {
	if ref == nil || ref.client != nil || ref.addr.Addr != e.addr {
		return // not an endpoint of this env
	}
	e.unregister(ref.addr.Name)
}

// SetupEndpointRef returns a verified ref to the endpoint name at addr.
func (e *Env) SetupEndpointRef(addr Address, name string) (*Ref, error) {
	return e.SetupEndpointRefByURI(EndpointAddress{Addr: addr, Name: name}.String())
}

// SetupEndpointRefByURI returns a verified ref for spark://name@host:port:
// it asks the remote endpoint-verifier (within spark.rpc.lookupTimeout)
// whether name exists.
func (e *Env) SetupEndpointRefByURI(uri string) (*Ref, error) {
	return e.SetupEndpointRefByURIContext(context.Background(), uri)
}

// Shutdown stops the env (idempotent): outboxes, endpoints (each gets
// OnStop, but no disconnect events), loops, server, clients. It waits for
// all of it; ShutdownContext bounds the wait.
func (e *Env) Shutdown() {
	e.shutdownOnce.Do(func() {
		e.outMu.Lock()
		e.outClosed = true
		boxes := make([]*outbox, 0, len(e.outboxes))
		for _, o := range e.outboxes {
			boxes = append(boxes, o)
		}
		e.outboxes = map[Address]*outbox{}
		e.outMu.Unlock()
		for _, o := range boxes {
			o.stop()
		}
		e.stopDispatcher()
		if e.server != nil {
			e.server.Close()
		}
		e.factory.Close()
		e.connWg.Wait()
		if e.dl != nil {
			e.dl.close()
		}
		e.tctx.Close()
		close(e.terminated)
	})
}

// AwaitTermination blocks until Shutdown has finished.
func (e *Env) AwaitTermination() { <-e.terminated }

// timeoutSpec is a timeout and the configuration key that controls it.
type timeoutSpec struct {
	d   time.Duration
	key string
}

// readTimeout resolves a timeout from a list of keys: the first key set
// wins and is the one named in timeout errors; with none set, 120s under the
// first key's name.
func readTimeout(conf *sparkconf.Conf, keys ...string) (timeoutSpec, error) {
	if k, v, ok := conf.FirstSet(keys...); ok {
		d, err := sparkconf.ParseDuration(v, time.Second)
		if err != nil {
			return timeoutSpec{}, fmt.Errorf("rpcenv: %s: %w", k, err)
		}
		return timeoutSpec{d: d, key: k}, nil
	}
	return timeoutSpec{d: 120 * time.Second, key: keys[0]}, nil
}

// AskTimeout returns the default ask timeout and its key.
func (e *Env) AskTimeout() (time.Duration, string) { return e.askTimeout.d, e.askTimeout.key }

// verifier answers CheckExistence.
type verifier struct {
	BaseEndpoint
	env *Env
}

func (v *verifier) ReceiveAndReply(msg any, cc CallContext) error {
	if c, ok := msg.(checkExistence); ok {
		cc.Reply(v.env.verify(c.Name))
		return nil
	}
	return unsupportedf("endpoint-verifier: %T", msg)
}

// RefFor returns a ref to addr without asking the remote env whether the
// endpoint exists (what a ref read back from persisted state is).
func (e *Env) RefFor(addr EndpointAddress) *Ref { return &Ref{env: e, addr: addr} }
