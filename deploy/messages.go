package deploy

import (
	"github.com/ember-rpc/ember/rpcenv"
)

// Endpoint and env names, as Spark's.
const (
	MasterEnvName       = "sparkMaster"
	MasterEndpointName  = "Master"
	WorkerEndpointName  = "Worker"
	AppClientEndpoint   = "AppClient"
	DefaultMasterPort   = 7077
	DefaultMasterUIPort = 8080
	DefaultWorkerUIPort = 8081
)

// ---- Worker <-> Master ----

// RegisterWorker is sent by a worker to every master it knows.
type RegisterWorker struct {
	ID             string                         `json:"id"`
	Host           string                         `json:"host"`
	Port           int                            `json:"port"`
	Worker         *rpcenv.Ref                    `json:"worker"`
	Cores          int                            `json:"cores"`
	MemoryMB       int                            `json:"memory"`
	WorkerWebUIURL string                         `json:"workerWebUiUrl"`
	MasterAddress  rpcenv.Address                 `json:"masterAddress"`
	Resources      map[string]ResourceInformation `json:"resources,omitempty"`
}

// RegisteredWorker accepts a worker's registration.
type RegisteredWorker struct {
	Master         *rpcenv.Ref    `json:"master"`
	MasterWebUIURL string         `json:"masterWebUiUrl"`
	MasterAddress  rpcenv.Address `json:"masterAddress"`
	Duplicate      bool           `json:"duplicate"`
}

// RegisterWorkerFailed refuses a registration.
type RegisterWorkerFailed struct {
	Message string `json:"message"`
}

// MasterInStandby answers registrations sent to a standby master.
type MasterInStandby struct{}

// Heartbeat is sent by a registered worker every spark.worker.timeout/4.
type Heartbeat struct {
	WorkerID string      `json:"workerId"`
	Worker   *rpcenv.Ref `json:"worker"`
}

// ReconnectWorker asks a worker the master no longer knows to register again.
type ReconnectWorker struct {
	MasterURL string `json:"masterUrl"`
}

// WorkerLatestState reports what a worker runs right after it registered.
type WorkerLatestState struct {
	ID        string                `json:"id"`
	Executors []ExecutorDescription `json:"executors"`
	DriverIDs []string              `json:"driverIds"`
}

// MasterChanged tells workers and apps about a new leader.
type MasterChanged struct {
	Master         *rpcenv.Ref `json:"master"`
	MasterWebUIURL string      `json:"masterWebUiUrl"`
}

// WorkerSchedulerStateResponse answers MasterChanged from a worker.
type WorkerSchedulerStateResponse struct {
	ID        string                `json:"id"`
	Executors []ExecutorDescription `json:"executors"`
	DriverIDs []string              `json:"driverIds"`
}

// LaunchExecutor asks a worker to start an executor.
type LaunchExecutor struct {
	MasterURL string                         `json:"masterUrl"`
	AppID     string                         `json:"appId"`
	ExecID    int                            `json:"execId"`
	RPID      int                            `json:"rpId"`
	AppDesc   ApplicationDescription         `json:"appDesc"`
	Cores     int                            `json:"cores"`
	MemoryMB  int                            `json:"memory"`
	Resources map[string]ResourceInformation `json:"resources,omitempty"`
}

// KillExecutor asks a worker to stop an executor.
type KillExecutor struct {
	MasterURL string `json:"masterUrl"`
	AppID     string `json:"appId"`
	ExecID    int    `json:"execId"`
}

// ExecutorStateChanged reports an executor's state (worker→master ask,
// replied with true; also runner→worker send).
type ExecutorStateChanged struct {
	AppID      string        `json:"appId"`
	ExecID     int           `json:"execId"`
	State      ExecutorState `json:"state"`
	Message    *string       `json:"message,omitempty"`
	ExitStatus *int          `json:"exitStatus,omitempty"`
}

// LaunchDriver asks a worker to run a driver.
type LaunchDriver struct {
	DriverID  string                         `json:"driverId"`
	Desc      DriverDescription              `json:"driverDesc"`
	Resources map[string]ResourceInformation `json:"resources,omitempty"`
}

// KillDriver asks a worker to stop a driver.
type KillDriver struct {
	DriverID string `json:"driverId"`
}

// DriverStateChanged reports a driver's state.
type DriverStateChanged struct {
	DriverID  string      `json:"driverId"`
	State     DriverState `json:"state"`
	Exception *string     `json:"exception,omitempty"`
}

// ApplicationFinished tells every worker that an app ended.
type ApplicationFinished struct {
	ID string `json:"id"`
}

// ---- App (driver) <-> Master ----

// RegisterApplication is sent by an app client to every master.
type RegisterApplication struct {
	AppDescription ApplicationDescription `json:"appDescription"`
	Driver         *rpcenv.Ref            `json:"driver"`
}

// RegisteredApplication accepts an application.
type RegisteredApplication struct {
	AppID  string      `json:"appId"`
	Master *rpcenv.Ref `json:"master"`
}

// ExecutorAdded tells the driver about a new executor.
type ExecutorAdded struct {
	ID       int    `json:"id"`
	WorkerID string `json:"workerId"`
	HostPort string `json:"hostPort"`
	Cores    int    `json:"cores"`
	MemoryMB int    `json:"memory"`
}

// ExecutorUpdated tells the driver an executor's state changed.
type ExecutorUpdated struct {
	ID         int           `json:"id"`
	State      ExecutorState `json:"state"`
	Message    *string       `json:"message,omitempty"`
	ExitStatus *int          `json:"exitStatus,omitempty"`
	WorkerHost *string       `json:"workerHost,omitempty"`
}

// ApplicationRemoved tells the driver its app was removed (not for FINISHED).
type ApplicationRemoved struct {
	Message string `json:"message"`
}

// WorkerRemoved tells every running app that a worker was lost.
type WorkerRemoved struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Message string `json:"message"`
}

// MasterChangeAcknowledged answers MasterChanged from an app.
type MasterChangeAcknowledged struct {
	AppID string `json:"appId"`
}

// UnregisterApplication ends an app.
type UnregisterApplication struct {
	AppID string `json:"appId"`
}

// RequestExecutors sets an app's target executor count (ask → bool).
type RequestExecutors struct {
	AppID          string `json:"appId"`
	RequestedTotal int    `json:"requestedTotal"`
}

// KillExecutors kills executors of an app (ask → bool).
type KillExecutors struct {
	AppID       string   `json:"appId"`
	ExecutorIDs []string `json:"executorIds"`
}

// ---- Clients / UI <-> Master ----

// RequestSubmitDriver submits a cluster-mode driver (ask).
type RequestSubmitDriver struct {
	Desc DriverDescription `json:"driverDescription"`
}

// SubmitDriverResponse answers RequestSubmitDriver.
type SubmitDriverResponse struct {
	Success  bool    `json:"success"`
	DriverID *string `json:"driverId,omitempty"`
	Message  string  `json:"message"`
}

// RequestKillDriver kills a driver (ask).
type RequestKillDriver struct {
	DriverID string `json:"driverId"`
}

// KillDriverResponse answers RequestKillDriver.
type KillDriverResponse struct {
	DriverID string `json:"driverId"`
	Success  bool   `json:"success"`
	Message  string `json:"message"`
}

// RequestDriverStatus asks for a driver's state (ask).
type RequestDriverStatus struct {
	DriverID string `json:"driverId"`
}

// DriverStatusResponse answers RequestDriverStatus.
type DriverStatusResponse struct {
	Found          bool         `json:"found"`
	State          *DriverState `json:"state,omitempty"`
	WorkerID       *string      `json:"workerId,omitempty"`
	WorkerHostPort *string      `json:"workerHostPort,omitempty"`
	Exception      *string      `json:"exception,omitempty"`
}

// RequestMasterState asks for the whole master state (ask → MasterState).
type RequestMasterState struct{}

// BoundPortsRequest asks for the master's ports (ask → BoundPortsResponse).
type BoundPortsRequest struct{}

// BoundPortsResponse answers BoundPortsRequest.
type BoundPortsResponse struct {
	RPCEndpointPort int  `json:"rpcEndpointPort"`
	WebUIPort       int  `json:"webUIPort"`
	RestPort        *int `json:"restPort,omitempty"`
}

// RequestReadyz asks whether the master is not in standby (ask → bool).
type RequestReadyz struct{}

// RequestWorkerState asks a worker for its state (ask → WorkerState).
type RequestWorkerState struct{}

// ---- data types ----

// ResourceInformation is a custom resource (GPUs, ...) and its addresses.
type ResourceInformation struct {
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
}

// Command is what a worker runs for an executor or driver. Ember runs
// Program directly with Arguments (placeholders {{EXECUTOR_ID}} etc. are
// substituted), with Environment added.
type Command struct {
	MainClass          string            `json:"mainClass"`
	Arguments          []string          `json:"arguments"`
	Environment        map[string]string `json:"environment,omitempty"`
	ClassPathEntries   []string          `json:"classPathEntries,omitempty"`
	LibraryPathEntries []string          `json:"libraryPathEntries,omitempty"`
	JavaOpts           []string          `json:"javaOpts,omitempty"`
}

// ApplicationDescription describes an application.
type ApplicationDescription struct {
	Name                 string  `json:"name"`
	MaxCores             *int    `json:"maxCores,omitempty"`
	Command              Command `json:"command"`
	AppUIURL             string  `json:"appUiUrl"`
	MemoryPerExecutorMB  int     `json:"memoryPerExecutorMB"`
	CoresPerExecutor     *int    `json:"coresPerExecutor,omitempty"`
	InitialExecutorLimit *int    `json:"initialExecutorLimit,omitempty"`
	User                 string  `json:"user"`
}

// DriverDescription describes a cluster-mode driver.
type DriverDescription struct {
	JarURL    string  `json:"jarUrl"`
	MemoryMB  int     `json:"mem"`
	Cores     int     `json:"cores"`
	Supervise bool    `json:"supervise"`
	Command   Command `json:"command"`
}

// ExecutorDescription is an executor as a worker reports it.
type ExecutorDescription struct {
	AppID    string        `json:"appId"`
	ExecID   int           `json:"execId"`
	RPID     int           `json:"rpId"`
	Cores    int           `json:"cores"`
	MemoryMB int           `json:"memoryMb"`
	State    ExecutorState `json:"state"`
}

// ExecutorState is an executor's state.
type ExecutorState string

// Executor states.
const (
	ExecutorLaunching      ExecutorState = "LAUNCHING"
	ExecutorRunning        ExecutorState = "RUNNING"
	ExecutorKilled         ExecutorState = "KILLED"
	ExecutorFailed         ExecutorState = "FAILED"
	ExecutorLost           ExecutorState = "LOST"
	ExecutorExited         ExecutorState = "EXITED"
	ExecutorDecommissioned ExecutorState = "DECOMMISSIONED"
)

// IsFinished reports KILLED, FAILED, LOST and EXITED.
func (s ExecutorState) IsFinished() bool {
	switch s {
	case ExecutorKilled, ExecutorFailed, ExecutorLost, ExecutorExited:
		return true
	}
	return false
}

// DriverState is a driver's state.
type DriverState string

// Driver states.
const (
	DriverSubmitted   DriverState = "SUBMITTED"
	DriverRunning     DriverState = "RUNNING"
	DriverFinished    DriverState = "FINISHED"
	DriverRelaunching DriverState = "RELAUNCHING"
	DriverUnknown     DriverState = "UNKNOWN"
	DriverKilled      DriverState = "KILLED"
	DriverFailed      DriverState = "FAILED"
	DriverError       DriverState = "ERROR"
)

// WorkerState is a worker's state as the master sees it.
type WorkerState string

// Worker states.
const (
	WorkerAlive          WorkerState = "ALIVE"
	WorkerDead           WorkerState = "DEAD"
	WorkerDecommissioned WorkerState = "DECOMMISSIONED"
	WorkerUnknown        WorkerState = "UNKNOWN"
)

// ApplicationState is an application's state.
type ApplicationState string

// Application states.
const (
	AppWaiting  ApplicationState = "WAITING"
	AppRunning  ApplicationState = "RUNNING"
	AppFinished ApplicationState = "FINISHED"
	AppFailed   ApplicationState = "FAILED"
	AppKilled   ApplicationState = "KILLED"
	AppUnknown  ApplicationState = "UNKNOWN"
)

// RecoveryState is the master's leadership state.
type RecoveryState string

// Master recovery states.
const (
	StateStandby            RecoveryState = "STANDBY"
	StateAlive              RecoveryState = "ALIVE"
	StateRecovering         RecoveryState = "RECOVERING"
	StateCompletingRecovery RecoveryState = "COMPLETING_RECOVERY"
)

func init() {
	rpcenv.MustRegister[RegisterWorker]("deploy.RegisterWorker")
	rpcenv.MustRegister[RegisteredWorker]("deploy.RegisteredWorker")
	rpcenv.MustRegister[RegisterWorkerFailed]("deploy.RegisterWorkerFailed")
	rpcenv.MustRegister[MasterInStandby]("deploy.MasterInStandby")
	rpcenv.MustRegister[Heartbeat]("deploy.Heartbeat")
	rpcenv.MustRegister[ReconnectWorker]("deploy.ReconnectWorker")
	rpcenv.MustRegister[WorkerLatestState]("deploy.WorkerLatestState")
	rpcenv.MustRegister[MasterChanged]("deploy.MasterChanged")
	rpcenv.MustRegister[WorkerSchedulerStateResponse]("deploy.WorkerSchedulerStateResponse")
	rpcenv.MustRegister[LaunchExecutor]("deploy.LaunchExecutor")
	rpcenv.MustRegister[KillExecutor]("deploy.KillExecutor")
	rpcenv.MustRegister[ExecutorStateChanged]("deploy.ExecutorStateChanged")
	rpcenv.MustRegister[LaunchDriver]("deploy.LaunchDriver")
	rpcenv.MustRegister[KillDriver]("deploy.KillDriver")
	rpcenv.MustRegister[DriverStateChanged]("deploy.DriverStateChanged")
	rpcenv.MustRegister[ApplicationFinished]("deploy.ApplicationFinished")
	rpcenv.MustRegister[RegisterApplication]("deploy.RegisterApplication")
	rpcenv.MustRegister[RegisteredApplication]("deploy.RegisteredApplication")
	rpcenv.MustRegister[ExecutorAdded]("deploy.ExecutorAdded")
	rpcenv.MustRegister[ExecutorUpdated]("deploy.ExecutorUpdated")
	rpcenv.MustRegister[ApplicationRemoved]("deploy.ApplicationRemoved")
	rpcenv.MustRegister[WorkerRemoved]("deploy.WorkerRemoved")
	rpcenv.MustRegister[MasterChangeAcknowledged]("deploy.MasterChangeAcknowledged")
	rpcenv.MustRegister[UnregisterApplication]("deploy.UnregisterApplication")
	rpcenv.MustRegister[RequestExecutors]("deploy.RequestExecutors")
	rpcenv.MustRegister[KillExecutors]("deploy.KillExecutors")
	rpcenv.MustRegister[RequestSubmitDriver]("deploy.RequestSubmitDriver")
	rpcenv.MustRegister[SubmitDriverResponse]("deploy.SubmitDriverResponse")
	rpcenv.MustRegister[RequestKillDriver]("deploy.RequestKillDriver")
	rpcenv.MustRegister[KillDriverResponse]("deploy.KillDriverResponse")
	rpcenv.MustRegister[RequestDriverStatus]("deploy.RequestDriverStatus")
	rpcenv.MustRegister[DriverStatusResponse]("deploy.DriverStatusResponse")
	rpcenv.MustRegister[RequestMasterState]("deploy.RequestMasterState")
	rpcenv.MustRegister[MasterStateResponse]("deploy.MasterStateResponse")
	rpcenv.MustRegister[BoundPortsRequest]("deploy.BoundPortsRequest")
	rpcenv.MustRegister[BoundPortsResponse]("deploy.BoundPortsResponse")
	rpcenv.MustRegister[RequestReadyz]("deploy.RequestReadyz")
	rpcenv.MustRegister[RequestWorkerState]("deploy.RequestWorkerState")
	rpcenv.MustRegister[WorkerStateResponse]("deploy.WorkerStateResponse")
}
