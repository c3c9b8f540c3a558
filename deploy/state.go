package deploy

import (
	"fmt"
	"strings"
)

// The snapshots below are what RequestMasterState and RequestWorkerState
// answer, and what the web UIs serve at /json: the fields carry Spark's
// JSON names, in Spark's order.

// ResourceAmount is a resource name and how many of it, per executor.
type ResourceAmount struct {
	Name   string `json:"name"`
	Amount int    `json:"amount"`
}

// WorkerInfoJSON is one worker in the master's state.
type WorkerInfoJSON struct {
	ID            string                         `json:"id"`
	Host          string                         `json:"host"`
	Port          int                            `json:"port"`
	WebUIAddress  string                         `json:"webuiaddress"`
	Cores         int                            `json:"cores"`
	CoresUsed     int                            `json:"coresused"`
	CoresFree     int                            `json:"coresfree"`
	Memory        int                            `json:"memory"`
	MemoryUsed    int                            `json:"memoryused"`
	MemoryFree    int                            `json:"memoryfree"`
	Resources     map[string]ResourceInformation `json:"resources"`
	ResourcesUsed map[string]ResourceInformation `json:"resourcesused"`
	ResourcesFree map[string]ResourceInformation `json:"resourcesfree"`
	State         WorkerState                    `json:"state"`
	LastHeartbeat int64                          `json:"lastheartbeat"`
}

// ApplicationInfoJSON is one application in the master's state.
type ApplicationInfoJSON struct {
	ID                   string           `json:"id"`
	StartTime            int64            `json:"starttime"`
	Name                 string           `json:"name"`
	Cores                int              `json:"cores"`
	User                 string           `json:"user"`
	MemoryPerExecutor    int              `json:"memoryperexecutor"`
	MemoryPerSlave       int              `json:"memoryperslave"`
	ResourcesPerExecutor []ResourceAmount `json:"resourcesperexecutor"`
	ResourcesPerSlave    []ResourceAmount `json:"resourcesperslave"`
	SubmitDate           string           `json:"submitdate"`
	State                ApplicationState `json:"state"`
	Duration             int64            `json:"duration"`
}

// DriverInfoJSON is one driver in the master's state.
type DriverInfoJSON struct {
	ID         string                         `json:"id"`
	StartTime  string                         `json:"starttime"`
	State      DriverState                    `json:"state"`
	Cores      int                            `json:"cores"`
	Memory     int                            `json:"memory"`
	Resources  map[string]ResourceInformation `json:"resources"`
	SubmitDate string                         `json:"submitdate"`
	Worker     string                         `json:"worker"`
	MainClass  string                         `json:"mainclass"`
}

// MasterStateResponse is the master's state (RequestMasterState, /json).
type MasterStateResponse struct {
	URL              string                           `json:"url"`
	Workers          []WorkerInfoJSON                 `json:"workers"`
	AliveWorkers     int                              `json:"aliveworkers"`
	Cores            int                              `json:"cores"`
	CoresUsed        int                              `json:"coresused"`
	Memory           int                              `json:"memory"`
	MemoryUsed       int                              `json:"memoryused"`
	Resources        []map[string]ResourceInformation `json:"resources"`
	ResourcesUsed    []map[string]ResourceInformation `json:"resourcesused"`
	ActiveApps       []ApplicationInfoJSON            `json:"activeapps"`
	CompletedApps    []ApplicationInfoJSON            `json:"completedapps"`
	ActiveDrivers    []DriverInfoJSON                 `json:"activedrivers"`
	CompletedDrivers []DriverInfoJSON                 `json:"completeddrivers"`
	Status           RecoveryState                    `json:"status"`
	// Host and ports (not in /json, for clients).
	Host     string `json:"-"`
	Port     int    `json:"-"`
	RestPort *int   `json:"-"`
}

// ClusterUtilization is /json/clusterutilization.
type ClusterUtilization struct {
	WaitingDrivers    int `json:"waitingDrivers"`
	Cores             int `json:"cores"`
	CoresUsed         int `json:"coresused"`
	CoresUtilization  int `json:"coresutilization"`
	Memory            int `json:"memory"`
	MemoryUsed        int `json:"memoryused"`
	MemoryUtilization int `json:"memoryutilization"`
}

// AppDescJSON is an executor's application in the worker's state.
type AppDescJSON struct {
	Name                 string           `json:"name"`
	Cores                int              `json:"cores"`
	MemoryPerExecutor    int              `json:"memoryperexecutor"`
	ResourcesPerExecutor []ResourceAmount `json:"resourcesperexecutor"`
	MemoryPerSlave       int              `json:"memoryperslave"`
	ResourcesPerSlave    []ResourceAmount `json:"resourcesperslave"`
	User                 string           `json:"user"`
	Command              string           `json:"command"`
}

// ExecutorRunnerJSON is one executor in the worker's state.
type ExecutorRunnerJSON struct {
	ID        int                            `json:"id"`
	Memory    int                            `json:"memory"`
	Resources map[string]ResourceInformation `json:"resources"`
	AppID     string                         `json:"appid"`
	AppDesc   AppDescJSON                    `json:"appdesc"`
	// Ember additions for the UI (not in Spark's JSON): its state and the
	// cores it holds (appdesc's cores is the app's spark.cores.max).
	State ExecutorState `json:"state,omitempty"`
	Cores int           `json:"cores,omitempty"`
}

// DriverRunnerJSON is one driver in the worker's state.
type DriverRunnerJSON struct {
	ID        string      `json:"id"`
	State     DriverState `json:"state"`
	Cores     int         `json:"cores"`
	Memory    int         `json:"memory"`
	MainClass string      `json:"mainclass"`
}

// WorkerStateResponse is a worker's state (RequestWorkerState, /json).
type WorkerStateResponse struct {
	ID                string                         `json:"id"`
	MasterURL         string                         `json:"masterurl"`
	MasterWebUIURL    string                         `json:"masterwebuiurl"`
	Cores             int                            `json:"cores"`
	CoresUsed         int                            `json:"coresused"`
	Memory            int                            `json:"memory"`
	MemoryUsed        int                            `json:"memoryused"`
	Resources         map[string]ResourceInformation `json:"resources"`
	ResourcesUsed     map[string]ResourceInformation `json:"resourcesused"`
	Executors         []ExecutorRunnerJSON           `json:"executors"`
	FinishedExecutors []ExecutorRunnerJSON           `json:"finishedexecutors"`
	// Ember additions (not in Spark's JSON), for the UI.
	Host            string             `json:"host,omitempty"`
	Port            int                `json:"port,omitempty"`
	Drivers         []DriverRunnerJSON `json:"drivers,omitempty"`
	FinishedDrivers []DriverRunnerJSON `json:"finisheddrivers,omitempty"`
}

// Summary is a one-line digest of the state (status, workers, apps), for
// logs and test failures.
func (st MasterStateResponse) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status=%s aliveworkers=%d workers=[", st.Status, st.AliveWorkers)
	for i, w := range st.Workers {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s@%s:%d/%s(cores %d/%d, mem %d/%d)", w.ID, w.Host, w.Port, w.State, w.CoresUsed, w.Cores, w.MemoryUsed, w.Memory)
	}
	b.WriteString("] activeapps=[")
	for i, a := range st.ActiveApps {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s/%s(cores %d)", a.ID, a.State, a.Cores)
	}
	b.WriteString("] completedapps=[")
	for i, a := range st.CompletedApps {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s/%s", a.ID, a.State)
	}
	b.WriteString("]")
	return b.String()
}

// Worker returns the worker with id, if the master lists it.
func (st MasterStateResponse) Worker(id string) (WorkerInfoJSON, bool) {
	for _, w := range st.Workers {
		if w.ID == id {
			return w, true
		}
	}
	return WorkerInfoJSON{}, false
}

// ApplicationDetail is one application with its executors, for the master
// UI's application page (an Ember addition: Spark's page reads the
// master's own ApplicationInfo, which its JSON does not carry).
type ApplicationDetail struct {
	ApplicationInfoJSON
	// CoresRequested is the app's spark.cores.max; nil when unlimited.
	CoresRequested *int `json:"coresrequested,omitempty"`
	// CoresPerExecutor is spark.executor.cores; nil when an executor takes
	// every free core of its worker.
	CoresPerExecutor *int `json:"coresperexecutor,omitempty"`
	// ExecutorLimit is how many executors the app asked for (dynamic
	// allocation); nil when unlimited.
	ExecutorLimit *int `json:"executorlimit,omitempty"`
	// AppUIURL is the driver's UI as the app registered it ("" when none).
	AppUIURL string `json:"appuiurl,omitempty"`
	// Executors are the app's executors; RemovedExecutors those it lost
	// or gave back, oldest first.
	Executors        []ExecutorSummary `json:"executors"`
	RemovedExecutors []ExecutorSummary `json:"removedexecutors"`
}

// ExecutorSummary is one executor of an application as the master knows
// it: where it runs and what it holds.
type ExecutorSummary struct {
	ID int `json:"id"`
	// WorkerID, WorkerHost and WorkerPort name its worker; WorkerWebUI is
	// the worker's UI ("" when unknown), where its logs are.
	WorkerID    string        `json:"workerid"`
	WorkerHost  string        `json:"workerhost"`
	WorkerPort  int           `json:"workerport"`
	WorkerWebUI string        `json:"workerwebuiaddress"`
	Cores       int           `json:"cores"`
	Memory      int           `json:"memory"`
	State       ExecutorState `json:"state"`
}

// DriverWrapperClass is Spark's class that runs a cluster-mode driver's
// user class: its Command's Arguments are the worker URL, the user jar,
// then the user's main class and its arguments.
const DriverWrapperClass = "org.apache.spark.deploy.worker.DriverWrapper"

// DriverMainClass is the main class a driver's Command runs, as Spark's UI
// shows it: the user's class (Arguments[2]) under DriverWrapper, else the
// Command's MainClass (an Ember driver's program path).
func DriverMainClass(c Command) string {
	if c.MainClass == DriverWrapperClass && len(c.Arguments) > 2 {
		return c.Arguments[2]
	}
	return c.MainClass
}
