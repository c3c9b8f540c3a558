package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// TransportRequestHandlerSuite: the chunks-in-flight limit and merged block
// meta requests.

// TestMaxChunksBeingTransferred: with spark.shuffle.maxChunksBeingTransferred=1
// and one chunk in flight, the next chunk or stream request closes the
// channel; the count drops once the send finishes, and new connections are
// served again.
func TestMaxChunksBeingTransferred(t *testing.T) {
	for _, mode := range modes {
		for _, next := range []string{"chunk", "stream"} {
			t.Run(string(mode)+"/"+next, func(t *testing.T) {
				checkLeaks(t)
				sm := NewOneForOneStreamManager()
				h := newObservingHandler(&testHandler{sm: sm})
				e := newEnv(t, testConf(t, mode, "spark.shuffle.maxChunksBeingTransferred=1"), h)
				gated := newGated(randBytes(1000, 1))
				t.Cleanup(gated.open)
				sid := sm.RegisterStream("app", BufferChunks{gated, codec.NewBytes([]byte("second"))}, nil)
				c := e.client(t)

				first := newChunks()
				c.FetchChunk(sid, 0, first)
				waitDone(t, gated.entered, "the first chunk's send to start")
				if n := sm.ChunksBeingTransferred(); n != 1 {
					t.Fatalf("%d chunks in flight, want 1", n)
				}
				var secondErr func() error
				if next == "chunk" {
					cb := newChunks()
					c.FetchChunk(sid, 1, cb)
					secondErr = func() error { return cb.wait(t).err }
				} else {
					rec := newStreamRecorder()
					c.Stream(fmt.Sprintf("%d_1", sid), rec)
					secondErr = func() error { return rec.wait(t) }
				}
				waitDone(t, c.Done(), "the server to close the connection")
				mustContain(t, first.wait(t).err, c.RemoteAddr())
				mustContain(t, secondErr(), c.RemoteAddr())
				sc := h.peerOf(t, c.LocalAddr())
				waitDone(t, sc.Done(), "the server side to close")
				if !errors.Is(sc.Err(), ErrTooManyChunks) {
					t.Fatalf("server side closed with %v, want ErrTooManyChunks", sc.Err())
				}

				gated.open()
				waitFor(t, "the in-flight count to drop", func() bool { return sm.ChunksBeingTransferred() == 0 })
				waitFor(t, "the unsent chunk to be released", func() bool { return gated.releases.Load() == 1 })

				sid2 := sm.RegisterStream("app", BufferChunks{codec.NewBytes([]byte("again"))}, nil)
				c2 := e.client(t)
				cb := newChunks()
				c2.FetchChunk(sid2, 0, cb)
				if r := cb.wait(t); r.err != nil || string(r.data) != "again" {
					t.Fatalf("below the limit again: %q %v", r.data, r.err)
				}
			})
		}
	}
}

// TestTransferCountFollowsSends: a chunk or stream counts as in flight
// while it is being sent and not after.
func TestTransferCountFollowsSends(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := newNamedStreams()
			e := newEnv(t, testConf(t, mode, "spark.shuffle.maxChunksBeingTransferred=2"), &testHandler{sm: sm})
			c := e.client(t)
			for _, kind := range []string{"chunk", "stream"} {
				data := randBytes(5000, 2)
				gated := newGated(data)
				t.Cleanup(gated.open)
				var got func() ([]byte, error)
				if kind == "chunk" {
					sid := sm.RegisterStream("app", BufferChunks{gated}, nil)
					cb := newChunks()
					c.FetchChunk(sid, 0, cb)
					got = func() ([]byte, error) { r := cb.wait(t); return r.data, r.err }
				} else {
					sm.add("gated", func() codec.ManagedBuffer { return gated })
					rec := newStreamRecorder()
					c.Stream("gated", rec)
					got = func() ([]byte, error) { err := rec.wait(t); return rec.bytes(), err }
				}
				waitDone(t, gated.entered, "the send to start")
				if n := sm.ChunksBeingTransferred(); n != 1 {
					t.Fatalf("%s: %d in flight during the send, want 1", kind, n)
				}
				gated.open()
				if b, err := got(); err != nil || !bytes.Equal(b, data) {
					t.Fatalf("%s: %d bytes, %v", kind, len(b), err)
				}
				waitFor(t, "the in-flight count to drop", func() bool { return sm.ChunksBeingTransferred() == 0 })
				waitFor(t, "the buffer to be released", func() bool { return gated.releases.Load() == 1 })
			}
		})
	}
}

// metaHandler serves merged block meta: AppID "fail" fails.
type metaHandler struct {
	*testHandler
	reqs    chan MergedBlockMetaRequest
	bitmaps []byte
}

func (h *metaHandler) ReceiveMergedBlockMeta(c *Client, req MergedBlockMetaRequest) (int32, codec.ManagedBuffer, error) {
	h.reqs <- req
	if req.AppID == "fail" {
		return 0, nil, fmt.Errorf("no merged meta for shuffle %d reduce %d", req.ShuffleID, req.ReduceID)
	}
	return 3, codec.NewBytes(h.bitmaps), nil
}

func TestMergedBlockMeta(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := &metaHandler{testHandler: &testHandler{}, reqs: make(chan MergedBlockMetaRequest, 4), bitmaps: randBytes(300, 8)}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)

			ok := newMeta()
			id := c.SendMergedBlockMetaReq("app-7", 1, 2, 3, ok)
			req := recv(t, h.reqs, "the meta request")
			if want := (MergedBlockMetaRequest{RequestID: id, AppID: "app-7", ShuffleID: 1, ShuffleMergeID: 2, ReduceID: 3}); req != want {
				t.Fatalf("server got %+v, want %+v", req, want)
			}
			r := ok.wait(t)
			if r.err != nil || r.numChunks != 3 || !bytes.Equal(r.bitmaps, h.bitmaps) {
				t.Fatalf("success: %d chunks, %d bytes, %v", r.numChunks, len(r.bitmaps), r.err)
			}

			failed := newMeta()
			c.SendMergedBlockMetaReq("fail", 4, 0, 6, failed)
			r = failed.wait(t)
			mustContain(t, r.err, "no merged meta for shuffle 4 reduce 6")
			var re *RemoteError
			if !errors.As(r.err, &re) {
				t.Fatalf("want the RpcFailure as a RemoteError, got %T", r.err)
			}
			if ok.calls.Load() != 1 || failed.calls.Load() != 1 {
				t.Fatalf("callbacks called %d / %d times", ok.calls.Load(), failed.calls.Load())
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d outstanding", n)
			}
		})
	}
}

// TestMergedBlockMetaUnsupported: a handler that serves no merged meta
// fails such requests; the connection lives on.
func TestMergedBlockMetaUnsupported(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			c := e.client(t)
			cb := newMeta()
			c.SendMergedBlockMetaReq("app", 1, 1, 1, cb)
			mustContain(t, cb.wait(t).err, "not supported")
			if resp, err := c.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}
