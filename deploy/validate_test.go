package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/rpcenv"
)

func intp(v int) *int { return &v }

func goodWorker() RegisterWorker {
	return RegisterWorker{ID: "worker-20260101000000-127.0.0.1-40000", Host: "127.0.0.1", Port: 40000, Cores: 8,
		MemoryMB: 16384, WorkerWebUIURL: "http://127.0.0.1:8081", MasterAddress: rpcenv.NewAddress("127.0.0.1", 7077),
		Resources: map[string]ResourceInformation{"gpu": {Name: "gpu", Addresses: []string{"0", "1"}}}}
}

func goodApp() ApplicationDescription {
	return ApplicationDescription{Name: "pi", Command: Command{MainClass: "/bin/ember", Arguments: []string{"executor", "--driver-url", "{{DRIVER_URL}}"},
		Environment: map[string]string{"A": "b"}}, MemoryPerExecutorMB: 512, CoresPerExecutor: intp(2), User: "me"}
}

func goodDriver() DriverDescription {
	return DriverDescription{JarURL: "file:/app.jar", MemoryMB: 1024, Cores: 1, Command: Command{MainClass: "x"}}
}

func TestValidate(t *testing.T) {
	huge := strings.Repeat("h", 32<<20) // the 32 MiB host name of the issue
	cases := []struct {
		name  string
		msg   any
		field string // "" when the message is valid
	}{
		{"worker ok", goodWorker(), ""},
		{"worker a million cores", func() any { m := goodWorker(); m.Cores = 1_000_000; return m }(), "cores"},
		{"worker zero cores", func() any { m := goodWorker(); m.Cores = 0; return m }(), "cores"},
		{"worker negative memory", func() any { m := goodWorker(); m.MemoryMB = -1; return m }(), "memory"},
		{"worker 2^40 MB", func() any { m := goodWorker(); m.MemoryMB = 1 << 40; return m }(), "memory"},
		{"worker 32 MiB host", func() any { m := goodWorker(); m.Host = huge; return m }(), "host"},
		{"worker host with a space", func() any { m := goodWorker(); m.Host = "a b"; return m }(), "host"},
		{"worker empty id", func() any { m := goodWorker(); m.ID = ""; return m }(), "id"},
		{"worker id with newline", func() any { m := goodWorker(); m.ID = "w\nFAKE LOG LINE"; return m }(), "id"},
		{"worker port 0", func() any { m := goodWorker(); m.Port = 0; return m }(), "port"},
		{"worker port 70000", func() any { m := goodWorker(); m.Port = 70000; return m }(), "port"},
		{"worker long UI URL", func() any { m := goodWorker(); m.WorkerWebUIURL = strings.Repeat("u", MaxURLLen+1); return m }(), "workerWebUiUrl"},
		{"worker too many resources", func() any {
			m := goodWorker()
			m.Resources = map[string]ResourceInformation{}
			for i := 0; i <= MaxResources; i++ {
				m.Resources[strings.Repeat("r", i+1)] = ResourceInformation{}
			}
			return m
		}(), "resources"},
		{"worker too many addresses", func() any {
			m := goodWorker()
			m.Resources = map[string]ResourceInformation{"gpu": {Addresses: make([]string, MaxResourceAddresses+1)}}
			return m
		}(), "resources[gpu]"},
		{"app ok", RegisterApplication{AppDescription: goodApp()}, ""},
		{"app default memory", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.MemoryPerExecutorMB = 0; return d }()}, ""},
		{"app coresPerExecutor 0", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.CoresPerExecutor = intp(0); return d }()}, "appDescription.coresPerExecutor"},
		{"app coresPerExecutor -1", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.CoresPerExecutor = intp(-1); return d }()}, "appDescription.coresPerExecutor"},
		{"app maxCores -1", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.MaxCores = intp(-1); return d }()}, "appDescription.maxCores"},
		{"app memory 2^40", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.MemoryPerExecutorMB = 1 << 40; return d }()}, "appDescription.memoryPerExecutorMB"},
		{"app negative memory", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.MemoryPerExecutorMB = -5; return d }()}, "appDescription.memoryPerExecutorMB"},
		{"app negative executor limit", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.InitialExecutorLimit = intp(-1); return d }()}, "appDescription.initialExecutorLimit"},
		{"app 1 MiB name", RegisterApplication{AppDescription: func() ApplicationDescription { d := goodApp(); d.Name = strings.Repeat("n", 1<<20); return d }()}, "appDescription.name"},
		{"app command over 64 KiB", RegisterApplication{AppDescription: func() ApplicationDescription {
			d := goodApp()
			d.Command.Arguments = make([]string, 70_000) // empty arguments still count
			return d
		}()}, "appDescription.command"},
		{"app env over 64 KiB", RegisterApplication{AppDescription: func() ApplicationDescription {
			d := goodApp()
			d.Command.Environment = map[string]string{"BIG": strings.Repeat("v", MaxCommandBytes)}
			return d
		}()}, "appDescription.command"},
		{"app env name with =", RegisterApplication{AppDescription: func() ApplicationDescription {
			d := goodApp()
			d.Command.Environment = map[string]string{"A=B": "c"}
			return d
		}()}, "appDescription.command.environment"},
		{"app argument with NUL", RegisterApplication{AppDescription: func() ApplicationDescription {
			d := goodApp()
			d.Command.Arguments = []string{"a\x00b"}
			return d
		}()}, "appDescription.command.arguments"},
		{"launch executor ok", LaunchExecutor{MasterURL: "spark://127.0.0.1:7077", AppID: "app-1", ExecID: 0, AppDesc: goodApp(), Cores: 2, MemoryMB: 512}, ""},
		{"launch executor zero cores", LaunchExecutor{AppID: "app-1", AppDesc: goodApp(), Cores: 0, MemoryMB: 512}, "cores"},
		{"launch executor negative id", LaunchExecutor{AppID: "app-1", ExecID: -1, AppDesc: goodApp(), Cores: 1, MemoryMB: 512}, "execId"},
		{"launch executor no app", LaunchExecutor{AppDesc: goodApp(), Cores: 1, MemoryMB: 512}, "appId"},
		{"kill executor ok", KillExecutor{AppID: "app-1", ExecID: 3}, ""},
		{"launch driver ok", LaunchDriver{DriverID: "driver-1", Desc: goodDriver()}, ""},
		{"launch driver zero memory", LaunchDriver{DriverID: "driver-1", Desc: func() DriverDescription { d := goodDriver(); d.MemoryMB = 0; return d }()}, "driverDesc.mem"},
		{"submit driver a million cores", RequestSubmitDriver{Desc: func() DriverDescription { d := goodDriver(); d.Cores = 1e6; return d }()}, "driverDescription.cores"},
		{"executor state ok", ExecutorStateChanged{AppID: "app-1", ExecID: 1, State: ExecutorRunning}, ""},
		{"executor state unknown", ExecutorStateChanged{AppID: "app-1", ExecID: 1, State: "ZOMBIE"}, "state"},
		{"executor state huge message", ExecutorStateChanged{AppID: "app-1", State: ExecutorFailed, Message: func() *string { s := strings.Repeat("m", MaxTextLen+1); return &s }()}, "message"},
		{"driver state unknown", DriverStateChanged{DriverID: "d", State: "BOGUS"}, "state"},
		{"heartbeat empty id", Heartbeat{}, "workerId"},
		{"latest state too many executors", WorkerLatestState{ID: "w", Executors: make([]ExecutorDescription, MaxEntries+1)}, "executors"},
		{"latest state bad executor", WorkerLatestState{ID: "w", Executors: []ExecutorDescription{{AppID: "a", ExecID: -3, State: ExecutorRunning}}}, "executors.execId"},
		{"scheduler state too many drivers", WorkerSchedulerStateResponse{ID: "w", DriverIDs: make([]string, MaxEntries+1)}, "driverIds"},
		{"request executors negative", RequestExecutors{AppID: "a", RequestedTotal: -1}, "requestedTotal"},
		{"request executors Int.MaxValue", RequestExecutors{AppID: "a", RequestedTotal: 1<<31 - 1}, ""},
		{"kill executors too many", KillExecutors{AppID: "a", ExecutorIDs: make([]string, MaxEntries+1)}, "executorIds"},
		{"application finished empty", ApplicationFinished{}, "id"},
		{"registered worker long URL", RegisteredWorker{MasterWebUIURL: strings.Repeat("u", MaxURLLen+1)}, "masterWebUiUrl"},
		{"master changed ok", MasterChanged{MasterWebUIURL: "http://m:8080"}, ""},
		{"failed with long message", RegisterWorkerFailed{Message: strings.Repeat("x", MaxTextLen+1)}, "message"},
		{"unvalidated type passes", RequestMasterState{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.msg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid message refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("refused on %q, want %q (%v)", ve.Field, tc.field, err)
			}
			if len(err.Error()) > 512 {
				t.Fatalf("error text is %d bytes: it must not echo the value", len(err.Error()))
			}
		})
	}
}
