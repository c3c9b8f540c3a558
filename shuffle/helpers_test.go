package shuffle

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"go.uber.org/goleak"
)

// ioModes is the table every service test runs over.
var ioModes = []string{"EPOLL", "NIO"}

// eachMode runs f once per transport io mode, as a subtest.
func eachMode(t *testing.T, f func(t *testing.T, mode string)) {
	t.Helper()
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) { f(t, mode) })
	}
}

// checkLeaks fails the test if goroutines started during it outlive it.
// Call it first in a test, so that its cleanup runs after every other
// cleanup (services and clients closed). netpoll's pollers and gopool's
// workers are process-wide by design.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore,
			goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
			goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		)
	})
}

// quietLogger drops logs unless SHUFFLE_TEST_LOG is set.
func quietLogger() *slog.Logger {
	if os.Getenv("SHUFFLE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConf is a shuffle conf for mode with small retry waits and a single
// registration attempt, plus "key=value" overrides.
func testConf(mode string, kv ...string) *sparkconf.Conf {
	c := sparkconf.New().
		Set("spark.shuffle.io.mode", mode).
		Set("spark.shuffle.io.retryWait", "100ms").
		Set("spark.shuffle.registration.maxAttempts", "1")
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			panic("testConf: not key=value: " + s)
		}
		c.Set(k, v)
	}
	return c
}

const localhost = "127.0.0.1"

// startService starts a service on port (0: any) and closes it at cleanup.
func startService(t *testing.T, conf *sparkconf.Conf, dbDir string, port int, boots ...netpoll.ServerBootstrap) *Service {
	t.Helper()
	svc, err := NewService(ServiceConfig{Conf: conf, Host: localhost, Port: port, DBDir: dbDir,
		Logger: quietLogger(), Bootstraps: boots})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { svc.Close() }) })
	return svc
}

// newClient makes a client for appID and closes it at cleanup.
func newClient(t *testing.T, conf *sparkconf.Conf, appID string) *Client {
	t.Helper()
	cl, err := NewClient(ClientConfig{Conf: conf, AppID: appID, TmpDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

const testSubDirs = 4

// newExecDirs returns n fresh local dirs of an executor.
func newExecDirs(t testing.TB, n int) []string {
	t.Helper()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("blockmgr-%d", i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

func execInfo(dirs []string) ExecutorShuffleInfo {
	return ExecutorShuffleInfo{LocalDirs: dirs, SubDirsPerLocalDir: testSubDirs, ShuffleManager: SortShuffleManager}
}

// partData is the content of reduce partition r of map m of shuffle s:
// varied lengths (some partitions empty), content naming the partition so
// that a mix-up shows.
func partData(s, m, r int) []byte {
	n := (m*7 + r*13 + s*3) % 23
	if n == 5 {
		return []byte{}
	}
	return bytes.Repeat([]byte(fmt.Sprintf("<s%d:m%d:r%d>", s, m, r)), 3+n*11)
}

// shuffleFiles is one shuffle's map outputs written with MapOutputWriter.
type shuffleFiles struct {
	shuffleID int32
	maps      int
	reduces   int
	data      func(m, r int) []byte
}

// writeShuffle writes maps × reduces partitions (content from data, or
// partData) into dirs and returns the layout.
func writeShuffle(t testing.TB, dirs []string, shuffleID int32, maps, reduces int, data func(m, r int) []byte) *shuffleFiles {
	t.Helper()
	if data == nil {
		data = func(m, r int) []byte { return partData(int(shuffleID), m, r) }
	}
	for m := 0; m < maps; m++ {
		w, err := NewMapOutputWriter(dirs, testSubDirs, shuffleID, int64(m))
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < reduces; r++ {
			if err := w.WritePartition(bytes.NewReader(data(m, r))); err != nil {
				t.Fatal(err)
			}
		}
		lens, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		for r, n := range lens {
			if n != int64(len(data(m, r))) {
				t.Fatalf("map %d partition %d: Commit says %d bytes, wrote %d", m, r, n, len(data(m, r)))
			}
		}
	}
	return &shuffleFiles{shuffleID: shuffleID, maps: maps, reduces: reduces, data: data}
}

func (s *shuffleFiles) id(m, r int) string { return ShuffleBlockID(s.shuffleID, int64(m), int32(r)) }

// batch returns partitions [start, end) of map m concatenated.
func (s *shuffleFiles) batch(m, start, end int) []byte {
	var out []byte
	for r := start; r < end; r++ {
		out = append(out, s.data(m, r)...)
	}
	return out
}

// expected maps every block id of the shuffle to its bytes.
func (s *shuffleFiles) expected() map[string][]byte {
	out := map[string][]byte{}
	for m := 0; m < s.maps; m++ {
		for r := 0; r < s.reduces; r++ {
			out[s.id(m, r)] = s.data(m, r)
		}
	}
	return out
}

// recListener records every callback of a fetch.
type recListener struct {
	mu     sync.Mutex
	order  []string // ids in callback order
	ok     map[string][]byte
	failed map[string]error
	dups   []string
	want   int
	done   chan struct{}
	// onSuccess, if set, runs inside OnBlockFetchSuccess after recording.
	onSuccess func(id string, data codec.ManagedBuffer)
}

func newRecListener(want int) *recListener {
	return &recListener{ok: map[string][]byte{}, failed: map[string]error{}, want: want, done: make(chan struct{})}
}

func (l *recListener) record(id string) (last bool) {
	if _, ok := l.ok[id]; ok {
		l.dups = append(l.dups, id)
	}
	if _, ok := l.failed[id]; ok {
		l.dups = append(l.dups, id)
	}
	l.order = append(l.order, id)
	return len(l.order) == l.want
}

func (l *recListener) OnBlockFetchSuccess(id string, data codec.ManagedBuffer) {
	b, err := data.Bytes()
	if err != nil {
		b = []byte("<Bytes failed: " + err.Error() + ">")
	}
	if int64(len(b)) != data.Size() {
		b = []byte(fmt.Sprintf("<Size %d but %d bytes>", data.Size(), len(b)))
	}
	l.mu.Lock()
	last := l.record(id)
	l.ok[id] = bytes.Clone(b)
	l.mu.Unlock()
	if l.onSuccess != nil {
		l.onSuccess(id, data)
	}
	if last {
		close(l.done)
	}
}

func (l *recListener) OnBlockFetchFailure(id string, err error) {
	l.mu.Lock()
	last := l.record(id)
	l.failed[id] = err
	l.mu.Unlock()
	if last {
		close(l.done)
	}
}

// wait blocks until want callbacks arrived (with a generous hang guard).
func (l *recListener) wait(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(60 * time.Second):
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("hang guard: only %d of %d block callbacks arrived: %v", len(l.order), l.want, l.order)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dups) > 0 {
		t.Fatalf("blocks reported more than once: %v", l.dups)
	}
}

func (l *recListener) successes() map[string][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]byte, len(l.ok))
	for k, v := range l.ok {
		out[k] = v
	}
	return out
}

func (l *recListener) snapshotOrder() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

// checkOK fails unless exactly the ids in want succeeded with their bytes.
func (l *recListener) checkOK(t *testing.T, want map[string][]byte) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, b := range want {
		got, ok := l.ok[id]
		if !ok {
			t.Errorf("block %s did not succeed (failure: %v)", id, l.failed[id])
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("block %s: got %d bytes %q..., want %d bytes %q...", id, len(got), head(got), len(b), head(b))
		}
	}
	for id := range l.ok {
		if _, ok := want[id]; !ok {
			t.Errorf("block %s succeeded but should have failed", id)
		}
	}
}

// checkFailed fails unless exactly ids failed, each error containing
// substr.
func (l *recListener) checkFailed(t *testing.T, substr string, ids ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
		err, ok := l.failed[id]
		if !ok {
			t.Errorf("block %s did not fail", id)
			continue
		}
		if !strings.Contains(err.Error(), substr) {
			t.Errorf("block %s failed with %q, want it to mention %q", id, err, substr)
		}
	}
	for id, err := range l.failed {
		if !want[id] {
			t.Errorf("block %s failed unexpectedly: %v", id, err)
		}
	}
}

func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// spy is a server bootstrap that records what reaches the service's
// handler (every RPC decoded, every chunk and stream request) and can
// intercept RPCs.
type spy struct {
	mu      sync.Mutex
	conns   int
	rpcs    []Message // decoded RPC payloads (nil: undecodable)
	chunks  []codec.StreamChunkID
	streams []string
	// onRPC, if set, sees RPC number n (1-based) first; returning true
	// means it answered (or dropped) the request itself.
	onRPC func(c *netpoll.Client, n int, m Message, r *netpoll.Responder) bool
	// onChunk, if set, runs before each chunk request is served, on the
	// service's chunk-fetch worker of connection c.
	onChunk func(c *netpoll.Client, id codec.StreamChunkID)
	rpcCh   chan Message // if set, decoded RPCs are also sent here (while it has room)
}

func (s *spy) DoBootstrap(setup *netpoll.Setup, h netpoll.RpcHandler) netpoll.RpcHandler {
	c := setup.Client()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	return &spyHandler{s: s, h: h, c: c}
}

func (s *spy) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *spy) numRPCs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rpcs)
}

func (s *spy) rpcList() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.rpcs...)
}

func (s *spy) chunkList() []codec.StreamChunkID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]codec.StreamChunkID(nil), s.chunks...)
}

func (s *spy) streamList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.streams...)
}

type spyHandler struct {
	s *spy
	h netpoll.RpcHandler
	c *netpoll.Client
}

func (h *spyHandler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	m, _ := Decode(msg) // Decode copies what it keeps
	h.s.mu.Lock()
	h.s.rpcs = append(h.s.rpcs, m)
	n := len(h.s.rpcs)
	on := h.s.onRPC
	h.s.mu.Unlock()
	if h.s.rpcCh != nil {
		select {
		case h.s.rpcCh <- m:
		default: // never block the service; numRPCs still counts it
		}
	}
	if on != nil && on(c, n, m, r) {
		return
	}
	h.h.Receive(c, msg, r)
}

func (h *spyHandler) ReceiveOneWay(c *netpoll.Client, msg []byte) { h.h.ReceiveOneWay(c, msg) }

func (h *spyHandler) StreamManager() netpoll.StreamManager {
	return &spyStreams{s: h.s, sm: h.h.StreamManager(), c: h.c}
}

// spyStreams passes everything to the service's stream manager, recording
// chunk and stream requests; it keeps the authorization and transfer
// accounting of the wrapped manager.
type spyStreams struct {
	s  *spy
	sm netpoll.StreamManager
	c  *netpoll.Client
}

func (w *spyStreams) GetChunk(streamID int64, i int32) (codec.ManagedBuffer, error) {
	id := codec.StreamChunkID{StreamID: streamID, ChunkIndex: i}
	w.s.mu.Lock()
	w.s.chunks = append(w.s.chunks, id)
	on := w.s.onChunk
	w.s.mu.Unlock()
	if on != nil {
		on(w.c, id)
	}
	return w.sm.GetChunk(streamID, i)
}

func (w *spyStreams) OpenStream(id string) (codec.ManagedBuffer, error) {
	w.s.mu.Lock()
	w.s.streams = append(w.s.streams, id)
	w.s.mu.Unlock()
	return w.sm.OpenStream(id)
}

func (w *spyStreams) ConnectionTerminated(c *netpoll.Client) { w.sm.ConnectionTerminated(c) }

func (w *spyStreams) CheckAuthorization(c *netpoll.Client, id int64) error {
	return w.sm.(netpoll.StreamAuthorizer).CheckAuthorization(c, id)
}
func (w *spyStreams) ChunkBeingSent(id int64)   { w.sm.(netpoll.TransferTracker).ChunkBeingSent(id) }
func (w *spyStreams) ChunkSent(id int64)        { w.sm.(netpoll.TransferTracker).ChunkSent(id) }
func (w *spyStreams) StreamBeingSent(id string) { w.sm.(netpoll.TransferTracker).StreamBeingSent(id) }
func (w *spyStreams) StreamSent(id string)      { w.sm.(netpoll.TransferTracker).StreamSent(id) }
func (w *spyStreams) ChunksBeingTransferred() int64 {
	return w.sm.(netpoll.TransferTracker).ChunksBeingTransferred()
}

// clientIDBootstrap marks every accepted connection as authenticated as id.
type clientIDBootstrap string

func (b clientIDBootstrap) DoBootstrap(s *netpoll.Setup, h netpoll.RpcHandler) netpoll.RpcHandler {
	s.SetClientID(string(b))
	return h
}

// conn returns the client's pooled transport connection to the service.
func conn(t *testing.T, cl *Client, port int) *netpoll.Client {
	t.Helper()
	c, err := cl.factory.CreateClient(localhost, port)
	if err != nil {
		t.Fatalf("connecting to the service: %v", err)
	}
	return c
}

// rawRPC sends payload as one RPC on the client's connection to port.
func rawRPC(t *testing.T, cl *Client, port int, payload []byte) ([]byte, error) {
	t.Helper()
	return conn(t, cl, port).SendRpcSync(payload, 30*time.Second)
}

// openStream sends an OpenBlocks/FetchShuffleBlocks message and returns the
// stream handle.
func openStream(t *testing.T, c *netpoll.Client, m Message) *StreamHandle {
	t.Helper()
	resp, err := c.SendRpcSync(Encode(m), 30*time.Second)
	if err != nil {
		t.Fatalf("opening a stream with %T: %v", m, err)
	}
	got, err := Decode(resp)
	if err != nil {
		t.Fatalf("decoding the reply to %T: %v", m, err)
	}
	h, ok := got.(*StreamHandle)
	if !ok {
		t.Fatalf("reply to %T is %T, want *StreamHandle", m, got)
	}
	return h
}

// chunkResult is the outcome of one chunk fetch.
type chunkResult struct {
	data []byte
	err  error
}

// fetchChunks fetches chunks 0..n-1 of a stream one after the other.
func fetchChunks(t *testing.T, c *netpoll.Client, streamID int64, n int) []chunkResult {
	t.Helper()
	out := make([]chunkResult, n)
	for i := 0; i < n; i++ {
		done := make(chan struct{})
		c.FetchChunk(streamID, int32(i), netpoll.ChunkFunc{
			Success: func(_ int32, buf []byte) { out[i].data = bytes.Clone(buf); close(done) },
			Failure: func(_ int32, err error) { out[i].err = err; close(done) },
		})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("hang guard: chunk %d of stream %d never answered", i, streamID)
		}
	}
	return out
}

// freePort returns a port nothing listens on (bound then released).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", localhost+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// listFiles returns the regular files under dirs, relative to their dir,
// sorted.
func listFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if de.Type().IsRegular() {
				rel, _ := filepath.Rel(d, p)
				out = append(out, filepath.Base(d)+"/"+rel)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// msgEqual compares messages field by field; bitmaps by content.
func msgEqual(a, b Message) bool {
	ma, ok1 := a.(*MergeStatuses)
	mb, ok2 := b.(*MergeStatuses)
	if ok1 != ok2 {
		return false
	}
	if !ok1 {
		return reflect.DeepEqual(a, b)
	}
	if ma.ShuffleID != mb.ShuffleID || ma.ShuffleMergeID != mb.ShuffleMergeID ||
		!reflect.DeepEqual(ma.ReduceIDs, mb.ReduceIDs) || !reflect.DeepEqual(ma.Sizes, mb.Sizes) ||
		len(ma.Bitmaps) != len(mb.Bitmaps) {
		return false
	}
	for i := range ma.Bitmaps {
		x, y := ma.Bitmaps[i], mb.Bitmaps[i]
		if x == nil {
			x = roaring.New()
		}
		if y == nil {
			y = roaring.New()
		}
		if !x.Equals(y) {
			return false
		}
	}
	return true
}

// blockIDsOf lists the block ids a fetch message asks for, in chunk order.
func blockIDsOf(m Message) []string {
	switch m := m.(type) {
	case *OpenBlocks:
		return m.BlockIDs
	case *FetchShuffleBlocks:
		var out []string
		for i, mapID := range m.MapIDs {
			if m.BatchFetchEnabled {
				out = append(out, fmt.Sprintf("shuffle_%d_%d_%d_%d", m.ShuffleID, mapID, m.ReduceIDs[i][0], m.ReduceIDs[i][1]))
				continue
			}
			for _, r := range m.ReduceIDs[i] {
				out = append(out, ShuffleBlockID(m.ShuffleID, mapID, r))
			}
		}
		return out
	}
	return nil
}

// discardWarn drops the resolver's per-block warnings.
func discardWarn(string, ...any) {}
