package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
)

var sentinel = []byte("SENTINEL-must-never-be-served")

// sentinelDirs lays out files outside any requester's registered dirs:
// a plain file, and sort-shuffle files (shuffle 0, maps 0-1) whose every
// partition is the sentinel, in case a path could be steered there.
func sentinelDirs(t *testing.T) []string {
	t.Helper()
	dirs := newExecDirs(t, 2)
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "sentinel"), sentinel, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeShuffle(t, dirs, 0, 2, 3, func(int, int) []byte { return sentinel })
	return dirs
}

// checkNoSentinel fails if any fetched bytes hold the sentinel.
func checkNoSentinel(t *testing.T, what string, data ...[]byte) {
	t.Helper()
	for _, b := range data {
		if bytes.Contains(b, sentinel) {
			t.Errorf("%s: served a file outside the registered dirs", what)
		}
	}
}

// TestHostileBlockIDs: ids that try to leave the registered dirs, huge or
// negative numbers: a clear failure to the requester, nothing served from
// outside the executor's dirs.
func TestHostileBlockIDs(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.service.fetch.rdd.enabled=true")
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		outside := sentinelDirs(t)
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 2, 3, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		// The sentinel's executor, of another application. (Without
		// authentication a client naming that application and executor is
		// served, as in Spark; TestAuthenticatedClientMismatch covers it.)
		if err := svc.RegisterExecutor("victim", "v", execInfo(outside)); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(FilePath(dirs, testSubDirs, DataFileName(0, 0)), filepath.Join(outside[0], "sentinel"))
		hostile := []string{
			"../sentinel", rel, filepath.Join(outside[0], "sentinel"), "/etc/passwd",
			"shuffle_0_0_0/../../sentinel", "shuffle_0_0_../../sentinel", "shuffle_0_../" + rel + "_0",
			"rdd_../../sentinel_0", "rdd_0_" + rel, "rdd_1_" + filepath.Join(outside[0], "sentinel"),
			"shuffle_0_-1_0", "shuffle_0_0_-1", "shuffle_0_0_2147483647", "shuffle_0_0_3",
			"shuffle_0_9223372036854775807_0", "shuffle_0_-9223372036854775808_0", "shuffle_-2147483648_0_0",
			"shuffle_0_0_99999999999999999999", "rdd_-1_-1", "rdd_2147483647_2147483647",
		}
		c := conn(t, cl, svc.Port())
		for _, id := range hostile {
			resp, err := c.SendRpcSync(Encode(&OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{id}}), 30*time.Second)
			if err != nil {
				var re *netpoll.RemoteError
				if !errors.As(err, &re) {
					t.Errorf("%q: %v, want an RPC failure", id, err)
				}
				continue
			}
			m, _ := Decode(resp)
			h, ok := m.(*StreamHandle)
			if !ok || h.NumChunks != 1 {
				t.Errorf("%q: reply %#v", id, m)
				continue
			}
			r := fetchChunks(t, c, h.StreamID, 1)[0]
			checkNoSentinel(t, id, r.data)
			if r.err == nil {
				t.Errorf("%q: served %d bytes, want a failure", id, len(r.data))
			}
		}

		// The same through FetchShuffleBlocks, which takes numbers.
		for name, m := range map[string]*FetchShuffleBlocks{
			"negative map":        {MapIDs: []int64{-1}, ReduceIDs: [][]int32{{0}}},
			"huge map":            {MapIDs: []int64{math.MaxInt64}, ReduceIDs: [][]int32{{0}}},
			"min map":             {MapIDs: []int64{math.MinInt64}, ReduceIDs: [][]int32{{0}}},
			"negative reduce":     {MapIDs: []int64{0}, ReduceIDs: [][]int32{{-1}}},
			"huge reduce":         {MapIDs: []int64{0}, ReduceIDs: [][]int32{{math.MaxInt32}}},
			"min reduce":          {MapIDs: []int64{0}, ReduceIDs: [][]int32{{math.MinInt32}}},
			"reversed batch":      {MapIDs: []int64{0}, ReduceIDs: [][]int32{{2, 1}}, BatchFetchEnabled: true},
			"huge batch":          {MapIDs: []int64{0}, ReduceIDs: [][]int32{{0, math.MaxInt32}}, BatchFetchEnabled: true},
			"negative batch":      {MapIDs: []int64{0}, ReduceIDs: [][]int32{{-3, 1}}, BatchFetchEnabled: true},
			"negative shuffle":    {ShuffleID: -1, MapIDs: []int64{0}, ReduceIDs: [][]int32{{0}}},
			"other app, our exec": {AppID: "victim", ExecID: "exec-1", MapIDs: []int64{0}, ReduceIDs: [][]int32{{0}}},
			"our app, their exec": {ExecID: "v", MapIDs: []int64{0}, ReduceIDs: [][]int32{{0}}},
		} {
			if m.AppID == "" {
				m.AppID = "app-1"
			}
			if m.ExecID == "" {
				m.ExecID = "exec-1"
			}
			resp, err := c.SendRpcSync(Encode(m), 30*time.Second)
			if err != nil {
				continue // refused outright
			}
			got, _ := Decode(resp)
			h := got.(*StreamHandle)
			for i, r := range fetchChunks(t, c, h.StreamID, int(h.NumChunks)) {
				checkNoSentinel(t, name, r.data)
				if r.err == nil {
					t.Errorf("%s: chunk %d served %d bytes, want a failure", name, i, len(r.data))
				}
			}
		}
		// The executor's real blocks are still served.
		l := newRecListener(2)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 0), sh.id(1, 2)}, nil, l)
		l.wait(t)
		l.checkOK(t, pick(sh.expected(), []string{sh.id(0, 0), sh.id(1, 2)}))
		// Registration cannot point the service at relative paths.
		if _, err := rawRPC(t, cl, svc.Port(), Encode(&RegisterExecutor{AppID: "app-1", ExecID: "evil",
			Info: ExecutorShuffleInfo{LocalDirs: []string{"../../"}, SubDirsPerLocalDir: 1}})); err == nil {
			t.Errorf("a relative local dir was accepted")
		}
	})
}

// TestCorruptShuffleFiles: a short or inconsistent index, a data file
// shorter than its index says, a missing data file: those blocks fail,
// the others are served.
func TestCorruptShuffleFiles(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 6, 3, nil)
		idx := func(m int) string { return FilePath(dirs, testSubDirs, IndexFileName(0, int64(m))) }
		data := func(m int) string { return FilePath(dirs, testSubDirs, DataFileName(0, int64(m))) }
		if err := os.Truncate(idx(1), 12); err != nil { // not whole longs
			t.Fatal(err)
		}
		writeIndex(t, idx(2), 0, 50, 20, 90) // decreasing
		writeIndex(t, idx(3), 7, 20, 40, 60) // not starting at 0
		if err := os.Truncate(data(4), 5); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(data(5)); err != nil {
			t.Fatal(err)
		}
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		for m, substr := range map[int]string{1: "corrupt index", 2: "corrupt index", 3: "corrupt index", 4: "past the end", 5: "no such file"} {
			id := sh.id(m, 2)
			l := newRecListener(1)
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{id}, nil, l)
			l.wait(t)
			l.checkFailed(t, substr, id)
		}
		ids := []string{sh.id(0, 0), sh.id(0, 1), sh.id(0, 2)}
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, pick(sh.expected(), ids))
	})
}

// TestAuthenticatedClientMismatch: when the connection authenticated as
// another application, every request naming this one is refused.
func TestAuthenticatedClientMismatch(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0, clientIDBootstrap("other-app"))
		// app-1's files hold the sentinel; other-app's are its own.
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(sentinelDirs(t))); err != nil {
			t.Fatal(err)
		}
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		cl := newClient(t, conf, "app-1")
		err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-2", execInfo(dirs))
		var re *netpoll.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "not authorized") {
			t.Errorf("RegisterExecutor: %v, want an RPC failure 'not authorized'", err)
		}
		if !strings.Contains(re.Msg, "Client for other-app not authorized for application app-1") {
			t.Errorf("failure %q does not name both applications", re.Msg)
		}
		ids := []string{sh.id(0, 0), sh.id(0, 1)}
		for _, old := range []bool{false, true} {
			cl.useOld = old
			l := newRecListener(len(ids))
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", ids, nil, l)
			l.wait(t)
			l.checkFailed(t, "not authorized", ids...)
			if len(l.ok) != 0 {
				t.Errorf("blocks of another application were served")
			}
		}
		// Nor can it read chunks by guessing a stream: it opens none.
		c := conn(t, cl, svc.Port())
		if _, err := c.SendRpcSync(Encode(&OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: ids}), 30*time.Second); err == nil {
			t.Errorf("OpenBlocks for another application opened a stream")
		}
		for name, m := range map[string]Message{
			"RemoveBlocks":             &RemoveBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{"rdd_0_0"}},
			"GetLocalDirsForExecutors": &GetLocalDirsForExecutors{AppID: "app-1", ExecIDs: []string{"exec-1"}},
			"DiagnoseCorruption":       &DiagnoseCorruption{AppID: "app-1", ExecID: "exec-1", Algorithm: "CRC32"},
		} {
			_, err := rawRPC(t, cl, svc.Port(), Encode(m))
			if !errors.As(err, &re) || !strings.Contains(re.Msg, "not authorized") {
				t.Errorf("%s: %v, want 'not authorized'", name, err)
			}
		}
		if svc.RegisteredExecutors() != 1 {
			t.Errorf("a refused registration was kept")
		}
		if svc.Metrics().BlocksServed.Load() != 0 {
			t.Errorf("%d blocks served to an unauthorized client", svc.Metrics().BlocksServed.Load())
		}
		// The application the connection authenticated as is served.
		own := newClient(t, conf, "other-app")
		if err := own.RegisterWithShuffleServer(localhost, svc.Port(), "exec-9", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		l := newRecListener(len(ids))
		own.FetchBlocks(localhost, svc.Port(), "exec-9", ids, nil, l)
		l.wait(t)
		l.checkOK(t, sh.expected())
	})
}

// seqIDs authenticates accepted connections, in order, as the given ids.
type seqIDs chan string

func (s seqIDs) DoBootstrap(setup *netpoll.Setup, h netpoll.RpcHandler) netpoll.RpcHandler {
	setup.SetClientID(<-s)
	return h
}

// TestStreamOfAnotherApplication: an authenticated client cannot read a
// stream opened by another application (and does not consume it).
func TestStreamOfAnotherApplication(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		ids := make(seqIDs, 2)
		ids <- "victim"
		ids <- "attacker"
		svc := startService(t, conf, "", 0, ids)
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		if err := svc.RegisterExecutor("victim", "v", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		victim := conn(t, newClient(t, conf, "victim"), svc.Port())
		h := openStream(t, victim, &OpenBlocks{AppID: "victim", ExecID: "v", BlockIDs: []string{sh.id(0, 0), sh.id(0, 1)}})
		attacker := conn(t, newClient(t, conf, "attacker"), svc.Port())
		r := fetchChunks(t, attacker, h.StreamID, 1)[0]
		checkNoSentinel(t, "attacker", r.data)
		if r.err == nil || !strings.Contains(r.err.Error(), "not authorized") || r.data != nil {
			t.Errorf("attacker's chunk fetch: %v, %d bytes; want 'not authorized'", r.err, len(r.data))
		}
		for i, r := range fetchChunks(t, victim, h.StreamID, 2) {
			if r.err != nil || !bytes.Equal(r.data, sh.data(0, i)) {
				t.Errorf("victim's chunk %d after the attempt: %v", i, r.err)
			}
		}
	})
}

// TestUnknownMessageTypes: every id that is not a request the service
// serves gets an RPC failure.
func TestUnknownMessageTypes(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		c := conn(t, cl, svc.Port())
		for id := -128; id < 128; id++ {
			switch MsgType(id) {
			case TypeOpenBlocks, TypeRegisterExecutor, TypeRemoveBlocks, TypeFetchShuffleBlocks,
				TypeGetLocalDirsForExecutors, TypeDiagnoseCorruption:
				continue // requests the service serves
			}
			_, err := c.SendRpcSync([]byte{byte(int8(id)), 0, 0, 0, 0}, 30*time.Second)
			var re *netpoll.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("type %d: %v, want an RPC failure", id, err)
			}
		}
		if !c.IsActive() {
			t.Errorf("the connection did not survive")
		}
	})
}

// ---- spark.shuffle.maxChunksBeingTransferred ----

// rawConn is a hand-driven client connection that reads only when told,
// with a small receive buffer: a large chunk stays in flight.
type rawConn struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, port int) *rawConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = setSmallRcvBuf(fd)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", net.JoinHostPort(localhost, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A hang guard, not a timing assertion.
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(m *codec.Message, body []byte) {
	r.t.Helper()
	b, err := codec.AppendHeader(nil, m, int64(len(body)))
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.c.Write(append(b, body...)); err != nil {
		r.t.Fatal(err)
	}
}

// readHeader reads one frame's length and its first n bytes after it.
func (r *rawConn) readHeader(n int) (frameLen int64, hdr []byte) {
	r.t.Helper()
	var lb [8]byte
	if _, err := io.ReadFull(r.c, lb[:]); err != nil {
		r.t.Fatalf("reading a frame length: %v", err)
	}
	hdr = make([]byte, n)
	if _, err := io.ReadFull(r.c, hdr); err != nil {
		r.t.Fatalf("reading a frame header: %v", err)
	}
	return int64(binary.BigEndian.Uint64(lb[:])), hdr
}

func TestMaxChunksBeingTransferred(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.maxChunksBeingTransferred=1", "spark.shuffle.io.sendBuffer=8192",
			"spark.shuffle.io.maxRetries=5")
		svc := startService(t, conf, "", 0)
		dirs := newExecDirs(t, 1)
		const big = 2 << 20
		sh := writeShuffle(t, dirs, 0, 1, 4, func(m, r int) []byte {
			if r == 0 {
				return bytes.Repeat([]byte("big!"), big/4)
			}
			return partData(0, m, r)
		})
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}

		// A: open a stream, ask for the big chunk and read only its header:
		// the service is now sending it and cannot finish.
		a := dialRaw(t, svc.Port())
		a.send(&codec.Message{Type: codec.TypeRpcRequest, RequestID: 1},
			Encode(&FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", MapIDs: []int64{0}, ReduceIDs: [][]int32{{0, 1, 2}}}))
		n, hdr := a.readHeader(1 + 8 + 4)
		body := make([]byte, n-8-13)
		if _, err := io.ReadFull(a.c, body); err != nil {
			t.Fatal(err)
		}
		var resp codec.Message
		if err := codec.DecodeFrame(append(hdr, body...), &resp); err != nil || resp.Type != codec.TypeRpcResponse {
			t.Fatalf("stream reply: %v %v", resp.Type, err)
		}
		m, err := Decode(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		sid := m.(*StreamHandle).StreamID
		a.send(&codec.Message{Type: codec.TypeChunkFetchRequest, Chunk: codec.StreamChunkID{StreamID: sid, ChunkIndex: 0}}, nil)
		n, hdr = a.readHeader(1 + 8 + 4)
		if codec.Type(hdr[0]) != codec.TypeChunkFetchSuccess || n != 8+1+12+big {
			t.Fatalf("chunk 0 header: type %d, frame length %d", hdr[0], n)
		}

		// B: a client asking for a chunk meanwhile has its connection
		// closed; the failure is an I/O error.
		confB := testConf(mode, "spark.shuffle.io.maxRetries=0")
		b := newClient(t, confB, "app-1")
		l := newRecListener(1)
		b.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 1)}, nil, l)
		l.wait(t)
		l.checkFailed(t, "", sh.id(0, 1))
		if err := l.failed[sh.id(0, 1)]; !IsRetryable(err) {
			t.Errorf("over the limit: %v, want a connection failure", err)
		}

		// A asks for the next chunk while the big one is still in flight:
		// its connection is closed and chunk 1 is never sent. (The NIO
		// engine aborts the big chunk's send; EPOLL lets a send in progress
		// finish before the close takes effect.)
		a.send(&codec.Message{Type: codec.TypeChunkFetchRequest, Chunk: codec.StreamChunkID{StreamID: sid, ChunkIndex: 1}}, nil)
		got, err := io.Copy(io.Discard, a.c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("hang guard: the connection over the limit was not closed (read %d bytes)", got)
		}
		if got > big {
			t.Errorf("read %d bytes after chunk 0's header (body %d): more than chunk 0 was sent", got, big)
		}

		// The service keeps serving new clients, one chunk at a time.
		c := newClient(t, conf, "app-1")
		for r := 0; r < 4; r++ {
			l := newRecListener(1)
			c.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, r)}, nil, l)
			l.wait(t)
			l.checkOK(t, map[string][]byte{sh.id(0, r): sh.data(0, r)})
		}
	})
}
