package master

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// recorder is an endpoint that keeps what it receives.
type recorder struct{ got chan any }

func (r *recorder) Receive(msg any, _ rpcenv.Address) error {
	select {
	case r.got <- msg:
	default:
	}
	return nil
}

func (r *recorder) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	cc.SendFailure(rpcenv.ErrUnsupported)
	return nil
}

func next[T any](t *testing.T, r *recorder) T {
	t.Helper()
	deadline := time.After(hangLimit)
	for {
		select {
		case m := <-r.got:
			if x, ok := m.(T); ok {
				return x
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T arrived", zero)
			return zero
		}
	}
}

// TestHostilePeerCannotCommandMaster: a peer on loopback, default
// configuration, registers ghost workers and a stalling app, speaks for a
// real worker and a real driver, and floods the master. Every message is
// refused (asks with an RpcFailure), the master's state keeps only what the
// legitimate peers said, they are served during and after, and the flood
// costs a bounded number of log lines. Both io modes.
func TestHostilePeerCannotCommandMaster(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
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

		// A legitimate worker and driver.
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
		const workerID = "worker-20260102030405-127.0.0.1-1"
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
		if err := dm.Send(deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "legit", MaxCores: &one,
			MemoryPerExecutorMB: 512, Command: deploy.Command{MainClass: "x"}}, Driver: dself}); err != nil {
			t.Fatal(err)
		}
		appID := next[deploy.RegisteredApplication](t, drec).AppID
		launched := next[deploy.LaunchExecutor](t, wrec)

		// The attacker.
		aenv := newEnv(t, "attacker", conf, false)
		arec := &recorder{got: make(chan any, 64)}
		aself, err := aenv.SetupEndpoint("Worker", arec)
		if err != nil {
			t.Fatal(err)
		}
		am, err := aenv.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}
		zero := 0
		start := time.Now()
		sends := []any{
			deploy.RegisterWorker{ID: "ghost-cores", Host: "127.0.0.1", Port: aenv.Address().Port, Worker: aself, Cores: 1_000_000, MemoryMB: 1 << 30},
			deploy.RegisterWorker{ID: "ghost-host", Host: strings.Repeat("h", 64<<10), Port: aenv.Address().Port, Worker: aself, Cores: 1, MemoryMB: 1},
			deploy.RegisterWorker{ID: "ghost-elsewhere", Host: "127.0.0.1", Port: 9, Worker: wself, Cores: 1, MemoryMB: 1},
			deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "stall", CoresPerExecutor: &zero, MemoryPerExecutorMB: 1}, Driver: aself},
			deploy.Heartbeat{WorkerID: workerID, Worker: aself},
			deploy.UnregisterApplication{AppID: appID},
			deploy.WorkerSchedulerStateResponse{ID: workerID},
			deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorFailed},
		}
		// Each once, then a flood of spoofed heartbeats.
		const flood = 300
		for i := 0; i < flood; i++ {
			msg := any(deploy.Heartbeat{WorkerID: workerID, Worker: aself})
			if i < len(sends) {
				msg = sends[i]
			}
			if err := am.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
		for _, ask := range []any{
			deploy.RequestExecutors{AppID: appID, RequestedTotal: 0},
			deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{fmt.Sprint(launched.ExecID)}},
			deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorFailed},
			deploy.RequestSubmitDriver{Desc: deploy.DriverDescription{Cores: 1_000_000, MemoryMB: 1}},
		} {
			_, err := am.AskTimeout(ask, hangLimit)
			var re *rpcenv.RemoteError
			if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "invalid") {
				t.Fatalf("%T from the attacker: err %v, want an RpcFailure", ask, err)
			}
		}
		// Answered after every message above was handled (one inbox, in order).
		v, err := am.AskTimeout(deploy.RequestMasterState{}, hangLimit)
		if err != nil {
			t.Fatalf("a legitimate question during the attack: %v", err)
		}
		elapsed := time.Since(start)
		st := v.(deploy.MasterStateResponse)
		if len(st.Workers) != 1 || st.Workers[0].ID != workerID || st.Cores != 4 {
			t.Fatalf("ghost workers accepted: %s", st.Summary())
		}
		if len(st.ActiveApps) != 1 || st.ActiveApps[0].ID != appID || st.ActiveApps[0].Cores != 1 {
			t.Fatalf("the attacker changed the apps: %s", st.Summary())
		}
		lines := strings.Count(logs.String(), "refusing message")
		if bound := 1 + int(elapsed/authority.RefusalInterval) + 1; lines < 1 || lines > bound {
			t.Fatalf("%d refusal lines for %d refused messages in %v (bound %d)", lines, flood+4, elapsed, bound)
		}

		// The legitimate peers are served after.
		if ok, err := rpcenv.Ask[bool](t.Context(), dm, deploy.RequestExecutors{AppID: appID, RequestedTotal: 1}); err != nil || !ok {
			t.Fatalf("the driver's RequestExecutors: %v %v", ok, err)
		}
		if ok, err := rpcenv.Ask[bool](t.Context(), wm, deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID,
			State: deploy.ExecutorRunning}); err != nil || !ok {
			t.Fatalf("the worker's ExecutorStateChanged: %v %v", ok, err)
		}
		if u := next[deploy.ExecutorUpdated](t, drec); u.State != deploy.ExecutorRunning {
			t.Fatalf("driver told %+v", u)
		}
		if err := dm.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, hangLimit, "the driver's own UnregisterApplication", func() (bool, string) {
			st, err := m.MasterState()
			return err == nil && len(st.ActiveApps) == 0, st.Summary()
		})
	})
}

// forgerOf is an env that writes addr as its sender in every message: it
// listens on 127.0.0.2 at addr's port and advertises addr's host. Its
// connections come from this host, as the real peer's do.
func forgerOf(t *testing.T, addr rpcenv.Address, conf *sparkconf.Conf) *rpcenv.Env {
	t.Helper()
	e, err := rpcenv.Create(rpcenv.Config{Name: "forger", BindHost: "127.0.0.2", AdvertiseHost: addr.Host, Port: addr.Port,
		Conf: conf, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	if e.Address() != addr {
		t.Fatalf("the forger writes %v, not %v", e.Address(), addr)
	}
	return e
}

// TestForgedAddressRefusedByConnection: a second connection from the
// same host, writing a registered worker's or driver's own address as its
// sender, is refused (asks with an RpcFailure, one rate-limited log line),
// and the worker and driver keep working over their own connections. Both
// io modes.
func TestForgedAddressRefusedByConnection(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		var logs testutil.LogBuffer
		elected := make(chan struct{})
		m, err := Start(Options{Host: "127.0.0.1", Port: 0, Conf: conf, Logger: logs.Logger(slog.LevelDebug),
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
		const workerID = "worker-20260102030405-127.0.0.1-2"
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
		if err := dm.Send(deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "legit", MaxCores: &one,
			MemoryPerExecutorMB: 512, Command: deploy.Command{MainClass: "x"}}, Driver: dself}); err != nil {
			t.Fatal(err)
		}
		appID := next[deploy.RegisteredApplication](t, drec).AppID
		launched := next[deploy.LaunchExecutor](t, wrec)

		// The worker's forger: a heartbeat, a failed executor, a
		// registration under the worker's id; asks get an RpcFailure.
		fw := forgerOf(t, wenv.Address(), conf)
		fwSelf, err := fw.SetupEndpoint(deploy.WorkerEndpointName, &recorder{got: make(chan any, 64)})
		if err != nil {
			t.Fatal(err)
		}
		fwm, err := fw.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, msg := range []any{
			deploy.Heartbeat{WorkerID: workerID, Worker: fwSelf},
			deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorFailed},
			deploy.RegisterWorker{ID: workerID, Host: "127.0.0.1", Port: wenv.Address().Port, Worker: fwSelf, Cores: 64, MemoryMB: 1 << 20, MasterAddress: m.Address()},
			deploy.WorkerSchedulerStateResponse{ID: workerID},
		} {
			if err := fwm.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
		_, err = fwm.AskTimeout(deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID, State: deploy.ExecutorFailed}, hangLimit)
		var re *rpcenv.RemoteError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "not over the connection it registered over") {
			t.Fatalf("the worker's forger asking ExecutorStateChanged: %v, want an RpcFailure naming the connection", err)
		}
		// The driver's forger.
		fd := forgerOf(t, denv.Address(), conf)
		fdm, err := fd.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}
		for _, ask := range []any{
			deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{fmt.Sprint(launched.ExecID)}},
			deploy.RequestExecutors{AppID: appID, RequestedTotal: 0},
		} {
			_, err := fdm.AskTimeout(ask, hangLimit)
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("%T from the driver's forger: %v, want an RpcFailure", ask, err)
			}
		}
		if err := fdm.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
			t.Fatal(err)
		}
		// Answered after the forger's messages (one connection, in order).
		v, err := fdm.AskTimeout(deploy.RequestMasterState{}, hangLimit)
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		st := v.(deploy.MasterStateResponse)
		if len(st.Workers) != 1 || st.Workers[0].Cores != 4 || len(st.ActiveApps) != 1 || st.ActiveApps[0].ID != appID || st.ActiveApps[0].Cores != 1 {
			t.Fatalf("a forger changed the state: %s", st.Summary())
		}
		lines := strings.Count(logs.String(), "refusing message")
		if bound := 1 + int(elapsed/authority.RefusalInterval) + 1; lines < 1 || lines > bound {
			t.Fatalf("%d refusal lines for 8 forged messages from one host in %v (bound %d)", lines, elapsed, bound)
		}
		// The forgers go: their connections claimed the worker's and the
		// driver's addresses, but the worker and the app stay.
		fw.Shutdown()
		fd.Shutdown()
		testutil.Eventually(t, hangLimit, "both forgers' disconnects", func() (bool, string) {
			out := logs.String()
			return (strings.Contains(out, "the worker is still connected over its own connection") || strings.Contains(out, `msg="Removing worker"`)) &&
				(strings.Contains(out, "the driver is still connected over its own connection") || strings.Contains(out, `msg="Removing app"`)), ""
		})
		if st, err := m.MasterState(); err != nil || len(st.Workers) != 1 || st.Workers[0].State != deploy.WorkerAlive || len(st.ActiveApps) != 1 {
			t.Fatalf("a forger's disconnect removed a peer: %s %v", st.Summary(), err)
		}
		// The worker and the driver keep working over their connections.
		if ok, err := rpcenv.Ask[bool](t.Context(), wm, deploy.ExecutorStateChanged{AppID: appID, ExecID: launched.ExecID,
			State: deploy.ExecutorRunning}); err != nil || !ok {
			t.Fatalf("the worker's ExecutorStateChanged: %v %v", ok, err)
		}
		if u := next[deploy.ExecutorUpdated](t, drec); u.State != deploy.ExecutorRunning {
			t.Fatalf("driver told %+v", u)
		}
		if ok, err := rpcenv.Ask[bool](t.Context(), dm, deploy.RequestExecutors{AppID: appID, RequestedTotal: 1}); err != nil || !ok {
			t.Fatalf("the driver's RequestExecutors: %v %v", ok, err)
		}
		if err := dm.Send(deploy.UnregisterApplication{AppID: appID}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, hangLimit, "the driver's own UnregisterApplication", func() (bool, string) {
			st, err := m.MasterState()
			return err == nil && len(st.ActiveApps) == 0, st.Summary()
		})
	})
}
