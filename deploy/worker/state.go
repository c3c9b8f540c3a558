package worker

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// Peer is a master as the worker's core knows it: *rpcenv.Ref is one,
// tests use fakes.
type Peer interface {
	Address() rpcenv.EndpointAddress
}

// Timer names one of the core's periodic self-messages.
type Timer int

// The core's timers.
const (
	// TimerRegistration drives ReregisterWithMaster.
	TimerRegistration Timer = iota
	// TimerHeartbeat drives SendHeartbeat.
	TimerHeartbeat
	// TimerCleanup drives WorkDirCleanup.
	TimerCleanup
)

func (t Timer) String() string {
	switch t {
	case TimerRegistration:
		return "registration"
	case TimerHeartbeat:
		return "heartbeat"
	case TimerCleanup:
		return "cleanup"
	}
	return "timer(" + strconv.Itoa(int(t)) + ")"
}

// Effects are what the core asks its shell to do. Everything the worker
// does to the world goes through them, so Core itself is a pure,
// single-threaded state machine that scenario tests drive without sockets,
// processes or files.
type Effects interface {
	// Register sends RegisterWorker to the master at addr (the shell fills
	// in the Worker ref).
	Register(addr rpcenv.Address, msg deploy.RegisterWorker)
	// Send delivers msg one way to the master (the shell fills in the
	// Worker ref of a Heartbeat).
	Send(to Peer, msg any)
	// SyncExecutorState asks the master to take an executor state; a
	// failed ask comes back as Core.ResyncExecutorState, or Exit(1) after
	// spark.worker.executorStateSync.maxAttempts.
	SyncExecutorState(to Peer, msg deploy.ExecutorStateChanged)
	// StartTimer (re)arms t: Core.Tick(t) after first, then every period.
	StartTimer(t Timer, first, period time.Duration)
	// StopTimer disarms t.
	StopTimer(t Timer)
	// PrepareExecutorDir creates an executor's working directory.
	PrepareExecutorDir(dir string) error
	// CreateAppLocalDirs makes the app's executor-<uuid> local dirs.
	CreateAppLocalDirs(appID string) ([]string, error)
	// LaunchExecutor starts an executor's runner, which reports through
	// Core.ExecutorStateChanged. An error means nothing was started.
	LaunchExecutor(spec ExecutorSpec) error
	// KillExecutor stops a runner (KILLED comes back as a state change).
	KillExecutor(appID string, execID int)
	// LaunchDriver starts a driver's runner, which reports through
	// Core.DriverStateChanged. An error means nothing was started.
	LaunchDriver(spec DriverSpec) error
	// KillDriver stops a driver's runner.
	KillDriver(id string)
	// ExecutorRemoved tells the shuffle service an executor's files may
	// go (spark.storage.cleanupFilesAfterExecutorExit).
	ExecutorRemoved(appID string, execID int)
	// CleanupApp deletes a finished app's local dirs and tells the
	// shuffle service the app is gone.
	CleanupApp(appID string, dirs []string)
	// CleanWorkDir removes old app dirs of the work dir that are not in
	// inUse (WorkDirCleanup).
	CleanWorkDir(inUse map[string]bool)
	// Exit is Spark's System.exit.
	Exit(code int)
}

// CoreConfig is what the core needs to know about its worker.
type CoreConfig struct {
	ID       string
	Host     string
	Port     int
	WebUIURL string
	Cores    int
	MemoryMB int
	// Resources offered (custom resources, e.g. gpu); may be nil.
	Resources map[string]deploy.ResourceInformation
	WorkDir   string
	Masters   []rpcenv.Address

	InitialInterval        time.Duration // registration retry before InitialRetries
	ProlongedInterval      time.Duration // registration retry after it
	InitialRetries         int           // spark.worker.initialRegistrationRetries (6)
	MaxRetries             int           // spark.worker.maxRegistrationRetries (16)
	PreferConfiguredMaster bool          // spark.worker.preferConfiguredMasterAddress
	HeartbeatInterval      time.Duration // spark.worker.timeout / 4
	CleanupEnabled         bool          // spark.worker.cleanup.enabled
	CleanupInterval        time.Duration // spark.worker.cleanup.interval
	// ExecutorFilesCleanup is spark.storage.cleanupFilesAfterExecutorExit
	// with a shuffle service to tell.
	ExecutorFilesCleanup bool
	// ShuffleService says a shuffle service must hear of finished apps.
	ShuffleService    bool
	RetainedExecutors int
	RetainedDrivers   int
	Redact            *regexp.Regexp // spark.redaction.regex, for the JSON's command
	Logger            *slog.Logger
	// Names resolves host names for Admit, off the endpoint's loop (nil:
	// names are compared as written). The core asks it to look up the
	// configured masters' names when it is made and the active master's
	// whenever the master changes; whoever made it closes it.
	Names HostNames
}

// HostNames answers, without waiting, whether hosts named differently are
// one, from names it resolves elsewhere (the worker's daemon gives the core
// one that resolves them on goroutines of its own).
type HostNames interface {
	// Trust starts resolving the hosts that are names.
	Trust(hosts ...string)
	// Refresh resolves host again; the last answer stands until then.
	Refresh(host string)
	// SameHost reports whether host is trusted's host, by name or by an
	// address resolved so far.
	SameHost(host, trusted string) bool
	// SameAddress is SameHost for two addresses with equal ports.
	SameAddress(a, trusted rpcenv.Address) bool
}

// ExecutorSpec is what the shell needs to run one executor.
type ExecutorSpec struct {
	AppID     string
	ExecID    int
	RPID      int
	Desc      deploy.ApplicationDescription
	Cores     int
	MemoryMB  int
	Resources map[string]deploy.ResourceInformation
	Dir       string   // workDir/<appId>/<execId>
	LocalDirs []string // the app's executor-<uuid> dirs
}

// FullID is "<appId>/<execId>".
func (s ExecutorSpec) FullID() string { return s.AppID + "/" + strconv.Itoa(s.ExecID) }

// Executor is an executor as the core tracks it.
type Executor struct {
	ExecutorSpec
	State      deploy.ExecutorState
	Message    *string
	ExitStatus *int
}

// DriverSpec is what the shell needs to run one cluster-mode driver.
type DriverSpec struct {
	ID        string
	Desc      deploy.DriverDescription
	Resources map[string]deploy.ResourceInformation
	Dir       string // workDir/<driverId>
}

// Driver is a driver as the core tracks it.
type Driver struct {
	DriverSpec
	State     deploy.DriverState
	Exception *string
}

// Core is the worker's state machine (Spark's Worker endpoint without its
// I/O): registration with the masters, executors, drivers, the resources
// they hold and the app dirs to clean. It is not safe for concurrent use:
// the shell calls it from one goroutine, its endpoint's.
type Core struct {
	cfg CoreConfig
	fx  Effects
	log *slog.Logger

	registered             bool
	connected              bool
	master                 Peer
	activeMasterURL        string
	activeMasterWebUIURL   string
	masterAddressToConnect *rpcenv.Address
	// masterLink is the connection the master dialled to the worker
	// that its orders come over (authority.go); nil when none is known.
	masterLink   Link
	masterDials  bool // the master's answer came over a connection it dialled
	ownLink      Link // else the worker's own connection it came over
	retrying     bool // the registration timer is armed
	attempts     int
	heartbeating bool
	cleaning     bool

	executors         map[string]*Executor // appId/execId
	finishedExecutors []*Executor          // oldest first
	drivers           map[string]*Driver
	finishedDrivers   []*Driver
	appDirs           map[string][]string // appId → executor-<uuid> dirs
	finishedApps      map[string]bool
	coresUsed         int
	memoryUsed        int
	resourcesUsed     map[string][]string // resource name → addresses in use
}

// NewCore returns a core that has not started registering yet.
func NewCore(cfg CoreConfig, fx Effects) *Core {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Names != nil {
		for _, m := range cfg.Masters {
			cfg.Names.Trust(m.Host)
		}
	}
	return &Core{cfg: cfg, fx: fx, log: log, executors: map[string]*Executor{}, drivers: map[string]*Driver{},
		appDirs: map[string][]string{}, finishedApps: map[string]bool{}, resourcesUsed: map[string][]string{}}
}

// ---- queries ----

// Registered reports whether a master accepted the worker (and no
// disconnect happened since).
func (c *Core) Registered() bool { return c.registered }

// Connected reports whether the worker believes its master is reachable.
func (c *Core) Connected() bool { return c.connected }

// Master returns the active master (nil before the first registration).
func (c *Core) Master() Peer { return c.master }

// ActiveMasterURL is the active master's spark://host:port ("" before the
// first registration).
func (c *Core) ActiveMasterURL() string { return c.activeMasterURL }

// Attempts is the number of registration retries of the current round.
func (c *Core) Attempts() int { return c.attempts }

// CoresUsed returns the cores held by executors and drivers.
func (c *Core) CoresUsed() int { return c.coresUsed }

// MemoryUsed returns the memory (MB) held by executors and drivers.
func (c *Core) MemoryUsed() int { return c.memoryUsed }

// ResourcesUsed returns the custom resources in use, by name (addresses
// sorted).
func (c *Core) ResourcesUsed() map[string][]string {
	out := make(map[string][]string, len(c.resourcesUsed))
	for k, v := range c.resourcesUsed {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Executor returns a running executor, nil if none.
func (c *Core) Executor(appID string, execID int) *Executor {
	return c.executors[appID+"/"+strconv.Itoa(execID)]
}

// Executors returns the running executors by app, then id.
func (c *Core) Executors() []*Executor {
	out := make([]*Executor, 0, len(c.executors))
	for _, e := range c.executors {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AppID != out[j].AppID {
			return out[i].AppID < out[j].AppID
		}
		return out[i].ExecID < out[j].ExecID
	})
	return out
}

// FinishedExecutors returns the retained finished executors, oldest first.
func (c *Core) FinishedExecutors() []*Executor {
	return append([]*Executor(nil), c.finishedExecutors...)
}

// Driver returns a running driver, nil if none.
func (c *Core) Driver(id string) *Driver { return c.drivers[id] }

// Drivers returns the running drivers by id.
func (c *Core) Drivers() []*Driver {
	out := make([]*Driver, 0, len(c.drivers))
	for _, id := range sortedKeys(c.drivers) {
		out = append(out, c.drivers[id])
	}
	return out
}

// FinishedDrivers returns the retained finished drivers, oldest first.
func (c *Core) FinishedDrivers() []*Driver { return append([]*Driver(nil), c.finishedDrivers...) }

// AppDirs returns the local dirs of an app ("" app: none).
func (c *Core) AppDirs(appID string) []string { return c.appDirs[appID] }

// ---- registration ----

// Start begins the first registration round (Spark's onStart).
func (c *Core) Start() { c.registerWithMaster() }

// registerWithMaster starts a registration round unless one is running.
func (c *Core) registerWithMaster() {
	if c.retrying {
		c.log.Info("Not spawning another attempt to register with the master, since there is an attempt scheduled already.")
		return
	}
	c.registered = false
	c.tryRegisterAllMasters()
	c.attempts = 0
	c.retrying = true
	c.fx.StartTimer(TimerRegistration, c.cfg.InitialInterval, c.cfg.InitialInterval)
}

func (c *Core) tryRegisterAllMasters() {
	for _, a := range c.cfg.Masters {
		c.registerAt(a)
	}
}

func (c *Core) registerAt(addr rpcenv.Address) {
	c.log.Info("Connecting to master", "master", addr.String())
	c.fx.Register(addr, deploy.RegisterWorker{ID: c.cfg.ID, Host: c.cfg.Host, Port: c.cfg.Port, Cores: c.cfg.Cores,
		MemoryMB: c.cfg.MemoryMB, WorkerWebUIURL: c.cfg.WebUIURL, MasterAddress: addr, Resources: c.cfg.Resources})
}

// reregister is one retry of the registration schedule.
func (c *Core) reregister() {
	c.attempts++
	switch {
	case c.registered:
		c.cancelRegistrationRetry()
	case c.attempts <= c.cfg.MaxRetries:
		c.log.Info("Retrying connection to master", "attempt", c.attempts)
		if c.master != nil {
			addr := c.master.Address().Addr
			if c.cfg.PreferConfiguredMaster && c.masterAddressToConnect != nil {
				addr = *c.masterAddressToConnect
			}
			c.registerAt(addr)
		} else {
			c.tryRegisterAllMasters()
		}
		if c.attempts == c.cfg.InitialRetries {
			c.fx.StartTimer(TimerRegistration, c.cfg.ProlongedInterval, c.cfg.ProlongedInterval)
		}
	default:
		c.log.Error("All masters are unresponsive! Giving up.")
		c.cancelRegistrationRetry()
		c.fx.Exit(1)
	}
}

func (c *Core) cancelRegistrationRetry() {
	if c.retrying {
		c.fx.StopTimer(TimerRegistration)
		c.retrying = false
	}
}

// Tick handles a timer's firing.
func (c *Core) Tick(t Timer) {
	switch t {
	case TimerRegistration:
		if c.retrying {
			c.reregister()
		}
	case TimerHeartbeat:
		if c.connected && c.master != nil {
			c.fx.Send(c.master, deploy.Heartbeat{WorkerID: c.cfg.ID})
		}
	case TimerCleanup:
		c.workDirCleanup()
	}
}

// RegisteredWorker handles the master's acceptance.
func (c *Core) RegisteredWorker(master Peer, webUIURL string, masterAddress rpcenv.Address, duplicate bool) {
	if master == nil {
		c.log.Warn("RegisteredWorker without a master ref; ignored")
		return
	}
	if duplicate {
		c.log.Warn("Duplicate registration at master", "master", master.Address().Addr.String())
	}
	c.log.Info("Successfully registered with master", "master", master.Address().Addr.SparkURL())
	c.registered = true
	c.changeMaster(master, webUIURL, masterAddress)
	if !c.heartbeating {
		c.heartbeating = true
		c.fx.StartTimer(TimerHeartbeat, 0, c.cfg.HeartbeatInterval)
	}
	if c.cfg.CleanupEnabled && !c.cleaning {
		c.cleaning = true
		c.log.Info("Worker cleanup enabled; old application directories will be deleted", "workDir", c.cfg.WorkDir)
		c.fx.StartTimer(TimerCleanup, c.cfg.CleanupInterval, c.cfg.CleanupInterval)
	}
	execs, drivers := c.runningDescriptions()
	c.sendToMaster(deploy.WorkerLatestState{ID: c.cfg.ID, Executors: execs, DriverIDs: drivers})
}

// RegisterWorkerFailed handles a refusal: fatal before the first
// registration, ignored after.
func (c *Core) RegisterWorkerFailed(message string) {
	if !c.registered {
		c.log.Error("Worker registration failed", "message", message)
		c.fx.Exit(1)
	}
}

// MasterInStandby is a standby master's answer: wait for the leader's.
func (c *Core) MasterInStandby() {}

// ReconnectWorker is the master asking for a new registration.
func (c *Core) ReconnectWorker(masterURL string) {
	c.log.Info("Master asks re-registration", "master", masterURL)
	c.registerWithMaster()
}

// MasterChanged switches to a new leader and answers with the worker's
// executors and drivers.
func (c *Core) MasterChanged(master Peer, webUIURL string) {
	if master == nil {
		return
	}
	c.log.Info("Master has changed", "master", master.Address().Addr.SparkURL())
	c.changeMaster(master, webUIURL, master.Address().Addr)
	execs, drivers := c.runningDescriptions()
	c.sendToMaster(deploy.WorkerSchedulerStateResponse{ID: c.cfg.ID, Executors: execs, DriverIDs: drivers})
}

func (c *Core) changeMaster(master Peer, webUIURL string, masterAddress rpcenv.Address) {
	c.activeMasterURL = master.Address().Addr.SparkURL()
	c.activeMasterWebUIURL = webUIURL
	if masterAddress.IsZero() {
		masterAddress = master.Address().Addr
	}
	if host := master.Address().Addr.Host; c.cfg.Names != nil && (c.master == nil || c.master.Address().Addr.Host != host) {
		// A new master address: its name (when one) is looked up again,
		// off the loop.
		c.cfg.Names.Refresh(host)
	}
	c.masterAddressToConnect = &masterAddress
	c.master = master
	c.connected = true
	c.cancelRegistrationRetry()
}

// Disconnected handles a lost connection: losing the master's starts a new
// registration round.
//
// The address is the one the closed connection's peer wrote, so while the
// connection the master's orders come over is open the worker stays: the
// one that closed only claimed the master's address.
func (c *Core) Disconnected(addr rpcenv.Address) {
	if (c.master != nil && c.master.Address().Addr == addr) ||
		(c.masterAddressToConnect != nil && *c.masterAddressToConnect == addr) {
		if l := c.masterOrdersLink(); l != nil && l.IsActive() {
			c.log.Debug("ignoring a disconnect: the master is still connected", "address", addr.String(), "over", l.RemoteAddr().String())
			return
		}
		c.log.Info("master disassociated", "master", addr.String())
		c.log.Error("Connection to master failed! Waiting for master to reconnect...")
		c.connected = false
		c.registerWithMaster()
	}
}

func (c *Core) sendToMaster(msg any) {
	if c.master == nil {
		c.log.Warn("Dropping message because the connection to master has not yet been established", "msg", fmt.Sprintf("%T", msg))
		return
	}
	c.fx.Send(c.master, msg)
}

func (c *Core) runningDescriptions() ([]deploy.ExecutorDescription, []string) {
	execs := make([]deploy.ExecutorDescription, 0, len(c.executors))
	for _, e := range c.Executors() {
		execs = append(execs, deploy.ExecutorDescription{AppID: e.AppID, ExecID: e.ExecID, RPID: e.RPID, Cores: e.Cores,
			MemoryMB: e.MemoryMB, State: e.State})
	}
	return execs, sortedKeys(c.drivers)
}

// ---- executors ----

// LaunchExecutor handles the master's LaunchExecutor (Spark's
// handleLaunchExecutor): it is ignored unless it comes from the active
// master; a launch that fails is reported FAILED.
func (c *Core) LaunchExecutor(m deploy.LaunchExecutor) {
	if m.MasterURL != c.activeMasterURL {
		c.log.Warn("Invalid Master attempted to launch executor", "master", m.MasterURL, "executor", m.ExecID)
		return
	}
	fullID := m.AppID + "/" + strconv.Itoa(m.ExecID)
	c.log.Info("Asked to launch executor", "executor", fullID, "app", m.AppDesc.Name)
	err := c.launchExecutor(m, fullID)
	if err == nil {
		return
	}
	c.log.Error("Failed to launch executor", "executor", fullID, "app", m.AppDesc.Name, "err", err)
	if c.executors[fullID] != nil {
		c.fx.KillExecutor(m.AppID, m.ExecID) // as Spark: a failed launch kills what runs under that id
	}
	c.syncExecutorState(deploy.ExecutorStateChanged{AppID: m.AppID, ExecID: m.ExecID, State: deploy.ExecutorFailed,
		Message: ptr(err.Error())})
}

func (c *Core) launchExecutor(m deploy.LaunchExecutor, fullID string) error {
	if err := validPathName(m.AppID); err != nil {
		return err
	}
	if c.executors[fullID] != nil {
		return fmt.Errorf("executor %s is running already", fullID)
	}
	if err := c.checkResources(m.Resources); err != nil {
		return err
	}
	dir := filepath.Join(c.cfg.WorkDir, m.AppID, strconv.Itoa(m.ExecID))
	if err := c.fx.PrepareExecutorDir(dir); err != nil {
		return fmt.Errorf("failed to create directory %s: %w", dir, err)
	}
	dirs, ok := c.appDirs[m.AppID]
	if !ok {
		var err error
		if dirs, err = c.fx.CreateAppLocalDirs(m.AppID); err != nil {
			return err
		}
		c.appDirs[m.AppID] = dirs
	}
	spec := ExecutorSpec{AppID: m.AppID, ExecID: m.ExecID, RPID: m.RPID, Desc: m.AppDesc, Cores: m.Cores,
		MemoryMB: m.MemoryMB, Resources: m.Resources, Dir: dir, LocalDirs: dirs}
	if err := c.fx.LaunchExecutor(spec); err != nil {
		return err
	}
	c.executors[fullID] = &Executor{ExecutorSpec: spec, State: deploy.ExecutorLaunching}
	c.acquire(m.Cores, m.MemoryMB, m.Resources)
	return nil
}

// KillExecutor handles the master's KillExecutor.
func (c *Core) KillExecutor(m deploy.KillExecutor) {
	if m.MasterURL != c.activeMasterURL {
		c.log.Warn("Invalid Master attempted to kill executor", "master", m.MasterURL, "executor", m.ExecID)
		return
	}
	e := c.Executor(m.AppID, m.ExecID)
	if e == nil {
		c.log.Info("Asked to kill unknown executor", "executor", m.AppID+"/"+strconv.Itoa(m.ExecID))
		return
	}
	c.log.Info("Asked to kill executor", "executor", e.FullID())
	if !e.State.IsFinished() {
		e.State = deploy.ExecutorKilled
	}
	c.fx.KillExecutor(m.AppID, m.ExecID)
}

// ExecutorStateChanged handles a runner's report (Spark's
// handleExecutorStateChanged): the master hears of it, and a finished
// executor frees what it held.
func (c *Core) ExecutorStateChanged(m deploy.ExecutorStateChanged) {
	fullID := m.AppID + "/" + strconv.Itoa(m.ExecID)
	e := c.executors[fullID]
	if e != nil {
		e.State = m.State
		if m.State.IsFinished() {
			e.Message, e.ExitStatus = m.Message, m.ExitStatus
		}
	}
	c.syncExecutorState(m)
	if !m.State.IsFinished() {
		return
	}
	if e == nil {
		c.log.Info("Unknown Executor finished", "executor", fullID, "state", m.State)
	} else {
		c.log.Info("Executor finished", "executor", fullID, "state", m.State, "message", deref(m.Message), "exitStatus", derefInt(m.ExitStatus))
		delete(c.executors, fullID)
		c.finishedExecutors = trimFinished(append(c.finishedExecutors, e), c.cfg.RetainedExecutors)
		c.release(e.Cores, e.MemoryMB, e.Resources)
		if c.cfg.ExecutorFilesCleanup {
			c.fx.ExecutorRemoved(e.AppID, e.ExecID)
		}
	}
	c.maybeCleanupApplication(m.AppID)
}

// ResyncExecutorState sends again a state whose ask failed.
func (c *Core) ResyncExecutorState(m deploy.ExecutorStateChanged) { c.syncExecutorState(m) }

func (c *Core) syncExecutorState(m deploy.ExecutorStateChanged) {
	if c.master == nil {
		c.log.Warn("Dropping executor state because the connection to master has not yet been established",
			"executor", m.AppID+"/"+strconv.Itoa(m.ExecID), "state", m.State)
		return
	}
	c.fx.SyncExecutorState(c.master, m)
}

// ApplicationFinished marks an app finished; its local dirs go once none
// of its executors runs.
func (c *Core) ApplicationFinished(appID string) {
	c.finishedApps[appID] = true
	c.maybeCleanupApplication(appID)
}

func (c *Core) maybeCleanupApplication(appID string) {
	if !c.finishedApps[appID] {
		return
	}
	for _, e := range c.executors {
		if e.AppID == appID {
			return
		}
	}
	delete(c.finishedApps, appID)
	dirs, ok := c.appDirs[appID]
	delete(c.appDirs, appID)
	if !ok && !c.cfg.ShuffleService {
		return
	}
	c.log.Info("Cleaning up local directories for application", "app", appID)
	c.fx.CleanupApp(appID, dirs)
}

// ---- drivers ----

// LaunchDriver handles the master's LaunchDriver.
func (c *Core) LaunchDriver(m deploy.LaunchDriver) {
	c.log.Info("Asked to launch driver", "driver", m.DriverID)
	if c.drivers[m.DriverID] != nil {
		c.log.Warn("Asked to launch a driver that runs already; ignored", "driver", m.DriverID)
		return
	}
	err := validPathName(m.DriverID)
	if err == nil {
		err = c.checkResources(m.Resources)
	}
	spec := DriverSpec{ID: m.DriverID, Desc: m.Desc, Resources: m.Resources, Dir: filepath.Join(c.cfg.WorkDir, m.DriverID)}
	if err == nil {
		err = c.fx.LaunchDriver(spec)
	}
	if err != nil {
		c.log.Error("Cannot launch driver", "driver", m.DriverID, "err", err)
		c.sendToMaster(deploy.DriverStateChanged{DriverID: m.DriverID, State: deploy.DriverError, Exception: ptr(err.Error())})
		return
	}
	c.drivers[m.DriverID] = &Driver{DriverSpec: spec, State: deploy.DriverRunning}
	c.acquire(m.Desc.Cores, m.Desc.MemoryMB, m.Resources)
}

// KillDriver handles the master's KillDriver.
func (c *Core) KillDriver(id string) {
	if c.drivers[id] == nil {
		c.log.Error("Asked to kill unknown driver", "driver", id)
		return
	}
	c.log.Info("Asked to kill driver", "driver", id)
	c.fx.KillDriver(id)
}

// DriverStateChanged handles a driver runner's final state (Spark's
// handleDriverStateChanged).
func (c *Core) DriverStateChanged(m deploy.DriverStateChanged) {
	switch m.State {
	case deploy.DriverError:
		c.log.Warn("Driver failed with exception", "driver", m.DriverID, "exception", deref(m.Exception))
	case deploy.DriverFailed:
		c.log.Warn("Driver exited with failure", "driver", m.DriverID)
	case deploy.DriverFinished:
		c.log.Info("Driver exited successfully", "driver", m.DriverID)
	case deploy.DriverKilled:
		c.log.Info("Driver was killed by user", "driver", m.DriverID)
	default:
		c.log.Debug("Driver changed state", "driver", m.DriverID, "state", m.State)
	}
	c.sendToMaster(m)
	d := c.drivers[m.DriverID]
	if d == nil {
		return
	}
	delete(c.drivers, m.DriverID)
	d.State, d.Exception = m.State, m.Exception
	c.finishedDrivers = trimFinished(append(c.finishedDrivers, d), c.cfg.RetainedDrivers)
	c.release(d.Desc.Cores, d.Desc.MemoryMB, d.Resources)
}

// ---- resources and cleanup ----

// checkResources refuses custom resources the worker does not offer or
// that are in use already (when the worker declares its resources).
func (c *Core) checkResources(res map[string]deploy.ResourceInformation) error {
	if len(c.cfg.Resources) == 0 {
		return nil
	}
	for _, name := range sortedKeys(res) {
		offered, ok := c.cfg.Resources[name]
		if !ok {
			return fmt.Errorf("resource %s is not offered by this worker", name)
		}
		for _, a := range res[name].Addresses {
			if !contains(offered.Addresses, a) {
				return fmt.Errorf("resource %s address %s is not offered by this worker", name, a)
			}
			if contains(c.resourcesUsed[name], a) {
				return fmt.Errorf("resource %s address %s is in use", name, a)
			}
		}
	}
	return nil
}

func (c *Core) acquire(cores, memoryMB int, res map[string]deploy.ResourceInformation) {
	c.coresUsed += cores
	c.memoryUsed += memoryMB
	for name, r := range res {
		used := append(c.resourcesUsed[name], r.Addresses...)
		sort.Strings(used)
		c.resourcesUsed[name] = used
	}
}

func (c *Core) release(cores, memoryMB int, res map[string]deploy.ResourceInformation) {
	c.coresUsed -= cores
	c.memoryUsed -= memoryMB
	for name, r := range res {
		var left []string
		for _, a := range c.resourcesUsed[name] {
			if !contains(r.Addresses, a) {
				left = append(left, a)
			}
		}
		if len(left) == 0 {
			delete(c.resourcesUsed, name)
		} else {
			c.resourcesUsed[name] = left
		}
	}
}

// workDirCleanup lists what is in use and asks the shell to clean the rest.
func (c *Core) workDirCleanup() {
	inUse := map[string]bool{shuffleDBDir: true}
	for _, e := range c.executors {
		inUse[e.AppID] = true
	}
	for id := range c.drivers {
		inUse[id] = true
	}
	c.fx.CleanWorkDir(inUse)
}

// ---- helpers ----

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

// trimFinished drops the oldest max(n/10, 1) entries once there are more
// than retained.
func trimFinished[T any](list []T, retained int) []T {
	if len(list) > retained {
		drop := min(max(len(list)/10, 1), len(list))
		list = append(list[:0:0], list[drop:]...)
	}
	return list
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ptr[T any](v T) *T { return &v }

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
