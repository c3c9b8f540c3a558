package master

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// Options configure a Master daemon.
type Options struct {
	Host      string // bind and advertise host
	Port      int    // RPC port (7077; 0 picks one)
	WebUIPort int    // reported in BoundPortsResponse (the UI is served by the caller)
	Conf      *sparkconf.Conf
	Logger    *slog.Logger
	// Recovery overrides spark.deploy.recoveryMode's engine and election
	// (tests); nil means read the configuration.
	Recovery func(l recovery.Leadership) (recovery.Engine, recovery.Agent, error)
	// OnRevoked is called when leadership is lost (Spark exits the process);
	// nil means os.Exit(0).
	OnRevoked func()
	// OnFatal is called when the master cannot run (its recovery mode cannot
	// be set up); nil means print the error and os.Exit(1).
	OnFatal func(error)
}

// Master is the standalone master daemon: the Master endpoint on its own
// RPC env, driving State.
type Master struct {
	env      *rpcenv.Env
	self     *rpcenv.Ref
	cfg      Config
	log      *slog.Logger
	opts     Options
	recMu    sync.Mutex // guards engine and agent, set once recovery is up
	engine   recovery.Engine
	agent    recovery.Agent
	recReady chan struct{} // closed once engine is set

	state *State // only touched on the endpoint's loop

	refusals *authority.Refusals // one line per peer per interval for refused messages

	stop      chan struct{}
	wg        sync.WaitGroup
	timersMu  sync.Mutex
	timers    []*time.Timer
	closeOnce sync.Once
	startMu   sync.Mutex  // orders OnStart's wg.Add before Shutdown's Wait
	rest      *restServer // the REST submission server (rest.go); nil when off
}

// Self messages.
type (
	checkForWorkerTimeOut struct{}
	completeRecovery      struct{}
	electedLeader         struct{}
	revokedLeadership     struct{}
	killApp               struct{ id string }
	utilizationRequest    struct{}
)

// ConfigFromSpark reads the master's keys.
func ConfigFromSpark(conf *sparkconf.Conf) (Config, error) {
	c := DefaultConfig()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	wt, err := conf.GetDuration("spark.worker.timeout", 60*time.Second, time.Second)
	keep(err)
	c.WorkerTimeout = wt
	c.RecoveryTimeout, err = conf.GetDuration("spark.deploy.recoveryTimeout", wt, time.Second)
	keep(err)
	c.DeadWorkerPersistence, err = conf.GetInt("spark.dead.worker.persistence", 15)
	keep(err)
	spread := true
	if v, ok := conf.Get("spark.deploy.spreadOut"); ok {
		spread = strings.EqualFold(strings.TrimSpace(v), "true")
	}
	c.SpreadOutApps, err = conf.GetBool("spark.deploy.spreadOutApps", spread)
	keep(err)
	c.SpreadOutDrivers, err = conf.GetBool("spark.deploy.spreadOutDrivers", true)
	keep(err)
	c.DefaultCores, err = conf.GetInt("spark.deploy.defaultCores", math.MaxInt32)
	keep(err)
	if c.DefaultCores < 1 {
		errs = append(errs, fmt.Errorf("spark.deploy.defaultCores must be positive"))
	}
	c.MaxDrivers, err = conf.GetInt("spark.deploy.maxDrivers", math.MaxInt32)
	keep(err)
	c.MaxExecutorRetries, err = conf.GetInt("spark.deploy.maxExecutorRetries", 10)
	keep(err)
	c.RetainedApps, err = conf.GetInt("spark.deploy.retainedApplications", 200)
	keep(err)
	c.RetainedDrivers, err = conf.GetInt("spark.deploy.retainedDrivers", 200)
	keep(err)
	c.AppIDPattern = javaIndexes(conf.GetString("spark.deploy.appIdPattern", c.AppIDPattern))
	c.DriverIDPattern = javaIndexes(conf.GetString("spark.deploy.driverIdPattern", c.DriverIDPattern))
	for key, p := range map[string]string{"spark.deploy.appIdPattern": c.AppIDPattern, "spark.deploy.driverIdPattern": c.DriverIDPattern} {
		if err := validateIDPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	c.AppNumberModulo, err = conf.GetInt("spark.deploy.appNumberModulo", 0)
	keep(err)
	c.MaxWorkers, err = conf.GetInt("spark.deploy.ember.maxWorkers", c.MaxWorkers)
	keep(err)
	c.WorkerSelectionPolicy = strings.ToUpper(conf.GetString("spark.deploy.workerSelectionPolicy", c.WorkerSelectionPolicy))
	switch c.WorkerSelectionPolicy {
	case "CORES_FREE_ASC", "CORES_FREE_DESC", "MEMORY_FREE_ASC", "MEMORY_FREE_DESC", "WORKER_ID":
	default:
		errs = append(errs, fmt.Errorf("spark.deploy.workerSelectionPolicy: unknown policy %q", c.WorkerSelectionPolicy))
	}
	return c, errors.Join(errs...)
}

// javaIndexes rewrites the explicit argument indexes of Java's
// String.format (%2$05d), which Spark's patterns use, as Go's (%05[2]d).
func javaIndexes(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		b.WriteByte(p[i])
		if p[i] != '%' {
			continue
		}
		if i+1 < len(p) && p[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j == i+1 || j == len(p) || p[j] != '$' {
			continue
		}
		k := j + 1 // flags, width and precision stay before the index
		for k < len(p) && strings.IndexByte("-#+ 0,(.123456789", p[k]) >= 0 {
			k++
		}
		b.WriteString(p[j+1:k] + "[" + p[i+1:j] + "]")
		i = k - 1
	}
	return b.String()
}

// validateIDPattern checks an id pattern formats a timestamp and a number.
func validateIDPattern(p string) error {
	s := fmt.Sprintf(p, "20260101000000", 1)
	if strings.Contains(s, "%!") || strings.ContainsAny(s, "/ \\") {
		return fmt.Errorf("invalid id pattern %q (want something like app-%%s-%%04d)", p)
	}
	return nil
}

// Start creates the master's env, registers the Master endpoint and runs
// leader election.
func Start(opts Options) (*Master, error) {
	conf := opts.Conf
	if conf == nil {
		conf = sparkconf.New()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := ConfigFromSpark(conf)
	if err != nil {
		return nil, err
	}
	restCfg, err := restConfigFromSpark(conf)
	if err != nil {
		return nil, err
	}
	// Protected mode (spark.ember.protectedMode) when spark.authenticate
	// is off: only peers on this host are served.
	sec, err := auth.ProtectedMode(conf, "master", opts.Host, log)
	if err != nil {
		return nil, err
	}
	env, err := rpcenv.Create(rpcenv.Config{Name: deploy.MasterEnvName, BindHost: opts.Host, Port: opts.Port, Conf: conf, Logger: log,
		ServerBootstraps: sec.Bootstraps})
	if err != nil {
		return nil, err
	}
	m := &Master{env: env, cfg: cfg, log: log.With("component", "master"), opts: opts, stop: make(chan struct{}),
		recReady: make(chan struct{}), refusals: authority.NewRefusals()}
	m.cfg.MasterURL = env.Address().SparkURL()
	m.cfg.WebUIURL = fmt.Sprintf("http://%s:%d", env.Address().Host, opts.WebUIPort)
	m.state = NewState(m.cfg, m)
	m.state.SetLogger(m.log)
	// m.self is set before the endpoint exists: OnStart runs on the
	// endpoint's loop (maybe before SetupEndpoint returns) and the election
	// it starts sends through m.self.
	m.self = env.RefFor(rpcenv.EndpointAddress{Addr: env.Address(), Name: deploy.MasterEndpointName})
	if _, err = env.SetupEndpoint(deploy.MasterEndpointName, m); err != nil {
		env.Shutdown()
		return nil, err
	}
	if err := m.startRESTFor(restCfg); err != nil {
		m.Shutdown()
		return nil, err
	}
	return m, nil
}

// MasterURL returns spark://host:port.
func (m *Master) MasterURL() string { return m.cfg.MasterURL }

// Address returns the master's RPC address.
func (m *Master) Address() rpcenv.Address { return m.env.Address() }

// Env returns the master's RPC env.
func (m *Master) Env() *rpcenv.Env { return m.env }

// SetWebUIURL records the UI address once the UI is bound.
func (m *Master) SetWebUIURL(url string, port int) {
	_, _ = m.self.AskTimeout(setWebUI{url: url, port: port}, 10*time.Second)
}

type setWebUI struct {
	url  string
	port int
}

// Shutdown stops the master.
func (m *Master) Shutdown() {
	m.closeOnce.Do(func() {
		m.rest.close() // first: its in-flight requests ask the endpoint
		// Under startMu, so OnStart either added its goroutines to wg
		// before this Wait or sees stop closed and adds none.
		m.startMu.Lock()
		close(m.stop)
		m.startMu.Unlock()
		m.timersMu.Lock()
		for _, t := range m.timers {
			t.Stop()
		}
		m.timersMu.Unlock()
		m.wg.Wait()
		if agent := m.recAgent(); agent != nil {
			_ = agent.Stop()
		}
		m.env.Shutdown()
		if eng := m.recEngine(); eng != nil {
			_ = eng.Close()
		}
	})
}

// ---- Effects ----

// Send implements Effects: fills in the master's own ref where messages
// carry it.
func (m *Master) Send(to Peer, msg any) { m.Answer(to, msg, rpcenv.Address{}) }

// Answer implements Effects: Send, with the master's ref at reachedAt
// when that is another spelling of this master's address (a host name
// for its IP, say): a peer sends its later messages to the ref it is
// given, and one spelling keeps them on the connection it registered
// over, the only one the master takes them from (Admit).
func (m *Master) Answer(to Peer, msg any, reachedAt rpcenv.Address) {
	self := m.self
	if a := reachedAt; !a.IsZero() && a != m.env.Address() && a.Port == m.env.Address().Port {
		self = m.env.RefFor(rpcenv.EndpointAddress{Addr: a, Name: deploy.MasterEndpointName})
	}
	switch x := msg.(type) {
	case deploy.RegisteredWorker:
		x.Master = self
		msg = x
	case deploy.RegisteredApplication:
		x.Master = self
		msg = x
	case deploy.MasterChanged:
		x.Master = self
		msg = x
	}
	if err := to.Send(msg); err != nil {
		m.log.Warn("send failed", "to", to.Address().String(), "msg", fmt.Sprintf("%T", msg), "err", err)
	}
}

// Persist implements Effects.
func (m *Master) Persist(key string, v any) {
	eng := m.recEngine()
	if eng == nil {
		return
	}
	b, err := sonic.ConfigStd.Marshal(v)
	if err == nil {
		_ = eng.Unpersist(key) // rewrite: the file engine refuses existing keys
		err = eng.Persist(key, b)
	}
	if err != nil {
		m.log.Error("persisting master state failed", "key", key, "err", err)
	}
}

// Unpersist implements Effects.
func (m *Master) Unpersist(key string) {
	eng := m.recEngine()
	if eng == nil {
		return
	}
	if err := eng.Unpersist(key); err != nil {
		m.log.Error("unpersisting master state failed", "key", key, "err", err)
	}
}

// Now implements Effects.
func (m *Master) Now() time.Time { return time.Now() }

// ScheduleCompleteRecovery implements Effects.
func (m *Master) ScheduleCompleteRecovery(d time.Duration) {
	m.after(d, completeRecovery{})
}

func (m *Master) after(d time.Duration, msg any) {
	m.timersMu.Lock()
	defer m.timersMu.Unlock()
	select {
	case <-m.stop:
		return
	default:
	}
	m.timers = append(m.timers, time.AfterFunc(d, func() { _ = m.self.Send(msg) }))
}

// ---- Leadership ----

// ElectedLeader implements recovery.Leadership.
func (m *Master) ElectedLeader() { _ = m.self.Send(electedLeader{}) }

// RevokedLeadership implements recovery.Leadership.
func (m *Master) RevokedLeadership() { _ = m.self.Send(revokedLeadership{}) }

// ---- the endpoint ----

// OnStart starts the worker timeout check and leader election.
func (m *Master) OnStart() error {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	select {
	case <-m.stop:
		return nil // shut down before the endpoint started
	default:
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.cfg.WorkerTimeout)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.self.Send(checkForWorkerTimeOut{})
			case <-m.stop:
				return
			}
		}
	}()
	// Recovery setup (a ZooKeeper connection may take a while) runs off the
	// endpoint's loop; the master stays STANDBY until it is elected. A master
	// that cannot use its configured recovery must not lead: that failure is
	// fatal, as in Spark.
	go func() {
		defer m.wg.Done()
		var (
			eng   recovery.Engine
			agent recovery.Agent
			err   error
		)
		if m.opts.Recovery != nil {
			eng, agent, err = m.opts.Recovery(m)
		} else {
			eng, agent, err = recoveryFromConf(m.env.Conf(), m, m.log)
		}
		if err != nil {
			m.log.Error("recovery setup failed; the master cannot start", "err", err)
			m.fatal(fmt.Errorf("master: recovery setup: %w", err))
			return
		}
		m.recMu.Lock()
		m.engine, m.agent = eng, agent
		m.recMu.Unlock()
		close(m.recReady)
	}()
	return nil
}

func (m *Master) recEngine() recovery.Engine {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	return m.engine
}

func (m *Master) recAgent() recovery.Agent {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	return m.agent
}

// fatal ends the daemon on an unrecoverable error.
func (m *Master) fatal(err error) {
	if m.opts.OnFatal != nil {
		m.opts.OnFatal(err)
		return
	}
	fmt.Fprintln(os.Stderr, "ember master:", err)
	os.Exit(1)
}

// OnStop is a no-op; Shutdown stops the timers.
func (m *Master) OnStop() {}

// OnDisconnected handles a lost remote process.
func (m *Master) OnDisconnected(addr rpcenv.Address) { m.state.Disconnected(addr) }

// OnConnClosed ends the apps of client-only drivers on that connection.
func (m *Master) OnConnClosed(conn rpcenv.Conn) { m.state.ConnClosed(conn) }

// linkOf is the state's Link for a connection: nil for a local message.
func linkOf(conn rpcenv.Conn) Link {
	if conn.IsZero() {
		return nil
	}
	return conn
}

// Receive handles a one-way message that came over no known connection.
func (m *Master) Receive(msg any, sender rpcenv.Address) error {
	return m.ReceiveOver(msg, sender, rpcenv.Conn{})
}

// ReceiveOver handles one-way messages. A remote message is validated and
// admitted (State.Admit, by its sender and its connection) before it
// touches the state; a refusal is one rate-limited log line.
func (m *Master) ReceiveOver(msg any, sender rpcenv.Address, conn rpcenv.Conn) error {
	s := m.state
	if err := s.Admit(msg, sender, linkOf(conn)); err != nil {
		m.refuse(sender, conn, msg, err)
		return nil
	}
	switch x := msg.(type) {
	case electedLeader:
		// A self-electing agent elects during setup: wait for the engine.
		select {
		case <-m.recReady:
		case <-m.stop:
			return nil
		}
		rec, err := m.readPersisted()
		if err != nil {
			m.log.Error("reading persisted state failed", "err", err)
		}
		s.ElectedLeader(rec)
		m.log.Info("I have been elected leader", "status", s.Status, "recoveredWorkers", len(rec.Workers),
			"recoveredApps", len(rec.Apps), "recoveredDrivers", len(rec.Drivers))
	case revokedLeadership:
		m.log.Error("Leadership has been revoked -- master shutting down.")
		if m.opts.OnRevoked != nil {
			m.opts.OnRevoked()
		} else {
			os.Exit(0)
		}
	case completeRecovery:
		s.CompleteRecovery()
	case checkForWorkerTimeOut:
		s.CheckForWorkerTimeOut()
	case deploy.RegisterWorker:
		if x.Worker == nil {
			m.refuse(sender, conn, msg, errors.New("master: RegisterWorker without a worker ref"))
			return nil
		}
		s.RegisterWorkerOver(x, x.Worker, linkOf(conn), m.env.AddressUsedOver(conn))
	case deploy.Heartbeat:
		if x.Worker != nil {
			s.Heartbeat(x, x.Worker)
		}
	case deploy.WorkerLatestState:
		s.WorkerLatestState(x)
	case deploy.WorkerSchedulerStateResponse:
		s.WorkerSchedulerStateResponse(x)
	case deploy.RegisterApplication:
		if x.Driver == nil {
			m.refuse(sender, conn, msg, errors.New("master: RegisterApplication without a driver ref"))
			return nil
		}
		s.RegisterApplicationOver(x, x.Driver, sender, linkOf(conn), m.env.AddressUsedOver(conn))
	case deploy.UnregisterApplication:
		s.UnregisterApplication(x.AppID)
	case deploy.MasterChangeAcknowledged:
		s.MasterChangeAcknowledged(x.AppID)
	case deploy.DriverStateChanged:
		s.DriverStateChanged(x)
	case deploy.ExecutorStateChanged:
		s.ExecutorStateChanged(x)
	default:
		m.refuse(sender, conn, msg, fmt.Errorf("%w: master got %T", rpcenv.ErrUnsupported, msg))
	}
	return nil
}

// ReceiveAndReply handles asks.
func (m *Master) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	s := m.state
	conn := rpcenv.ConnOf(cc)
	if err := s.Admit(msg, cc.SenderAddress(), linkOf(conn)); err != nil {
		m.refuse(cc.SenderAddress(), conn, msg, err)
		cc.SendFailure(err)
		return nil
	}
	switch x := msg.(type) {
	case deploy.ExecutorStateChanged:
		s.ExecutorStateChanged(x)
		cc.Reply(true)
	case deploy.RequestExecutors:
		cc.Reply(s.RequestExecutors(x))
	case deploy.KillExecutors:
		cc.Reply(s.KillExecutors(x))
	case deploy.RequestSubmitDriver:
		cc.Reply(s.RequestSubmitDriver(x.Desc))
	case deploy.RequestKillDriver:
		cc.Reply(s.RequestKillDriver(x.DriverID))
	case deploy.RequestDriverStatus:
		cc.Reply(s.RequestDriverStatus(x.DriverID))
	case deploy.RequestMasterState:
		snap := s.Snapshot()
		cc.Reply(snap)
	case utilizationRequest:
		cc.Reply(s.Utilization())
	case killApp:
		cc.Reply(s.KillApplication(x.id))
	case deploy.RequestReadyz:
		cc.Reply(s.Status != deploy.StateStandby)
	case stateCall:
		cc.Reply(x.fn(s))
	case deploy.BoundPortsRequest:
		cc.Reply(deploy.BoundPortsResponse{RPCEndpointPort: m.env.Address().Port, WebUIPort: m.opts.WebUIPort})
	case setWebUI:
		m.cfg.WebUIURL, m.opts.WebUIPort = x.url, x.port
		s.cfg.WebUIURL = x.url
		cc.Reply(true)
	default:
		err := fmt.Errorf("%w: master got %T", rpcenv.ErrUnsupported, msg)
		m.refuse(cc.SenderAddress(), conn, msg, err)
		cc.SendFailure(err)
	}
	return nil
}

// readPersisted reads the engine's records and rebuilds peers.
func (m *Master) readPersisted() (Recovered, error) {
	var rec Recovered
	eng := m.recEngine()
	if eng == nil {
		return rec, nil
	}
	var errs []error
	if apps, err := eng.Read("app_"); err == nil {
		for _, b := range apps {
			var r AppRecord
			if err := sonic.ConfigStd.Unmarshal(b, &r); err != nil {
				errs = append(errs, err)
				continue
			}
			peer, err := m.peer(r.Driver)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if r.JVM {
				peer = m.env.JavaRefFor(peer.Address())
			}
			rec.Apps = append(rec.Apps, RecoveredApp{Record: r, Peer: peer})
		}
	} else {
		errs = append(errs, err)
	}
	if drivers, err := eng.Read("driver_"); err == nil {
		for _, b := range drivers {
			var r DriverRecord
			if err := sonic.ConfigStd.Unmarshal(b, &r); err != nil {
				errs = append(errs, err)
				continue
			}
			rec.Drivers = append(rec.Drivers, r)
		}
	} else {
		errs = append(errs, err)
	}
	if workers, err := eng.Read("worker_"); err == nil {
		for _, b := range workers {
			var r WorkerRecord
			if err := sonic.ConfigStd.Unmarshal(b, &r); err != nil {
				errs = append(errs, err)
				continue
			}
			peer, err := m.peer(r.Endpoint)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rec.Workers = append(rec.Workers, RecoveredWorker{Record: r, Peer: peer})
		}
	} else {
		errs = append(errs, err)
	}
	return rec, errors.Join(errs...)
}

func (m *Master) peer(uri string) (Peer, error) {
	if name, ok := strings.CutPrefix(uri, "spark-client://"); ok {
		return m.env.RefFor(rpcenv.EndpointAddress{Name: name}), nil
	}
	ea, err := rpcenv.ParseEndpointURI(uri)
	if err != nil {
		return nil, err
	}
	return m.env.RefFor(ea), nil
}

// ---- what the web UI reads ----

// MasterState asks the endpoint for a snapshot.
func (m *Master) MasterState() (deploy.MasterStateResponse, error) {
	v, err := m.self.AskTimeout(deploy.RequestMasterState{}, 30*time.Second)
	if err != nil {
		return deploy.MasterStateResponse{}, err
	}
	return v.(deploy.MasterStateResponse), nil
}

// Utilization asks the endpoint for the cluster utilization.
func (m *Master) Utilization() (deploy.ClusterUtilization, error) {
	v, err := m.self.AskTimeout(utilizationRequest{}, 30*time.Second)
	if err != nil {
		return deploy.ClusterUtilization{}, err
	}
	return v.(deploy.ClusterUtilization), nil
}

// KillApplication kills an app from the UI.
func (m *Master) KillApplication(id string) error {
	v, err := m.self.AskTimeout(killApp{id: id}, 30*time.Second)
	if err != nil {
		return err
	}
	if ok, _ := v.(bool); !ok {
		return fmt.Errorf("master: no application %q", id)
	}
	return nil
}

// KillDriver kills a driver from the UI.
func (m *Master) KillDriver(id string) error {
	v, err := m.self.AskTimeout(deploy.RequestKillDriver{DriverID: id}, 30*time.Second)
	if err != nil {
		return err
	}
	if r := v.(deploy.KillDriverResponse); !r.Success {
		return errors.New(r.Message)
	}
	return nil
}

// Ready reports whether the master is not in standby.
func (m *Master) Ready() bool {
	v, err := m.self.AskTimeout(deploy.RequestReadyz{}, 10*time.Second)
	ok, _ := v.(bool)
	return err == nil && ok
}
