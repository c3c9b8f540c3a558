package master

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// TestTwoClientOnlyDrivers: two drivers in client-mode envs (both refs
// are spark-client://AppClient) register at once, each gets its own app
// and executor, neither can end the other's app, and each app ends on its
// own: one by UnregisterApplication, the other when its driver's
// connection closes. Both io modes.
func TestTwoClientOnlyDrivers(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf)
		testutil.Eventually(t, hangLimit, "the master to lead", func() (bool, string) { return m.Ready(), "" })
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
		if err := wm.Send(deploy.RegisterWorker{ID: "worker-20260102030405-127.0.0.1-4", Host: "127.0.0.1", Port: wenv.Address().Port,
			Worker: wself, Cores: 4, MemoryMB: 4096, MasterAddress: m.Address()}); err != nil {
			t.Fatal(err)
		}
		next[deploy.RegisteredWorker](t, wrec)
		type driver struct {
			env    *rpcenv.Env
			self   *rpcenv.Ref
			rec    *recorder
			master *rpcenv.Ref
			appID  string
		}
		var ds [2]*driver
		for i := range ds {
			env := newEnv(t, "driver", conf, true)
			rec := &recorder{got: make(chan any, 64)}
			self, err := env.SetupEndpoint(deploy.AppClientEndpoint, rec)
			if err != nil {
				t.Fatal(err)
			}
			if !self.Address().Addr.IsZero() {
				t.Fatalf("a client-mode driver's ref has an address: %v", self.Address())
			}
			mref, err := env.SetupEndpointRefByURI(masterURI(m))
			if err != nil {
				t.Fatal(err)
			}
			ds[i] = &driver{env: env, self: self, rec: rec, master: mref}
		}
		one := 1
		for _, d := range ds { // both registered before either answer is read
			if err := d.master.Send(deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "client-only",
				MaxCores: &one, MemoryPerExecutorMB: 64, Command: deploy.Command{MainClass: "x"}}, Driver: d.self}); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range ds {
			d.appID = next[deploy.RegisteredApplication](t, d.rec).AppID
			next[deploy.ExecutorAdded](t, d.rec)
		}
		if ds[0].appID == ds[1].appID {
			t.Fatalf("both drivers got app %s", ds[0].appID)
		}
		st, err := m.MasterState()
		if err != nil || len(st.ActiveApps) != 2 {
			t.Fatalf("two client-only apps: %s %v", st.Summary(), err)
		}
		// The first driver cannot speak for the second's app.
		_, err = ds[0].master.AskTimeout(deploy.KillExecutors{AppID: ds[1].appID, ExecutorIDs: []string{"0"}}, hangLimit)
		var re *rpcenv.RemoteError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "not its driver's connection") {
			t.Fatalf("one client-only driver killing the other's executors: %v", err)
		}
		if ok, err := rpcenv.Ask[bool](t.Context(), ds[0].master, deploy.RequestExecutors{AppID: ds[0].appID, RequestedTotal: 1}); err != nil || !ok {
			t.Fatalf("a driver's own RequestExecutors: %v %v", ok, err)
		}
		if err := ds[0].master.Send(deploy.UnregisterApplication{AppID: ds[0].appID}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, hangLimit, "the first app to end alone", func() (bool, string) {
			st, err := m.MasterState()
			return err == nil && len(st.ActiveApps) == 1 && st.ActiveApps[0].ID == ds[1].appID, st.Summary()
		})
		ds[1].env.Shutdown()
		testutil.Eventually(t, hangLimit, "the second app to end with its connection", func() (bool, string) {
			st, err := m.MasterState()
			return err == nil && len(st.ActiveApps) == 0 && len(st.CompletedApps) == 2, st.Summary()
		})
	})
}

// TestRegistrationAnswerUsesPeersSpelling: a driver and a worker that
// reach the master as localhost:port (it advertises 127.0.0.1) get a
// master ref at localhost:port, so a JVM peer, which keeps a connection
// per spelling, sends its later messages over the connection it
// registered over.
func TestRegistrationAnswerUsesPeersSpelling(t *testing.T) {
	conf := sparkconf.New().Set("spark.rpc.askTimeout", "30s")
	m := startMaster(t, conf)
	testutil.Eventually(t, hangLimit, "the master to lead", func() (bool, string) { return m.Ready(), "" })
	spelled := rpcenv.NewAddress("localhost", m.Address().Port)
	denv := newEnv(t, "sparkDriver", conf, false)
	drec := &recorder{got: make(chan any, 64)}
	dself, err := denv.SetupEndpoint(deploy.AppClientEndpoint, drec)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := denv.SetupEndpointRef(spelled, deploy.MasterEndpointName)
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.Send(deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "spelled",
		MemoryPerExecutorMB: 64, Command: deploy.Command{MainClass: "x"}}, Driver: dself}); err != nil {
		t.Fatal(err)
	}
	reg := next[deploy.RegisteredApplication](t, drec)
	if reg.Master == nil || reg.Master.Address().Addr != spelled {
		t.Fatalf("RegisteredApplication names master %v, want %v", reg.Master, spelled)
	}
	wenv := newEnv(t, "sparkWorker", conf, false)
	wrec := &recorder{got: make(chan any, 64)}
	wself, err := wenv.SetupEndpoint(deploy.WorkerEndpointName, wrec)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := wenv.SetupEndpointRef(spelled, deploy.MasterEndpointName)
	if err != nil {
		t.Fatal(err)
	}
	if err := wm.Send(deploy.RegisterWorker{ID: "worker-20260102030405-127.0.0.1-5", Host: "127.0.0.1", Port: wenv.Address().Port,
		Worker: wself, Cores: 1, MemoryMB: 1024, MasterAddress: spelled}); err != nil {
		t.Fatal(err)
	}
	if rw := next[deploy.RegisteredWorker](t, wrec); rw.Master == nil || rw.Master.Address().Addr != spelled {
		t.Fatalf("RegisteredWorker names master %v, want %v", rw.Master, spelled)
	}
	if ok, err := rpcenv.Ask[bool](t.Context(), dm, deploy.RequestExecutors{AppID: reg.AppID, RequestedTotal: 1}); err != nil || !ok {
		t.Fatalf("the driver's RequestExecutors over its registration connection: %v %v", ok, err)
	}
}
