package netpoll

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// TransportResponseHandlerSuite: a Client facing a hand-driven peer
// (fakePeer), which answers with exactly the frames each test needs.

func fakeClient(t *testing.T, mode IOMode, h RpcHandler) (*Client, *fakePeer) {
	p := newFakePeer(t)
	if h == nil {
		h = &testHandler{}
	}
	c, _ := clientTo(t, testConf(t, mode), h, p.port())
	return c, p
}

// syncWith sends an RPC, answers it from the peer and waits for the answer:
// afterwards the client has handled every frame the peer sent before.
func syncWith(t *testing.T, c *Client, p *fakePeer) {
	t.Helper()
	cb := newRPC()
	c.SendRpc([]byte("sync"), cb)
	m := p.next()
	if m.Type != codec.TypeRpcRequest || string(m.Body) != "sync" {
		t.Fatalf("peer got %v %q, want the sync RPC", m.Type, m.Body)
	}
	p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: m.RequestID}, []byte("synced"))
	if got := string(cb.waitOK(t)); got != "synced" {
		t.Fatalf("sync got %q", got)
	}
}

// TestResponseUnknownIDsIgnored: responses nobody asked for are dropped
// (stream bytes skipped, framing intact); a known id completes exactly once.
func TestResponseUnknownIDsIgnored(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			cb := newRPC()
			c.SendRpc([]byte("a"), cb)
			req := p.next()
			if req.Type != codec.TypeRpcRequest || string(req.Body) != "a" {
				t.Fatalf("peer got %v %q", req.Type, req.Body)
			}
			id := req.RequestID
			p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: id + 1<<40}, []byte("not yours"))
			p.send(&codec.Message{Type: codec.TypeRpcFailure, RequestID: id + 2<<40, Error: "not yours either"}, nil)
			p.send(&codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: codec.StreamChunkID{StreamID: 99, ChunkIndex: 9}}, []byte("chunk"))
			p.send(&codec.Message{Type: codec.TypeChunkFetchFailure, Chunk: codec.StreamChunkID{StreamID: 99, ChunkIndex: 8}, Error: "x"}, nil)
			p.send(&codec.Message{Type: codec.TypeStreamResponse, Stream: "ghost"}, []byte("12345"))
			p.send(&codec.Message{Type: codec.TypeStreamFailure, Stream: "ghost", Error: "x"}, nil)
			p.send(&codec.Message{Type: codec.TypeMergedBlockMetaSuccess, RequestID: id + 3<<40, NumChunks: 1}, []byte("bitmap"))
			p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: id}, []byte("real"))
			p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: id}, []byte("duplicate"))
			p.send(&codec.Message{Type: codec.TypeRpcFailure, RequestID: id, Error: "late failure"}, nil)
			syncWith(t, c, p)
			if got := string(cb.waitOK(t)); got != "real" {
				t.Fatalf("got %q", got)
			}
			if n := cb.calls.Load(); n != 1 {
				t.Fatalf("callback called %d times", n)
			}
			if !c.IsActive() || c.NumOutstanding() != 0 {
				t.Fatalf("active %v, outstanding %d", c.IsActive(), c.NumOutstanding())
			}
		})
	}
}

// TestResponseFetchCallbacks: handleSuccessfulFetch / handleFailedFetch.
func TestResponseFetchCallbacks(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			ok, bad := newChunks(), newChunks()
			c.FetchChunk(1, 0, ok)
			c.FetchChunk(1, 1, bad)
			for i := range 2 {
				m := p.next()
				if m.Type != codec.TypeChunkFetchRequest || m.Chunk != (codec.StreamChunkID{StreamID: 1, ChunkIndex: int32(i)}) {
					t.Fatalf("peer got %v %+v", m.Type, m.Chunk)
				}
			}
			if n := c.NumOutstanding(); n != 2 {
				t.Fatalf("%d outstanding, want 2", n)
			}
			p.send(&codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: 0}}, []byte("zero"))
			p.send(&codec.Message{Type: codec.TypeChunkFetchFailure, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: 1}, Error: "gone"}, nil)
			p.send(&codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: 0}}, []byte("again"))
			p.send(&codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: 1}}, []byte("again"))
			syncWith(t, c, p)
			if r := ok.wait(t); r.err != nil || r.index != 0 || string(r.data) != "zero" {
				t.Fatalf("chunk 0: %+v", r)
			}
			r := bad.wait(t)
			mustContain(t, r.err, "gone", "1_1")
			if ok.calls.Load() != 1 || bad.calls.Load() != 1 || c.NumOutstanding() != 0 {
				t.Fatalf("calls %d/%d, outstanding %d", ok.calls.Load(), bad.calls.Load(), c.NumOutstanding())
			}
		})
	}
}

// TestResponseMergedBlockMeta: handleSuccessfulMergedBlockMeta /
// handleFailedMergedBlockMeta: the answer goes to the callback of its
// request id; a failure arrives as an RpcFailure with that id.
func TestResponseMergedBlockMeta(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			a, b := newMeta(), newMeta()
			idA := c.SendMergedBlockMetaReq("app", 1, 2, 3, a)
			idB := c.SendMergedBlockMetaReq("app", 1, 2, 4, b)
			for _, want := range []int64{idA, idB} {
				if m := p.next(); m.Type != codec.TypeMergedBlockMetaRequest || m.RequestID != want || m.AppID != "app" {
					t.Fatalf("peer got %v id %d app %q", m.Type, m.RequestID, m.AppID)
				}
			}
			// Answer in the other order.
			p.send(&codec.Message{Type: codec.TypeRpcFailure, RequestID: idB, Error: "meta failed"}, nil)
			p.send(&codec.Message{Type: codec.TypeMergedBlockMetaSuccess, RequestID: idA, NumChunks: 2}, []byte("bitmaps"))
			rb := b.wait(t)
			mustContain(t, rb.err, "meta failed")
			ra := a.wait(t)
			if ra.err != nil || ra.numChunks != 2 || string(ra.bitmaps) != "bitmaps" {
				t.Fatalf("success: %+v", ra)
			}
			syncWith(t, c, p)
			if a.calls.Load() != 1 || b.calls.Load() != 1 || c.NumOutstanding() != 0 {
				t.Fatalf("calls %d/%d, outstanding %d", a.calls.Load(), b.calls.Load(), c.NumOutstanding())
			}
		})
	}
}

// TestResponseActiveStreams: streams waiting for their response and the
// stream being received both count as outstanding.
func TestResponseActiveStreams(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			r1, r2 := newStreamRecorder(), newStreamRecorder()
			c.Stream("s1", r1)
			c.Stream("s2", r2)
			if n := c.NumOutstanding(); n != 2 {
				t.Fatalf("%d outstanding, want 2 waiting streams", n)
			}
			for _, want := range []string{"s1", "s2"} {
				if m := p.next(); m.Type != codec.TypeStreamRequest || m.Stream != want {
					t.Fatalf("peer got %v %q", m.Type, m.Stream)
				}
			}
			hdr, _ := codec.AppendHeader(nil, &codec.Message{Type: codec.TypeStreamResponse, Stream: "s1"}, 10)
			p.write(append(hdr, "0123"...))
			waitFor(t, "the first bytes of s1", func() bool { r1.mu.Lock(); defer r1.mu.Unlock(); return r1.n == 4 })
			if n := c.NumOutstanding(); n != 2 {
				t.Fatalf("%d outstanding, want 1 waiting + 1 being received", n)
			}
			p.write([]byte("456789"))
			if err := r1.wait(t); err != nil || string(r1.bytes()) != "0123456789" {
				t.Fatalf("s1: %q %v", r1.bytes(), err)
			}
			if n := c.NumOutstanding(); n != 1 {
				t.Fatalf("%d outstanding, want 1", n)
			}
			p.send(&codec.Message{Type: codec.TypeStreamFailure, Stream: "s2", Error: "s2 is broken"}, nil)
			mustContain(t, r2.wait(t), "s2 is broken")
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d outstanding, want 0", n)
			}
			if r1.completes.Load() != 1 || r1.failures.Load() != 0 || r2.completes.Load() != 0 || r2.failures.Load() != 1 {
				t.Fatal("stream callbacks not called exactly once")
			}
		})
	}
}

// outstandingSet puts one of each request kind in flight on c and checks
// the peer received them all.
type outstandingSet struct {
	rpc    *rpcCollector
	chunk  *chunkCollector
	stream *streamRecorder
	meta   *metaCollector
}

func sendAllKinds(t *testing.T, c *Client, p *fakePeer) *outstandingSet {
	t.Helper()
	s := &outstandingSet{rpc: newRPC(), chunk: newChunks(), stream: newStreamRecorder(), meta: newMeta()}
	c.SendRpc([]byte("rpc"), s.rpc)
	c.FetchChunk(7, 3, s.chunk)
	c.Stream("stream", s.stream)
	c.SendMergedBlockMetaReq("app", 1, 1, 1, s.meta)
	for _, want := range []codec.Type{codec.TypeRpcRequest, codec.TypeChunkFetchRequest, codec.TypeStreamRequest, codec.TypeMergedBlockMetaRequest} {
		if m := p.next(); m.Type != want {
			t.Fatalf("peer got %v, want %v", m.Type, want)
		}
	}
	if n := c.NumOutstanding(); n != 4 {
		t.Fatalf("%d outstanding, want 4", n)
	}
	return s
}

// failedAll checks every callback failed exactly once and returns the errors.
func (s *outstandingSet) failedAll(t *testing.T) []error {
	t.Helper()
	errs := []error{s.rpc.waitErr(t), s.chunk.wait(t).err, s.stream.wait(t), s.meta.wait(t).err}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("request %d succeeded", i)
		}
	}
	if s.rpc.calls.Load() != 1 || s.chunk.calls.Load() != 1 || s.stream.failures.Load() != 1 || s.stream.completes.Load() != 0 || s.meta.calls.Load() != 1 {
		t.Fatal("a callback was not called exactly once")
	}
	return errs
}

// TestClearAllOutstandingOnClose: when the peer closes, every outstanding
// RPC, fetch, stream and meta request fails with an error naming the peer.
func TestClearAllOutstandingOnClose(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newObservingHandler(&testHandler{})
			c, p := fakeClient(t, mode, h)
			s := sendAllKinds(t, c, p)
			p.closeConn()
			for _, err := range s.failedAll(t) {
				mustContain(t, err, "connection from "+c.RemoteAddr()+" closed")
			}
			waitDone(t, c.Done(), "teardown")
			if c.IsActive() || c.NumOutstanding() != 0 {
				t.Fatalf("active %v, outstanding %d", c.IsActive(), c.NumOutstanding())
			}
			if n := h.inactive.Load(); n != 1 {
				t.Fatalf("ChannelInactive called %d times", n)
			}
		})
	}
}

// TestClearAllOutstandingOnLocalClose: Close fails everything too.
func TestClearAllOutstandingOnLocalClose(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			s := sendAllKinds(t, c, p)
			c.Close()
			for _, err := range s.failedAll(t) {
				mustContain(t, err, c.RemoteAddr())
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("want ErrClosed, got %v", err)
				}
			}
		})
	}
}

// TestClearAllOutstandingOnException: garbage from the peer is an exception:
// the handler hears of it once, and everything outstanding fails with it.
func TestClearAllOutstandingOnException(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newObservingHandler(&testHandler{})
			c, p := fakeClient(t, mode, h)
			s := sendAllKinds(t, c, p)
			p.write(be64(-1))
			for _, err := range s.failedAll(t) {
				mustContain(t, err, c.RemoteAddr())
				if !errors.Is(err, codec.ErrFrameLength) {
					t.Fatalf("want the decoding error, got %v", err)
				}
			}
			waitDone(t, c.Done(), "teardown")
			if errs := h.exceptionsOf(c); len(errs) != 1 || !errors.Is(errs[0], codec.ErrFrameLength) {
				t.Fatalf("ExceptionCaught: %v", errs)
			}
		})
	}
}

// TestStreamFailsWhenPeerClosesMidStream: the peer closes after part of a
// stream's bytes; the stream fails (after the bytes that came), once.
func TestStreamFailsWhenPeerClosesMidStream(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			r, queued := newStreamRecorder(), newStreamRecorder()
			c.Stream("big", r)
			c.Stream("queued", queued)
			p.next()
			p.next()
			hdr, _ := codec.AppendHeader(nil, &codec.Message{Type: codec.TypeStreamResponse, Stream: "big"}, 1000)
			p.write(append(hdr, make([]byte, 100)...))
			waitFor(t, "the first 100 bytes", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.n == 100 })
			p.closeConn()
			mustContain(t, r.wait(t), c.RemoteAddr())
			mustContain(t, queued.wait(t), c.RemoteAddr())
			if r.completes.Load() != 0 || r.failures.Load() != 1 {
				t.Fatalf("mid-stream: %d completes, %d failures", r.completes.Load(), r.failures.Load())
			}
			waitDone(t, c.Done(), "teardown")
		})
	}
}

// TestStreamCallbackErrorClosesConnection: a StreamCallback whose OnData
// fails gets OnFailure, and the connection (whose framing is lost) closes.
func TestStreamCallbackErrorClosesConnection(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			c, p := fakeClient(t, mode, nil)
			done := make(chan error, 4)
			c.Stream("s", failingStream{done})
			p.next()
			p.send(&codec.Message{Type: codec.TypeStreamResponse, Stream: "s"}, []byte("abc"))
			mustContain(t, recv(t, done, "OnFailure"), "refused")
			waitDone(t, c.Done(), "the connection to close")
			select {
			case err := <-done:
				t.Fatalf("a second callback: %v", err)
			default:
			}
		})
	}
}

type failingStream struct{ done chan error }

func (f failingStream) OnData(string, []byte) error { return errors.New("refused the data") }
func (f failingStream) OnComplete(string) error     { f.done <- errors.New("completed"); return nil }
func (f failingStream) OnFailure(_ string, err error) {
	f.done <- err
}

// TestRequestsOnClosedClient: every request on a closed client fails at
// once, naming the peer, and managed bodies are released.
func TestRequestsOnClosedClient(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			c := e.client(t)
			c.closeWait()
			rpc, chunk, stream, meta, up := newRPC(), newChunks(), newStreamRecorder(), newMeta(), newRPC()
			c.SendRpc([]byte("x"), rpc)
			c.FetchChunk(1, 0, chunk)
			c.Stream("s", stream)
			c.SendMergedBlockMetaReq("a", 1, 1, 1, meta)
			body := newCounting([]byte("body"))
			c.UploadStream(nil, body, up)
			buf := newCounting([]byte("rpc"))
			rpc2 := newRPC()
			c.SendRpcBuffer(buf, rpc2)
			for _, err := range []error{rpc.waitErr(t), chunk.wait(t).err, stream.wait(t), meta.wait(t).err, up.waitErr(t), rpc2.waitErr(t)} {
				mustContain(t, err, c.RemoteAddr())
			}
			if err := c.Send([]byte("one-way")); err == nil {
				t.Fatal("Send on a closed client succeeded")
			}
			if _, err := c.SendRpcSync([]byte("x"), safetyWait); err == nil || !strings.Contains(err.Error(), c.RemoteAddr()) {
				t.Fatalf("SendRpcSync: %v", err)
			}
			if body.releases.Load() != 1 || buf.releases.Load() != 1 {
				t.Fatalf("bodies released %d / %d times", body.releases.Load(), buf.releases.Load())
			}
		})
	}
}
