//go:build linux

package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
	"go.uber.org/atomic"
)

// mapOutput is a shuffle's map output written in Spark's sort-shuffle
// layout under an executor's local dirs, and the blocks' contents.
type mapOutput struct {
	info     shuffle.ExecutorShuffleInfo
	blocks   []shuffle.BlockInfo
	expected map[string][]byte
}

// writeMapOutput writes maps × reduces blocks of size bytes each
// (deterministic pseudo-random contents) for shuffle 0.
func writeMapOutput(t *testing.T, dir string, maps, reduces, size int) *mapOutput {
	t.Helper()
	mo := &mapOutput{expected: map[string][]byte{}, info: shuffle.ExecutorShuffleInfo{
		LocalDirs:          []string{filepath.Join(dir, "local0"), filepath.Join(dir, "local1")},
		SubDirsPerLocalDir: 8, ShuffleManager: shuffle.SortShuffleManager}}
	for m := range maps {
		w, err := shuffle.NewMapOutputWriter(mo.info.LocalDirs, int(mo.info.SubDirsPerLocalDir), 0, int64(m))
		if err != nil {
			t.Fatal(err)
		}
		for r := range reduces {
			b := make([]byte, size)
			rng := rand.New(rand.NewPCG(uint64(m), uint64(r)))
			for i := 0; i+8 <= len(b); i += 8 {
				v := rng.Uint64()
				for k := range 8 {
					b[i+k] = byte(v >> (8 * k))
				}
			}
			if err := w.WritePartition(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			id := shuffle.ShuffleBlockID(0, int64(m), int32(r))
			mo.expected[id] = b
			mo.blocks = append(mo.blocks, shuffle.BlockInfo{ID: id, Size: int64(size)})
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return mo
}

// logRecords is a slog handler keeping what it is given, so a test can
// read the shuffle client's retry log.
type logRecords struct {
	mu   *sync.Mutex
	recs *[]logRecord
	with []slog.Attr
}

type logRecord struct {
	at    time.Time
	msg   string
	attrs map[string]string
}

func newLogRecords() *logRecords {
	return &logRecords{mu: &sync.Mutex{}, recs: &[]logRecord{}}
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{at: r.Time, msg: r.Message, attrs: map[string]string{}}
	for _, a := range l.with {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	*l.recs = append(*l.recs, rec)
	l.mu.Unlock()
	return nil
}

func (l *logRecords) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecords{mu: l.mu, recs: l.recs, with: append(append([]slog.Attr(nil), l.with...), as...)}
}

func (l *logRecords) WithGroup(string) slog.Handler { return l }

// matching returns the records with message msg.
func (l *logRecords) matching(msg string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range *l.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

var shuffleListening = regexp.MustCompile(`shuffle service listening on (\S+)`)

// startShuffleService runs `ember shuffle-service` on h with its
// registration database in dbDir, and waits until it listens.
func (s *scene) startShuffleService(h *netns.Host, name, dbDir string) (*netns.Proc, error) {
	p, err := h.Start(name, []string{emberBin, "shuffle-service", "--host", h.IP, "--port", strconv.Itoa(shufflePort),
		"--db-dir", dbDir}, netns.WithEnv(env()), netns.WithDir(s.dir))
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitOutput(shuffleListening, waitLimit); err != nil {
		return nil, err
	}
	return p, nil
}

// fetchRun fetches every block of mo from host, checking each block's
// bytes; killAt > 0 runs kill (once) from the callback of that many-th
// block, so the fetch is mid-way when the service dies.
type fetchRun struct {
	got      atomic.Int64
	bad      atomic.Int64
	killedAt atomic.Time
}

func (f *fetchRun) fetch(ctx context.Context, cl *shuffle.Client, host *netns.Host, mo *mapOutput, killAt int64, kill func()) error {
	req := shuffle.FetchRequest{Host: host.IP, Port: shufflePort, ExecID: "1", Blocks: mo.blocks}
	return cl.FetchAll(ctx, []shuffle.FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
		b, err := data.Bytes()
		if err != nil {
			return err
		}
		if !bytes.Equal(b, mo.expected[id]) {
			f.bad.Inc()
			return fmt.Errorf("block %s: %d bytes differ from what was written", id, len(b))
		}
		if n := f.got.Inc(); n == killAt {
			f.killedAt.Store(time.Now())
			kill()
		}
		return nil
	})
}

func shuffleClient(t *testing.T, log *logRecords, kv ...string) *shuffle.Client {
	t.Helper()
	conf := sparkconf.New().Set("spark.reducer.maxSizeInFlight", "1m")
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		conf.Set(k, v)
	}
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: "app-fault-1", TmpDir: t.TempDir(), Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestShuffleServiceKilledMidFetch: a reducer (the test process) fetches
// 256 blocks from an external shuffle service on another host; the
// service is killed with -9 after 40 blocks arrived.
//
//  1. With spark.shuffle.io.maxRetries=2, retryWait=300ms the fetch
//     retries twice and fails with an I/O error naming the service and a
//     block, no sooner than the retries' waits.
//  2. A service restarted on the same port and registration database
//     serves the same executor (no new registration): the same client
//     then fetches every block intact.
//  3. With maxRetries=30, a service killed mid-fetch and restarted at
//     once: the retries carry the fetch through, every block intact.
func TestShuffleServiceKilledMidFetch(t *testing.T) {
	scenarioShuffleKill(t, newRecord("shuffle-service-killed"))
}

func scenarioShuffleKill(t *testing.T, rec *record) {
	s := newScene(t, netns.Options{Hosts: 1})
	h := s.net.Host(0)
	mo := writeMapOutput(t, s.mkdir("executor"), 16, 16, 32<<10)
	dbDir := s.mkdir("shuffle-db")
	svc, err := s.startShuffleService(h, "shuffle-service", dbDir)
	if err != nil {
		t.Fatal(err)
	}
	const killAt = 40
	const retries, wait = 2, 300 * time.Millisecond

	logA := newLogRecords()
	clA := shuffleClient(t, logA, "spark.shuffle.io.maxRetries="+strconv.Itoa(retries), "spark.shuffle.io.retryWait=300ms")
	if err := clA.RegisterWithShuffleServer(h.IP, shufflePort, "1", mo.info); err != nil {
		t.Fatalf("registering the executor: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	// 1. Killed mid-fetch, not restarted: the fetch fails after its retries.
	var runA fetchRun
	var killErr error
	err = runA.fetch(ctx, clA, h, mo, killAt, func() { killErr = svc.Kill9() })
	failed := time.Now()
	if killErr != nil {
		t.Fatal(killErr)
	}
	killed := runA.killedAt.Load()
	if killed.IsZero() {
		t.Fatalf("the fetch ended (%v) before %d blocks arrived (%d did)", err, killAt, runA.got.Load())
	}
	if err == nil {
		t.Fatalf("the fetch succeeded with the service killed after %d of %d blocks", killAt, len(mo.blocks))
	}
	t.Logf("fetch error after the kill: %v", err)
	if !shuffle.IsRetryable(err) {
		t.Errorf("the fetch failed with %v; want an I/O failure (shuffle.IsRetryable)", err)
	}
	if msg := err.Error(); !strings.Contains(msg, h.HostPort(shufflePort)) || !strings.Contains(msg, "shuffle_0_") {
		t.Errorf("the error %q names neither the service %s nor a block", msg, h.HostPort(shufflePort))
	}
	if n := runA.got.Load(); n >= int64(len(mo.blocks)) || runA.bad.Load() != 0 {
		t.Errorf("%d blocks arrived (%d corrupt) from a service killed after %d", n, runA.bad.Load(), killAt)
	}
	tries := logA.matching("retrying fetch")
	if len(tries) == 0 {
		t.Fatal("the client logged no retry")
	}
	maxAttempt := 0
	for _, r := range tries {
		a, _ := strconv.Atoi(r.attrs["attempt"])
		maxAttempt = max(maxAttempt, a)
	}
	if maxAttempt != retries {
		t.Errorf("retries went up to attempt %d; want spark.shuffle.io.maxRetries=%d", maxAttempt, retries)
	}
	// Each retry waits retryWait first: the failure cannot come sooner.
	if took := failed.Sub(killed); took < retries*wait {
		t.Errorf("the fetch failed %v after the kill, before its %d retries %v apart", took, retries, wait)
	}
	rec.add(t, "detection (kill → first retry)", tries[0].at.Sub(killed))
	rec.add(t, "give-up (kill → fetch error, 2 retries 300ms apart)", failed.Sub(killed))

	// 2. Restarted with the same database: the registration survived.
	restarted := time.Now()
	svc, err = s.startShuffleService(h, "shuffle-service-2", dbDir)
	if err != nil {
		t.Fatal(err)
	}
	rec.add(t, "service restart (start → listening)", time.Since(restarted))
	var runB fetchRun
	if err := runB.fetch(ctx, clA, h, mo, 0, nil); err != nil {
		t.Fatalf("fetching from the restarted service (registration from its database): %v", err)
	}
	if runB.got.Load() != int64(len(mo.blocks)) || runB.bad.Load() != 0 {
		t.Errorf("fetched %d intact blocks (%d corrupt), want %d", runB.got.Load(), runB.bad.Load(), len(mo.blocks))
	}
	rec.add(t, "recovery (restart → full fetch done)", time.Since(restarted))

	// 3. Killed mid-fetch and restarted at once: the retries get through.
	logC := newLogRecords()
	clC := shuffleClient(t, logC, "spark.shuffle.io.maxRetries=30", "spark.shuffle.io.retryWait=200ms")
	var runC fetchRun
	restartedC := make(chan error, 1)
	killedC := make(chan struct{})
	go func() {
		<-killedC
		var err error
		svc, err = s.startShuffleService(h, "shuffle-service-3", dbDir)
		restartedC <- err
	}()
	var once sync.Once
	err = runC.fetch(ctx, clC, h, mo, killAt, func() {
		once.Do(func() {
			killErr = svc.Kill9()
			close(killedC)
		})
	})
	done := time.Now()
	select {
	case rerr := <-restartedC:
		if rerr != nil {
			t.Fatalf("restarting the service: %v", rerr)
		}
	case <-ctx.Done():
		t.Fatal("the service was never restarted (the kill did not happen?)")
	}
	if killErr != nil {
		t.Fatal(killErr)
	}
	if err != nil {
		t.Fatalf("the fetch failed although the service came back within its retries: %v", err)
	}
	if runC.got.Load() != int64(len(mo.blocks)) || runC.bad.Load() != 0 {
		t.Errorf("fetched %d intact blocks (%d corrupt), want %d", runC.got.Load(), runC.bad.Load(), len(mo.blocks))
	}
	if n := len(logC.matching("retrying fetch")); n == 0 {
		t.Error("the fetch went through a killed service without a retry")
	}
	rec.add(t, "failover (kill → restarted service → fetch done, retries)", done.Sub(runC.killedAt.Load()))
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("the fetch ran into the test's deadline")
	}
}
