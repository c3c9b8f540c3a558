package master

// Daemon tests: a real Master on a socket, in both io modes, reached by a
// client-mode env and by a fake worker endpoint in another env.

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"go.uber.org/goleak"
)

// hangLimit only turns a hang into a failure; it never decides an outcome.
const hangLimit = 30 * time.Second

// eachIOMode runs fn once per io mode, with a goroutine leak check that
// runs after every cleanup fn registers.
func eachIOMode(t *testing.T, fn func(t *testing.T, conf *sparkconf.Conf)) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() {
				goleak.VerifyNone(t, ignore,
					// The netpoll pollers and gopool workers are process-wide.
					goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
					goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
				)
			})
			fn(t, sparkconf.New().Set("spark.rpc.io.mode", mode).Set("spark.rpc.askTimeout", "30s"))
		})
	}
}

// startMaster starts a master on 127.0.0.1:0 without persistence and
// returns once it has been elected: ElectedLeader is queued on its endpoint
// before anything the test sends afterwards.
func startMaster(t *testing.T, conf *sparkconf.Conf) *Master {
	t.Helper()
	elected := make(chan struct{})
	m, err := Start(Options{Host: "127.0.0.1", Port: 0, WebUIPort: 18080, Conf: conf, Logger: slog.New(slog.DiscardHandler),
		Recovery: func(l recovery.Leadership) (recovery.Engine, recovery.Agent, error) {
			agent := recovery.SelfElect(l)
			close(elected)
			return recovery.None(), agent, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	select {
	case <-elected:
	case <-time.After(hangLimit):
		t.Fatal("master never ran its election")
	}
	return m
}

func newEnv(t *testing.T, name string, conf *sparkconf.Conf, client bool) *rpcenv.Env {
	t.Helper()
	e, err := rpcenv.Create(rpcenv.Config{Name: name, BindHost: "127.0.0.1", Conf: conf, ClientMode: client,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func masterURI(m *Master) string {
	return rpcenv.EndpointAddress{Addr: m.Address(), Name: deploy.MasterEndpointName}.String()
}

func TestMasterAnswersClients(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf)
		client := newEnv(t, "client", conf, true)
		ref, err := client.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}

		v, err := ref.AskTimeout(deploy.BoundPortsRequest{}, hangLimit)
		if err != nil {
			t.Fatal(err)
		}
		ports, ok := v.(deploy.BoundPortsResponse)
		if !ok || ports.RPCEndpointPort != m.Address().Port || ports.RPCEndpointPort == 0 || ports.WebUIPort != 18080 || ports.RestPort != nil {
			t.Errorf("BoundPortsResponse %#v", v)
		}

		v, err = ref.AskTimeout(deploy.RequestMasterState{}, hangLimit)
		if err != nil {
			t.Fatal(err)
		}
		st, ok := v.(deploy.MasterStateResponse)
		if !ok || st.Status != deploy.StateAlive || st.URL != m.MasterURL() || st.URL != m.Address().SparkURL() || len(st.Workers) != 0 {
			t.Errorf("MasterStateResponse %#v", v)
		}
	})
}

// fakeWorker is a Worker endpoint that hands over what it receives.
type fakeWorker struct{ got chan any }

func (w *fakeWorker) Receive(msg any, _ rpcenv.Address) error {
	w.got <- msg
	return nil
}

func (w *fakeWorker) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	cc.SendFailure(rpcenv.ErrUnsupported)
	return nil
}

func TestMasterRegistersWorker(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf)
		env := newEnv(t, "sparkWorker", conf, false)
		fw := &fakeWorker{got: make(chan any, 16)}
		self, err := env.SetupEndpoint(deploy.WorkerEndpointName, fw)
		if err != nil {
			t.Fatal(err)
		}
		master, err := env.SetupEndpointRefByURI(masterURI(m))
		if err != nil {
			t.Fatal(err)
		}
		reg := deploy.RegisterWorker{ID: "worker-20260102030405-127.0.0.1-1", Host: "127.0.0.1", Port: env.Address().Port,
			Worker: self, Cores: 4, MemoryMB: 1024, WorkerWebUIURL: "http://127.0.0.1:8081", MasterAddress: m.Address()}
		if err := master.Send(reg); err != nil {
			t.Fatal(err)
		}

		var msg any
		select {
		case msg = <-fw.got:
		case <-time.After(hangLimit):
			t.Fatal("no answer to RegisterWorker")
		}
		r, ok := msg.(deploy.RegisteredWorker)
		if !ok {
			t.Fatalf("worker got %#v, want RegisteredWorker", msg)
		}
		want := rpcenv.EndpointAddress{Addr: m.Address(), Name: deploy.MasterEndpointName}
		if r.Master == nil || r.Master.Address() != want {
			t.Errorf("RegisteredWorker.Master = %v, want a ref to %s", r.Master, want)
		}
		if r.Duplicate || r.MasterAddress != m.Address() {
			t.Errorf("RegisteredWorker %+v", r)
		}

		st, err := m.MasterState()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Workers) != 1 || st.Workers[0].ID != reg.ID || st.Workers[0].State != deploy.WorkerAlive || st.AliveWorkers != 1 || st.Cores != 4 {
			t.Errorf("master state %+v", st)
		}
	})
}
