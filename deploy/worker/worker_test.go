package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/rpcenv"
)

func TestRegisterAndHeartbeat(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, cores: 3, memory: 2048,
		conf: []string{"spark.worker.timeout", "1"}, mutate: func(o *Options) { o.WebUIPort = 18081; o.PublicDNS = "pub.example" }})
	wi := aliveWorker(t, m, w)
	if wi.Cores != 3 || wi.Memory != 2048 || wi.Host != "127.0.0.1" || wi.Port != w.Address().Port {
		t.Fatalf("worker at master: %+v", wi)
	}
	if wi.WebUIAddress != "http://pub.example:18081" {
		t.Fatalf("webuiaddress = %q", wi.WebUIAddress)
	}
	if !strings.HasPrefix(w.ID(), "worker-") || !strings.HasSuffix(w.ID(), fmt.Sprintf("-127.0.0.1-%d", w.Address().Port)) {
		t.Fatalf("id = %q", w.ID())
	}
	waitFor(t, "Registered()", w.Registered)
	first := wi.LastHeartbeat
	waitFor(t, "a heartbeat to refresh lastheartbeat", func() bool {
		st, err := m.MasterState()
		if err != nil {
			return false
		}
		for _, x := range st.Workers {
			if x.ID == w.ID() && x.LastHeartbeat > first {
				return true
			}
		}
		return false
	})
	st := workerState(t, w)
	if st.ID != w.ID() || st.MasterURL != m.MasterURL() || st.Cores != 3 || st.Memory != 2048 || st.CoresUsed != 0 ||
		st.Host != "127.0.0.1" || st.Port != w.Address().Port || st.Executors == nil || st.FinishedExecutors == nil {
		t.Fatalf("worker state: %+v", st)
	}
	if w.ShuffleService() != nil {
		t.Fatal("shuffle service on by default")
	}
	// RequestWorkerState from another env.
	c := newClient(t, m)
	ref, err := c.env.SetupEndpointRef(w.Address(), deploy.WorkerEndpointName)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ref.AskTimeout(deploy.RequestWorkerState{}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := v.(deploy.WorkerStateResponse); !ok || r.ID != w.ID() {
		t.Fatalf("RequestWorkerState reply %#v", v)
	}
	w.Shutdown()
	w.Shutdown() // idempotent
}

func TestExecutorLaunchAndExit(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "exit", "FAKE_EXIT_CODE": "3", "FAKE_EXIT_EXEC": "0"}))

	waitFor(t, "ExecutorAdded", func() bool {
		for _, msg := range d.messages() {
			if a, ok := msg.(deploy.ExecutorAdded); ok && a.ID == 0 && a.WorkerID == w.ID() && a.Cores == 2 && a.MemoryMB == 64 {
				return true
			}
		}
		return false
	})
	_, runIdx := d.executorUpdate(t, 0, deploy.ExecutorRunning)
	exited, exitIdx := d.executorUpdate(t, 0, deploy.ExecutorExited)
	if runIdx > exitIdx {
		t.Fatalf("EXITED (%d) before RUNNING (%d)", exitIdx, runIdx)
	}
	if exited.ExitStatus == nil || *exited.ExitStatus != 3 || exited.Message == nil || *exited.Message != "Command exited with code 3" {
		t.Fatalf("EXITED update: %+v", exited)
	}

	dir := executorDir(w, appID, 0)
	out := output(t, filepath.Join(dir, "stdout"))
	wantArgs := []string{"--exec-id", "0", "--app", appID, "--worker", fmt.Sprintf("spark://Worker@127.0.0.1:%d", w.Address().Port),
		"--cores", "2"}
	for i, a := range wantArgs {
		if got := out[fmt.Sprintf("arg[%d]", i)]; got != a {
			t.Errorf("arg[%d] = %q, want %q", i, got, a)
		}
	}
	if out["cwd"] != dir {
		t.Errorf("cwd = %q, want %q", out["cwd"], dir)
	}
	execDirs := out["env.SPARK_EXECUTOR_DIRS"]
	if !strings.Contains(filepath.Base(execDirs), "executor-") {
		t.Errorf("SPARK_EXECUTOR_DIRS = %q", execDirs)
	}
	if fi, err := os.Stat(execDirs); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("app local dir %s: %v %v", execDirs, fi, err)
	}
	wantURL := fmt.Sprintf("http://127.0.0.1:8081/logPage/?appId=%s&executorId=0&logType=", appID)
	if out["env.SPARK_LOG_URL_STDOUT"] != wantURL+"stdout" || out["env.SPARK_LOG_URL_STDERR"] != wantURL+"stderr" {
		t.Errorf("log URLs %q %q", out["env.SPARK_LOG_URL_STDOUT"], out["env.SPARK_LOG_URL_STDERR"])
	}
	for k, v := range map[string]string{"SPARK_LAUNCH_WITH_SCALA": "0", "SPARK_EXECUTOR_MEMORY": "64m", "SPARK_EXECUTOR_CORES": "2",
		"FAKE_MODE": "exit"} {
		if out["env."+k] != v {
			t.Errorf("%s = %q, want %q", k, out["env."+k], v)
		}
	}
	if _, ok := out["env._SPARK_AUTH_SECRET"]; ok {
		t.Error("_SPARK_AUTH_SECRET set without spark.authenticate")
	}
	stderr, err := os.ReadFile(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf(`Spark Executor Command: "%s" "--exec-id" "0" "--app" "%s" "--worker" "spark://Worker@127.0.0.1:%d" "--cores" "2"`,
		fakeExec, appID, w.Address().Port) + "\n" + strings.Repeat("=", 40) + "\n\nfakeexec stderr line\n"
	if string(stderr) != header {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, header)
	}
	e0 := finishedExecutor(t, w, appID, 0)
	if e0.State != deploy.ExecutorExited || e0.ExitStatus == nil || *e0.ExitStatus != 3 {
		t.Fatalf("executor 0: %+v", e0)
	}

	// The master replaces the failed executor; this one sleeps. Its app
	// dirs are the app's, made once.
	d.executorUpdate(t, 1, deploy.ExecutorRunning)
	out1 := output(t, filepath.Join(executorDir(w, appID, 1), "stdout"))
	if out1["env.SPARK_EXECUTOR_DIRS"] != execDirs {
		t.Fatalf("second executor's dirs %q != %q", out1["env.SPARK_EXECUTOR_DIRS"], execDirs)
	}
	st := workerState(t, w)
	if len(st.Executors) != 1 || st.Executors[0].ID != 1 || st.Executors[0].AppID != appID || st.CoresUsed != 2 || st.MemoryUsed != 64 ||
		st.Executors[0].AppDesc.Name != "test-app" || st.Executors[0].AppDesc.User != "tester" ||
		!strings.HasPrefix(st.Executors[0].AppDesc.Command, "Command("+fakeExec+",List(--exec-id, {{EXECUTOR_ID}}") {
		t.Fatalf("worker state executors: %+v", st)
	}
	if len(st.FinishedExecutors) != 1 || st.FinishedExecutors[0].ID != 0 || st.FinishedExecutors[0].State != deploy.ExecutorExited {
		t.Fatalf("finished executors: %+v", st.FinishedExecutors)
	}

	// Unregistering the app kills the executor and removes the app dirs.
	pid := atoi(t, out1["pid"])
	if err := d.master.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
		t.Fatal(err)
	}
	e1 := finishedExecutor(t, w, appID, 1)
	if e1.State != deploy.ExecutorKilled || e1.ExitStatus == nil || *e1.ExitStatus != 143 {
		t.Fatalf("executor 1: %+v", e1)
	}
	waitGone(t, pid)
	waitFor(t, "the app local dir to be removed", func() bool {
		_, err := os.Stat(execDirs)
		return os.IsNotExist(err)
	})
	st = workerState(t, w)
	if len(st.Executors) != 0 || st.CoresUsed != 0 || st.MemoryUsed != 0 {
		t.Fatalf("after the app: %+v", st)
	}
}

func TestKillExecutorsKillsProcess(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "sleep"}))
	d.executorUpdate(t, 0, deploy.ExecutorRunning)
	pid := atoi(t, output(t, filepath.Join(executorDir(w, appID, 0), "stdout"))["pid"])
	if processGone(pid) {
		t.Fatal("executor not running")
	}
	if ok, _ := d.ask(t, deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}}).(bool); !ok {
		t.Fatal("KillExecutors refused")
	}
	e := finishedExecutor(t, w, appID, 0)
	if e.State != deploy.ExecutorKilled || e.ExitStatus == nil || *e.ExitStatus != 143 {
		t.Fatalf("killed executor: %+v", e)
	}
	waitGone(t, pid)
	st := workerState(t, w)
	found := false
	for _, f := range st.FinishedExecutors {
		if f.ID == 0 && f.State == deploy.ExecutorKilled {
			found = true
		}
	}
	if !found {
		t.Fatalf("finished executors: %+v", st.FinishedExecutors)
	}
}

// A child that ignores SIGTERM is SIGKILLed after the grace, and so is
// what it started (its process group).
func TestKillGraceThenSIGKILL(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: []string{KeyExecutorKillGrace, "300ms"}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "ignore-term", "FAKE_SPAWN_CHILD": "1"}))
	d.executorUpdate(t, 0, deploy.ExecutorRunning)
	out := output(t, filepath.Join(executorDir(w, appID, 0), "stdout"))
	pid, child := atoi(t, out["pid"]), atoi(t, out["child"])
	d.ask(t, deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}})
	e := finishedExecutor(t, w, appID, 0)
	if e.State != deploy.ExecutorKilled || e.ExitStatus == nil || *e.ExitStatus != 137 {
		t.Fatalf("killed executor: %+v (want KILLED, 137)", e)
	}
	waitGone(t, pid)
	waitGone(t, child)
}

func TestAuthSecretByEnvironment(t *testing.T) {
	t.Parallel()
	authKV := []string{"spark.authenticate", "true", "spark.authenticate.secret", "s3cr3t"}
	m := startMaster(t, authKV...)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: authKV})
	aliveWorker(t, m, w)
	d := newClient(t, m, authKV...)
	desc := appDesc(map[string]string{"FAKE_MODE": "sleep"})
	desc.Command.Arguments = []string{"--exec-id", "{{EXECUTOR_ID}}", "--host", "{{HOSTNAME}}", "--rp", "{{RESOURCE_PROFILE_ID}}", "x{{APP_ID}}"}
	desc.Command.JavaOpts = []string{"-Dspark.authenticate.secret=s3cr3t", "-Dspark.app.id={{APP_ID}}",
		"-Dspark.ssl.keyPassword=hunter2", "-Dexec={{EXECUTOR_ID}}"}
	appID := d.registerApp(t, desc)
	d.executorUpdate(t, 0, deploy.ExecutorRunning)
	dir := executorDir(w, appID, 0)
	out := output(t, filepath.Join(dir, "stdout"))
	if out["env._SPARK_AUTH_SECRET"] != "s3cr3t" {
		t.Fatalf("_SPARK_AUTH_SECRET = %q", out["env._SPARK_AUTH_SECRET"])
	}
	want := []string{"-Dspark.app.id=" + appID, "-Dspark.ssl.keyPassword=hunter2", "-Dexec=0",
		"--exec-id", "0", "--host", "127.0.0.1", "--rp", "0", "x{{APP_ID}}"}
	for i, a := range want {
		if got := out[fmt.Sprintf("arg[%d]", i)]; got != a {
			t.Errorf("arg[%d] = %q, want %q", i, got, a)
		}
	}
	if _, more := out[fmt.Sprintf("arg[%d]", len(want))]; more {
		t.Errorf("extra arguments: %v", out)
	}
	stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if strings.Contains(string(stderr), "s3cr3t") || strings.Contains(string(stderr), "hunter2") ||
		!strings.Contains(string(stderr), `"-Dspark.ssl.keyPassword=*********(redacted)"`) {
		t.Fatalf("stderr header leaks or misses redaction:\n%s", stderr)
	}
	st := workerState(t, w)
	if len(st.Executors) != 1 || strings.Contains(st.Executors[0].AppDesc.Command, "s3cr3t") ||
		strings.Contains(st.Executors[0].AppDesc.Command, "hunter2") {
		t.Fatalf("command in the worker state: %+v", st.Executors)
	}
}

func TestExecutorLaunchFailure(t *testing.T) {
	t.Parallel()
	m := startMaster(t, "spark.deploy.maxExecutorRetries", "1")
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	desc := appDesc(nil)
	desc.Command.MainClass = filepath.Join(t.TempDir(), "no-such-program")
	appID := d.registerApp(t, desc)
	u, _ := d.executorUpdate(t, 0, deploy.ExecutorFailed)
	if u.Message == nil || !strings.HasPrefix(*u.Message, "Error running executor: ") {
		t.Fatalf("FAILED update: %+v", u)
	}
	e := finishedExecutor(t, w, appID, 0)
	if e.State != deploy.ExecutorFailed || e.ExitStatus != nil {
		t.Fatalf("failed executor: %+v", e)
	}
	// One failure is the limit: the master fails the app.
	waitFor(t, "ApplicationRemoved(FAILED)", func() bool {
		for _, msg := range d.messages() {
			if r, ok := msg.(deploy.ApplicationRemoved); ok && r.Message == string(deploy.AppFailed) {
				return true
			}
		}
		return false
	})
}

// Past spark.worker.ui.retainedExecutors the oldest finished executors go.
func TestFinishedExecutorsTrimmed(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: []string{"spark.worker.ui.retainedExecutors", "2"}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	// Executors exit 0 at once; the master keeps replacing them.
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "exit", "FAKE_EXIT_CODE": "0"}))
	waitFor(t, "five executors to finish", func() bool {
		var finished []int
		for _, e := range executorInfos(t, w) {
			if e.Finished {
				finished = append(finished, e.ExecID)
			}
		}
		if len(finished) > 2 {
			t.Fatalf("%d finished executors retained (limit 2): %v", len(finished), finished)
		}
		for i := 1; i < len(finished); i++ {
			if finished[i] <= finished[i-1] {
				t.Fatalf("finished executors out of order: %v", finished)
			}
		}
		return len(finished) == 2 && finished[1] >= 4
	})
	if err := d.master.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
		t.Fatal(err)
	}
}

// Shutdown kills the executors (and their children) and the master sees
// the worker go.
func TestShutdownKillsEverything(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: []string{KeyExecutorKillGrace, "200ms"}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "sleep", "FAKE_SPAWN_CHILD": "1"}))
	d.executorUpdate(t, 0, deploy.ExecutorRunning)
	out := output(t, filepath.Join(executorDir(w, appID, 0), "stdout"))
	pid, child := atoi(t, out["pid"]), atoi(t, out["child"])
	w.Shutdown()
	// Shutdown waited for the executor: it is reaped already.
	if !processGone(pid) {
		t.Fatalf("executor %d survived Shutdown", pid)
	}
	waitGone(t, child)
	waitFor(t, "the master to see the worker DEAD", func() bool {
		st, err := m.MasterState()
		if err != nil {
			return false
		}
		for _, wi := range st.Workers {
			if wi.ID == w.ID() {
				return wi.State == deploy.WorkerDead
			}
		}
		return true // dropped
	})
	d.executorUpdate(t, 0, deploy.ExecutorLost)
	if _, err := w.WorkerState(); err == nil {
		t.Fatal("WorkerState answered after Shutdown")
	}
}

// After the master restarts on the same port, the worker registers again.
func TestReregisterAfterMasterRestart(t *testing.T) {
	m1, err := master.Start(master.Options{Host: "127.0.0.1", Conf: testConf(), Logger: testLogger(), OnRevoked: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Shutdown()
	w := startWorker(t, workerSpec{masters: []string{m1.MasterURL()}})
	aliveWorker(t, m1, w)
	port := m1.Address().Port
	m1.Shutdown()
	waitFor(t, "the worker to notice the master is gone", func() bool { return !w.Registered() })

	var m2 *master.Master
	waitFor(t, "a new master on the same port", func() bool {
		m2, err = master.Start(master.Options{Host: "127.0.0.1", Port: port, Conf: testConf("spark.port.maxRetries", "0",
			// Not this test's subject, and with no retries another
			// process on 6066 would fail every start.
			"spark.master.rest.enabled", "false"),
			Logger: testLogger(), OnRevoked: func() {}})
		return err == nil
	})
	defer m2.Shutdown()
	aliveWorker(t, m2, w)
	waitFor(t, "Registered()", w.Registered)
	if st := workerState(t, w); st.MasterURL != m2.MasterURL() {
		t.Fatalf("master url %q", st.MasterURL)
	}
}

func TestRegistrationGivesUp(t *testing.T) {
	t.Parallel()
	exits := newExitRecorder()
	startWorker(t, workerSpec{masters: []string{fmt.Sprintf("spark://127.0.0.1:%d", freePort(t))}, exits: exits,
		conf: []string{KeyRegistrationIntervalScale, "0.002", "spark.worker.initialRegistrationRetries", "2",
			"spark.worker.maxRegistrationRetries", "3"}})
	if code := exits.wait(t); code != 1 {
		t.Fatalf("OnExit(%d), want 1", code)
	}
}

// fakeMaster is a Master endpoint whose answers the test chooses.
type fakeMaster struct {
	env      *rpcenv.Env
	self     *rpcenv.Ref
	answer   func(deploy.RegisterWorker) any
	failAsks bool

	d appDriver // records everything
}

func (f *fakeMaster) Receive(msg any, s rpcenv.Address) error {
	_ = f.d.Receive(msg, s)
	if r, ok := msg.(deploy.RegisterWorker); ok && f.answer != nil {
		if a := f.answer(r); a != nil {
			return r.Worker.Send(a)
		}
	}
	return nil
}

func (f *fakeMaster) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	_ = f.d.Receive(msg, rpcenv.Address{})
	if f.failAsks {
		return fmt.Errorf("fake master refuses %T", msg)
	}
	cc.Reply(true)
	return nil
}

func (f *fakeMaster) url() string { return f.env.Address().SparkURL() }

func (f *fakeMaster) count(pred func(any) bool) int {
	n := 0
	for _, m := range f.d.messages() {
		if pred(m) {
			n++
		}
	}
	return n
}

func isRegister(m any) bool { _, ok := m.(deploy.RegisterWorker); return ok }

func startFakeMaster(t *testing.T, f *fakeMaster) *fakeMaster {
	t.Helper()
	env, err := rpcenv.Create(rpcenv.Config{Name: deploy.MasterEnvName, BindHost: "127.0.0.1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	f.env = env
	// self is set before the endpoint starts, so its message loop sees it:
	// messages arrive over sockets, which the race detector cannot order
	// after a write made once SetupEndpoint returned.
	f.self = env.RefFor(rpcenv.EndpointAddress{Addr: env.Address(), Name: deploy.MasterEndpointName})
	if _, err = env.SetupEndpoint(deploy.MasterEndpointName, f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRegisterWorkerFailedExits(t *testing.T) {
	t.Parallel()
	f := startFakeMaster(t, &fakeMaster{answer: func(deploy.RegisterWorker) any {
		return deploy.RegisterWorkerFailed{Message: "Attempted to re-register worker at same address"}
	}})
	exits := newExitRecorder()
	startWorker(t, workerSpec{masters: []string{f.url()}, exits: exits})
	if code := exits.wait(t); code != 1 {
		t.Fatalf("OnExit(%d), want 1", code)
	}
}

func TestMasterInStandbyIgnored(t *testing.T) {
	t.Parallel()
	f := startFakeMaster(t, &fakeMaster{answer: func(deploy.RegisterWorker) any { return deploy.MasterInStandby{} }})
	exits := newExitRecorder()
	w := startWorker(t, workerSpec{masters: []string{f.url()}, exits: exits})
	// Standby answers neither register nor fail the worker: it retries.
	waitFor(t, "three registration attempts", func() bool { return f.count(isRegister) >= 3 })
	exits.none(t)
	if w.Registered() {
		t.Fatal("registered with a standby master")
	}
}

// The worker's answers to a master: registration, heartbeats, latest
// state, ReconnectWorker, MasterChanged, and LaunchExecutor only from the
// active master.
func TestWorkerProtocolWithFakeMaster(t *testing.T) {
	t.Parallel()
	f := &fakeMaster{}
	f.answer = func(r deploy.RegisterWorker) any {
		return deploy.RegisteredWorker{Master: f.self, MasterWebUIURL: "http://fake:8080", MasterAddress: r.MasterAddress}
	}
	startFakeMaster(t, f)
	w := startWorker(t, workerSpec{masters: []string{f.url()}, conf: []string{"spark.worker.timeout", "1"}})
	waitFor(t, "Registered()", w.Registered)
	var reg deploy.RegisterWorker
	for _, m := range f.d.messages() {
		if r, ok := m.(deploy.RegisterWorker); ok {
			reg = r
		}
	}
	if reg.ID != w.ID() || reg.Host != "127.0.0.1" || reg.Port != w.Address().Port || reg.Cores != 2 || reg.MemoryMB != 1024 ||
		reg.MasterAddress != f.env.Address() || reg.WorkerWebUIURL != "http://127.0.0.1:8081" ||
		reg.Worker.Address().String() != fmt.Sprintf("spark://Worker@127.0.0.1:%d", w.Address().Port) {
		t.Fatalf("RegisterWorker: %+v", reg)
	}
	waitFor(t, "WorkerLatestState", func() bool {
		return f.count(func(m any) bool { s, ok := m.(deploy.WorkerLatestState); return ok && s.ID == w.ID() }) > 0
	})
	waitFor(t, "two heartbeats", func() bool {
		return f.count(func(m any) bool { h, ok := m.(deploy.Heartbeat); return ok && h.WorkerID == w.ID() }) >= 2
	})
	st := workerState(t, w)
	if st.MasterURL != f.url() || st.MasterWebUIURL != "http://fake:8080" {
		t.Fatalf("master in worker state: %q %q", st.MasterURL, st.MasterWebUIURL)
	}

	before := f.count(isRegister)
	if err := reg.Worker.Send(deploy.ReconnectWorker{MasterURL: f.url()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new RegisterWorker after ReconnectWorker", func() bool { return f.count(isRegister) > before })

	if err := reg.Worker.Send(deploy.MasterChanged{Master: f.self, MasterWebUIURL: "http://fake2:8080"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "WorkerSchedulerStateResponse", func() bool {
		return f.count(func(m any) bool { s, ok := m.(deploy.WorkerSchedulerStateResponse); return ok && s.ID == w.ID() }) > 0
	})

	desc := appDesc(map[string]string{"FAKE_MODE": "exit"})
	bad := deploy.LaunchExecutor{MasterURL: "spark://other:7077", AppID: "app-x", ExecID: 7, AppDesc: desc, Cores: 1, MemoryMB: 10}
	good := bad
	good.MasterURL, good.ExecID = f.url(), 8
	for _, m := range []any{bad, good} {
		if err := reg.Worker.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	var states []deploy.ExecutorState
	waitFor(t, "executor 8 to run and exit", func() bool {
		states = nil
		for _, m := range f.d.messages() {
			if s, ok := m.(deploy.ExecutorStateChanged); ok {
				if s.ExecID != 8 {
					t.Fatalf("state of executor %d reported", s.ExecID)
				}
				states = append(states, s.State)
			}
		}
		return len(states) == 2
	})
	if states[0] != deploy.ExecutorRunning || states[1] != deploy.ExecutorExited {
		t.Fatalf("states %v", states)
	}
	for _, e := range executorInfos(t, w) {
		if e.ExecID == 7 {
			t.Fatal("executor launched for a master that is not the active one")
		}
	}
	// KillDriver for an unknown driver and ApplicationFinished are harmless.
	_ = reg.Worker.Send(deploy.KillDriver{DriverID: "driver-none"})
	_ = reg.Worker.Send(deploy.ApplicationFinished{ID: "app-x"})
	waitFor(t, "the worker to settle", func() bool { return len(workerState(t, w).Executors) == 0 })
}

// An executor state the master keeps refusing makes the worker exit
// after spark.worker.executorStateSync.maxAttempts.
func TestExecutorStateSyncGivesUp(t *testing.T) {
	t.Parallel()
	f := &fakeMaster{failAsks: true}
	f.answer = func(r deploy.RegisterWorker) any {
		return deploy.RegisteredWorker{Master: f.self, MasterAddress: r.MasterAddress}
	}
	startFakeMaster(t, f)
	exits := newExitRecorder()
	w := startWorker(t, workerSpec{masters: []string{f.url()}, exits: exits,
		conf: []string{"spark.worker.executorStateSync.maxAttempts", "2", "spark.rpc.askTimeout", "100ms"}})
	waitFor(t, "Registered()", w.Registered)
	var reg deploy.RegisterWorker
	for _, m := range f.d.messages() {
		if r, ok := m.(deploy.RegisterWorker); ok {
			reg = r
		}
	}
	desc := appDesc(map[string]string{"FAKE_MODE": "sleep"})
	if err := reg.Worker.Send(deploy.LaunchExecutor{MasterURL: f.url(), AppID: "app-y", ExecID: 0, AppDesc: desc, Cores: 1, MemoryMB: 10}); err != nil {
		t.Fatal(err)
	}
	if code := exits.wait(t); code != 1 {
		t.Fatalf("OnExit(%d), want 1", code)
	}
	// Each attempt is an ask with a 100ms timeout: under load an attempt
	// can time out before the fake master has recorded it, so wait for
	// the asks to arrive rather than count them at the exit.
	waitFor(t, "two state asks at the master", func() bool {
		return f.count(func(m any) bool { _, ok := m.(deploy.ExecutorStateChanged); return ok }) >= 2
	})
}
