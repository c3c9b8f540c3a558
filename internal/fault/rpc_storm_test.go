//go:build linux

package fault

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// The echo server's messages (testdata/faultprog has the same types
// under the same names).
type echoReq struct {
	ID int64 `json:"id"`
}

type echoResp struct {
	ID  int64 `json:"id"`
	Pid int   `json:"pid"`
}

func init() {
	rpcenv.Register[echoReq]("fault.echoReq")
	rpcenv.Register[echoResp]("fault.echoResp")
}

var echoListening = regexp.MustCompile(`ECHO listening on (\S+) pid=(\d+)`)

// echoServer is faultprog's echo server on one host, restarted by the
// chaos: every incarnation's pid, and the current process.
type echoServer struct {
	host   *netns.Host
	recDir string
	mode   string // spark.rpc.io.mode ("": EPOLL)

	mu   sync.Mutex // guards proc and pids
	proc *netns.Proc
	pids []int
}

// start runs a new incarnation and waits until it serves.
func (e *echoServer) start(s *scene) error {
	e.mu.Lock()
	n := len(e.pids)
	e.mu.Unlock()
	mode := e.mode
	if mode == "" {
		mode = "EPOLL"
	}
	p, err := e.host.Start(fmt.Sprintf("echo-h%d-%d", e.host.Index, n), []string{faultBin, "echo", "--host", e.host.IP,
		"--port", strconv.Itoa(echoPort), "--record", e.recDir, "--io-mode", mode}, netns.WithEnv(env()), netns.WithDir(s.dir))
	if err != nil {
		return err
	}
	m, err := p.WaitOutput(echoListening, waitLimit)
	if err != nil {
		return err
	}
	if m[1] != e.host.HostPort(echoPort) {
		return fmt.Errorf("echo server listens on %s, want %s", m[1], e.host.HostPort(echoPort))
	}
	pid, _ := strconv.Atoi(m[2])
	e.mu.Lock()
	e.proc, e.pids = p, append(e.pids, pid)
	e.mu.Unlock()
	return nil
}

func (e *echoServer) current() *netns.Proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

func (e *echoServer) incarnations() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.pids)
}

// askOutcome is what one ask of the storm got.
type askOutcome struct {
	host       int
	start, end time.Time
	resp       echoResp
	err        error
}

// fault is one fault the chaos injected.
type fault struct {
	kind   string // "kill" or "cut"
	host   int
	at     time.Time // the kill or the cut
	over   time.Time // the cut healed, or the killed server's successor serving
	newPid int       // for a kill: the restarted server's pid
}

// Storm sizes.
const (
	stormAsks    = 10000  // at least; the storm goes on until the chaos is over
	stormMaxAsks = 400000 // at most, should the chaos outlast stormAsks
	stormWorkers = 32
	stormTimeout = 2 * time.Second // each ask's timeout
	stormKills   = 6               // restarts the chaos may do
	// stormMargin is how far past its timeout an ask may return before it
	// counts as hung (a loaded two-core machine running -race).
	stormMargin = 2 * time.Second
)

// TestRPCStormUnderFaults: at least 10,000 asks from the test process to
// echo endpoints on three hosts, 32 at a time, going on until a chaos
// goroutine has done all its faults (10,000 asks can take less than the
// chaos's first pause: then no fault was ever injected). The chaos kills
// random servers with -9 and restarts them (six times) and cuts one host's
// link for longer than an ask's timeout. Every ask returns, answered or with an error, within
// its timeout (plus a margin); every answer is to its own request, from a
// server incarnation that recorded the request; no request is delivered
// twice (the servers record every id they receive); the servers serve
// again once the chaos stops; and the asking process leaks no goroutine.
// It runs in both io modes (spark.rpc.io.mode EPOLL and NIO, on both
// sides).
func TestRPCStormUnderFaults(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) { scenarioRPCStorm(t, newRecord("rpc-storm-"+mode), mode) })
	}
}

func scenarioRPCStorm(t *testing.T, rec *record, mode string) {
	requireFault(t)
	// Registered first, so it runs last: after the env's shutdown and the
	// net's teardown, nothing of the test may be left in this process.
	t.Cleanup(func() {
		if err := goleak.Find(testutil.ReactorGoroutines...); err != nil {
			t.Errorf("goroutines leaked by the asking process: %v", err)
		}
	})
	s := newScene(t, netns.Options{Hosts: 3})
	recDir := s.mkdir("echo-records")
	servers := make([]*echoServer, 3)
	for i := range servers {
		servers[i] = &echoServer{host: s.net.Host(i), recDir: recDir, mode: mode}
		if err := servers[i].start(s); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(s.dir, "asker.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	env, err := rpcenv.Create(rpcenv.Config{Name: "asker", ClientMode: true, Conf: sparkconf.New().Set("spark.rpc.io.mode", mode),
		Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Shutdown()
	refs := make([]*rpcenv.Ref, len(servers))
	for i, sv := range servers {
		refs[i] = env.RefFor(rpcenv.EndpointAddress{Addr: rpcenv.NewAddress(sv.host.IP, echoPort), Name: "echo"})
		if _, err := refs[i].AskTimeout(echoReq{ID: -1 - int64(i)}, 10*time.Second); err != nil {
			t.Fatalf("warm-up ask to %s: %v", sv.host, err)
		}
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	outcomes := make([]askOutcome, stormMaxAsks)
	// issue hands out ask ids in order: the first stormAsks always, more
	// while the chaos goes on, never more than stormMaxAsks. chaosOver is
	// set under the same lock, so the ids handed out are exactly 0..n-1.
	var (
		issueMu   sync.Mutex
		issued    int
		chaosOver bool
	)
	issue := func() (int, bool) {
		issueMu.Lock()
		defer issueMu.Unlock()
		if issued >= stormMaxAsks || (issued >= stormAsks && chaosOver) {
			return 0, false
		}
		issued++
		return issued - 1, true
	}
	endChaos := func() {
		issueMu.Lock()
		chaosOver = true
		issueMu.Unlock()
	}
	stormDone := make(chan struct{})
	var storm sync.WaitGroup
	began := time.Now()
	for range stormWorkers {
		storm.Add(1)
		go func() {
			defer storm.Done()
			for {
				id, ok := issue()
				if !ok {
					return
				}
				h := id % len(refs)
				o := askOutcome{host: h, start: time.Now()}
				v, err := refs[h].AskTimeout(echoReq{ID: int64(id)}, stormTimeout)
				o.end, o.err = time.Now(), err
				if err == nil {
					if r, ok := v.(echoResp); ok {
						o.resp = r
					} else {
						o.err = fmt.Errorf("reply %T %v", v, v)
					}
				}
				outcomes[id] = o
			}
		}()
	}
	go func() { storm.Wait(); close(stormDone) }()

	// The chaos: a fault every 100-400 ms until the faults are used up
	// (the storm goes on meanwhile; it ends early only at stormMaxAsks); the third is a cut longer than an ask's timeout,
	// the others kills with an immediate restart.
	var faults []fault
	var chaosErr error
	rng := rand.New(rand.NewPCG(seed, 7))
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
chaos:
	for i := range stormKills + 1 {
		pause.Reset(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		select {
		case <-stormDone:
			break chaos
		case <-pause.C:
		}
		h := rng.IntN(len(servers))
		f := fault{kind: "kill", host: h, at: time.Now()}
		if i == 2 {
			f.kind = "cut"
			if chaosErr = s.net.Host(h).Cut(); chaosErr != nil {
				break
			}
			pause.Reset(stormTimeout + stormTimeout/4)
			<-pause.C
			chaosErr = s.net.Host(h).Heal()
			f.over = time.Now()
			faults = append(faults, f)
			if chaosErr != nil {
				break
			}
			continue
		}
		if chaosErr = servers[h].current().Kill9(); chaosErr != nil {
			break
		}
		if chaosErr = servers[h].start(s); chaosErr != nil {
			break
		}
		inc := servers[h].incarnations()
		f.newPid, f.over = inc[len(inc)-1], time.Now()
		faults = append(faults, f)
	}
	endChaos()
	select {
	case <-stormDone:
	case <-time.After(stormAsks / stormWorkers * (stormTimeout + stormMargin)):
		t.Fatal("the storm did not end: some ask never returned")
	}
	stormTook := time.Since(began)
	outcomes = outcomes[:issued] // every ask is done: issued is still
	if chaosErr != nil {
		t.Fatalf("chaos: %v", chaosErr)
	}

	// Every ask returned within its timeout, with an answer to itself or
	// an error.
	var ok, timeouts, otherErrs int
	var latencies []time.Duration
	pidHost := map[int]int{}
	for h, sv := range servers {
		for _, pid := range sv.incarnations() {
			pidHost[pid] = h
		}
	}
	var examples []string
	for id, o := range outcomes {
		if o.start.IsZero() {
			t.Fatalf("ask %d was never made", id)
		}
		if took := o.end.Sub(o.start); took > stormTimeout+stormMargin {
			t.Errorf("ask %d to host %d took %v (timeout %v): it hung past its timeout (%v)", id, o.host, took, stormTimeout, o.err)
		}
		switch {
		case o.err == nil:
			ok++
			latencies = append(latencies, o.end.Sub(o.start))
			if o.resp.ID != int64(id) {
				t.Errorf("ask %d was answered with id %d", id, o.resp.ID)
			}
			if h, known := pidHost[o.resp.Pid]; !known || h != o.host {
				t.Errorf("ask %d to host %d was answered by pid %d (host %d, known %v)", id, o.host, o.resp.Pid, h, known)
			}
		case isTimeout(o.err):
			timeouts++
		default:
			otherErrs++
			if len(examples) < 5 {
				examples = append(examples, o.err.Error())
			}
		}
	}
	t.Logf("storm: %d asks in %v: %d answered, %d timed out, %d failed (e.g. %q); faults: %s",
		len(outcomes), stormTook.Round(time.Millisecond), ok, timeouts, otherErrs, examples, describeFaults(faults, began))
	if ok+timeouts+otherErrs != len(outcomes) || len(outcomes) < stormAsks {
		t.Errorf("%d outcomes for %d asks (at least %d)", ok+timeouts+otherErrs, len(outcomes), stormAsks)
	}
	if timeouts+otherErrs == 0 {
		t.Errorf("no ask failed under %d faults: were they injected? %s", len(faults), describeFaults(faults, began))
	}

	// At most once: no id in two records (or twice in one); every answered
	// ask is in the record of the incarnation that answered.
	delivered := map[int64]int{} // id → pid
	for h, sv := range servers {
		for _, pid := range sv.incarnations() {
			ids, err := readIDs(filepath.Join(recDir, strconv.Itoa(pid)+".ids"))
			if err != nil {
				t.Fatalf("host %d, pid %d: %v", h, pid, err)
			}
			for _, id := range ids {
				if prev, dup := delivered[id]; dup {
					t.Errorf("request %d delivered twice: to pid %d and pid %d", id, prev, pid)
				}
				delivered[id] = pid
			}
		}
	}
	for id, o := range outcomes {
		if o.err == nil && delivered[int64(id)] != o.resp.Pid {
			t.Errorf("ask %d was answered by pid %d, whose record lacks it (recorded by pid %d)", id, o.resp.Pid, delivered[int64(id)])
		}
	}

	// Timings of each fault, from the asks' outcomes: the first ask to
	// fail of those to the host that ended after the fault and started
	// before it was over; the first answer to an ask started after it.
	for _, f := range faults {
		var detect, recover time.Time
		for _, o := range outcomes {
			if o.host != f.host || o.end.Before(f.at) {
				continue
			}
			if o.err != nil && o.start.Before(f.over) && (detect.IsZero() || o.end.Before(detect)) {
				detect = o.end
			}
			answered := o.err == nil && o.start.After(f.over) && (f.kind == "cut" || o.resp.Pid == f.newPid)
			if answered && (recover.IsZero() || o.end.Before(recover)) {
				recover = o.end
			}
		}
		if !detect.IsZero() {
			rec.add(t, f.kind+": detection (fault → first failed ask)", detect.Sub(f.at))
		}
		if !recover.IsZero() {
			rec.add(t, f.kind+": recovery (fault → first answer after it)", recover.Sub(f.at))
		}
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		rec.add(t, "answered ask latency p50", latencies[len(latencies)/2])
		rec.add(t, "answered ask latency p99", latencies[len(latencies)*99/100])
	}
	rec.add(t, "storm duration (10,000 asks or more, until the chaos ends)", stormTook)

	// After the chaos, every server answers again.
	settled := time.Now()
	for h, ref := range refs {
		testutil.Eventually(t, waitLimit, fmt.Sprintf("host %d answering after the chaos", h), func() (bool, string) {
			_, err := ref.AskTimeout(echoReq{ID: stormMaxAsks + int64(h)}, 5*time.Second)
			return err == nil, fmt.Sprint(err)
		})
		for i := range 20 {
			if _, err := ref.AskTimeout(echoReq{ID: stormMaxAsks + 100 + int64(20*h+i)}, 5*time.Second); err != nil {
				t.Errorf("host %d after the chaos: ask %d: %v", h, i, err)
			}
		}
	}
	rec.add(t, "all servers answering (storm end → 20 answers each)", time.Since(settled))
}

func isTimeout(err error) bool {
	var te *rpcenv.TimeoutError
	return errors.As(err, &te)
}

func describeFaults(fs []fault, began time.Time) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s host%d at +%v", f.kind, f.host, f.at.Sub(began).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// readIDs reads an echo server's record: one id a line.
func readIDs(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}
