package master

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// TestMasterLogsEvents: the master logs an application's life at INFO as
// Spark's master does: election, a worker registering, the app
// registering, its executor launched and changing state, a driver
// submitted, launched and removed, the app removed, the worker removed
// with the reason. The lines come in that order.
func TestMasterLogsEvents(t *testing.T) {
	conf := sparkconf.New().Set("spark.rpc.askTimeout", "30s")
	var logs testutil.LogBuffer
	elected := make(chan struct{})
	m, err := Start(Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: logs.Logger(slog.LevelInfo),
		Recovery: func(l recovery.Leadership) (recovery.Engine, recovery.Agent, error) {
			agent := recovery.SelfElect(l)
			close(elected)
			return recovery.None(), agent, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	<-elected
	wenv := newEnv(t, "sparkWorker", conf, false)
	wrec := &recorder{got: make(chan any, 64)}
	wself, err := wenv.SetupEndpoint(deploy.WorkerEndpointName, wrec)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := wenv.SetupEndpointRefByURI(masterURI(m))
	if err != nil {
		t.Fatal(err)
	}
	const workerID = "worker-20260102030405-127.0.0.1-3"
	if err := wm.Send(deploy.RegisterWorker{ID: workerID, Host: "127.0.0.1", Port: wenv.Address().Port, Worker: wself,
		Cores: 4, MemoryMB: 4096, MasterAddress: m.Address()}); err != nil {
		t.Fatal(err)
	}
	next[deploy.RegisteredWorker](t, wrec)
	denv := newEnv(t, "sparkDriver", conf, false)
	drec := &recorder{got: make(chan any, 64)}
	dself, err := denv.SetupEndpoint(deploy.AppClientEndpoint, drec)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := denv.SetupEndpointRefByURI(masterURI(m))
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	if err := dm.Send(deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "lifelog", MaxCores: &one,
		MemoryPerExecutorMB: 512, Command: deploy.Command{MainClass: "x"}}, Driver: dself}); err != nil {
		t.Fatal(err)
	}
	appID := next[deploy.RegisteredApplication](t, drec).AppID
	launched := next[deploy.LaunchExecutor](t, wrec)
	zero := 0
	for _, st := range []deploy.ExecutorStateChanged{
		{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorRunning},
		{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorExited, ExitStatus: &zero},
	} {
		if _, err := wm.AskTimeout(st, hangLimit); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := rpcenv.Ask[deploy.SubmitDriverResponse](t.Context(), wm, deploy.RequestSubmitDriver{Desc: deploy.DriverDescription{
		Cores: 1, MemoryMB: 64, Command: deploy.Command{MainClass: "org.example.Main"}}})
	if err != nil || !sub.Success {
		t.Fatalf("submit: %+v %v", sub, err)
	}
	ld := next[deploy.LaunchDriver](t, wrec)
	if err := wm.Send(deploy.DriverStateChanged{DriverID: ld.DriverID, State: deploy.DriverFinished}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, hangLimit, "the driver to end", func() (bool, string) {
		st, err := m.MasterState()
		return err == nil && len(st.ActiveDrivers) == 0, st.Summary()
	})
	if err := dm.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, hangLimit, "the app to end", func() (bool, string) {
		st, err := m.MasterState()
		return err == nil && len(st.ActiveApps) == 0, st.Summary()
	})
	wenv.Shutdown()
	testutil.Eventually(t, hangLimit, "the worker to be removed", func() (bool, string) {
		return strings.Contains(logs.String(), `msg="Removing worker"`), ""
	})
	out := logs.String()
	want := []string{
		`msg="I have been elected leader" component=master status=ALIVE`,
		`msg="Registering worker" component=master worker=` + workerID,
		`msg="Worker registered" component=master worker=` + workerID,
		`msg="Registering app" component=master name=lifelog`,
		`msg="Registered app" component=master name=lifelog app=` + appID,
		`msg="Launching executor" component=master executor=` + appID + `/0 worker=` + workerID,
		`msg="Executor state changed" component=master executor=` + appID + `/0 worker=` + workerID + ` from=LAUNCHING to=RUNNING`,
		`msg="Executor state changed" component=master executor=` + appID + `/0 worker=` + workerID + ` from=RUNNING to=EXITED`,
		`msg="Removing executor" component=master executor=` + appID + `/0 state=EXITED`,
		`msg="Driver submitted" component=master driver=` + ld.DriverID + ` mainClass=org.example.Main`,
		`msg="Launching driver" component=master driver=` + ld.DriverID + ` worker=` + workerID,
		`msg="Removing driver" component=master driver=` + ld.DriverID + ` state=FINISHED`,
		`msg="Received unregister request from application" component=master app=` + appID,
		`msg="Removing app" component=master app=` + appID + ` name=lifelog state=FINISHED`,
		`msg="Removing worker" component=master worker=` + workerID + ` hostPort=127.0.0.1:`,
	}
	at := 0
	for _, w := range want {
		i := strings.Index(out[at:], w)
		if i < 0 {
			t.Fatalf("no line %s after offset %d in:\n%s", w, at, out)
		}
		at += i + len(w)
	}
	if !strings.Contains(out[at:], "got disassociated") {
		t.Errorf("the worker's removal gives no reason:\n%s", out)
	}
}
