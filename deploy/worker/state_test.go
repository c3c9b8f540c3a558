package worker

// Scenario tests of the worker's Core, without sockets, processes or
// files. A scenario is a script: each step is one event (what the master,
// a runner or a timer did) and the exact effects the core asked for, one
// line each, in order. fakeFx renders every effect as such a line.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

const (
	m1URL = "spark://10.0.0.1:7077"
	m2URL = "spark://10.0.0.2:7077"
	wd    = "/work"
)

var (
	m1 = fakePeer{rpcenv.EndpointAddress{Addr: rpcenv.NewAddress("10.0.0.1", 7077), Name: deploy.MasterEndpointName}}
	m2 = fakePeer{rpcenv.EndpointAddress{Addr: rpcenv.NewAddress("10.0.0.2", 7077), Name: deploy.MasterEndpointName}}
)

// fakePeer is a master endpoint.
type fakePeer struct{ addr rpcenv.EndpointAddress }

func (p fakePeer) Address() rpcenv.EndpointAddress { return p.addr }

// fakeFx records each effect as a line; the answers of the effects that
// return something are set by the test.
type fakeFx struct {
	lines      []string
	mkdirErr   error
	localErr   error
	launchErr  error
	registered []deploy.RegisterWorker
}

func (f *fakeFx) add(format string, args ...any) {
	f.lines = append(f.lines, fmt.Sprintf(format, args...))
}

func (f *fakeFx) Register(addr rpcenv.Address, msg deploy.RegisterWorker) {
	f.registered = append(f.registered, msg)
	f.add("register %s", addr)
}

func (f *fakeFx) Send(to Peer, msg any) { f.add("send %s %s", to.Address().Addr, describeMsg(msg)) }

func (f *fakeFx) SyncExecutorState(to Peer, m deploy.ExecutorStateChanged) {
	f.add("sync %s %s", to.Address().Addr, describeMsg(m))
}

func (f *fakeFx) StartTimer(t Timer, first, period time.Duration) {
	f.add("timer %s %s/%s", t, first, period)
}

func (f *fakeFx) StopTimer(t Timer) { f.add("stop %s", t) }

func (f *fakeFx) PrepareExecutorDir(dir string) error {
	f.add("mkdir %s", dir)
	return f.mkdirErr
}

func (f *fakeFx) CreateAppLocalDirs(appID string) ([]string, error) {
	f.add("localdirs %s", appID)
	if f.localErr != nil {
		return nil, f.localErr
	}
	return []string{"/tmp/executor-" + appID}, nil
}

func (f *fakeFx) LaunchExecutor(s ExecutorSpec) error {
	f.add("launch executor %s cores=%d mem=%d dir=%s local=%v%s", s.FullID(), s.Cores, s.MemoryMB, s.Dir, s.LocalDirs,
		describeRes(s.Resources))
	return f.launchErr
}

func (f *fakeFx) KillExecutor(appID string, execID int) { f.add("kill executor %s/%d", appID, execID) }

func (f *fakeFx) LaunchDriver(s DriverSpec) error {
	f.add("launch driver %s cores=%d mem=%d dir=%s%s", s.ID, s.Desc.Cores, s.Desc.MemoryMB, s.Dir, describeRes(s.Resources))
	return f.launchErr
}

func (f *fakeFx) KillDriver(id string) { f.add("kill driver %s", id) }

func (f *fakeFx) ExecutorRemoved(appID string, execID int) {
	f.add("shuffle executorRemoved %s/%d", appID, execID)
}

func (f *fakeFx) CleanupApp(appID string, dirs []string) { f.add("cleanup app %s %v", appID, dirs) }

func (f *fakeFx) CleanWorkDir(inUse map[string]bool) {
	f.add("clean workdir keep=%v", sortedKeys(inUse))
}

func (f *fakeFx) Exit(code int) { f.add("exit %d", code) }

func describeRes(res map[string]deploy.ResourceInformation) string {
	if len(res) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(res) {
		parts = append(parts, k+"="+strings.Join(res[k].Addresses, ","))
	}
	return " res=" + strings.Join(parts, ";")
}

func describeMsg(msg any) string {
	switch m := msg.(type) {
	case deploy.Heartbeat:
		return "Heartbeat(" + m.WorkerID + ")"
	case deploy.WorkerLatestState:
		return fmt.Sprintf("WorkerLatestState(%s, %s, %v)", m.ID, describeExecs(m.Executors), m.DriverIDs)
	case deploy.WorkerSchedulerStateResponse:
		return fmt.Sprintf("WorkerSchedulerStateResponse(%s, %s, %v)", m.ID, describeExecs(m.Executors), m.DriverIDs)
	case deploy.ExecutorStateChanged:
		s := fmt.Sprintf("%s/%d %s", m.AppID, m.ExecID, m.State)
		if m.Message != nil {
			s += fmt.Sprintf(" %q", *m.Message)
		}
		if m.ExitStatus != nil {
			s += fmt.Sprintf(" exit=%d", *m.ExitStatus)
		}
		return s
	case deploy.DriverStateChanged:
		s := "DriverStateChanged(" + m.DriverID + " " + string(m.State)
		if m.Exception != nil {
			s += fmt.Sprintf(" %q", *m.Exception)
		}
		return s + ")"
	}
	return fmt.Sprintf("%T%+v", msg, msg)
}

func describeExecs(es []deploy.ExecutorDescription) string {
	parts := make([]string, 0, len(es))
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%s/%d:%s", e.AppID, e.ExecID, e.State))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ---- the script ----

// step is one event and the effects it must cause ("" for none). check,
// when set, looks at the core after the step.
type step struct {
	name  string
	do    func(c *Core, fx *fakeFx)
	want  string
	check func(t *testing.T, c *Core)
}

// testCoreConfig is a worker with two masters and short, distinct
// intervals.
func testCoreConfig() CoreConfig {
	return CoreConfig{ID: "w1", Host: "10.0.1.1", Port: 4040, WebUIURL: "http://10.0.1.1:8081", Cores: 8, MemoryMB: 4096,
		WorkDir: wd, Masters: []rpcenv.Address{m1.addr.Addr, m2.addr.Addr},
		InitialInterval: 10 * time.Second, ProlongedInterval: 60 * time.Second, InitialRetries: 6, MaxRetries: 16,
		HeartbeatInterval: 15 * time.Second, CleanupEnabled: true, CleanupInterval: 30 * time.Minute,
		RetainedExecutors: 1000, RetainedDrivers: 1000}
}

// run plays a script on a new core.
func run(t *testing.T, cfg CoreConfig, steps ...step) (*Core, *fakeFx) {
	t.Helper()
	fx := &fakeFx{}
	c := NewCore(cfg, fx)
	for i, s := range steps {
		fx.lines = nil
		s.do(c, fx)
		got := strings.Join(fx.lines, "\n")
		want := strings.TrimSpace(dedent(s.want))
		if got != want {
			t.Fatalf("step %d (%s): effects\n%s\nwant\n%s", i, s.name, indent(got), indent(want))
		}
		if s.check != nil {
			s.check(t, c)
		}
	}
	return c, fx
}

func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// Events.

func start() step { return step{name: "start", do: func(c *Core, _ *fakeFx) { c.Start() }} }

func tickOf(t Timer) step {
	return step{name: "tick " + t.String(), do: func(c *Core, _ *fakeFx) { c.Tick(t) }}
}

func registeredBy(m fakePeer) step {
	return step{name: "RegisteredWorker from " + m.addr.Addr.String(), do: func(c *Core, _ *fakeFx) {
		c.RegisteredWorker(m, "http://"+m.addr.Addr.Host+":8080", m.addr.Addr, false)
	}}
}

func disconnected(a rpcenv.Address) step {
	return step{name: "disconnected " + a.String(), do: func(c *Core, _ *fakeFx) { c.Disconnected(a) }}
}

func launchExec(master, app string, id, cores, mem int, res map[string]deploy.ResourceInformation) step {
	return step{name: fmt.Sprintf("LaunchExecutor %s/%d", app, id), do: func(c *Core, _ *fakeFx) {
		c.LaunchExecutor(deploy.LaunchExecutor{MasterURL: master, AppID: app, ExecID: id, Cores: cores, MemoryMB: mem,
			Resources: res, AppDesc: deploy.ApplicationDescription{Name: "a",
				Command: deploy.Command{MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend"}}})
	}}
}

func execState(app string, id int, st deploy.ExecutorState, exit *int) step {
	return step{name: fmt.Sprintf("runner %s/%d %s", app, id, st), do: func(c *Core, _ *fakeFx) {
		m := deploy.ExecutorStateChanged{AppID: app, ExecID: id, State: st, ExitStatus: exit}
		if exit != nil {
			m.Message = ptr(fmt.Sprintf("Command exited with code %d", *exit))
		}
		c.ExecutorStateChanged(m)
	}}
}

func gpus(addrs ...string) map[string]deploy.ResourceInformation {
	return map[string]deploy.ResourceInformation{"gpu": {Name: "gpu", Addresses: addrs}}
}

// then adds the expected effects to a step.
func (s step) then(want string) step { s.want = want; return s }

// and adds a check to a step.
func (s step) and(check func(t *testing.T, c *Core)) step { s.check = check; return s }

func ev(name string, do func(c *Core, fx *fakeFx)) step { return step{name: name, do: do} }

// registeredCore is the script's common opening: started, registered
// with m1.
func registeredOpening() []step {
	return []step{
		start().then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`),
		registeredBy(m1).then(`stop registration
			timer heartbeat 0s/15s
			timer cleanup 30m0s/30m0s
			send 10.0.0.1:7077 WorkerLatestState(w1, [], [])`),
	}
}

// ---- registration ----

func TestCoreRegistrationSchedule(t *testing.T) {
	// Spark's schedule: every INITIAL interval, PROLONGED after
	// initialRegistrationRetries attempts, give up (exit 1) after
	// maxRegistrationRetries.
	steps := []step{start().then(`register 10.0.0.1:7077
		register 10.0.0.2:7077
		timer registration 10s/10s`)}
	for i := 1; i <= 16; i++ {
		want := "register 10.0.0.1:7077\nregister 10.0.0.2:7077"
		if i == 6 {
			want += "\ntimer registration 1m0s/1m0s"
		}
		steps = append(steps, tickOf(TimerRegistration).then(want))
	}
	steps = append(steps, tickOf(TimerRegistration).then(`stop registration
		exit 1`).and(func(t *testing.T, c *Core) {
		if c.Attempts() != 17 || c.Registered() {
			t.Errorf("attempts=%d registered=%v", c.Attempts(), c.Registered())
		}
	}))
	steps = append(steps, tickOf(TimerRegistration).then(``)) // a late tick of the stopped timer
	_, fx := run(t, testCoreConfig(), steps...)
	r := fx.registered[0]
	want := deploy.RegisterWorker{ID: "w1", Host: "10.0.1.1", Port: 4040, Cores: 8, MemoryMB: 4096,
		WorkerWebUIURL: "http://10.0.1.1:8081", MasterAddress: m1.addr.Addr}
	if r.ID != want.ID || r.Host != want.Host || r.Port != want.Port || r.Cores != want.Cores || r.MemoryMB != want.MemoryMB ||
		r.WorkerWebUIURL != want.WorkerWebUIURL || r.MasterAddress != want.MasterAddress {
		t.Errorf("RegisterWorker = %+v, want %+v", r, want)
	}
}

func TestCoreRegisteredHeartbeatsAndReregisters(t *testing.T) {
	steps := append(registeredOpening(),
		tickOf(TimerHeartbeat).then(`send 10.0.0.1:7077 Heartbeat(w1)`),
		// A second acceptance (duplicate) starts no second timer.
		ev("duplicate RegisteredWorker", func(c *Core, _ *fakeFx) {
			c.RegisteredWorker(m1, "http://10.0.0.1:8080", m1.addr.Addr, true)
		}).then(`send 10.0.0.1:7077 WorkerLatestState(w1, [], [])`),
		tickOf(TimerRegistration).then(``),
		ev("RegisterWorkerFailed after registering", func(c *Core, _ *fakeFx) { c.RegisterWorkerFailed("x") }).then(``),
		disconnected(rpcenv.NewAddress("10.9.9.9", 1)).then(``),
		// Losing the master: a new round to every master; heartbeats stop
		// while disconnected.
		disconnected(m1.addr.Addr).then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`).and(func(t *testing.T, c *Core) {
			if c.Registered() || c.Connected() {
				t.Error("still registered/connected after the master's disconnect")
			}
		}),
		tickOf(TimerHeartbeat).then(``),
		// The master asks again while a round runs: nothing new.
		ev("ReconnectWorker", func(c *Core, _ *fakeFx) { c.ReconnectWorker(m1URL) }).then(``),
		// Retries go to the known master only.
		tickOf(TimerRegistration).then(`register 10.0.0.1:7077`),
		registeredBy(m1).then(`stop registration
			send 10.0.0.1:7077 WorkerLatestState(w1, [], [])`),
	)
	run(t, testCoreConfig(), steps...)
}

func TestCoreRegisterWorkerFailedBeforeRegistering(t *testing.T) {
	run(t, testCoreConfig(),
		start().then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`),
		ev("MasterInStandby", func(c *Core, _ *fakeFx) { c.MasterInStandby() }).then(``),
		ev("RegisterWorkerFailed", func(c *Core, _ *fakeFx) { c.RegisterWorkerFailed("Duplicate worker ID") }).then(`exit 1`),
	)
}

func TestCorePreferConfiguredMasterAddress(t *testing.T) {
	// SPARK-20529: with preferConfiguredMasterAddress, retries after a
	// disconnect go to the address the worker registered with, not the
	// one the master advertises.
	cfg := testCoreConfig()
	cfg.PreferConfiguredMaster = true
	configured := rpcenv.NewAddress("master-alias", 7077)
	run(t, cfg, start().then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`),
		ev("RegisteredWorker via the alias", func(c *Core, _ *fakeFx) {
			c.RegisteredWorker(m1, "", configured, false)
		}).then(`stop registration
			timer heartbeat 0s/15s
			timer cleanup 30m0s/30m0s
			send 10.0.0.1:7077 WorkerLatestState(w1, [], [])`),
		disconnected(configured).then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`),
		tickOf(TimerRegistration).then(`register master-alias:7077`),
	)
}

func TestCoreMasterChanged(t *testing.T) {
	steps := append(registeredOpening(),
		launchExec(m1URL, "app-1", 0, 2, 512, nil).then(`mkdir /work/app-1/0
			localdirs app-1
			launch executor app-1/0 cores=2 mem=512 dir=/work/app-1/0 local=[/tmp/executor-app-1]`),
		ev("LaunchDriver", func(c *Core, _ *fakeFx) {
			c.LaunchDriver(deploy.LaunchDriver{DriverID: "driver-1", Desc: deploy.DriverDescription{Cores: 1, MemoryMB: 1024}})
		}).then(`launch driver driver-1 cores=1 mem=1024 dir=/work/driver-1`),
		ev("MasterChanged to m2", func(c *Core, _ *fakeFx) { c.MasterChanged(m2, "http://10.0.0.2:8080") }).
			then(`send 10.0.0.2:7077 WorkerSchedulerStateResponse(w1, [app-1/0:LAUNCHING], [driver-1])`).
			and(func(t *testing.T, c *Core) {
				if c.ActiveMasterURL() != m2URL {
					t.Errorf("active master %s", c.ActiveMasterURL())
				}
			}),
		// The old master is no longer obeyed.
		launchExec(m1URL, "app-1", 1, 2, 512, nil).then(``),
		ev("KillExecutor from the old master", func(c *Core, _ *fakeFx) {
			c.KillExecutor(deploy.KillExecutor{MasterURL: m1URL, AppID: "app-1", ExecID: 0})
		}).then(``),
		execState("app-1", 0, deploy.ExecutorRunning, nil).then(`sync 10.0.0.2:7077 app-1/0 RUNNING`),
	)
	run(t, testCoreConfig(), steps...)
}

// ---- executors ----

func TestCoreExecutorLifecycle(t *testing.T) {
	cfg := testCoreConfig()
	cfg.ExecutorFilesCleanup, cfg.ShuffleService = true, true
	steps := append(registeredOpening(),
		launchExec(m1URL, "app-1", 0, 2, 512, nil).then(`mkdir /work/app-1/0
			localdirs app-1
			launch executor app-1/0 cores=2 mem=512 dir=/work/app-1/0 local=[/tmp/executor-app-1]`),
		// The app's local dirs are made once and shared.
		launchExec(m1URL, "app-1", 1, 3, 1024, nil).then(`mkdir /work/app-1/1
			launch executor app-1/1 cores=3 mem=1024 dir=/work/app-1/1 local=[/tmp/executor-app-1]`).
			and(func(t *testing.T, c *Core) {
				if c.CoresUsed() != 5 || c.MemoryUsed() != 1536 {
					t.Errorf("used %d cores %d MB, want 5 and 1536", c.CoresUsed(), c.MemoryUsed())
				}
			}),
		execState("app-1", 0, deploy.ExecutorRunning, nil).then(`sync 10.0.0.1:7077 app-1/0 RUNNING`),
		execState("app-1", 0, deploy.ExecutorExited, ptr(0)).then(`sync 10.0.0.1:7077 app-1/0 EXITED "Command exited with code 0" exit=0
			shuffle executorRemoved app-1/0`).and(func(t *testing.T, c *Core) {
			if c.Executor("app-1", 0) != nil || len(c.FinishedExecutors()) != 1 || c.CoresUsed() != 3 || c.MemoryUsed() != 1024 {
				t.Errorf("after exit: running=%v finished=%d used=%d/%d", c.Executor("app-1", 0), len(c.FinishedExecutors()),
					c.CoresUsed(), c.MemoryUsed())
			}
			if f := c.FinishedExecutors()[0]; f.State != deploy.ExecutorExited || *f.ExitStatus != 0 {
				t.Errorf("finished executor %+v", f)
			}
		}),
		// The app ends while an executor still runs: its dirs stay ...
		ev("ApplicationFinished", func(c *Core, _ *fakeFx) { c.ApplicationFinished("app-1") }).then(``),
		ev("KillExecutor", func(c *Core, _ *fakeFx) {
			c.KillExecutor(deploy.KillExecutor{MasterURL: m1URL, AppID: "app-1", ExecID: 1})
		}).then(`kill executor app-1/1`).and(func(t *testing.T, c *Core) {
			if st := c.Executor("app-1", 1).State; st != deploy.ExecutorKilled {
				t.Errorf("state after KillExecutor %s, want KILLED", st)
			}
		}),
		// ... and go with its last executor.
		execState("app-1", 1, deploy.ExecutorKilled, ptr(143)).then(`sync 10.0.0.1:7077 app-1/1 KILLED "Command exited with code 143" exit=143
			shuffle executorRemoved app-1/1
			cleanup app app-1 [/tmp/executor-app-1]`).and(func(t *testing.T, c *Core) {
			if c.CoresUsed() != 0 || c.MemoryUsed() != 0 || c.AppDirs("app-1") != nil {
				t.Errorf("after the app: used %d/%d dirs %v", c.CoresUsed(), c.MemoryUsed(), c.AppDirs("app-1"))
			}
		}),
		// A late report of an unknown executor is passed on, nothing else.
		execState("app-1", 7, deploy.ExecutorExited, ptr(1)).then(`sync 10.0.0.1:7077 app-1/7 EXITED "Command exited with code 1" exit=1`),
		ev("KillExecutor unknown", func(c *Core, _ *fakeFx) {
			c.KillExecutor(deploy.KillExecutor{MasterURL: m1URL, AppID: "app-1", ExecID: 9})
		}).then(``),
	)
	run(t, cfg, steps...)
}

func TestCoreExecutorLaunchFailures(t *testing.T) {
	steps := append(registeredOpening(),
		launchExec(m1URL, "../evil", 0, 1, 1, nil).then(`sync 10.0.0.1:7077 ../evil/0 FAILED "invalid id \"../evil\" for a directory name"`),
		ev("mkdir fails", func(c *Core, fx *fakeFx) {
			fx.mkdirErr = errors.New("read-only file system")
			launchExec(m1URL, "app-1", 0, 1, 100, nil).do(c, fx)
			fx.mkdirErr = nil
		}).then(`mkdir /work/app-1/0
			sync 10.0.0.1:7077 app-1/0 FAILED "failed to create directory /work/app-1/0: read-only file system"`),
		ev("local dirs fail", func(c *Core, fx *fakeFx) {
			fx.localErr = errors.New("no subfolder can be created")
			launchExec(m1URL, "app-1", 0, 1, 100, nil).do(c, fx)
			fx.localErr = nil
		}).then(`mkdir /work/app-1/0
			localdirs app-1
			sync 10.0.0.1:7077 app-1/0 FAILED "no subfolder can be created"`),
		ev("the runner cannot start", func(c *Core, fx *fakeFx) {
			fx.launchErr = errShuttingDown
			launchExec(m1URL, "app-1", 0, 1, 100, nil).do(c, fx)
			fx.launchErr = nil
		}).then(`mkdir /work/app-1/0
			localdirs app-1
			launch executor app-1/0 cores=1 mem=100 dir=/work/app-1/0 local=[/tmp/executor-app-1]
			sync 10.0.0.1:7077 app-1/0 FAILED "the worker is shutting down"`).and(func(t *testing.T, c *Core) {
			if c.CoresUsed() != 0 || c.Executor("app-1", 0) != nil {
				t.Error("a launch that failed holds resources")
			}
		}),
		launchExec(m1URL, "app-1", 0, 1, 100, nil).then(`mkdir /work/app-1/0
			launch executor app-1/0 cores=1 mem=100 dir=/work/app-1/0 local=[/tmp/executor-app-1]`),
		// The same id again: FAILED, and what runs under it is killed.
		launchExec(m1URL, "app-1", 0, 1, 100, nil).then(`kill executor app-1/0
			sync 10.0.0.1:7077 app-1/0 FAILED "executor app-1/0 is running already"`),
	)
	run(t, testCoreConfig(), steps...)
}

func TestCoreExecutorStateBeforeAnyMaster(t *testing.T) {
	// Nothing to tell: the state is dropped (Spark logs a warning).
	run(t, testCoreConfig(), execState("app-1", 0, deploy.ExecutorExited, ptr(0)).then(``))
}

func TestCoreFinishedExecutorsTrimmed(t *testing.T) {
	cfg := testCoreConfig()
	cfg.RetainedExecutors = 3
	steps := registeredOpening()
	for i := 0; i < 5; i++ {
		steps = append(steps, ev(fmt.Sprintf("executor %d runs and exits", i), func(c *Core, fx *fakeFx) {
			launchExec(m1URL, "app-1", i, 1, 1, nil).do(c, fx)
			execState("app-1", i, deploy.ExecutorExited, ptr(0)).do(c, fx)
			fx.lines = nil
		}))
	}
	c, _ := run(t, cfg, steps...)
	var ids []int
	for _, e := range c.FinishedExecutors() {
		ids = append(ids, e.ExecID)
	}
	// 4 > 3: drop max(4/10, 1) = 1 → [1 2 3]; then [1 2 3 4] → [2 3 4].
	if fmt.Sprint(ids) != "[2 3 4]" {
		t.Errorf("finished executors %v, want [2 3 4]", ids)
	}
}

// ---- resources ----

func TestCoreCustomResources(t *testing.T) {
	cfg := testCoreConfig()
	cfg.Resources = gpus("0", "1")
	steps := append(registeredOpening(),
		launchExec(m1URL, "app-1", 0, 1, 100, gpus("0")).then(`mkdir /work/app-1/0
			localdirs app-1
			launch executor app-1/0 cores=1 mem=100 dir=/work/app-1/0 local=[/tmp/executor-app-1] res=gpu=0`),
		launchExec(m1URL, "app-1", 1, 1, 100, gpus("0")).then(`sync 10.0.0.1:7077 app-1/1 FAILED "resource gpu address 0 is in use"`),
		launchExec(m1URL, "app-1", 1, 1, 100, gpus("7")).then(`sync 10.0.0.1:7077 app-1/1 FAILED "resource gpu address 7 is not offered by this worker"`),
		ev("LaunchDriver with gpu 1", func(c *Core, _ *fakeFx) {
			c.LaunchDriver(deploy.LaunchDriver{DriverID: "driver-1", Desc: deploy.DriverDescription{Cores: 1, MemoryMB: 10},
				Resources: gpus("1")})
		}).then(`launch driver driver-1 cores=1 mem=10 dir=/work/driver-1 res=gpu=1`).and(func(t *testing.T, c *Core) {
			if got := c.ResourcesUsed()["gpu"]; fmt.Sprint(got) != "[0 1]" {
				t.Errorf("gpus used %v, want [0 1]", got)
			}
			s := c.Snapshot()
			if fmt.Sprint(s.ResourcesUsed["gpu"].Addresses) != "[0 1]" || fmt.Sprint(s.Resources["gpu"].Addresses) != "[0 1]" ||
				fmt.Sprint(s.Executors[0].Resources["gpu"].Addresses) != "[0]" {
				t.Errorf("snapshot resources %+v used %+v executor %+v", s.Resources, s.ResourcesUsed, s.Executors[0].Resources)
			}
		}),
		execState("app-1", 0, deploy.ExecutorFailed, nil).then(`sync 10.0.0.1:7077 app-1/0 FAILED`).
			and(func(t *testing.T, c *Core) {
				if got := c.ResourcesUsed()["gpu"]; fmt.Sprint(got) != "[1]" {
					t.Errorf("gpus used %v after the executor, want [1]", got)
				}
			}),
		ev("driver finishes", func(c *Core, _ *fakeFx) {
			c.DriverStateChanged(deploy.DriverStateChanged{DriverID: "driver-1", State: deploy.DriverFinished})
		}).then(`send 10.0.0.1:7077 DriverStateChanged(driver-1 FINISHED)`).and(func(t *testing.T, c *Core) {
			if len(c.ResourcesUsed()) != 0 || c.CoresUsed() != 0 {
				t.Errorf("resources used %v cores %d after everything ended", c.ResourcesUsed(), c.CoresUsed())
			}
		}),
	)
	run(t, cfg, steps...)
}

// ---- drivers ----

func TestCoreDrivers(t *testing.T) {
	launch := func(id string) step {
		return ev("LaunchDriver "+id, func(c *Core, _ *fakeFx) {
			c.LaunchDriver(deploy.LaunchDriver{DriverID: id, Desc: deploy.DriverDescription{Cores: 2, MemoryMB: 1024}})
		})
	}
	steps := append(registeredOpening(),
		launch("driver-1").then(`launch driver driver-1 cores=2 mem=1024 dir=/work/driver-1`),
		launch("driver-1").then(``), // running already: ignored
		launch("..").then(`send 10.0.0.1:7077 DriverStateChanged(.. ERROR "invalid id \"..\" for a directory name")`),
		ev("KillDriver", func(c *Core, _ *fakeFx) { c.KillDriver("driver-1") }).then(`kill driver driver-1`),
		ev("KillDriver unknown", func(c *Core, _ *fakeFx) { c.KillDriver("driver-9") }).then(``),
		tickOf(TimerCleanup).then(`clean workdir keep=[driver-1 shuffle-db]`),
		ev("driver killed", func(c *Core, _ *fakeFx) {
			c.DriverStateChanged(deploy.DriverStateChanged{DriverID: "driver-1", State: deploy.DriverKilled})
		}).then(`send 10.0.0.1:7077 DriverStateChanged(driver-1 KILLED)`).and(func(t *testing.T, c *Core) {
			if c.Driver("driver-1") != nil || len(c.FinishedDrivers()) != 1 || c.CoresUsed() != 0 || c.MemoryUsed() != 0 {
				t.Errorf("driver still held: finished %d used %d/%d", len(c.FinishedDrivers()), c.CoresUsed(), c.MemoryUsed())
			}
			if s := c.Snapshot(); len(s.FinishedDrivers) != 1 || s.FinishedDrivers[0].State != deploy.DriverKilled {
				t.Errorf("snapshot finished drivers %+v", s.FinishedDrivers)
			}
		}),
	)
	run(t, testCoreConfig(), steps...)
}

func TestCoreCleanupKeepsWhatRuns(t *testing.T) {
	cfg := testCoreConfig()
	cfg.CleanupEnabled = false
	run(t, cfg,
		start().then(`register 10.0.0.1:7077
			register 10.0.0.2:7077
			timer registration 10s/10s`),
		registeredBy(m1).then(`stop registration
			timer heartbeat 0s/15s
			send 10.0.0.1:7077 WorkerLatestState(w1, [], [])`),
		launchExec(m1URL, "app-2", 0, 1, 1, nil).then(`mkdir /work/app-2/0
			localdirs app-2
			launch executor app-2/0 cores=1 mem=1 dir=/work/app-2/0 local=[/tmp/executor-app-2]`),
		tickOf(TimerCleanup).then(`clean workdir keep=[app-2 shuffle-db]`),
	)
}

func TestCoreNames(t *testing.T) {
	if s := (ExecutorSpec{AppID: "app-1", ExecID: 12}); s.FullID() != "app-1/12" {
		t.Errorf("FullID %q", s.FullID())
	}
	names := []string{TimerRegistration.String(), TimerHeartbeat.String(), TimerCleanup.String(), Timer(9).String()}
	if fmt.Sprint(names) != "[registration heartbeat cleanup timer(9)]" {
		t.Errorf("timer names %v", names)
	}
}
