package master

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// A JVM application's life on the master, with an env that speaks to the
// master as Spark's StandaloneAppClient does (Java serialization, through
// SetupJavaEndpointRef) and a fake worker that speaks Ember's JSON: the
// app registers, gets its executor on the worker with the driver's Java
// command, hears ExecutorAdded/ExecutorUpdated in Java, asks
// RequestExecutors and KillExecutors (Booleans), hears of its worker's
// loss, and finishes when its env disconnects.
// internal/e2e/sparkapp_test.go runs real Spark drivers.
func TestMasterRunsJVMApplication(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf)

		wenv := newEnv(t, "sparkWorker", conf, false)
		fw := &fakeWorker{got: make(chan any, 16)}
		wself, err := wenv.SetupEndpoint(deploy.WorkerEndpointName, fw)
		if err != nil {
			t.Fatal(err)
		}
		wmaster, err := wenv.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}
		if err := wmaster.Send(deploy.RegisterWorker{ID: "worker-1", Host: "127.0.0.1", Port: wenv.Address().Port, Worker: wself,
			Cores: 2, MemoryMB: 2048, WorkerWebUIURL: "http://127.0.0.1:8081", MasterAddress: m.Address()}); err != nil {
			t.Fatal(err)
		}
		if _, ok := take(t, fw.got, "RegisteredWorker").(deploy.RegisteredWorker); !ok {
			t.Fatal("the worker did not register")
		}

		denv := newEnv(t, "sparkDriver", conf, false)
		drv := &fakeWorker{got: make(chan any, 16)}
		dself, err := denv.SetupEndpoint(deploy.AppClientEndpoint, drv)
		if err != nil {
			t.Fatal(err)
		}
		master, err := denv.SetupJavaEndpointRef(m.Address(), deploy.MasterEndpointName)
		if err != nil {
			t.Fatal(err)
		}
		cmd := deploy.Command{MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend",
			Arguments: []string{"--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:1", "--executor-id", "{{EXECUTOR_ID}}"},
			JavaOpts:  []string{"-Dspark.driver.port=1"}}
		desc := deploy.ApplicationDescription{Name: "jvm-app", Command: cmd, AppUIURL: "http://127.0.0.1:4040",
			MemoryPerExecutorMB: 512, User: "ember"}
		if err := master.Send(deploy.RegisterApplication{AppDescription: desc, Driver: dself}); err != nil {
			t.Fatal(err)
		}
		reg, ok := take(t, drv.got, "RegisteredApplication").(deploy.RegisteredApplication)
		if !ok || reg.Master == nil || !reg.Master.Java() ||
			reg.Master.Address() != (rpcenv.EndpointAddress{Addr: m.Address(), Name: deploy.MasterEndpointName}) {
			t.Fatalf("RegisteredApplication %+v: want one written in Java with the master's ref", reg)
		}
		launch, ok := take(t, fw.got, "LaunchExecutor").(deploy.LaunchExecutor)
		if !ok || launch.AppID != reg.AppID || launch.MemoryMB != 512 || launch.Cores != 2 ||
			launch.AppDesc.Command.MainClass != cmd.MainClass || len(launch.AppDesc.Command.Arguments) != 4 {
			t.Fatalf("LaunchExecutor %+v", launch)
		}
		added, ok := take(t, drv.got, "ExecutorAdded").(deploy.ExecutorAdded)
		if !ok || added.ID != launch.ExecID || added.WorkerID != "worker-1" || added.Cores != 2 || added.MemoryMB != 512 {
			t.Fatalf("ExecutorAdded %+v", added)
		}
		if v, err := wmaster.AskTimeout(deploy.ExecutorStateChanged{AppID: reg.AppID, ExecID: launch.ExecID, State: deploy.ExecutorRunning}, hangLimit); err != nil || v != true {
			t.Fatalf("ExecutorStateChanged: %v, %v", v, err)
		}
		if upd, ok := take(t, drv.got, "ExecutorUpdated").(deploy.ExecutorUpdated); !ok || upd.State != deploy.ExecutorRunning || upd.Message != nil {
			t.Fatalf("ExecutorUpdated %+v", upd)
		}

		for _, ask := range []struct {
			msg  any
			want bool
		}{
			{deploy.RequestExecutors{AppID: reg.AppID, RequestedTotal: 1}, true},
			{deploy.RequestExecutors{AppID: "app-none", RequestedTotal: 1}, false},
			{deploy.KillExecutors{AppID: reg.AppID, ExecutorIDs: []string{"7"}}, true},
			{deploy.KillExecutors{AppID: "app-none"}, false},
		} {
			if v, err := master.AskTimeout(ask.msg, hangLimit); err != nil || v != ask.want {
				t.Errorf("%T for %v: %v (%T), %v; want %v", ask.msg, ask.msg, v, v, err, ask.want)
			}
		}
		st, err := m.MasterState()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.ActiveApps) != 1 || st.ActiveApps[0].Name != "jvm-app" || st.ActiveApps[0].MemoryPerExecutor != 512 ||
			st.ActiveApps[0].State != deploy.AppRunning {
			t.Errorf("active apps %+v", st.ActiveApps)
		}

		// The worker's process goes away: the driver hears, in Java, that
		// its executor is LOST and the worker removed.
		wenv.Shutdown()
		lost, ok := take(t, drv.got, "ExecutorUpdated LOST").(deploy.ExecutorUpdated)
		if !ok || lost.State != deploy.ExecutorLost || lost.Message == nil || lost.WorkerHost == nil || *lost.WorkerHost != "127.0.0.1" {
			t.Fatalf("ExecutorUpdated %+v", lost)
		}
		if wr, ok := take(t, drv.got, "WorkerRemoved").(deploy.WorkerRemoved); !ok || wr.ID != "worker-1" || wr.Host != "127.0.0.1" {
			t.Fatalf("WorkerRemoved %+v", wr)
		}

		// The driver's process goes away: the app finishes.
		denv.Shutdown()
		testutil.Eventually(t, hangLimit, "the app to finish on its driver's disconnect", func() (bool, string) {
			st, err := m.MasterState()
			if err != nil {
				return false, err.Error()
			}
			return len(st.CompletedApps) == 1 && st.CompletedApps[0].State == deploy.AppFinished && len(st.ActiveApps) == 0,
				fmt.Sprintf("%+v", st)
		})
	})
}

func take(t *testing.T, ch <-chan any, what string) any {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangLimit):
		t.Fatalf("no %s", what)
		return nil
	}
}

// javaPeer is a fakePeer whose endpoint lives in a JVM.
type javaPeer struct{ *fakePeer }

func (javaPeer) Java() bool { return true }

// A JVM app's record says so, and a master that recovers it talks Java to
// its driver again.
func TestJVMAppRecord(t *testing.T) {
	h := newAlive(t)
	p := javaPeer{h.driverPeer()}
	h.s.RegisterApplication(deploy.RegisterApplication{AppDescription: appDesc(512)}, p)
	ember, _ := h.addApp(appDesc(512))
	var jvmRecs, emberRecs int
	for key, v := range h.fx.persisted {
		r, ok := v.(AppRecord)
		if !ok {
			continue
		}
		switch {
		case r.JVM && r.Driver == p.addr.String():
			jvmRecs++
		case !r.JVM && key == "app_"+ember:
			emberRecs++
		default:
			t.Errorf("record %s: %+v", key, r)
		}
	}
	if jvmRecs != 1 || emberRecs != 1 {
		t.Errorf("records: %d JVM, %d Ember; want 1 and 1", jvmRecs, emberRecs)
	}
}

// A master that recovers a JVM app from its persisted state tells the
// driver about the new leader in Java (MasterChanged with its ref).
func TestRecoveredJVMAppHearsMasterChangedInJava(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		denv := newEnv(t, "sparkDriver", conf, false)
		drv := &fakeWorker{got: make(chan any, 16)}
		dself, err := denv.SetupEndpoint(deploy.AppClientEndpoint, drv)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		eng, err := recovery.NewFileSystem(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		rec := AppRecord{ID: "app-20260102030405-0000", Desc: deploy.ApplicationDescription{Name: "jvm-app", MemoryPerExecutorMB: 512},
			Driver: dself.Address().String(), StartTime: 1, JVM: true}
		b, err := sonic.ConfigStd.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Persist("app_"+rec.ID, b); err != nil {
			t.Fatal(err)
		}
		m, err := Start(Options{Host: "127.0.0.1", Conf: conf, Logger: slog.New(slog.DiscardHandler),
			Recovery: func(l recovery.Leadership) (recovery.Engine, recovery.Agent, error) {
				return eng, recovery.SelfElect(l), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Shutdown)
		mc, ok := take(t, drv.got, "MasterChanged").(deploy.MasterChanged)
		if !ok || mc.Master == nil || !mc.Master.Java() || mc.Master.Address().Addr != m.Address() {
			t.Fatalf("MasterChanged %+v: want one written in Java with the new master's ref", mc)
		}
	})
}
