//go:build linux

package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"go.uber.org/goleak"
)

// askerEnv is a client-mode env of the test process with conf kv.
func askerEnv(t *testing.T, name string, kv ...string) *rpcenv.Env {
	t.Helper()
	conf := sparkconf.New()
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		conf.Set(k, v)
	}
	env, err := rpcenv.Create(rpcenv.Config{Name: name, ClientMode: true, Conf: conf,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Shutdown)
	return env
}

// TestSlowLossyLink: an echo endpoint and a shuffle service on a host
// whose link goes through the userspace wire.
//
//  1. Slow (150 ms each way): an ask whose timeout (spark.rpc.askTimeout,
//     or spark.network.timeout when that is unset) is shorter than the
//     round trip fails with a timeout error naming that key, after at
//     least that timeout; with a longer timeout every ask is answered,
//     none sooner than the round trip.
//  2. Slow and lossy (20±10 ms each way, 2% loss, 20 Mbit/s): 400 asks
//     (8 at a time) are all answered and a 1 MiB shuffle fetch arrives
//     intact, while the wire really drops frames.
func TestSlowLossyLink(t *testing.T) { scenarioSlowLink(t, newRecord("slow-lossy-link")) }

func scenarioSlowLink(t *testing.T, rec *record) {
	requireFault(t)
	t.Cleanup(func() { // runs last: after the envs, clients and the net
		if err := goleak.Find(testutil.ReactorGoroutines...); err != nil {
			t.Errorf("goroutines leaked by the test process: %v", err)
		}
	})
	s := newScene(t, netns.Options{Hosts: 1, Impairable: []int{0}})
	h := s.net.Host(0)
	echo := &echoServer{host: h, recDir: s.mkdir("echo-records")}
	if err := echo.start(s); err != nil {
		t.Fatal(err)
	}
	addr := rpcenv.EndpointAddress{Addr: rpcenv.NewAddress(h.IP, echoPort), Name: "echo"}

	// 1. Slow.
	const delay = 150 * time.Millisecond
	if err := h.Impair(netns.Impairment{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, conf string }{
		{"spark.rpc.askTimeout", "spark.rpc.askTimeout=100ms"},
		{"spark.network.timeout", "spark.network.timeout=100ms"},
	} {
		env := askerEnv(t, "short-"+c.key, c.conf)
		start := time.Now()
		_, err := env.RefFor(addr).AskSync(echoReq{ID: 1})
		took := time.Since(start)
		var te *rpcenv.TimeoutError
		switch {
		case !errors.As(err, &te):
			t.Errorf("%s: an ask with a 100ms timeout over a %v round trip: %v; want a timeout", c.conf, 2*delay, err)
		case te.Key != c.key || !strings.Contains(err.Error(), c.key):
			t.Errorf("%s: the timeout error %q names %q; want %s", c.conf, err, te.Key, c.key)
		case took < 100*time.Millisecond || took > 100*time.Millisecond+stormMargin:
			t.Errorf("%s: the ask timed out after %v; want about 100ms", c.conf, took)
		default:
			rec.add(t, "short timeout fired ("+c.key+"=100ms)", took)
		}
	}
	long := askerEnv(t, "long", "spark.rpc.askTimeout=10s")
	ref := long.RefFor(addr)
	var slow []time.Duration
	for i := range 10 {
		start := time.Now()
		v, err := ref.AskSync(echoReq{ID: int64(100 + i)})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("ask %d with a 10s timeout over a %v round trip: %v", i, 2*delay, err)
		}
		if r, ok := v.(echoResp); !ok || r.ID != int64(100+i) {
			t.Errorf("ask %d answered %v", i, v)
		}
		if took < 2*delay {
			t.Errorf("ask %d answered in %v through a link delaying %v each way", i, took, delay)
		}
		slow = append(slow, took)
	}
	slices.Sort(slow)
	rec.add(t, "ask latency, 150ms each way (median)", slow[len(slow)/2])

	// 2. Slow and lossy.
	imp := netns.Impairment{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.02, Rate: 20_000_000}
	if err := h.Impair(imp); err != nil {
		t.Fatal(err)
	}
	t.Logf("impairment: %s", imp)
	lostBefore := h.WireStats().Lost
	const asks, par = 400, 8
	lat := make([]time.Duration, asks)
	errs := make([]error, asks)
	var wg sync.WaitGroup
	began := time.Now()
	for w := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < asks; i += par {
				start := time.Now()
				v, err := ref.AskSync(echoReq{ID: int64(1000 + i)})
				lat[i] = time.Since(start)
				if r, ok := v.(echoResp); err == nil && (!ok || r.ID != int64(1000+i)) {
					err = fmt.Errorf("answered %v", v)
				}
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	rec.add(t, "400 asks over the lossy link", time.Since(began))
	for i, err := range errs {
		if err != nil {
			t.Errorf("ask %d over the lossy link: %v", i, err)
		}
	}
	slices.Sort(lat)
	rec.add(t, "ask latency, lossy link (p50)", lat[asks/2])
	rec.add(t, "ask latency, lossy link (p99)", lat[asks*99/100])

	svc, err := s.startShuffleService(h, "shuffle-service", s.mkdir("shuffle-db"))
	if err != nil {
		t.Fatal(err)
	}
	mo := writeMapOutput(t, s.mkdir("executor"), 8, 8, 16<<10)
	cl := shuffleClient(t, newLogRecords(), "spark.shuffle.io.retryWait=1s")
	if err := cl.RegisterWithShuffleServer(h.IP, shufflePort, "1", mo.info); err != nil {
		t.Fatalf("registering over the lossy link: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var run fetchRun
	fetched := time.Now()
	if err := run.fetch(ctx, cl, h, mo, 0, nil); err != nil {
		t.Fatalf("a 1 MiB fetch over the lossy link: %v", err)
	}
	rec.add(t, "1 MiB fetch over the lossy link", time.Since(fetched))
	if run.got.Load() != int64(len(mo.blocks)) || run.bad.Load() != 0 {
		t.Errorf("fetched %d intact blocks (%d corrupt), want %d", run.got.Load(), run.bad.Load(), len(mo.blocks))
	}
	st := h.WireStats()
	if st.Lost == lostBefore {
		t.Errorf("the wire dropped no frame at %v%% loss: %+v", 100*imp.Loss, st)
	}
	t.Logf("wire: %+v", st)
	if svc.Exited() {
		t.Errorf("the shuffle service exited: %s", svc.State())
	}
}
