// Package client is the driver side of the standalone cluster: Spark's
// StandaloneAppClient. It registers an application with the masters,
// retries while none answers, and turns the master's messages about the
// application (executors added and removed, workers lost, master changes,
// the application's removal) into calls on a Listener.
//
// The driver's env must listen (server mode): the master keys applications
// by the address of the driver's env, and sends to it.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/rpcenv"
)

// Listener hears about the application (Spark's
// StandaloneAppClientListener). Its methods run on the client's endpoint
// loop, one at a time; they must not block for long.
type Listener interface {
	// Connected: the master accepted the application.
	Connected(appID string)
	// Disconnected: the connection to the current master was lost (called
	// once until a new master takes over).
	Disconnected()
	// Dead: the application cannot run any more (no master answered, or
	// the master removed it).
	Dead(reason string)
	// ExecutorAdded: the master granted an executor ("<appId>/<execId>").
	ExecutorAdded(fullID, workerID, hostPort string, cores, memoryMB int)
	// ExecutorRemoved: an executor ended (killed, exited, lost, failed).
	ExecutorRemoved(fullID, message string, exitStatus *int, workerHost *string)
	// ExecutorDecommissioned: an executor is being decommissioned.
	ExecutorDecommissioned(fullID, message string)
	// WorkerRemoved: a worker was lost.
	WorkerRemoved(workerID, host, message string)
}

// NopListener implements every Listener method as a no-op; embed it to
// implement only some.
type NopListener struct{}

func (NopListener) Connected(string)                               {}
func (NopListener) Disconnected()                                  {}
func (NopListener) Dead(string)                                    {}
func (NopListener) ExecutorAdded(string, string, string, int, int) {}
func (NopListener) ExecutorRemoved(string, string, *int, *string)  {}
func (NopListener) ExecutorDecommissioned(string, string)          {}
func (NopListener) WorkerRemoved(string, string, string)           {}

// Spark's constants.
const (
	// DefaultRegistrationTimeout is the wait between registration attempts.
	DefaultRegistrationTimeout = 20 * time.Second
	// DefaultRegistrationRetries is the number of attempts in total.
	DefaultRegistrationRetries = 3
	// UnresponsiveMessage is the reason given to Dead when no master answered.
	UnresponsiveMessage = "All masters are unresponsive! Giving up."
)

// Options tune the client; the zero value is Spark's behaviour.
type Options struct {
	// RegistrationTimeout is the wait between registration attempts
	// (default 20 s; tests shorten it).
	RegistrationTimeout time.Duration
	// RegistrationRetries is the number of attempts before giving up
	// (default 3).
	RegistrationRetries int
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// LookupHost resolves the masters' host names, off the endpoint's
	// loop (nil: the system resolver).
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

// ErrNotServerMode is returned by Start for an env that does not listen.
var ErrNotServerMode = errors.New("client: the driver's env must listen (server mode): the master keys applications by its address")

// AppClient is a running StandaloneAppClient.
type AppClient struct {
	env     *rpcenv.Env
	masters []rpcenv.Address
	desc    deploy.ApplicationDescription
	l       Listener
	opts    Options
	log     *slog.Logger
	self    *rpcenv.Ref

	mu     sync.Mutex // guards appID and master
	appID  string
	master *rpcenv.Ref

	stopCh   chan struct{}
	stopOnce sync.Once
	spawnMu  sync.Mutex     // orders spawn against Stop's close of stopCh
	wg       sync.WaitGroup // the registration timer goroutine and lookups

	// Endpoint-loop-owned.
	registered          bool
	alreadyDead         bool
	alreadyDisconnected bool
	stopped             bool
	refusals            map[int]int         // attempt → masters that refused our authentication
	refused             *authority.Refusals // one line per peer host per interval for refused messages
	masterConn          rpcenv.Conn         // the connection the current master's last word came over

	names *authority.Resolver // the masters' host names, resolved off the loop; closed by Stop
}

// Start registers the "AppClient" endpoint in env; its OnStart begins the
// registration with every master (masterURLs are spark://host:port, each
// possibly a comma-separated list).
func Start(env *rpcenv.Env, masterURLs []string, desc deploy.ApplicationDescription, l Listener, opts Options) (*AppClient, error) {
	if env == nil || env.Address().IsZero() {
		return nil, ErrNotServerMode
	}
	if l == nil {
		l = NopListener{}
	}
	if opts.RegistrationTimeout <= 0 {
		opts.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if opts.RegistrationRetries <= 0 {
		opts.RegistrationRetries = DefaultRegistrationRetries
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	masters, err := ParseMasterURLs(masterURLs)
	if err != nil {
		return nil, err
	}
	c := &AppClient{env: env, masters: masters, desc: desc, l: l, opts: opts,
		log: log.With("component", "appclient"), stopCh: make(chan struct{}), refusals: map[int]int{},
		refused: authority.NewRefusals(), names: authority.NewResolver(opts.LookupHost, 0)}
	for _, m := range masters {
		c.names.Trust(m.Host)
	}
	c.self = env.RefFor(rpcenv.EndpointAddress{Addr: env.Address(), Name: deploy.AppClientEndpoint})
	if _, err := env.SetupEndpoint(deploy.AppClientEndpoint, &endpoint{c: c}); err != nil {
		c.names.Close()
		return nil, err
	}
	return c, nil
}

// ParseMasterURLs reads spark://h:p URLs, each possibly listing several
// masters (spark://h1:p1,h2:p2).
func ParseMasterURLs(urls []string) ([]rpcenv.Address, error) {
	var out []rpcenv.Address
	for _, u := range urls {
		rest, ok := cutPrefix(u, "spark://")
		if !ok {
			return nil, fmt.Errorf("client: invalid master URL %q (want spark://host:port)", u)
		}
		for _, hp := range splitComma(rest) {
			a, err := rpcenv.ParseSparkURL("spark://" + hp)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("client: no master URL")
	}
	return out, nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// AppID returns the application's id ("" before registration).
func (c *AppClient) AppID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appID
}

// Master returns the ref of the master the application is registered
// with (nil before registration).
func (c *AppClient) Master() *rpcenv.Ref {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.master
}

func (c *AppClient) current() (string, *rpcenv.Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appID, c.master
}

// RequestTotalExecutors asks the master for a total of n executors. It
// returns false (and no error) when no master has accepted the
// application yet.
func (c *AppClient) RequestTotalExecutors(ctx context.Context, n int) (bool, error) {
	id, m := c.current()
	if m == nil {
		c.log.Warn("Attempted to request executors before registering with Master.")
		return false, nil
	}
	return rpcenv.Ask[bool](ctx, m, deploy.RequestExecutors{AppID: id, RequestedTotal: n})
}

// KillExecutors asks the master to kill executors (ids without the app
// prefix). It returns false (and no error) before registration.
func (c *AppClient) KillExecutors(ctx context.Context, ids []string) (bool, error) {
	id, m := c.current()
	if m == nil {
		c.log.Warn("Attempted to kill executors before registering with Master.")
		return false, nil
	}
	return rpcenv.Ask[bool](ctx, m, deploy.KillExecutors{AppID: id, ExecutorIDs: ids})
}

// Stop unregisters the application (if registered) and stops the
// endpoint. It is idempotent; it does not shut the env down.
func (c *AppClient) Stop() {
	c.stopOnce.Do(func() {
		if _, err := c.self.AskTimeout(stopAppClient{}, 30*time.Second); err != nil &&
			!errors.Is(err, rpcenv.ErrEndpointNotFound) && !errors.Is(err, rpcenv.ErrEndpointStopped) &&
			!errors.Is(err, rpcenv.ErrEnvStopped) {
			c.log.Warn("stopping the app client", "err", err)
		}
		c.env.Stop(c.self)
		c.spawnMu.Lock()
		close(c.stopCh)
		c.spawnMu.Unlock()
		c.wg.Wait()
		c.names.Close()
	})
}

// ---- the endpoint ----

// Self messages.
type (
	registerAttempt struct{ n int }
	// authRefused: attempt n could not reach the master at addr because
	// the connection's authentication handshake failed.
	authRefused struct {
		n    int
		addr rpcenv.Address
		err  error
	}
	stopAppClient struct{}
)

type endpoint struct{ c *AppClient }

func (e *endpoint) OnStart() error {
	e.c.tryRegisterAllMasters(1)
	return nil
}

func (e *endpoint) OnStop() {}

func (e *endpoint) OnError(err error) { e.c.log.Warn("app client endpoint error", "err", err) }

func (e *endpoint) OnDisconnected(addr rpcenv.Address) {
	c := e.c
	_, m := c.current()
	if m != nil && m.Address().Addr == addr {
		c.log.Warn("Connection to master has been lost", "master", addr.String())
		c.markDisconnected()
	}
}

// Receive handles a one-way message that came over no known connection.
func (e *endpoint) Receive(msg any, sender rpcenv.Address) error {
	return e.ReceiveOver(msg, sender, rpcenv.Conn{})
}

// ReceiveOver handles one-way messages. ApplicationRemoved is obeyed only
// from the current master and MasterChanged only from a configured one
// (fromMaster); a refusal is one rate-limited log line.
func (e *endpoint) ReceiveOver(msg any, sender rpcenv.Address, conn rpcenv.Conn) error {
	c := e.c
	if err := c.admit(msg, sender, conn); err != nil {
		c.refused.Refuse(c.log, sender, conn, msg, err)
		return nil
	}
	switch x := msg.(type) {
	case registerAttempt:
		if c.registered || c.stopped {
			return nil
		}
		if x.n > c.opts.RegistrationRetries {
			c.markDead(UnresponsiveMessage)
			c.stopSelf()
			return nil
		}
		c.tryRegisterAllMasters(x.n)
	case authRefused:
		// Every master refused our authentication (spark.authenticate:
		// another secret, or auth on one side only): no retry can help, so
		// give up now with the reason rather than after the retries with
		// "All masters are unresponsive!".
		if c.registered || c.stopped {
			return nil
		}
		c.refusals[x.n]++
		if c.refusals[x.n] < len(c.masters) {
			return nil
		}
		c.markDead(fmt.Sprintf("Authentication with the master at %s failed (check spark.authenticate and spark.authenticate.secret): %v",
			x.addr.SparkURL(), x.err))
		c.stopSelf()
	case deploy.RegisteredApplication:
		if c.stopped || c.registered {
			return nil
		}
		c.mu.Lock()
		c.appID, c.master = x.AppID, x.Master
		c.mu.Unlock()
		c.followMaster(nil, x.Master)
		c.masterConn = conn
		c.registered = true
		c.log.Info("Connected to Spark cluster", "appId", x.AppID)
		c.l.Connected(x.AppID)
	case deploy.ApplicationRemoved:
		c.markDead("Master removed our application: " + x.Message)
		c.stopSelf()
	case deploy.ExecutorAdded:
		full := c.AppID() + "/" + strconv.Itoa(x.ID)
		c.log.Info("Executor added", "executor", full, "worker", x.WorkerID, "hostPort", x.HostPort, "cores", x.Cores)
		c.l.ExecutorAdded(full, x.WorkerID, x.HostPort, x.Cores, x.MemoryMB)
	case deploy.ExecutorUpdated:
		full := c.AppID() + "/" + strconv.Itoa(x.ID)
		m := ""
		if x.Message != nil {
			m = *x.Message
		}
		c.log.Info("Executor updated", "executor", full, "state", x.State, "message", m)
		if x.State.IsFinished() {
			c.l.ExecutorRemoved(full, m, x.ExitStatus, x.WorkerHost)
		} else if x.State == deploy.ExecutorDecommissioned {
			c.l.ExecutorDecommissioned(full, m)
		}
	case deploy.WorkerRemoved:
		c.log.Info("Master removed worker", "worker", x.ID, "message", x.Message)
		c.l.WorkerRemoved(x.ID, x.Host, x.Message)
	case deploy.MasterChanged:
		if x.Master == nil {
			return fmt.Errorf("client: MasterChanged without a master ref from %s", sender)
		}
		c.log.Info("Master has changed", "master", x.Master.Address().String())
		c.mu.Lock()
		old := c.master
		c.master = x.Master
		id := c.appID
		c.mu.Unlock()
		c.followMaster(old, x.Master)
		c.masterConn = conn
		c.alreadyDisconnected = false
		if err := x.Master.Send(deploy.MasterChangeAcknowledged{AppID: id}); err != nil {
			c.log.Warn("acknowledging the new master failed", "err", err)
		}
	default:
		return fmt.Errorf("%w: app client got %T from %s", rpcenv.ErrUnsupported, msg, sender)
	}
	return nil
}

func (e *endpoint) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	c := e.c
	switch msg.(type) {
	case stopAppClient:
		c.markDead("Application has been stopped.")
		if id, m := c.current(); m != nil && !c.stopped {
			if err := m.Send(deploy.UnregisterApplication{AppID: id}); err != nil {
				c.log.Warn("unregistering the application failed", "err", err)
			}
		}
		c.stopped = true
		cc.Reply(true)
	default:
		return fmt.Errorf("%w: app client got %T", rpcenv.ErrUnsupported, msg)
	}
	return nil
}

// followMaster has the new master's host name looked up again (off the
// loop) when it differs from the old master's.
func (c *AppClient) followMaster(old, m *rpcenv.Ref) {
	if m == nil {
		return
	}
	if h := m.Address().Addr.Host; old == nil || old.Address().Addr.Host != h {
		c.names.Refresh(h)
	}
}

// markDead tells the listener once.
func (c *AppClient) markDead(reason string) {
	if c.alreadyDead {
		return
	}
	c.alreadyDead = true
	if reason != "Application has been stopped." {
		c.log.Error("Application has been killed", "reason", reason)
	}
	c.l.Dead(reason)
}

func (c *AppClient) markDisconnected() {
	if !c.alreadyDisconnected {
		c.alreadyDisconnected = true
		c.l.Disconnected()
	}
}

// stopSelf stops the endpoint from its own loop.
func (c *AppClient) stopSelf() {
	c.stopped = true
	c.env.Stop(c.self)
}

// tryRegisterAllMasters looks up every master and sends RegisterApplication,
// each off the loop (a lookup may wait up to spark.rpc.lookupTimeout), and
// schedules the next attempt.
func (c *AppClient) tryRegisterAllMasters(n int) {
	reg := deploy.RegisterApplication{AppDescription: c.desc, Driver: c.self}
	for _, addr := range c.masters {
		c.spawn(func() {
			c.log.Info("Connecting to master", "master", addr.SparkURL(), "attempt", n)
			ref, err := c.env.SetupEndpointRef(addr, deploy.MasterEndpointName)
			if err != nil {
				c.log.Warn("Failed to connect to master", "master", addr.String(), "err", err)
				if authFailed(err) {
					_ = c.self.Send(authRefused{n: n, addr: addr, err: err})
				}
				return
			}
			if err := ref.Send(reg); err != nil {
				c.log.Warn("Failed to send RegisterApplication", "master", addr.String(), "err", err)
			}
		})
	}
	c.spawn(func() {
		t := time.NewTimer(c.opts.RegistrationTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			_ = c.self.Send(registerAttempt{n: n + 1})
		case <-c.stopCh:
		}
	})
}

// authFailed reports whether err is a failed connection bootstrap, that is
// (the bootstraps being spark.authenticate's handshake) a refused
// authentication.
func authFailed(err error) bool {
	var ce *netpoll.ConnError
	return errors.As(err, &ce) && ce.Op == "bootstrap"
}

// spawn runs fn on a goroutine Stop waits for; nothing starts after Stop.
func (c *AppClient) spawn(fn func()) {
	c.spawnMu.Lock()
	defer c.spawnMu.Unlock()
	select {
	case <-c.stopCh:
		return
	default:
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}
