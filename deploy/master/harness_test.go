package master

// The scenario tests drive State without sockets: workers and drivers are
// fakePeers that record what the master sent them, and fakeEffects records
// what the master persisted, unpersisted and scheduled, with a clock the
// test moves by hand.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// t0 is the clock's start: 2026-01-02 03:04:05 UTC (a one-digit day, so
// Date.toString's zero padding shows).
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testMasterURL = "spark://master.example:7077"
	testWebUIURL  = "http://master.example:8080"
)

// fakePeer is a worker or a driver: it records every message sent to it.
type fakePeer struct {
	addr rpcenv.EndpointAddress
	msgs []any
}

func (p *fakePeer) Send(msg any) error {
	p.msgs = append(p.msgs, msg)
	return nil
}

func (p *fakePeer) Address() rpcenv.EndpointAddress { return p.addr }

// reset forgets what the peer was sent so far.
func (p *fakePeer) reset() { p.msgs = nil }

// msgsOf returns the messages of type T the peer was sent, in order.
func msgsOf[T any](p *fakePeer) []T {
	var out []T
	for _, m := range p.msgs {
		if x, ok := m.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// lastOf returns the last message of type T the peer was sent.
func lastOf[T any](t *testing.T, p *fakePeer) T {
	t.Helper()
	ms := msgsOf[T](p)
	if len(ms) == 0 {
		var zero T
		t.Fatalf("%s was sent no %T; it got %s", p.addr, zero, describe(p.msgs))
	}
	return ms[len(ms)-1]
}

func describe(msgs []any) string {
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		parts[i] = fmt.Sprintf("%T%+v", m, m)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// fakeEffects records every effect; Send also delivers to the peer.
type fakeEffects struct {
	now         time.Time
	sends       int
	persisted   map[string]any // current persisted state
	persists    []string       // every Persist key, in order
	unpersists  []string       // every Unpersist key, in order
	recoveryDue []time.Duration
	answeredAt  []rpcenv.Address // every Answer's reachedAt, in order
}

func newFakeEffects() *fakeEffects {
	return &fakeEffects{now: t0, persisted: map[string]any{}}
}

func (f *fakeEffects) Send(to Peer, msg any) {
	f.sends++
	_ = to.Send(msg)
}

func (f *fakeEffects) Answer(to Peer, msg any, reachedAt rpcenv.Address) {
	f.answeredAt = append(f.answeredAt, reachedAt)
	f.Send(to, msg)
}

func (f *fakeEffects) Persist(key string, v any) {
	f.persisted[key] = v
	f.persists = append(f.persists, key)
}

func (f *fakeEffects) Unpersist(key string) {
	delete(f.persisted, key)
	f.unpersists = append(f.unpersists, key)
}

func (f *fakeEffects) Now() time.Time { return f.now }

func (f *fakeEffects) ScheduleCompleteRecovery(d time.Duration) {
	f.recoveryDue = append(f.recoveryDue, d)
}

func (f *fakeEffects) advance(d time.Duration) { f.now = f.now.Add(d) }

// harness is a master State with its fakes.
type harness struct {
	t  *testing.T
	fx *fakeEffects
	s  *State
	n  int // peers made so far (unique addresses)
}

// testConfig is DefaultConfig with the test's master URLs.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MasterURL, cfg.WebUIURL = testMasterURL, testWebUIURL
	return cfg
}

// newStandby returns a master that has not been elected yet.
func newStandby(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	fx := newFakeEffects()
	return &harness{t: t, fx: fx, s: NewState(cfg, fx)}
}

// newAlive returns a master elected with nothing persisted (ALIVE).
func newAlive(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	h := newStandby(t, mutate...)
	h.s.ElectedLeader(Recovered{})
	if h.s.Status != deploy.StateAlive {
		t.Fatalf("status after election with nothing persisted = %s, want ALIVE", h.s.Status)
	}
	return h
}

// workerPeer makes a worker endpoint at a fresh host:port.
func (h *harness) workerPeer() *fakePeer {
	h.n++
	return &fakePeer{addr: rpcenv.EndpointAddress{Addr: rpcenv.NewAddress(fmt.Sprintf("10.0.0.%d", h.n), 7000+h.n), Name: deploy.WorkerEndpointName}}
}

// driverPeer makes an app client endpoint in a fresh driver process.
func (h *harness) driverPeer() *fakePeer {
	h.n++
	return &fakePeer{addr: rpcenv.EndpointAddress{Addr: rpcenv.NewAddress(fmt.Sprintf("10.1.0.%d", h.n), 40000+h.n), Name: deploy.AppClientEndpoint}}
}

// registerMsg is the RegisterWorker a worker at peer would send.
func registerMsg(id string, peer *fakePeer, cores, memMB int) deploy.RegisterWorker {
	return deploy.RegisterWorker{ID: id, Host: peer.addr.Addr.Host, Port: peer.addr.Addr.Port, Cores: cores, MemoryMB: memMB,
		WorkerWebUIURL: "http://" + peer.addr.Addr.Host + ":8081", MasterAddress: rpcenv.NewAddress("master.example", 7077)}
}

// addWorker registers a worker and checks it was accepted.
func (h *harness) addWorker(id string, cores, memMB int) *fakePeer {
	h.t.Helper()
	p := h.workerPeer()
	h.s.RegisterWorker(registerMsg(id, p, cores, memMB), p)
	if r := msgsOf[deploy.RegisteredWorker](p); len(r) != 1 || r[0].Duplicate {
		h.t.Fatalf("worker %s: want one RegisteredWorker(duplicate=false), got %s", id, describe(p.msgs))
	}
	return p
}

// appDesc is an application description; options tweak it.
func appDesc(memMB int, opts ...func(*deploy.ApplicationDescription)) deploy.ApplicationDescription {
	d := deploy.ApplicationDescription{Name: "test", MemoryPerExecutorMB: memMB, User: "tester",
		Command: deploy.Command{MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend"}}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func maxCores(n int) func(*deploy.ApplicationDescription) {
	return func(d *deploy.ApplicationDescription) { d.MaxCores = &n }
}

func coresPerExecutor(n int) func(*deploy.ApplicationDescription) {
	return func(d *deploy.ApplicationDescription) { d.CoresPerExecutor = &n }
}

func initialLimit(n int) func(*deploy.ApplicationDescription) {
	return func(d *deploy.ApplicationDescription) { d.InitialExecutorLimit = &n }
}

// addApp registers an application from a fresh driver and returns its id.
func (h *harness) addApp(desc deploy.ApplicationDescription) (string, *fakePeer) {
	h.t.Helper()
	p := h.driverPeer()
	h.s.RegisterApplication(deploy.RegisterApplication{AppDescription: desc}, p)
	r := msgsOf[deploy.RegisteredApplication](p)
	if len(r) != 1 {
		h.t.Fatalf("want one RegisteredApplication, got %s", describe(p.msgs))
	}
	return r[0].AppID, p
}

// driverDesc is a cluster-mode driver description.
func driverDesc(cores, memMB int, supervise bool) deploy.DriverDescription {
	return deploy.DriverDescription{JarURL: "file:/app.jar", Cores: cores, MemoryMB: memMB, Supervise: supervise,
		Command: deploy.Command{MainClass: "org.apache.spark.deploy.worker.DriverWrapper",
			Arguments: []string{"{{WORKER_URL}}", "{{USER_JAR}}", "com.example.Main"}}}
}

// submit submits a driver and returns its id.
func (h *harness) submit(desc deploy.DriverDescription) string {
	h.t.Helper()
	r := h.s.RequestSubmitDriver(desc)
	if !r.Success || r.DriverID == nil {
		h.t.Fatalf("submit: %+v", r)
	}
	return *r.DriverID
}

// coresByWorker sums the cores of the LaunchExecutors each worker got.
func coresByWorker(peers map[string]*fakePeer) map[string]int {
	out := map[string]int{}
	for id, p := range peers {
		for _, l := range msgsOf[deploy.LaunchExecutor](p) {
			out[id] += l.Cores
		}
	}
	return out
}

// appCores sums the cores of the executors an app was told about.
func appCores(driver *fakePeer) int {
	n := 0
	for _, a := range msgsOf[deploy.ExecutorAdded](driver) {
		n += a.Cores
	}
	return n
}

// completedDriver finds a driver among the completed ones of the snapshot.
func (h *harness) completedDriver(id string) (deploy.DriverInfoJSON, bool) {
	for _, d := range h.s.Snapshot().CompletedDrivers {
		if d.ID == id {
			return d, true
		}
	}
	return deploy.DriverInfoJSON{}, false
}

// activeDriver finds a driver among the active ones of the snapshot.
func (h *harness) activeDriver(id string) (deploy.DriverInfoJSON, bool) {
	for _, d := range h.s.Snapshot().ActiveDrivers {
		if d.ID == id {
			return d, true
		}
	}
	return deploy.DriverInfoJSON{}, false
}

// completedApp finds an app among the completed ones of the snapshot.
func (h *harness) completedApp(id string) (deploy.ApplicationInfoJSON, bool) {
	for _, a := range h.s.Snapshot().CompletedApps {
		if a.ID == id {
			return a, true
		}
	}
	return deploy.ApplicationInfoJSON{}, false
}

// listedWorker finds a worker (any state) by id.
func (h *harness) listedWorker(id string) *WorkerInfo {
	for _, w := range h.s.Workers() {
		if w.ID == id {
			return w
		}
	}
	return nil
}
