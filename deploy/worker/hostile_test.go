package worker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
)

// attackerMaster is an endpoint an attacker registers as "Master" in its
// own env, to point workers at.
type attackerMaster struct{ got chan any }

func (a *attackerMaster) Receive(msg any, _ rpcenv.Address) error {
	select {
	case a.got <- msg:
	default:
	}
	return nil
}

func (a *attackerMaster) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	cc.SendFailure(rpcenv.ErrUnsupported)
	return nil
}

// TestHostilePeerCannotCommandWorker: a peer on loopback, default
// configuration, sends a registered worker the orders only its master may
// give (with the master URL /json publishes), tries to re-point it at
// itself, and floods it. Every order is refused, the worker keeps its
// master and heartbeats, and the flood costs a bounded number of log
// lines. Both io modes.
func TestHostilePeerCannotCommandWorker(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			testutil.CheckLeaks(t)
			conf := []string{"spark.rpc.io.mode", mode, "spark.worker.timeout", "2"}
			m := startMaster(t, conf...)
			var logs testutil.LogBuffer
			w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: conf,
				mutate: func(o *Options) { o.Logger = logs.Logger(slog.LevelInfo) }})
			first := aliveWorker(t, m, w)

			attacker, err := rpcenv.Create(rpcenv.Config{Name: "attacker", BindHost: "127.0.0.1", Logger: testLogger(),
				Conf: testConf("spark.rpc.io.mode", mode)})
			if err != nil {
				t.Fatal(err)
			}
			defer attacker.Shutdown()
			fake := &attackerMaster{got: make(chan any, 64)}
			fakeRef, err := attacker.SetupEndpoint(deploy.MasterEndpointName, fake)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := attacker.SetupEndpointRefByURI(rpcenv.EndpointAddress{Addr: w.Address(), Name: deploy.WorkerEndpointName}.String())
			if err != nil {
				t.Fatal(err)
			}
			marker := filepath.Join(t.TempDir(), "pwned")
			start := time.Now()
			orders := []any{
				deploy.KillExecutor{MasterURL: m.MasterURL(), AppID: "app-1", ExecID: 0},
				deploy.LaunchDriver{DriverID: "driver-evil", Desc: deploy.DriverDescription{MemoryMB: 1, Cores: 1,
					Command: deploy.Command{MainClass: "/usr/bin/touch", Arguments: []string{marker}}}},
				deploy.LaunchExecutor{MasterURL: m.MasterURL(), AppID: "app-evil", AppDesc: deploy.ApplicationDescription{Name: "x",
					Command: deploy.Command{MainClass: "/usr/bin/touch", Arguments: []string{marker}}}, Cores: 1, MemoryMB: 1},
				deploy.MasterChanged{Master: fakeRef, MasterWebUIURL: "http://evil"},
				deploy.ApplicationFinished{ID: "app-1"},
				deploy.KillDriver{DriverID: "driver-1"},
				deploy.ReconnectWorker{MasterURL: m.MasterURL()},
			}
			const flood = 300
			for i := 0; i < flood; i++ {
				if err := ref.Send(orders[i%len(orders)]); err != nil {
					t.Fatal(err)
				}
			}
			// An ask after the sends: the worker handles them in order, so
			// its answer comes after every order above was handled.
			v, err := ref.AskTimeout(deploy.RequestWorkerState{}, testTimeout)
			if err != nil {
				t.Fatalf("a legitimate question during the attack: %v", err)
			}
			st := v.(deploy.WorkerStateResponse)
			elapsed := time.Since(start)
			if st.MasterURL != m.MasterURL() {
				t.Fatalf("worker re-pointed at %s", st.MasterURL)
			}
			if len(st.Drivers) != 0 || len(st.Executors) != 0 {
				t.Fatalf("worker obeyed a peer: drivers %+v executors %+v", st.Drivers, st.Executors)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("a peer's command ran")
			}
			select {
			case msg := <-fake.got:
				t.Fatalf("the worker talked to the attacker's master: %T", msg)
			default:
			}
			// Rate-limited: one line per refusal interval, not one per message.
			lines := strings.Count(logs.String(), "refusing message")
			if bound := 1 + int(elapsed/authority.RefusalInterval) + 1; lines < 1 || lines > bound {
				t.Fatalf("%d refusal lines for %d refused messages in %v (bound %d)", lines, flood, elapsed, bound)
			}
			// The worker still heartbeats to its master after the attack.
			testutil.Eventually(t, testTimeout, "a heartbeat after the attack", func() (bool, string) {
				st, err := m.MasterState()
				if err != nil {
					return false, err.Error()
				}
				wi, ok := st.Worker(w.ID())
				return ok && wi.State == deploy.WorkerAlive && wi.LastHeartbeat > first.LastHeartbeat,
					fmt.Sprintf("%+v", wi)
			})
		})
	}
}

// TestForgedMasterAddressRefused: a process on the master's host that
// writes the master's own address as its sender (it listens on 127.0.0.2
// at the master's port) sends the worker the master's orders and a
// MasterChanged naming the master. The worker's master answers over the
// worker's own connection, so every one is refused with one rate-limited
// line, and the worker keeps its master. Both io modes.
func TestForgedMasterAddressRefused(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			testutil.CheckLeaks(t)
			conf := []string{"spark.rpc.io.mode", mode, "spark.worker.timeout", "2"}
			m := startMaster(t, conf...)
			var logs testutil.LogBuffer
			w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: conf,
				mutate: func(o *Options) { o.Logger = logs.Logger(slog.LevelDebug) }})
			first := aliveWorker(t, m, w)

			forger, err := rpcenv.Create(rpcenv.Config{Name: "forger", BindHost: "127.0.0.2", AdvertiseHost: m.Address().Host,
				Port: m.Address().Port, Logger: testLogger(), Conf: testConf("spark.rpc.io.mode", mode)})
			if err != nil {
				t.Fatal(err)
			}
			defer forger.Shutdown()
			if forger.Address() != m.Address() {
				t.Fatalf("the forger writes %v, not the master's %v", forger.Address(), m.Address())
			}
			fake := &attackerMaster{got: make(chan any, 64)}
			fakeRef, err := forger.SetupEndpoint(deploy.MasterEndpointName, fake)
			if err != nil {
				t.Fatal(err)
			}
			ref := forger.RefFor(rpcenv.EndpointAddress{Addr: w.Address(), Name: deploy.WorkerEndpointName})
			marker := filepath.Join(t.TempDir(), "pwned")
			start := time.Now()
			for _, msg := range []any{
				deploy.MasterChanged{Master: fakeRef, MasterWebUIURL: "http://evil"},
				deploy.LaunchDriver{DriverID: "driver-evil", Desc: deploy.DriverDescription{MemoryMB: 1, Cores: 1,
					Command: deploy.Command{MainClass: "/usr/bin/touch", Arguments: []string{marker}}}},
				deploy.LaunchExecutor{MasterURL: m.MasterURL(), AppID: "app-evil", AppDesc: deploy.ApplicationDescription{Name: "x",
					Command: deploy.Command{MainClass: "/usr/bin/touch", Arguments: []string{marker}}}, Cores: 1, MemoryMB: 1},
				deploy.KillExecutor{MasterURL: m.MasterURL(), AppID: "app-1", ExecID: 0},
				deploy.ApplicationFinished{ID: "app-1"},
				deploy.ReconnectWorker{MasterURL: m.MasterURL()},
			} {
				if err := ref.Send(msg); err != nil {
					t.Fatal(err)
				}
			}
			// Answered after the sends above (one connection, in order).
			v, err := ref.AskTimeout(deploy.RequestWorkerState{}, testTimeout)
			if err != nil {
				t.Fatalf("a question after the forged orders: %v", err)
			}
			elapsed := time.Since(start)
			st := v.(deploy.WorkerStateResponse)
			if st.MasterURL != m.MasterURL() || st.MasterWebUIURL == "http://evil" {
				t.Fatalf("worker re-pointed: %s %s", st.MasterURL, st.MasterWebUIURL)
			}
			if len(st.Drivers) != 0 || len(st.Executors) != 0 {
				t.Fatalf("worker obeyed the forger: drivers %+v executors %+v", st.Drivers, st.Executors)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the forger's command ran")
			}
			select {
			case msg := <-fake.got:
				t.Fatalf("the worker talked to the forger: %T", msg)
			default:
			}
			out := logs.String()
			lines := strings.Count(out, "refusing message")
			if bound := 1 + int(elapsed/authority.RefusalInterval) + 1; lines < 1 || lines > bound {
				t.Fatalf("%d refusal lines for 6 forged messages in %v (bound %d)", lines, elapsed, bound)
			}
			if !strings.Contains(out, "while the master is connected over") {
				t.Errorf("the refusal does not say why: %s", out)
			}
			// The forger goes: its connection claimed the master's address,
			// but the worker keeps its master.
			forger.Shutdown()
			testutil.Eventually(t, testTimeout, "the forger's disconnect", func() (bool, string) {
				out := logs.String()
				return strings.Contains(out, "ignoring a disconnect: the master is still connected") || strings.Contains(out, "master disassociated"), ""
			})
			if strings.Contains(logs.String(), "master disassociated") || !w.Registered() {
				t.Fatal("the forger's disconnect cost the worker its master")
			}
			testutil.Eventually(t, testTimeout, "a heartbeat after the forgery", func() (bool, string) {
				st, err := m.MasterState()
				if err != nil {
					return false, err.Error()
				}
				wi, ok := st.Worker(w.ID())
				return ok && wi.State == deploy.WorkerAlive && wi.LastHeartbeat > first.LastHeartbeat,
					fmt.Sprintf("%+v", wi)
			})
		})
	}
}
