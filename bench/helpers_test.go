package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

const (
	// chunkSize is the size of one fetched chunk (and one raw sendfile
	// region).
	chunkSize = 1 << 20
	// smallFileSize is the data file used with -short or when a run needs
	// few chunks (b.N <= smallFileChunks): smoke runs stay fast.
	smallFileSize   = 64 << 20
	smallFileChunks = smallFileSize / chunkSize
	// bigFileSize is the chunk-fetch / raw-sendfile working set otherwise.
	bigFileSize = 1 << 30
	// streamSize is the size of one streamed file (smallFileSize in -short).
	streamSize = 256 << 20
	// chunksPerStream is how many chunks one registered stream holds (one
	// OpenBlocks-like batch).
	chunksPerStream = 64
	// rpcTimeout is the timeout given to SendRpcSync.
	rpcTimeout = 30 * time.Second
	// streamName is the named stream BenchmarkStream asks for.
	streamName = "/bench/data.bin"
	// minRunLimit is the least time one run (one b.N) of a benchmark may
	// take before its watchdog aborts it; see runLimit.
	minRunLimit = 2 * time.Minute
)

// modes are the two Ember I/O engines.
var modes = []netpoll.IOMode{netpoll.EPOLL, netpoll.NIO}

// payloadSizes are the RPC / ping-pong payload sizes.
var payloadSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"4KiB", 4 << 10}}

// epoch is the origin of nanotime.
var epoch = time.Now()

// nanotime is a monotonic clock in nanoseconds (no allocation).
func nanotime() int64 { return int64(time.Since(epoch)) }

// logger keeps Ember's debug and info chatter out of the benchmark output.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func TestMain(m *testing.M) {
	code := m.Run()
	removeDataFiles()
	removeEmberBinary()
	os.Exit(code)
}

// ---- data files ----

// files are the page-cached data files made by this process, by size.
var files struct {
	mu   sync.Mutex
	made map[int64]string
}

// dataFile returns a file of at least size bytes and its size: the
// smallest one this process already made that is large enough, else a new
// one of exactly size bytes in os.TempDir(), written, synced and read once
// so that it sits in the page cache. Files are removed when the process
// ends (TestMain).
func dataFile(b *testing.B, size int64) (string, int64) {
	b.Helper()
	files.mu.Lock()
	defer files.mu.Unlock()
	var best int64
	for s := range files.made {
		if s >= size && (best == 0 || s < best) {
			best = s
		}
	}
	if best != 0 {
		return files.made[best], best
	}
	path, err := makeDataFile(size)
	if err != nil {
		b.Fatal(err)
	}
	if files.made == nil {
		files.made = make(map[int64]string)
	}
	files.made[size] = path
	return path, size
}

func makeDataFile(size int64) (path string, err error) {
	f, err := os.CreateTemp("", fmt.Sprintf("ember-bench-%dMiB-*.bin", size>>20))
	if err != nil {
		return "", err
	}
	path = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	block := make([]byte, chunkSize)
	r := rand.New(rand.NewPCG(uint64(size), 42))
	for i := 0; i+8 <= len(block); i += 8 {
		binary.LittleEndian.PutUint64(block[i:], r.Uint64())
	}
	for off := int64(0); off < size; off += chunkSize {
		// Stamp each block so no two are alike.
		binary.BigEndian.PutUint64(block, uint64(off))
		n := min(int64(len(block)), size-off)
		if _, err := f.Write(block[:n]); err != nil {
			return "", err
		}
	}
	// Sync, so that no writeback of dirty pages runs under the benchmarks.
	if err := f.Sync(); err != nil {
		return "", err
	}
	// Read it once: the benchmarks measure the transport, not the disk.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := io.CopyBuffer(io.Discard, f, block); err != nil {
		return "", err
	}
	return path, f.Close()
}

func removeDataFiles() {
	files.mu.Lock()
	defer files.mu.Unlock()
	for _, p := range files.made {
		os.RemoveAll(p)
	}
	files.made = nil
}

// chunkFileSize is the data file a chunk benchmark uses for a run of n
// chunks: the small file with -short or when n is tiny, else the big one.
func chunkFileSize(n int) int64 {
	if testing.Short() || n <= smallFileChunks {
		return smallFileSize
	}
	return bigFileSize
}

// ---- metrics ----

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// firstError keeps the first error reported from any goroutine.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// ---- watchdog ----

// runLimit bounds one run of a benchmark: two minutes, or three times
// -benchtime when that is a longer duration.
func runLimit() time.Duration {
	limit := minRunLimit
	if f := flag.Lookup("test.benchtime"); f != nil {
		s := f.Value.String()
		if !strings.HasSuffix(s, "x") {
			if d, err := time.ParseDuration(s); err == nil && 3*d > limit {
				limit = 3 * d
			}
		}
	}
	return limit
}

// watchdog aborts a run that makes no progress: after runLimit it calls
// abort, which must make every waiting goroutine return (by closing the
// connections), and check then fails the benchmark.
type watchdog struct {
	t     *time.Timer
	limit time.Duration
	fired atomic.Bool
}

func startWatchdog(b *testing.B, abort func()) *watchdog {
	w := &watchdog{limit: runLimit()}
	w.t = time.AfterFunc(w.limit, func() {
		w.fired.Store(true)
		abort()
	})
	b.Cleanup(func() { w.t.Stop() })
	return w
}

// check fails the benchmark if the watchdog fired, else if err is set.
func (w *watchdog) check(b *testing.B, err error) {
	b.Helper()
	if w.fired.Load() {
		b.Fatalf("run of %d ops did not finish within %v; connections closed (last error: %v)", b.N, w.limit, err)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// ---- Ember environment ----

// emberEnv is a server and a client factory on one Context, on loopback.
type emberEnv struct {
	ctx     *netpoll.Context
	srv     *netpoll.Server
	factory *netpoll.ClientFactory
}

// newEmber starts a server in mode served by h; everything is closed by
// b.Cleanup (the factory, then the server, then the context).
//
// kv are extra settings as "key=value" (spark.authenticate, spark.ssl.rpc.*
// and so on): both ends get them.
func newEmber(b *testing.B, mode netpoll.IOMode, h netpoll.RpcHandler, kv ...string) *emberEnv {
	b.Helper()
	sc := sparkconf.New().Set("spark.bench.io.mode", string(mode))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		sc.Set(k, v)
	}
	conf, err := netpoll.NewConf("bench", sc, "")
	if err != nil {
		b.Fatal(err)
	}
	sec, err := auth.Configure(sc, "bench", "bench", logger) // streams are registered for app "bench"
	if err != nil {
		b.Fatal(err)
	}
	ctx := netpoll.NewContext(conf, h, append(sec.ContextOptions(), netpoll.WithLogger(logger))...)
	srv, err := ctx.NewServer("127.0.0.1", 0, sec.Server...)
	if err != nil {
		ctx.Close()
		b.Fatal(err)
	}
	e := &emberEnv{ctx: ctx, srv: srv, factory: ctx.NewClientFactory(sec.Client...)}
	b.Cleanup(func() {
		e.factory.Close()
		e.srv.Close()
		e.ctx.Close()
	})
	return e
}

// client returns the factory's pooled client for the server (Spark's one
// connection per peer).
func (e *emberEnv) client(b *testing.B) *netpoll.Client {
	b.Helper()
	c, err := e.factory.CreateClient("127.0.0.1", e.srv.Port())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// unmanaged returns a new connection of its own, closed by b.Cleanup.
func (e *emberEnv) unmanaged(b *testing.B) *netpoll.Client {
	b.Helper()
	c, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); <-c.Done() })
	return c
}

// benchHandler echoes RPCs, counts one-way messages, and serves chunks
// (registered streams) and one named stream (a file segment).
type benchHandler struct {
	sm      *netpoll.OneForOneStreamManager
	streams *benchStreams

	// one-way counting: done gets a signal when count reaches target.
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newBenchHandler() *benchHandler {
	h := &benchHandler{sm: netpoll.NewOneForOneStreamManager(), done: make(chan struct{}, 1)}
	h.streams = &benchStreams{OneForOneStreamManager: h.sm}
	h.target.Store(-1)
	return h
}

// Receive echoes msg. msg is valid only during the call, so the echo is a
// copy (one allocation per RPC, counted in allocs/op).
func (h *benchHandler) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(bytes.Clone(msg))
}

// ReceiveOneWay counts; reaching the target signals done.
func (h *benchHandler) ReceiveOneWay(*netpoll.Client, []byte) {
	if h.count.Add(1) == h.target.Load() {
		select {
		case h.done <- struct{}{}:
		default:
		}
	}
}

// expectOneWay resets the count and sets the number of messages awaited.
func (h *benchHandler) expectOneWay(n int64) {
	h.target.Store(-1)
	h.count.Store(0)
	select {
	case <-h.done:
	default:
	}
	h.target.Store(n)
}

func (h *benchHandler) StreamManager() netpoll.StreamManager { return h.streams }

// benchStreams is the OneForOneStreamManager (chunks, transfer tracking)
// plus one named stream: streamName, a file segment sent with sendfile.
type benchStreams struct {
	*netpoll.OneForOneStreamManager
	mu   sync.Mutex
	path string
	size int64
}

func (s *benchStreams) setFile(path string, size int64) {
	s.mu.Lock()
	s.path, s.size = path, size
	s.mu.Unlock()
}

// OpenStream serves streamName; other names go to the chunk manager.
func (s *benchStreams) OpenStream(id string) (codec.ManagedBuffer, error) {
	if id != streamName {
		return s.OneForOneStreamManager.OpenStream(id)
	}
	s.mu.Lock()
	path, size := s.path, s.size
	s.mu.Unlock()
	if path == "" {
		return nil, nil
	}
	fs, err := codec.NewFileSegment(path, 0, size, codec.DefaultFileOptions)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// fileChunks is a stream of n 1 MiB chunks of a file, starting at chunk
// first and wrapping at total; each chunk is a lazily opened FileSegment
// built when it is asked for, as Spark's block resolvers do.
type fileChunks struct {
	path         string
	first, total int64
	n            int
}

func (f *fileChunks) NumChunks() int { return f.n }

func (f *fileChunks) Chunk(i int) (codec.ManagedBuffer, error) {
	off := ((f.first + int64(i)) % f.total) * chunkSize
	fs, err := codec.NewFileSegment(f.path, off, chunkSize, codec.DefaultFileOptions)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

func (f *fileChunks) Discard(int) {}

// ---- reusable callbacks (no allocation per operation) ----

var errShortReply = errors.New("bench: reply has the wrong length")

// rpcWaiter is a reusable RpcResponseCallback: it checks the reply length
// and signals ch.
type rpcWaiter struct {
	want int
	err  error
	ch   chan struct{}
}

func newRPCWaiter(want int) *rpcWaiter {
	return &rpcWaiter{want: want, ch: make(chan struct{}, 1)}
}

func (w *rpcWaiter) OnSuccess(resp []byte) {
	if len(resp) != w.want {
		w.err = errShortReply
	} else {
		w.err = nil
	}
	w.ch <- struct{}{}
}

func (w *rpcWaiter) OnFailure(err error) {
	w.err = err
	w.ch <- struct{}{}
}

var errChunkLength = errors.New("bench: chunk has the wrong length")

// chunkWaiter is a reusable ChunkReceivedCallback: it only checks the
// chunk's length (no copy) and reports on done, which holds as many
// results as may be in flight.
type chunkWaiter struct {
	done chan error
}

func (w *chunkWaiter) OnSuccess(_ int32, buf []byte) {
	if len(buf) != chunkSize {
		w.done <- errChunkLength
		return
	}
	w.done <- nil
}

func (w *chunkWaiter) OnFailure(_ int32, err error) { w.done <- err }

// streamWaiter is a reusable StreamCallback that counts bytes without
// copying them.
type streamWaiter struct {
	want int64
	got  int64
	done chan error
}

func (w *streamWaiter) OnData(_ string, p []byte) error {
	w.got += int64(len(p))
	return nil
}

func (w *streamWaiter) OnComplete(id string) error {
	got := w.got
	w.got = 0
	if got != w.want {
		w.done <- fmt.Errorf("bench: stream %s: got %d bytes, want %d", id, got, w.want)
		return nil
	}
	w.done <- nil
	return nil
}

func (w *streamWaiter) OnFailure(_ string, err error) {
	w.got = 0
	w.done <- err
}

// randomPayload returns n random bytes.
func randomPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rand.Uint32())
	}
	return p
}
