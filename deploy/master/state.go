package master

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// Peer is an endpoint the master talks to: a worker, or an application's
// driver. *rpcenv.Ref is one; tests use fakes.
type Peer interface {
	Send(msg any) error
	Address() rpcenv.EndpointAddress
}

// Effects are what the state machine asks its shell to do. Everything the
// master does to the world goes through them, so State itself is a pure,
// single-threaded core that scenario tests drive without sockets.
type Effects interface {
	// Send delivers msg to a peer (one way; failures are the peer's problem).
	Send(to Peer, msg any)
	// Answer is Send for the answer to a registration (RegisteredWorker,
	// RegisteredApplication): the master's ref in it is at reachedAt, the
	// address the peer reached the master at, when that is another
	// spelling of the master's own (zero: the master's own).
	Answer(to Peer, msg any, reachedAt rpcenv.Address)
	// Persist and Unpersist maintain the recovery state (app_<id>,
	// driver_<id>, worker_<id>).
	Persist(key string, v any)
	Unpersist(key string)
	// Now is the clock.
	Now() time.Time
	// ScheduleCompleteRecovery arranges for CompleteRecovery after d.
	ScheduleCompleteRecovery(d time.Duration)
}

// Config is the master's scheduling and bookkeeping configuration.
type Config struct {
	MasterURL             string
	WebUIURL              string
	WorkerTimeout         time.Duration // spark.worker.timeout (60s)
	DeadWorkerPersistence int           // spark.dead.worker.persistence (15)
	RecoveryTimeout       time.Duration // spark.deploy.recoveryTimeout (= worker timeout)
	SpreadOutApps         bool          // spark.deploy.spreadOutApps (true)
	SpreadOutDrivers      bool          // spark.deploy.spreadOutDrivers (true)
	DefaultCores          int           // spark.deploy.defaultCores (MaxInt32)
	MaxDrivers            int           // spark.deploy.maxDrivers (MaxInt32)
	MaxExecutorRetries    int           // spark.deploy.maxExecutorRetries (10)
	RetainedApps          int           // spark.deploy.retainedApplications (200)
	RetainedDrivers       int           // spark.deploy.retainedDrivers (200)
	AppIDPattern          string        // spark.deploy.appIdPattern (app-%s-%04d)
	DriverIDPattern       string        // spark.deploy.driverIdPattern (driver-%s-%04d)
	AppNumberModulo       int           // spark.deploy.appNumberModulo (0: none)
	WorkerSelectionPolicy string        // spark.deploy.workerSelectionPolicy (CORES_FREE_DESC)
	// MaxWorkers bounds the workers listed, dead ones included
	// (spark.deploy.ember.maxWorkers, 16384; 0: no bound): Admit refuses
	// new registrations past it.
	MaxWorkers int
}

// DefaultConfig returns Spark's defaults.
func DefaultConfig() Config {
	return Config{WorkerTimeout: 60 * time.Second, DeadWorkerPersistence: 15, RecoveryTimeout: 60 * time.Second,
		SpreadOutApps: true, SpreadOutDrivers: true, DefaultCores: math.MaxInt32, MaxDrivers: math.MaxInt32,
		MaxExecutorRetries: 10, RetainedApps: 200, RetainedDrivers: 200,
		AppIDPattern: "app-%s-%04d", DriverIDPattern: "driver-%s-%04d", WorkerSelectionPolicy: "CORES_FREE_DESC",
		MaxWorkers: DefaultMaxWorkers}
}

// WorkerInfo is a worker as the master tracks it.
type WorkerInfo struct {
	ID            string
	Host          string
	Port          int
	Endpoint      Peer
	Cores         int
	MemoryMB      int
	WebUIAddress  string
	State         deploy.WorkerState
	LastHeartbeat time.Time
	CoresUsed     int
	MemoryUsed    int
	Executors     map[string]*ExecutorInfo // key app/exec
	Drivers       map[string]*DriverInfo
	conn          peerLink // the connection it registered over (authority.go)
}

// CoresFree returns the worker's idle cores.
func (w *WorkerInfo) CoresFree() int { return w.Cores - w.CoresUsed }

// MemoryFree returns the worker's idle memory in MB.
func (w *WorkerInfo) MemoryFree() int { return w.MemoryMB - w.MemoryUsed }

func (w *WorkerInfo) hostPort() string { return w.Host + ":" + strconv.Itoa(w.Port) }

func (w *WorkerInfo) addExecutor(e *ExecutorInfo) {
	w.Executors[e.fullID()] = e
	w.CoresUsed += e.Cores
	w.MemoryUsed += e.MemoryMB
}

func (w *WorkerInfo) removeExecutor(e *ExecutorInfo) {
	if _, ok := w.Executors[e.fullID()]; ok {
		delete(w.Executors, e.fullID())
		w.CoresUsed -= e.Cores
		w.MemoryUsed -= e.MemoryMB
	}
}

func (w *WorkerInfo) addDriver(d *DriverInfo) {
	w.Drivers[d.ID] = d
	w.CoresUsed += d.Desc.Cores
	w.MemoryUsed += d.Desc.MemoryMB
}

func (w *WorkerInfo) removeDriver(d *DriverInfo) {
	if _, ok := w.Drivers[d.ID]; ok {
		delete(w.Drivers, d.ID)
		w.CoresUsed -= d.Desc.Cores
		w.MemoryUsed -= d.Desc.MemoryMB
	}
}

// AppInfo is an application as the master tracks it.
type AppInfo struct {
	ID              string
	Desc            deploy.ApplicationDescription
	Driver          Peer
	StartTime       time.Time
	State           deploy.ApplicationState
	Executors       map[int]*ExecutorInfo
	CoresGranted    int
	NextExecID      int
	RetryCount      int
	ExecutorLimit   int
	EndTime         time.Time
	driverAddress   rpcenv.Address
	registeredFrom  rpcenv.Address // the sender of its registration (authority.go)
	conn            peerLink       // the connection it registered over (authority.go)
	removedExecutor []*ExecutorInfo
}

func (a *AppInfo) requestedCores(defaultCores int) int {
	if a.Desc.MaxCores != nil {
		return *a.Desc.MaxCores
	}
	return defaultCores
}

func (a *AppInfo) coresLeft(defaultCores int) int {
	return a.requestedCores(defaultCores) - a.CoresGranted
}

func (a *AppInfo) memoryPerExecutor() int {
	if a.Desc.MemoryPerExecutorMB > 0 {
		return a.Desc.MemoryPerExecutorMB
	}
	return 1024
}

// ExecutorInfo is an executor of an application on a worker.
type ExecutorInfo struct {
	ID       int
	App      *AppInfo
	Worker   *WorkerInfo
	Cores    int
	MemoryMB int
	State    deploy.ExecutorState
}

func (e *ExecutorInfo) fullID() string { return e.App.ID + "/" + strconv.Itoa(e.ID) }

// DriverInfo is a cluster-mode driver.
type DriverInfo struct {
	ID         string
	Desc       deploy.DriverDescription
	StartTime  time.Time
	SubmitDate time.Time
	State      deploy.DriverState
	Worker     *WorkerInfo
	Exception  *string
}

// State is the master's state machine (Spark's Master, minus its I/O). It is
// not safe for concurrent use: the master endpoint runs one message at a
// time.
type State struct {
	cfg Config
	fx  Effects

	Status deploy.RecoveryState

	// awaitingState holds recovered workers that have not answered
	// MasterChanged with their executors and drivers yet. Recovery does not
	// complete before they have (or the recovery timeout fires): a worker
	// that re-registers is ALIVE at once (SPARK-46353), but scheduling before
	// its report would reuse the ids of executors it still runs.
	awaitingState map[string]bool

	workers         map[*WorkerInfo]struct{}
	idToWorker      map[string]*WorkerInfo
	addressToWorker map[rpcenv.EndpointAddress]*WorkerInfo

	apps          map[*AppInfo]struct{}
	idToApp       map[string]*AppInfo
	waitingApps   []*AppInfo
	addressToApp  map[rpcenv.EndpointAddress]*AppInfo
	completedApps []*AppInfo
	nextAppNumber int

	drivers          map[string]*DriverInfo
	waitingDrivers   []*DriverInfo
	completedDrivers []*DriverInfo
	nextDriverNumber int

	driverCursor int

	log *slog.Logger // the master's events at INFO, as Spark's master logs them (SetLogger)
}

// SetLogger sets where the state logs what happens to workers,
// applications, executors and drivers (nil: nowhere, the default).
func (s *State) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	s.log = l
}

// NewState returns a master in STANDBY.
func NewState(cfg Config, fx Effects) *State {
	return &State{cfg: cfg, fx: fx, Status: deploy.StateStandby, awaitingState: map[string]bool{},
		workers: map[*WorkerInfo]struct{}{}, idToWorker: map[string]*WorkerInfo{},
		addressToWorker: map[rpcenv.EndpointAddress]*WorkerInfo{},
		apps:            map[*AppInfo]struct{}{}, idToApp: map[string]*AppInfo{}, addressToApp: map[rpcenv.EndpointAddress]*AppInfo{},
		drivers: map[string]*DriverInfo{}, log: slog.New(slog.DiscardHandler)}
}

func timestamp(t time.Time) string { return t.Format("20060102150405") }

// javaDateLayout is java.util.Date.toString ("EEE MMM dd HH:mm:ss zzz
// yyyy": the day has two digits, unlike time.UnixDate's padded one).
const javaDateLayout = "Mon Jan 02 15:04:05 MST 2006"

// ---- leadership and recovery ----

// Persisted records (JSON through the persistence engine).
type (
	// WorkerRecord is a persisted worker.
	WorkerRecord struct {
		ID           string `json:"id"`
		Host         string `json:"host"`
		Port         int    `json:"port"`
		Endpoint     string `json:"endpoint"`
		Cores        int    `json:"cores"`
		MemoryMB     int    `json:"memory"`
		WebUIAddress string `json:"webuiaddress"`
	}
	// AppRecord is a persisted application.
	AppRecord struct {
		ID        string                        `json:"id"`
		Desc      deploy.ApplicationDescription `json:"desc"`
		Driver    string                        `json:"driver"`
		StartTime int64                         `json:"starttime"`
		// JVM marks a Spark driver: after a failover the master talks to
		// it in Java serialization again.
		JVM bool `json:"jvm,omitempty"`
	}
	// DriverRecord is a persisted driver.
	DriverRecord struct {
		ID         string                   `json:"id"`
		Desc       deploy.DriverDescription `json:"desc"`
		StartTime  int64                    `json:"starttime"`
		SubmitDate int64                    `json:"submitdate"`
	}
)

// Recovered is what the persistence engine read back, with peers rebuilt.
type Recovered struct {
	Workers []RecoveredWorker
	Apps    []RecoveredApp
	Drivers []DriverRecord
}

// RecoveredWorker is a persisted worker and a peer for its endpoint.
type RecoveredWorker struct {
	Record WorkerRecord
	Peer   Peer
}

// RecoveredApp is a persisted app and a peer for its driver.
type RecoveredApp struct {
	Record AppRecord
	Peer   Peer
}

// ElectedLeader makes this master the leader: ALIVE at once with nothing
// persisted, else RECOVERING until every worker and app answers (or the
// recovery timeout).
func (s *State) ElectedLeader(r Recovered) {
	if len(r.Workers) == 0 && len(r.Apps) == 0 && len(r.Drivers) == 0 {
		s.Status = deploy.StateAlive
		s.schedule()
		return
	}
	s.Status = deploy.StateRecovering
	for _, ra := range r.Apps {
		app := s.newApp(ra.Record.Desc, ra.Peer, time.UnixMilli(ra.Record.StartTime))
		app.ID = ra.Record.ID
		app.State = deploy.AppUnknown
		s.registerApp(app)
		s.fx.Send(ra.Peer, deploy.MasterChanged{MasterWebUIURL: s.cfg.WebUIURL})
	}
	for _, dr := range r.Drivers {
		d := &DriverInfo{ID: dr.ID, Desc: dr.Desc, StartTime: time.UnixMilli(dr.StartTime), SubmitDate: time.UnixMilli(dr.SubmitDate), State: deploy.DriverSubmitted}
		s.drivers[d.ID] = d
	}
	for _, rw := range r.Workers {
		w := &WorkerInfo{ID: rw.Record.ID, Host: rw.Record.Host, Port: rw.Record.Port, Endpoint: rw.Peer,
			Cores: rw.Record.Cores, MemoryMB: rw.Record.MemoryMB, WebUIAddress: rw.Record.WebUIAddress,
			State: deploy.WorkerUnknown, LastHeartbeat: s.fx.Now(),
			Executors: map[string]*ExecutorInfo{}, Drivers: map[string]*DriverInfo{}}
		s.addWorker(w)
		s.awaitingState[w.ID] = true
		s.fx.Send(rw.Peer, deploy.MasterChanged{MasterWebUIURL: s.cfg.WebUIURL})
	}
	if s.canCompleteRecovery() {
		s.CompleteRecovery()
	} else {
		s.fx.ScheduleCompleteRecovery(s.cfg.RecoveryTimeout)
	}
}

func (s *State) canCompleteRecovery() bool {
	if len(s.awaitingState) > 0 {
		return false
	}
	for w := range s.workers {
		if w.State == deploy.WorkerUnknown {
			return false
		}
	}
	for a := range s.apps {
		if a.State == deploy.AppUnknown {
			return false
		}
	}
	return true
}

// CompleteRecovery ends recovery: unresponsive workers are removed,
// unresponsive apps finished, drivers without a worker relaunched (if
// supervised) or failed, then the master is ALIVE.
func (s *State) CompleteRecovery() {
	if s.Status != deploy.StateRecovering {
		return
	}
	s.Status = deploy.StateCompletingRecovery
	clear(s.awaitingState)
	s.log.Info("Completing recovery")
	for _, w := range s.sortedWorkers() {
		if w.State == deploy.WorkerUnknown {
			s.removeWorker(w, "Not responding for recovery")
		}
	}
	for _, a := range s.sortedApps() {
		if a.State == deploy.AppUnknown {
			s.finishApplication(a)
		}
	}
	for _, a := range s.sortedApps() {
		if a.State == deploy.AppWaiting {
			a.State = deploy.AppRunning
		}
	}
	for _, id := range sortedKeys(s.drivers) {
		d := s.drivers[id]
		if d.Worker == nil {
			if d.Desc.Supervise {
				s.relaunchDriver(d)
			} else {
				s.removeDriver(d.ID, deploy.DriverError, nil)
			}
		}
	}
	s.Status = deploy.StateAlive
	s.log.Info("Recovery complete: resuming operations")
	s.schedule()
}

// MasterChangeAcknowledged marks an app as answering the recovery.
func (s *State) MasterChangeAcknowledged(appID string) {
	if a := s.idToApp[appID]; a != nil && a.State == deploy.AppUnknown {
		a.State = deploy.AppWaiting
	}
	if s.Status == deploy.StateRecovering && s.canCompleteRecovery() {
		s.CompleteRecovery()
	}
}

// WorkerSchedulerStateResponse marks a worker as answering the recovery
// and re-adds what it runs. A second answer adds nothing twice (a worker
// may be told of the master change both over the connection the master
// dialled and after re-registering).
func (s *State) WorkerSchedulerStateResponse(m deploy.WorkerSchedulerStateResponse) {
	w := s.idToWorker[m.ID]
	if w == nil {
		return
	}
	s.log.Info("Worker has re-registered after the master change", "worker", w.ID, "executors", len(m.Executors), "drivers", len(m.DriverIDs))
	delete(s.awaitingState, m.ID)
	w.State = deploy.WorkerAlive
	// What the worker listed before this answer is not added again; two
	// entries with one id in the answer are both added (Spark does so).
	known := make([]bool, len(m.Executors))
	for i, ed := range m.Executors {
		_, known[i] = w.Executors[ed.AppID+"/"+strconv.Itoa(ed.ExecID)]
	}
	for i, ed := range m.Executors {
		app := s.idToApp[ed.AppID]
		if app == nil || known[i] {
			continue
		}
		e := &ExecutorInfo{ID: ed.ExecID, App: app, Worker: w, Cores: ed.Cores, MemoryMB: ed.MemoryMB, State: ed.State}
		app.Executors[e.ID] = e
		app.CoresGranted += e.Cores
		if e.ID >= app.NextExecID {
			app.NextExecID = e.ID + 1
		}
		w.addExecutor(e)
	}
	for _, id := range m.DriverIDs {
		if d := s.drivers[id]; d != nil && d.Worker == nil {
			d.Worker, d.State = w, deploy.DriverRunning
			w.addDriver(d)
		}
	}
	if s.Status == deploy.StateRecovering && s.canCompleteRecovery() {
		s.CompleteRecovery()
	}
}

// ---- workers ----

// RegisterWorker handles a worker's registration. usedAddress is the
// master address the worker reached (echoed back, SPARK-20529).
func (s *State) RegisterWorker(m deploy.RegisterWorker, worker Peer) {
	s.RegisterWorkerOver(m, worker, nil, rpcenv.Address{})
}

// RegisterWorkerOver is RegisterWorker for a registration that came over
// link: the worker's reports are then taken only over it (Admit). The
// answer names the master at the address the worker says it reached
// (m.MasterAddress), else at reachedAt (see Effects.Answer).
func (s *State) RegisterWorkerOver(m deploy.RegisterWorker, worker Peer, link Link, reachedAt rpcenv.Address) {
	if !m.MasterAddress.IsZero() {
		reachedAt = m.MasterAddress
	}
	if s.Status == deploy.StateStandby {
		s.fx.Send(worker, deploy.MasterInStandby{})
		return
	}
	s.log.Info("Registering worker", "worker", m.ID, "hostPort", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)),
		"cores", m.Cores, "memoryMB", m.MemoryMB)
	if w := s.idToWorker[m.ID]; w != nil {
		s.log.Info("Worker registered again", "worker", m.ID, "state", w.State)
		if w.State == deploy.WorkerUnknown {
			w.State = deploy.WorkerAlive
		}
		if worker.Address() == w.Endpoint.Address() {
			// The worker reconnected: its new ref reaches it over the new
			// connection (Admit moved the binding there).
			w.Endpoint = worker
		}
		if s.awaitingState[w.ID] {
			// Recovering, and the worker registered again before the
			// MasterChanged sent over a connection this master dialled
			// reached it (a worker that hears its master over its own
			// connection refuses that one while it is open): tell it here.
			s.fx.Send(worker, deploy.MasterChanged{MasterWebUIURL: s.cfg.WebUIURL})
		}
		s.fx.Answer(worker, deploy.RegisteredWorker{MasterWebUIURL: s.cfg.WebUIURL, MasterAddress: m.MasterAddress, Duplicate: true}, reachedAt)
		return
	}
	if m.Host == "" || m.Port <= 0 {
		s.fx.Send(worker, deploy.RegisterWorkerFailed{Message: fmt.Sprintf("Invalid worker address %s:%d", m.Host, m.Port)})
		return
	}
	w := &WorkerInfo{ID: m.ID, Host: m.Host, Port: m.Port, Endpoint: worker, Cores: m.Cores, MemoryMB: m.MemoryMB,
		WebUIAddress: m.WorkerWebUIURL, State: deploy.WorkerAlive, LastHeartbeat: s.fx.Now(),
		Executors: map[string]*ExecutorInfo{}, Drivers: map[string]*DriverInfo{}}
	// Drop a DEAD worker with the same host:port.
	for _, old := range s.sortedWorkers() {
		if old.Host == w.Host && old.Port == w.Port && old.State == deploy.WorkerDead {
			delete(s.workers, old)
		}
	}
	addr := worker.Address()
	if old := s.addressToWorker[addr]; old != nil {
		if old.State != deploy.WorkerUnknown {
			s.log.Info("Refusing worker registration: another worker is registered at its address", "worker", m.ID, "address", addr.String())
			s.fx.Send(worker, deploy.RegisterWorkerFailed{Message: "Attempted to re-register worker at same address: " + addr.String()})
			return
		}
		s.removeWorker(old, "Worker replaced by a new worker with same address")
	}
	w.conn.bind(link)
	s.addWorker(w)
	s.fx.Persist("worker_"+w.ID, WorkerRecord{ID: w.ID, Host: w.Host, Port: w.Port, Endpoint: addr.String(),
		Cores: w.Cores, MemoryMB: w.MemoryMB, WebUIAddress: w.WebUIAddress})
	s.fx.Answer(worker, deploy.RegisteredWorker{MasterWebUIURL: s.cfg.WebUIURL, MasterAddress: m.MasterAddress}, reachedAt)
	s.log.Info("Worker registered", "worker", w.ID, "hostPort", w.hostPort(), "cores", w.Cores, "memoryMB", w.MemoryMB)
	s.schedule()
}

func (s *State) addWorker(w *WorkerInfo) {
	s.workers[w] = struct{}{}
	s.idToWorker[w.ID] = w
	s.addressToWorker[w.Endpoint.Address()] = w
}

// Heartbeat refreshes a worker; a worker the master forgot (but still
// lists, e.g. DEAD) is told to reconnect.
func (s *State) Heartbeat(m deploy.Heartbeat, worker Peer) {
	if w := s.idToWorker[m.WorkerID]; w != nil {
		w.LastHeartbeat = s.fx.Now()
		return
	}
	for w := range s.workers {
		if w.ID == m.WorkerID {
			s.fx.Send(worker, deploy.ReconnectWorker{MasterURL: s.cfg.MasterURL})
			return
		}
	}
}

// WorkerLatestState kills what the worker runs that the master does not
// know (SPARK-13604).
func (s *State) WorkerLatestState(m deploy.WorkerLatestState) {
	w := s.idToWorker[m.ID]
	if w == nil {
		return
	}
	for _, ed := range m.Executors {
		if _, ok := w.Executors[ed.AppID+"/"+strconv.Itoa(ed.ExecID)]; !ok {
			s.fx.Send(w.Endpoint, deploy.KillExecutor{MasterURL: s.cfg.MasterURL, AppID: ed.AppID, ExecID: ed.ExecID})
		}
	}
	for _, id := range m.DriverIDs {
		if _, ok := w.Drivers[id]; !ok {
			s.fx.Send(w.Endpoint, deploy.KillDriver{DriverID: id})
		}
	}
}

// CheckForWorkerTimeOut removes workers whose heartbeats stopped and
// forgets long-dead ones.
func (s *State) CheckForWorkerTimeOut() {
	now := s.fx.Now()
	for _, w := range s.sortedWorkers() {
		switch {
		case w.State != deploy.WorkerDead && w.LastHeartbeat.Before(now.Add(-s.cfg.WorkerTimeout)):
			s.removeWorker(w, fmt.Sprintf("Not receiving heartbeat for %d seconds", int(s.cfg.WorkerTimeout/time.Second)))
		case w.State == deploy.WorkerDead &&
			w.LastHeartbeat.Before(now.Add(-time.Duration(s.cfg.DeadWorkerPersistence+1)*s.cfg.WorkerTimeout)):
			delete(s.workers, w)
		}
	}
}

func (s *State) removeWorker(w *WorkerInfo, msg string) {
	s.log.Info("Removing worker", "worker", w.ID, "hostPort", w.hostPort(), "reason", msg)
	delete(s.awaitingState, w.ID)
	w.State = deploy.WorkerDead
	delete(s.idToWorker, w.ID)
	delete(s.addressToWorker, w.Endpoint.Address())
	for _, k := range sortedKeys(w.Executors) {
		e := w.Executors[k]
		s.fx.Send(e.App.Driver, deploy.ExecutorUpdated{ID: e.ID, State: deploy.ExecutorLost,
			Message: ptr("worker lost: " + msg), WorkerHost: ptr(w.Host)})
		e.State = deploy.ExecutorLost
		s.removeExecutorFromApp(e.App, e)
		w.removeExecutor(e)
	}
	for _, id := range sortedKeys(w.Drivers) {
		d := w.Drivers[id]
		w.removeDriver(d)
		d.Worker = nil
		if d.Desc.Supervise {
			s.relaunchDriver(d)
		} else {
			s.removeDriver(d.ID, deploy.DriverError, nil)
		}
	}
	for _, a := range s.sortedApps() {
		if a.State != deploy.AppFinished && a.State != deploy.AppFailed && a.State != deploy.AppKilled {
			s.fx.Send(a.Driver, deploy.WorkerRemoved{ID: w.ID, Host: w.Host, Message: msg})
		}
	}
	s.fx.Unpersist("worker_" + w.ID)
	s.schedule()
}

// Disconnected handles a remote process going away.
//
// The address is the one the closed connection's peer wrote in its
// messages, so a worker or an application whose own connection (the one it
// registered over) is still open stays: the connection that closed only
// claimed its address.
func (s *State) Disconnected(addr rpcenv.Address) {
	for _, w := range s.sortedWorkers() {
		if w.Endpoint.Address().Addr == addr && w.State != deploy.WorkerDead {
			if w.conn.link != nil && w.conn.link.IsActive() {
				s.log.Debug("ignoring a disconnect: the worker is still connected over its own connection", "worker", w.ID, "address", addr.String())
				continue
			}
			s.removeWorker(w, addr.String()+" got disassociated")
		}
	}
	for _, a := range s.sortedApps() {
		if a.Driver.Address().Addr == addr && !isAppDone(a.State) {
			if a.conn.link != nil && a.conn.link.IsActive() {
				s.log.Debug("ignoring a disconnect: the driver is still connected over its own connection", "app", a.ID, "address", addr.String())
				continue
			}
			s.finishApplication(a)
		}
	}
	if s.Status == deploy.StateRecovering && s.canCompleteRecovery() {
		s.CompleteRecovery()
	}
}

// ---- applications ----

func (s *State) newApp(desc deploy.ApplicationDescription, driver Peer, start time.Time) *AppInfo {
	limit := math.MaxInt32
	if desc.InitialExecutorLimit != nil {
		limit = *desc.InitialExecutorLimit
	}
	return &AppInfo{Desc: desc, Driver: driver, StartTime: start, State: deploy.AppWaiting,
		Executors: map[int]*ExecutorInfo{}, ExecutorLimit: limit, driverAddress: driver.Address().Addr}
}

func (s *State) newAppID(now time.Time, name string) string {
	n := s.nextAppNumber
	s.nextAppNumber++
	if s.cfg.AppNumberModulo > 0 {
		n %= s.cfg.AppNumberModulo
		s.nextAppNumber %= s.cfg.AppNumberModulo
	}
	return fmt.Sprintf(s.cfg.AppIDPattern, timestamp(now), n)
}

// RegisterApplication registers an app and schedules it.
func (s *State) RegisterApplication(m deploy.RegisterApplication, driver Peer) {
	s.RegisterApplicationOver(m, driver, rpcenv.Address{}, nil, rpcenv.Address{})
}

// RegisterApplicationOver is RegisterApplication for a registration sent
// from address from over link: what only the driver decides is then taken
// only over link (Admit). A client-only driver (spark-client://, no
// address) is known by its connection alone, so two of them are two apps.
// The answer names the master at reachedAt (see Effects.Answer).
func (s *State) RegisterApplicationOver(m deploy.RegisterApplication, driver Peer, from rpcenv.Address, link Link, reachedAt rpcenv.Address) {
	if s.Status == deploy.StateStandby {
		return // standby masters ignore apps; the client tries the others
	}
	if s.appOf(driver, link) != nil {
		return // the same driver registered already
	}
	s.log.Info("Registering app", "name", m.AppDescription.Name)
	now := s.fx.Now()
	app := s.newApp(m.AppDescription, driver, now)
	app.ID = s.newAppID(now, m.AppDescription.Name)
	app.registeredFrom = from
	app.conn.bind(link)
	s.registerApp(app)
	jvm, _ := driver.(interface{ Java() bool })
	s.fx.Persist("app_"+app.ID, AppRecord{ID: app.ID, Desc: app.Desc, Driver: driver.Address().String(), StartTime: now.UnixMilli(),
		JVM: jvm != nil && jvm.Java()})
	s.fx.Answer(driver, deploy.RegisteredApplication{AppID: app.ID}, reachedAt)
	s.log.Info("Registered app", "name", app.Desc.Name, "app", app.ID, "driver", driver.Address().String())
	s.schedule()
}

func (s *State) registerApp(app *AppInfo) {
	s.apps[app] = struct{}{}
	s.idToApp[app.ID] = app
	if !app.driverAddress.IsZero() {
		s.addressToApp[app.Driver.Address()] = app
	}
	s.waitingApps = append(s.waitingApps, app)
}

// appOf returns the live app of a driver: by its address, or for a
// client-only driver by the connection it registered over.
func (s *State) appOf(driver Peer, link Link) *AppInfo {
	if !driver.Address().Addr.IsZero() {
		return s.addressToApp[driver.Address()]
	}
	if link == nil {
		return nil
	}
	var found *AppInfo
	for _, a := range s.clientOnlyApps(link) {
		found = a // at most one live app per link in practice; the latest
	}
	return found
}

// clientOnlyApps returns the live apps of client-only drivers that
// registered over link, oldest first. It scans the live apps without
// copying or sorting them (ConnClosed runs for every closed connection),
// and sorts only what it found.
func (s *State) clientOnlyApps(link Link) []*AppInfo {
	var out []*AppInfo
	for a := range s.apps {
		if a.driverAddress.IsZero() && a.conn.link == link {
			out = append(out, a)
		}
	}
	if len(out) > 1 {
		sort.Slice(out, func(i, j int) bool {
			return out[i].StartTime.Before(out[j].StartTime) || (out[i].StartTime.Equal(out[j].StartTime) && out[i].ID < out[j].ID)
		})
	}
	return out
}

// ConnClosed finishes the apps of client-only drivers whose connection
// closed: nothing can reach such a driver any more (a listening driver's
// app ends on Disconnected, by its address).
func (s *State) ConnClosed(link Link) {
	for _, a := range s.clientOnlyApps(link) {
		if !isAppDone(a.State) {
			s.finishApplication(a)
		}
	}
}

// UnregisterApplication finishes an app at its driver's request.
func (s *State) UnregisterApplication(appID string) {
	if a := s.idToApp[appID]; a != nil {
		s.log.Info("Received unregister request from application", "app", appID)
		s.finishApplication(a)
	}
}

func (s *State) finishApplication(a *AppInfo) { s.removeApplication(a, deploy.AppFinished) }

func isAppDone(st deploy.ApplicationState) bool {
	return st == deploy.AppFinished || st == deploy.AppFailed || st == deploy.AppKilled
}

func (s *State) removeApplication(a *AppInfo, state deploy.ApplicationState) {
	if _, ok := s.apps[a]; !ok {
		return
	}
	s.log.Info("Removing app", "app", a.ID, "name", a.Desc.Name, "state", state)
	delete(s.apps, a)
	delete(s.idToApp, a.ID)
	if s.addressToApp[a.Driver.Address()] == a {
		delete(s.addressToApp, a.Driver.Address())
	}
	s.waitingApps = removeApp(s.waitingApps, a)
	if len(s.completedApps) >= s.cfg.RetainedApps {
		drop := max(s.cfg.RetainedApps/10, 1)
		s.completedApps = s.completedApps[min(drop, len(s.completedApps)):]
	}
	s.completedApps = append(s.completedApps, a)
	for _, id := range sortedIntKeys(a.Executors) {
		e := a.Executors[id]
		s.killExecutor(e)
	}
	a.State = state
	a.EndTime = s.fx.Now()
	if state != deploy.AppFinished {
		s.fx.Send(a.Driver, deploy.ApplicationRemoved{Message: string(state)})
	}
	s.fx.Unpersist("app_" + a.ID)
	s.schedule()
	// Every listed worker, as Spark's workers.foreach: a DEAD one may still
	// run the app's executors and needs to clean up.
	for _, w := range s.sortedWorkers() {
		s.fx.Send(w.Endpoint, deploy.ApplicationFinished{ID: a.ID})
	}
}

func removeApp(list []*AppInfo, a *AppInfo) []*AppInfo {
	out := list[:0]
	for _, x := range list {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}

func (s *State) removeExecutorFromApp(a *AppInfo, e *ExecutorInfo) {
	if _, ok := a.Executors[e.ID]; ok {
		delete(a.Executors, e.ID)
		a.CoresGranted -= e.Cores
		a.removedExecutor = append(a.removedExecutor, e)
	}
}

// killExecutor frees the executor's worker and asks it to kill the
// executor. It stays in its app, as in Spark: a finished app keeps showing
// the cores it had; KillExecutors removes it from the app first.
func (s *State) killExecutor(e *ExecutorInfo) {
	s.fx.Send(e.Worker.Endpoint, deploy.KillExecutor{MasterURL: s.cfg.MasterURL, AppID: e.App.ID, ExecID: e.ID})
	e.State = deploy.ExecutorKilled
	e.Worker.removeExecutor(e)
}

// ExecutorStateChanged updates an executor and, for failed ones, may give
// up on the app (spark.deploy.maxExecutorRetries).
func (s *State) ExecutorStateChanged(m deploy.ExecutorStateChanged) {
	a := s.idToApp[m.AppID]
	if a == nil {
		return
	}
	e := a.Executors[m.ExecID]
	if e == nil {
		return
	}
	old := e.State
	if m.State == deploy.ExecutorRunning {
		if old != deploy.ExecutorLaunching {
			return
		}
		a.RetryCount = 0
	}
	e.State = m.State
	s.log.Info("Executor state changed", "executor", e.fullID(), "worker", e.Worker.ID, "from", old, "to", m.State,
		"message", deref(m.Message), "exitStatus", deref(m.ExitStatus))
	s.fx.Send(a.Driver, deploy.ExecutorUpdated{ID: e.ID, State: m.State, Message: m.Message, ExitStatus: m.ExitStatus})
	if !m.State.IsFinished() {
		return
	}
	s.log.Info("Removing executor", "executor", e.fullID(), "state", m.State)
	s.removeExecutorFromApp(a, e)
	e.Worker.removeExecutor(e)
	normal := m.ExitStatus != nil && *m.ExitStatus == 0
	if !normal && old != deploy.ExecutorDecommissioned && s.cfg.MaxExecutorRetries >= 0 {
		a.RetryCount++
		if a.RetryCount >= s.cfg.MaxExecutorRetries {
			running := false
			for _, x := range a.Executors {
				if x.State == deploy.ExecutorRunning {
					running = true
				}
			}
			if !running {
				s.log.Error("Application failed: executors kept failing", "app", a.ID, "retries", a.RetryCount)
				s.removeApplication(a, deploy.AppFailed)
				return
			}
		}
	}
	s.schedule()
}

// RequestExecutors sets an app's executor target; false for unknown apps.
func (s *State) RequestExecutors(m deploy.RequestExecutors) bool {
	a := s.idToApp[m.AppID]
	if a == nil {
		return false
	}
	s.log.Info("Application requested to set total executors", "app", a.ID, "total", m.RequestedTotal)
	a.ExecutorLimit = m.RequestedTotal
	s.schedule()
	return true
}

// KillExecutors kills executors of an app; false for unknown apps.
func (s *State) KillExecutors(m deploy.KillExecutors) bool {
	a := s.idToApp[m.AppID]
	if a == nil {
		return false
	}
	s.log.Info("Application requests to kill executors", "app", a.ID, "executors", strings.Join(m.ExecutorIDs, ","))
	for _, sid := range m.ExecutorIDs {
		id, err := strconv.Atoi(sid)
		if err != nil {
			continue // non-numeric ids are dropped
		}
		if e := a.Executors[id]; e != nil {
			s.removeExecutorFromApp(a, e)
			s.killExecutor(e)
		}
	}
	s.schedule()
	return true
}

// KillApplication removes an app as KILLED (the UI's kill link).
func (s *State) KillApplication(appID string) bool {
	a := s.idToApp[appID]
	if a == nil {
		return false
	}
	s.log.Info("Killing app on request", "app", appID)
	s.removeApplication(a, deploy.AppKilled)
	return true
}

// ---- drivers ----

// RequestSubmitDriver queues a cluster-mode driver.
func (s *State) RequestSubmitDriver(desc deploy.DriverDescription) deploy.SubmitDriverResponse {
	if s.Status != deploy.StateAlive {
		return deploy.SubmitDriverResponse{Message: fmt.Sprintf("Current state is not alive: %s. Can only accept driver submissions in ALIVE state.", s.Status)}
	}
	now := s.fx.Now()
	id := fmt.Sprintf(s.cfg.DriverIDPattern, timestamp(now), s.nextDriverNumber)
	s.nextDriverNumber++
	d := &DriverInfo{ID: id, Desc: desc, StartTime: now, SubmitDate: now, State: deploy.DriverSubmitted}
	s.drivers[id] = d
	s.waitingDrivers = append(s.waitingDrivers, d)
	s.fx.Persist("driver_"+id, DriverRecord{ID: id, Desc: desc, StartTime: now.UnixMilli(), SubmitDate: now.UnixMilli()})
	s.log.Info("Driver submitted", "driver", id, "mainClass", desc.Command.MainClass)
	s.schedule()
	return deploy.SubmitDriverResponse{Success: true, DriverID: &id, Message: "Driver successfully submitted as " + id}
}

// RequestKillDriver kills a waiting or running driver.
func (s *State) RequestKillDriver(id string) deploy.KillDriverResponse {
	if s.Status != deploy.StateAlive {
		return deploy.KillDriverResponse{DriverID: id, Message: fmt.Sprintf("Current state is not alive: %s. Can only kill drivers in ALIVE state.", s.Status)}
	}
	d := s.drivers[id]
	if d == nil || isDriverDone(d.State) {
		return deploy.KillDriverResponse{DriverID: id, Message: "Driver " + id + " has already finished or does not exist"}
	}
	s.log.Info("Asked to kill driver", "driver", id)
	if containsDriver(s.waitingDrivers, d) {
		s.waitingDrivers = removeDriverFrom(s.waitingDrivers, d)
		s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: deploy.DriverKilled})
	} else if d.Worker != nil {
		s.fx.Send(d.Worker.Endpoint, deploy.KillDriver{DriverID: id})
	}
	return deploy.KillDriverResponse{DriverID: id, Success: true, Message: "Kill request for " + id + " submitted"}
}

// RequestDriverStatus reports a driver's state.
func (s *State) RequestDriverStatus(id string) deploy.DriverStatusResponse {
	if s.Status != deploy.StateAlive {
		msg := fmt.Sprintf("Current state is not alive: %s. Can only request driver status in ALIVE state.", s.Status)
		return deploy.DriverStatusResponse{Exception: &msg}
	}
	d := s.drivers[id]
	if d == nil {
		for _, c := range s.completedDrivers {
			if c.ID == id {
				d = c
			}
		}
	}
	if d == nil {
		return deploy.DriverStatusResponse{}
	}
	st := d.State
	r := deploy.DriverStatusResponse{Found: true, State: &st, Exception: d.Exception}
	if d.Worker != nil {
		r.WorkerID, r.WorkerHostPort = ptr(d.Worker.ID), ptr(d.Worker.hostPort())
	}
	return r
}

func isDriverDone(st deploy.DriverState) bool {
	switch st {
	case deploy.DriverError, deploy.DriverFinished, deploy.DriverKilled, deploy.DriverFailed:
		return true
	}
	return false
}

// DriverStateChanged records a driver's final state (others are ignored).
func (s *State) DriverStateChanged(m deploy.DriverStateChanged) {
	if isDriverDone(m.State) {
		s.removeDriver(m.DriverID, m.State, m.Exception)
		return
	}
	if d := s.drivers[m.DriverID]; d != nil && m.State == deploy.DriverRunning {
		s.log.Info("Driver state changed", "driver", d.ID, "from", d.State, "to", m.State)
		d.State = m.State
	}
}

func (s *State) removeDriver(id string, st deploy.DriverState, exc *string) {
	d := s.drivers[id]
	if d == nil {
		return
	}
	s.log.Info("Removing driver", "driver", id, "state", st, "exception", deref(exc))
	delete(s.drivers, id)
	s.waitingDrivers = removeDriverFrom(s.waitingDrivers, d)
	if len(s.completedDrivers) >= s.cfg.RetainedDrivers {
		drop := max(s.cfg.RetainedDrivers/10, 1)
		s.completedDrivers = s.completedDrivers[min(drop, len(s.completedDrivers)):]
	}
	s.completedDrivers = append(s.completedDrivers, d)
	s.fx.Unpersist("driver_" + id)
	d.State, d.Exception = st, exc
	if d.Worker != nil {
		d.Worker.removeDriver(d)
	}
	s.schedule()
}

func (s *State) relaunchDriver(d *DriverInfo) {
	// A new driver id for the relaunch, the old one becomes RELAUNCHING;
	// the new one is a fresh submission (Spark's createDriver: SUBMITTED,
	// submitted now).
	s.removeDriver(d.ID, deploy.DriverRelaunching, nil)
	now := s.fx.Now()
	id := fmt.Sprintf(s.cfg.DriverIDPattern, timestamp(now), s.nextDriverNumber)
	s.nextDriverNumber++
	nd := &DriverInfo{ID: id, Desc: d.Desc, StartTime: now, SubmitDate: now, State: deploy.DriverSubmitted}
	s.drivers[id] = nd
	s.waitingDrivers = append(s.waitingDrivers, nd)
	s.fx.Persist("driver_"+id, DriverRecord{ID: id, Desc: d.Desc, StartTime: now.UnixMilli(), SubmitDate: now.UnixMilli()})
	s.schedule()
}

func containsDriver(list []*DriverInfo, d *DriverInfo) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}

func removeDriverFrom(list []*DriverInfo, d *DriverInfo) []*DriverInfo {
	out := list[:0]
	for _, x := range list {
		if x != d {
			out = append(out, x)
		}
	}
	return out
}

// ---- scheduling ----

func (s *State) aliveWorkers() []*WorkerInfo {
	var out []*WorkerInfo
	for _, w := range s.sortedWorkers() {
		if w.State == deploy.WorkerAlive {
			out = append(out, w)
		}
	}
	return out
}

func (s *State) launchedDrivers() int {
	n := 0
	for _, d := range s.drivers {
		if d.Worker != nil {
			n++
		}
	}
	return n
}

// schedule launches waiting drivers, then executors (only when ALIVE).
func (s *State) schedule() {
	if s.Status != deploy.StateAlive {
		return
	}
	alive := s.aliveWorkers()
	if s.cfg.SpreadOutDrivers {
		rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	}
	for _, d := range append([]*DriverInfo(nil), s.waitingDrivers...) {
		if s.launchedDrivers() >= s.cfg.MaxDrivers {
			break
		}
		for k := 0; k < len(alive); k++ {
			var w *WorkerInfo
			if s.cfg.SpreadOutDrivers {
				w = alive[(s.driverCursor+k)%len(alive)]
			} else {
				w = alive[k]
			}
			if w.MemoryFree() >= d.Desc.MemoryMB && w.CoresFree() >= d.Desc.Cores {
				s.launchDriver(w, d)
				s.waitingDrivers = removeDriverFrom(s.waitingDrivers, d)
				if s.cfg.SpreadOutDrivers {
					s.driverCursor = (s.driverCursor + k + 1) % len(alive)
				}
				break
			}
		}
	}
	s.startExecutorsOnWorkers()
}

func (s *State) launchDriver(w *WorkerInfo, d *DriverInfo) {
	s.log.Info("Launching driver", "driver", d.ID, "worker", w.ID)
	w.addDriver(d)
	d.Worker = w
	s.fx.Send(w.Endpoint, deploy.LaunchDriver{DriverID: d.ID, Desc: d.Desc})
	d.State = deploy.DriverRunning
}

func (s *State) startExecutorsOnWorkers() {
	for _, app := range append([]*AppInfo(nil), s.waitingApps...) {
		minCores := 1
		if app.Desc.CoresPerExecutor != nil {
			minCores = *app.Desc.CoresPerExecutor
		}
		if app.coresLeft(s.cfg.DefaultCores) < minCores {
			continue
		}
		var usable []*WorkerInfo
		for _, w := range s.aliveWorkers() {
			if w.MemoryFree() >= app.memoryPerExecutor() && w.CoresFree() >= minCores {
				usable = append(usable, w)
			}
		}
		s.orderWorkers(usable)
		assigned := ScheduleExecutorsOnWorkers(app, usable, s.cfg.SpreadOutApps, s.cfg.DefaultCores)
		for i, w := range usable {
			if assigned[i] > 0 {
				s.allocateWorkerResourceToExecutors(app, assigned[i], w)
			}
		}
	}
}

func (s *State) orderWorkers(ws []*WorkerInfo) {
	switch strings.ToUpper(s.cfg.WorkerSelectionPolicy) {
	case "CORES_FREE_ASC":
		sort.SliceStable(ws, func(i, j int) bool {
			if ws[i].CoresFree() != ws[j].CoresFree() {
				return ws[i].CoresFree() < ws[j].CoresFree()
			}
			return ws[i].ID < ws[j].ID
		})
	case "MEMORY_FREE_ASC":
		sort.SliceStable(ws, func(i, j int) bool {
			if ws[i].MemoryFree() != ws[j].MemoryFree() {
				return ws[i].MemoryFree() < ws[j].MemoryFree()
			}
			return ws[i].ID < ws[j].ID
		})
	case "MEMORY_FREE_DESC":
		sort.SliceStable(ws, func(i, j int) bool {
			if ws[i].MemoryFree() != ws[j].MemoryFree() {
				return ws[i].MemoryFree() > ws[j].MemoryFree()
			}
			return ws[i].ID > ws[j].ID
		})
	case "WORKER_ID":
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	default: // CORES_FREE_DESC, ties by id reversed
		sort.SliceStable(ws, func(i, j int) bool {
			if ws[i].CoresFree() != ws[j].CoresFree() {
				return ws[i].CoresFree() > ws[j].CoresFree()
			}
			return ws[i].ID > ws[j].ID
		})
	}
}

// ScheduleExecutorsOnWorkers decides how many cores app gets on each of
// usable (in order): Spark's algorithm, spreading one unit per worker per
// round when spreadOut, else filling each worker before the next.
func ScheduleExecutorsOnWorkers(app *AppInfo, usable []*WorkerInfo, spreadOut bool, defaultCores int) []int {
	assigned, _ := scheduleExecutors(app, usable, spreadOut, defaultCores)
	return assigned
}

// scheduleExecutors is ScheduleExecutorsOnWorkers, also returning how many
// steps it took (checks and placements). It gives Spark's answer, but the
// runs of units that Spark places one at a time, and that cannot fail,
// are placed at once: whole rounds while every worker still has room, the
// rest of a worker when not spreading out. Its cost is then O(workers²),
// whatever the cores, memory and executor limit in the app and worker
// descriptions (a unit-by-unit loop over a ghost worker's 2^40 MB once
// took 2^31 steps). An app without cores per executor (coresPerExecutor
// < 1) gets nothing.
func scheduleExecutors(app *AppInfo, usable []*WorkerInfo, spreadOut bool, defaultCores int) (assigned []int, steps int) {
	minCores, oneExecPerWorker := 1, true
	if app.Desc.CoresPerExecutor != nil {
		minCores, oneExecPerWorker = *app.Desc.CoresPerExecutor, false
	}
	n := len(usable)
	assigned = make([]int, n)
	if minCores < 1 || n == 0 {
		return assigned, 0
	}
	memPerExec := app.memoryPerExecutor()
	assignedExecs := make([]int, n)
	sumExecs := 0
	total := 0
	for _, w := range usable {
		total += max(w.CoresFree(), 0)
	}
	toAssign := min(app.coresLeft(defaultCores), total)
	limit := app.ExecutorLimit - len(app.Executors) // executors the app may still get
	canLaunch := func(pos int) bool {
		steps++
		keep := toAssign >= minCores
		enoughCores := usable[pos].CoresFree()-assigned[pos] >= minCores
		if !oneExecPerWorker || assignedExecs[pos] == 0 {
			enoughMem := usable[pos].MemoryFree()-assignedExecs[pos]*memPerExec >= memPerExec
			return keep && enoughCores && enoughMem && sumExecs < limit
		}
		return keep && enoughCores
	}
	assign := func(pos, units int) {
		steps++
		toAssign -= units * minCores
		assigned[pos] += units * minCores
		switch {
		case !oneExecPerWorker:
			assignedExecs[pos] += units
			sumExecs += units
		case assignedExecs[pos] == 0:
			assignedExecs[pos] = 1
			sumExecs++
		}
	}
	// room is how many more units pos takes, by its own cores and memory,
	// when none of them is a first executor in one-executor-per-worker
	// mode (those are placed one by one, with their own checks).
	room := func(pos int) int {
		if oneExecPerWorker && assignedExecs[pos] == 0 {
			return 0
		}
		r := (usable[pos].CoresFree() - assigned[pos]) / minCores
		if !oneExecPerWorker {
			r = min(r, usable[pos].MemoryFree()/memPerExec-assignedExecs[pos])
		}
		return max(r, 0)
	}
	// global is how many units the app may still get, by its cores and
	// executor limit.
	global := func() int {
		g := toAssign / minCores
		if !oneExecPerWorker {
			g = min(g, limit-sumExecs)
		}
		return max(g, 0)
	}
	var free []int
	for i := range usable {
		if canLaunch(i) {
			free = append(free, i)
		}
	}
	for len(free) > 0 {
		if spreadOut {
			// k whole rounds in which every worker of free takes a unit.
			k := global() / len(free)
			for _, pos := range free {
				k = min(k, room(pos))
			}
			if k > 0 {
				for _, pos := range free {
					assign(pos, k)
				}
			}
		}
		for _, pos := range free {
			if spreadOut {
				if canLaunch(pos) {
					assign(pos, 1)
				}
				continue
			}
			for canLaunch(pos) {
				assign(pos, 1)
				if u := min(room(pos), global()); u > 0 {
					assign(pos, u)
				}
			}
		}
		next := free[:0]
		for _, pos := range free {
			if canLaunch(pos) {
				next = append(next, pos)
			}
		}
		free = next
	}
	return assigned, steps
}

func (s *State) allocateWorkerResourceToExecutors(app *AppInfo, cores int, w *WorkerInfo) {
	n, per := 1, cores
	if app.Desc.CoresPerExecutor != nil {
		per = *app.Desc.CoresPerExecutor
		n = cores / per
	}
	for i := 0; i < n; i++ {
		e := &ExecutorInfo{ID: app.NextExecID, App: app, Worker: w, Cores: per, MemoryMB: app.memoryPerExecutor(), State: deploy.ExecutorLaunching}
		app.NextExecID++
		app.Executors[e.ID] = e
		app.CoresGranted += per
		w.addExecutor(e)
		s.log.Info("Launching executor", "executor", e.fullID(), "worker", w.ID, "cores", per, "memoryMB", e.MemoryMB)
		s.fx.Send(w.Endpoint, deploy.LaunchExecutor{MasterURL: s.cfg.MasterURL, AppID: app.ID, ExecID: e.ID,
			AppDesc: app.Desc, Cores: per, MemoryMB: e.MemoryMB})
		s.fx.Send(app.Driver, deploy.ExecutorAdded{ID: e.ID, WorkerID: w.ID, HostPort: w.hostPort(), Cores: per, MemoryMB: e.MemoryMB})
		app.State = deploy.AppRunning
	}
}

// ---- views ----

func (s *State) sortedWorkers() []*WorkerInfo {
	out := make([]*WorkerInfo, 0, len(s.workers))
	for w := range s.workers {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *State) sortedApps() []*AppInfo {
	out := make([]*AppInfo, 0, len(s.apps))
	for a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].StartTime.Before(out[j].StartTime) || (out[i].StartTime.Equal(out[j].StartTime) && out[i].ID < out[j].ID)
	})
	return out
}

// Worker returns a worker by id (nil if unknown).
func (s *State) Worker(id string) *WorkerInfo { return s.idToWorker[id] }

// App returns an active app by id (nil if unknown).
func (s *State) App(id string) *AppInfo { return s.idToApp[id] }

// Workers returns every listed worker (dead ones included), by id.
func (s *State) Workers() []*WorkerInfo { return s.sortedWorkers() }

// Apps returns the active apps, oldest first.
func (s *State) Apps() []*AppInfo { return s.sortedApps() }

// Snapshot renders the state as Spark's JSON master state.
func (s *State) Snapshot() deploy.MasterStateResponse {
	now := s.fx.Now()
	r := deploy.MasterStateResponse{URL: s.cfg.MasterURL, Status: s.Status,
		Workers: []deploy.WorkerInfoJSON{}, ActiveApps: []deploy.ApplicationInfoJSON{}, CompletedApps: []deploy.ApplicationInfoJSON{},
		ActiveDrivers: []deploy.DriverInfoJSON{}, CompletedDrivers: []deploy.DriverInfoJSON{},
		Resources: []map[string]deploy.ResourceInformation{}, ResourcesUsed: []map[string]deploy.ResourceInformation{}}
	for _, w := range s.sortedWorkers() {
		r.Workers = append(r.Workers, deploy.WorkerInfoJSON{ID: w.ID, Host: w.Host, Port: w.Port, WebUIAddress: w.WebUIAddress,
			Cores: w.Cores, CoresUsed: w.CoresUsed, CoresFree: w.CoresFree(), Memory: w.MemoryMB, MemoryUsed: w.MemoryUsed,
			MemoryFree: w.MemoryFree(), Resources: map[string]deploy.ResourceInformation{}, ResourcesUsed: map[string]deploy.ResourceInformation{},
			ResourcesFree: map[string]deploy.ResourceInformation{}, State: w.State, LastHeartbeat: w.LastHeartbeat.UnixMilli()})
		if w.State == deploy.WorkerAlive {
			r.AliveWorkers++
			r.Cores += w.Cores
			r.CoresUsed += w.CoresUsed
			r.Memory += w.MemoryMB
			r.MemoryUsed += w.MemoryUsed
			r.Resources = append(r.Resources, map[string]deploy.ResourceInformation{})
			r.ResourcesUsed = append(r.ResourcesUsed, map[string]deploy.ResourceInformation{})
		}
	}
	for _, a := range s.sortedApps() {
		r.ActiveApps = append(r.ActiveApps, appJSON(a, now))
	}
	for _, a := range s.completedApps {
		r.CompletedApps = append(r.CompletedApps, appJSON(a, now))
	}
	drvJSON := func(d *DriverInfo) deploy.DriverInfoJSON {
		worker := "None"
		if d.Worker != nil {
			worker = d.Worker.ID
		}
		return deploy.DriverInfoJSON{ID: d.ID, StartTime: strconv.FormatInt(d.StartTime.UnixMilli(), 10), State: d.State,
			Cores: d.Desc.Cores, Memory: d.Desc.MemoryMB, Resources: map[string]deploy.ResourceInformation{},
			SubmitDate: d.SubmitDate.Format(javaDateLayout), Worker: worker, MainClass: deploy.DriverMainClass(d.Desc.Command)}
	}
	for _, id := range sortedKeys(s.drivers) {
		r.ActiveDrivers = append(r.ActiveDrivers, drvJSON(s.drivers[id]))
	}
	for _, d := range s.completedDrivers {
		r.CompletedDrivers = append(r.CompletedDrivers, drvJSON(d))
	}
	return r
}

// appJSON is one application in Spark's JSON master state, at time now
// (a running app's duration).
func appJSON(a *AppInfo, now time.Time) deploy.ApplicationInfoJSON {
	end := now
	if !a.EndTime.IsZero() {
		end = a.EndTime
	}
	return deploy.ApplicationInfoJSON{ID: a.ID, StartTime: a.StartTime.UnixMilli(), Name: a.Desc.Name, Cores: a.CoresGranted,
		User: a.Desc.User, MemoryPerExecutor: a.memoryPerExecutor(), MemoryPerSlave: a.memoryPerExecutor(),
		ResourcesPerExecutor: []deploy.ResourceAmount{}, ResourcesPerSlave: []deploy.ResourceAmount{},
		SubmitDate: a.StartTime.Format(javaDateLayout), State: a.State, Duration: end.Sub(a.StartTime).Milliseconds()}
}

// Utilization is /json/clusterutilization.
func (s *State) Utilization() deploy.ClusterUtilization {
	snap := s.Snapshot()
	u := deploy.ClusterUtilization{Cores: snap.Cores, CoresUsed: snap.CoresUsed, Memory: snap.Memory, MemoryUsed: snap.MemoryUsed,
		CoresUtilization: 100, MemoryUtilization: 100}
	for _, d := range s.drivers {
		if d.State == deploy.DriverSubmitted {
			u.WaitingDrivers++
		}
	}
	if snap.Cores > 0 {
		u.CoresUtilization = 100 * snap.CoresUsed / snap.Cores
	}
	if snap.Memory > 0 {
		u.MemoryUtilization = 100 * snap.MemoryUsed / snap.Memory
	}
	return u
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedIntKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// deref is *p for a log line, or "" for nil.
func deref[T any](p *T) any {
	if p == nil {
		return ""
	}
	return *p
}
