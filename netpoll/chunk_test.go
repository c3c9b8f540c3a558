package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"github.com/ember-rpc/ember/codec"
)

// ChunkFetchIntegrationSuite, and chunk fetches through
// OneForOneStreamManager.

const fixedStreamID = 1

// fixedChunks is the stream manager of Spark's ChunkFetchIntegrationSuite:
// stream 1 has a buffer chunk (0) and a file chunk (1); anything else
// fails.
type fixedChunks struct {
	buf  []byte
	path string
	size int64
	t    testing.TB

	mu   sync.Mutex
	sent []*countingBuffer
}

func (f *fixedChunks) GetChunk(streamID int64, idx int32) (codec.ManagedBuffer, error) {
	if streamID != fixedStreamID {
		return nil, fmt.Errorf("Unknown stream %d", streamID)
	}
	switch idx {
	case 0:
		b := newCounting(f.buf)
		f.mu.Lock()
		f.sent = append(f.sent, b)
		f.mu.Unlock()
		return b, nil
	case 1:
		return codec.NewFileSegment(f.path, 0, f.size, codec.DefaultFileOptions)
	}
	return nil, fmt.Errorf("Invalid chunk index: %d", idx)
}

func (f *fixedChunks) OpenStream(string) (codec.ManagedBuffer, error) { return nil, nil }
func (f *fixedChunks) ConnectionTerminated(*Client)                   {}

type fetchFixture struct {
	bufChunk, fileChunk []byte
	path                string
}

func newFetchFixture(t *testing.T) *fetchFixture {
	f := &fetchFixture{bufChunk: randBytes(100000, 11), fileChunk: randBytes(1<<20+333, 12)}
	f.path = writeTempFile(t, f.fileChunk)
	return f
}

// fetch asks for the chunks of stream 1 at once on a new environment and
// returns what came back, plus the stream manager.
func (f *fetchFixture) fetch(t *testing.T, mode IOMode, idxs ...int32) (map[int32]chunkResult, *fixedChunks, *Client) {
	sm := &fixedChunks{buf: f.bufChunk, path: f.path, size: int64(len(f.fileChunk)), t: t}
	e := newEnv(t, testConf(t, mode), &testHandler{sm: sm})
	c := e.client(t)
	cb := newChunks()
	for _, i := range idxs {
		c.FetchChunk(fixedStreamID, i, cb)
	}
	res := cb.waitN(t, len(idxs))
	if n := int(cb.calls.Load()); n != len(idxs) {
		t.Fatalf("%d callbacks for %d fetches", n, len(idxs))
	}
	return res, sm, c
}

func (f *fetchFixture) checkOK(t *testing.T, res chunkResult) {
	t.Helper()
	want := f.bufChunk
	if res.index == 1 {
		want = f.fileChunk
	}
	if res.err != nil {
		t.Fatalf("chunk %d failed: %v", res.index, res.err)
	}
	if !bytes.Equal(res.data, want) {
		t.Fatalf("chunk %d: got %d bytes, want %d (or contents differ)", res.index, len(res.data), len(want))
	}
}

func (f *fetchFixture) checkFailed(t *testing.T, c *Client, res chunkResult) {
	t.Helper()
	mustContain(t, res.err, fmt.Sprintf("Invalid chunk index: %d", res.index))
	var re *RemoteError
	if !errors.As(res.err, &re) || re.Addr != c.RemoteAddr() {
		t.Fatalf("want a ChunkFetchFailure from %s, got %#v", c.RemoteAddr(), res.err)
	}
	mustContain(t, re, fmt.Sprintf("%d_%d", fixedStreamID, res.index))
}

func TestFetchBufferChunk(t *testing.T) {
	f := newFetchFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			res, sm, _ := f.fetch(t, mode, 0)
			f.checkOK(t, res[0])
			sm.mu.Lock()
			sent := sm.sent[0]
			sm.mu.Unlock()
			waitFor(t, "the chunk buffer to be released", func() bool { return sent.releases.Load() == 1 })
		})
	}
}

func TestFetchFileChunk(t *testing.T) {
	f := newFetchFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			res, _, _ := f.fetch(t, mode, 1)
			f.checkOK(t, res[1])
		})
	}
}

func TestFetchNonExistentChunk(t *testing.T) {
	f := newFetchFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			res, _, c := f.fetch(t, mode, 12345)
			f.checkFailed(t, c, res[12345])
		})
	}
}

func TestFetchBothChunks(t *testing.T) {
	f := newFetchFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			res, _, _ := f.fetch(t, mode, 0, 1)
			f.checkOK(t, res[0])
			f.checkOK(t, res[1])
		})
	}
}

func TestFetchChunkAndNonExistent(t *testing.T) {
	f := newFetchFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			res, _, c := f.fetch(t, mode, 0, 12345)
			f.checkOK(t, res[0])
			f.checkFailed(t, c, res[12345])
		})
	}
}

// TestFetchMultiChunkFile: a file cut into many segments (one empty) is
// fetched chunk by chunk, byte for byte, through sendfile.
// cutChunks is the file's regions between consecutive cuts, one chunk each.
func cutChunks(t *testing.T, path string, cuts []int64) BufferChunks {
	var src BufferChunks
	for i := 0; i+1 < len(cuts); i++ {
		src = append(src, fileSegment(t, path, cuts[i], cuts[i+1]-cuts[i]))
	}
	return src
}

func TestFetchMultiChunkFile(t *testing.T) {
	data := randBytes(5<<20+4097, 21)
	path := writeTempFile(t, data)
	cuts := []int64{0, 1, 4096, 4096, 1 << 20, 3<<20 + 5, 5<<20 + 17, int64(len(data))}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			e := newEnv(t, testConf(t, mode), &testHandler{sm: sm})
			c := e.client(t)
			src := cutChunks(t, path, cuts)
			sid := sm.RegisterStream("app", src, nil)
			cb := newChunks()
			for i := range src {
				c.FetchChunk(sid, int32(i), cb)
			}
			got := cb.waitN(t, len(src))
			var all []byte
			for i := range src {
				r := got[int32(i)]
				if r.err != nil {
					t.Fatalf("chunk %d: %v", i, r.err)
				}
				if want := data[cuts[i]:cuts[i+1]]; !bytes.Equal(r.data, want) {
					t.Fatalf("chunk %d: %d bytes, want %d", i, len(r.data), len(want))
				}
				all = append(all, r.data...)
			}
			if !bytes.Equal(all, data) {
				t.Fatal("the chunks do not add up to the file")
			}
			if n := sm.NumStreams(); n != 0 {
				t.Fatalf("a fully read stream is still registered (%d)", n)
			}
			waitFor(t, "the transfer count to drop to zero", func() bool { return sm.ChunksBeingTransferred() == 0 })
		})
	}
}

// TestFetchChunkErrors: OneForOneStreamManager's refusals reach the client
// as ChunkFetchFailures for those chunks only.
func TestFetchChunkErrors(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			e := newEnv(t, testConf(t, mode), &testHandler{sm: sm})
			c := e.client(t)
			fetch := func(sid int64, idx int32) chunkResult {
				cb := newChunks()
				c.FetchChunk(sid, idx, cb)
				return cb.wait(t)
			}

			sid := sm.RegisterStream("app", BufferChunks{codec.NewBytes([]byte("c0")), nil, codec.NewBytes([]byte("c2"))}, nil)
			// Out of range (and out of order): refused, the stream is intact.
			mustContain(t, fetch(sid, 7).err, "Received out-of-order chunk index 7 (expected 0)")
			if r := fetch(sid, 0); r.err != nil || string(r.data) != "c0" {
				t.Fatalf("chunk 0: %q %v", r.data, r.err)
			}
			// A chunk the source cannot give fails alone; later chunks are
			// still served.
			if r := fetch(sid, 1); r.err == nil {
				t.Fatalf("a missing chunk succeeded with %q", r.data)
			}
			if r := fetch(sid, 2); r.err != nil || string(r.data) != "c2" {
				t.Fatalf("chunk 2: %q %v", r.data, r.err)
			}
			// The stream is gone once read.
			mustContain(t, fetch(sid, 3).err, fmt.Sprintf("Requested chunk not available since streamId %d is closed", sid))
			// Beyond the end of an empty stream.
			empty := sm.RegisterStream("app", BufferChunks{}, nil)
			mustContain(t, fetch(empty, 0).err, "Requested chunk index beyond end 0")
			if !c.IsActive() {
				t.Fatal("chunk failures closed the connection")
			}
		})
	}
}

type setClientID string

func (s setClientID) DoBootstrap(setup *Setup, h RpcHandler) RpcHandler {
	setup.SetClientID(string(s))
	return h
}

// TestChunkAuthorization: an authenticated connection reads only its own
// application's streams.
func TestChunkAuthorization(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			ctx := NewContext(testConf(t, mode), &testHandler{sm: sm})
			srv, err := ctx.NewServer("127.0.0.1", 0, setClientID("app-1"))
			if err != nil {
				t.Fatal(err)
			}
			f := ctx.NewClientFactory()
			t.Cleanup(func() { f.Close(); srv.Close(); ctx.Close() })
			c, err := f.CreateClient("127.0.0.1", srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			other := sm.RegisterStream("app-2", BufferChunks{codec.NewBytes([]byte("secret"))}, nil)
			own := sm.RegisterStream("app-1", BufferChunks{codec.NewBytes([]byte("mine"))}, nil)
			cb := newChunks()
			c.FetchChunk(other, 0, cb)
			r := cb.wait(t)
			mustContain(t, r.err, "not authorized", "app-1")
			c.FetchChunk(own, 0, cb)
			if r := cb.wait(t); r.err != nil || string(r.data) != "mine" {
				t.Fatalf("own stream: %q %v", r.data, r.err)
			}
		})
	}
}

// alignedChunks records, for each chunk, its bytes and whether its first
// byte was on a page boundary of the client's receive buffer.
type alignedChunks struct {
	mu      sync.Mutex
	data    map[int32][]byte
	aligned map[int32]bool
	done    chan struct{}
	want    int
}

func (a *alignedChunks) OnSuccess(i int32, buf []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.data[i] = bytes.Clone(buf)
	a.aligned[i] = uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%4096 == 0
	if len(a.data) == a.want {
		close(a.done)
	}
}

func (a *alignedChunks) OnFailure(i int32, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.data[i] = nil
	if len(a.data) == a.want {
		close(a.done)
	}
}

// TestLargeChunkBodyPageAligned: a chunk received in a frame larger than
// the pass buffer starts on a page boundary (a body a few bytes past the
// source's page offset halves the kernel's copy speed, see bigBuf), with
// small frames and chunks of other sizes mixed in, one at a time and all
// at once.
func TestLargeChunkBodyPageAligned(t *testing.T) {
	data := randBytes(3<<20, 31)
	path := writeTempFile(t, data)
	cuts := []int64{0, 1 << 20, 1<<20 + 100, 1<<20 + 70000, 2 << 20, 2<<20 + 65536 + 5, 3 << 20}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			e := newEnv(t, testConf(t, mode), &testHandler{sm: sm})
			c := e.client(t)
			for _, together := range []bool{false, true} {
				src := cutChunks(t, path, cuts)
				sid := sm.RegisterStream("app", src, nil)
				cb := &alignedChunks{data: map[int32][]byte{}, aligned: map[int32]bool{}, done: make(chan struct{}), want: len(src)}
				for i := range src {
					c.FetchChunk(sid, int32(i), cb)
					if !together {
						// A small frame between large ones.
						if _, err := c.SendRpcSync([]byte("ping"), safetyWait); err != nil {
							t.Fatal(err)
						}
					}
				}
				<-cb.done
				for i := range src {
					want := data[cuts[i]:cuts[i+1]]
					if !bytes.Equal(cb.data[int32(i)], want) {
						t.Fatalf("together=%v chunk %d: %d bytes, want %d (or contents differ)", together, i, len(cb.data[int32(i)]), len(want))
					}
					if len(want) > readBufSize && !cb.aligned[int32(i)] {
						t.Errorf("together=%v chunk %d (%d bytes): body not page-aligned", together, i, len(want))
					}
				}
			}
		})
	}
}
