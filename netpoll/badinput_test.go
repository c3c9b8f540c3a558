package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// Hostile or broken peers: raw bytes written to a server with net.Dial.
// The offending connection is closed, nothing panics, and the server keeps
// serving well-behaved clients.

type badInputHandler struct {
	*uploadHandler
	*observer
	rpcs atomic.Int32
}

func newBadInputEnv(t *testing.T, conf Conf) (*env, *badInputHandler) {
	h := &badInputHandler{observer: newObserver()}
	h.uploadHandler = &uploadHandler{testHandler: &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
		h.rpcs.Add(1)
		r.Reply(clone(msg))
	}}}
	return newEnv(t, conf, h), h
}

func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// serverStillServes checks a normal client gets answers.
func serverStillServes(t *testing.T, e *env) {
	t.Helper()
	c, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeWait()
	if resp, err := c.SendRpcSync([]byte("still serving"), safetyWait); err != nil || string(resp) != "still serving" {
		t.Fatalf("a normal client after bad input: %q %v", resp, err)
	}
}

// TestBadInputClosesConnection: frames the server must refuse.
func TestBadInputClosesConnection(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"negative length", be64(-1)},
		{"most negative length", be64(-1 << 63)},
		{"zero length", be64(0)},
		{"length 8 (empty frame)", be64(8)},
		{"oversized length", cat(be64(1<<40), []byte{3, 0, 0})},
		{"just over Spark's limit", cat(be64(codec.MaxFrameLength+1), []byte{3})},
		{"unknown type 13", cat(be64(8+1+4), []byte{13, 0, 0, 0, 0})},
		{"type -1 (User)", cat(be64(8+1+4), []byte{0xff, 0, 0, 0, 0})},
		{"string length past the frame", cat(be64(8+1+4+3), []byte{6, 0, 0, 0, 100}, []byte("abc"))},
		{"negative string length", cat(be64(8+1+4+3), []byte{6, 0xff, 0xff, 0xff, 0xff}, []byte("abc"))},
		{"header shorter than its type needs", cat(be64(8+1+3), []byte{3, 0, 0, 0})},
		{"negative upload byte count", cat(be64(8+1+8+4+8), []byte{10}, be64(1), []byte{0, 0, 0, 0}, be64(-5))},
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, h := newBadInputEnv(t, testConf(t, mode))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					conn := rawDial(t, e.srv.Port())
					if _, err := conn.Write(tc.data); err != nil {
						t.Fatal(err)
					}
					got := expectPeerClose(t, conn)
					if len(got) != 0 {
						t.Fatalf("the server answered %d bytes to garbage", len(got))
					}
					sc := h.peerOf(t, conn.LocalAddr())
					waitDone(t, sc.Done(), "the server to tear the connection down")
					if errs := h.exceptionsOf(sc); len(errs) != 1 {
						t.Fatalf("ExceptionCaught called %d times for the bad connection", len(errs))
					}
					var ce *ConnError
					if !errors.As(sc.Err(), &ce) || ce.Addr != conn.LocalAddr().String() {
						t.Fatalf("server side closed with %v", sc.Err())
					}
					serverStillServes(t, e)
				})
			}
			if n := h.rpcs.Load(); n != int32(len(cases)) {
				t.Fatalf("the handler saw %d RPCs; only the %d good clients sent any", n, len(cases))
			}
		})
	}
}

// TestBadInputAfterGoodFrame: a good request is answered before the garbage
// behind it closes the connection.
func TestBadInputAfterGoodFrame(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := newBadInputEnv(t, testConf(t, mode))
			conn := rawDial(t, e.srv.Port())
			req := frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 77}, []byte("good"))
			if _, err := conn.Write(cat(req, be64(-1))); err != nil {
				t.Fatal(err)
			}
			got := expectPeerClose(t, conn)
			want := frame(t, &codec.Message{Type: codec.TypeRpcResponse, RequestID: 77}, []byte("good"))
			if string(got) != string(want) {
				t.Fatalf("server sent %x, want the RPC response %x", got, want)
			}
			serverStillServes(t, e)
		})
	}
}

// TestPeerClosesEarly: the peer closes inside a frame or an upload body.
// The server tears the connection down without handling the partial
// request (an upload's sink is aborted), and keeps serving.
func TestPeerClosesEarly(t *testing.T) {
	upload := frame(t, &codec.Message{Type: codec.TypeUploadStream, RequestID: 5, Meta: []byte("partial")}, nil)
	// Rewrite the byte count (the frame's last 8 bytes) to claim 1000 bytes.
	binary.BigEndian.PutUint64(upload[len(upload)-8:], 1000)
	rpc := frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 9}, randBytes(1000, 5))
	cases := []struct {
		name   string
		data   []byte
		upload bool
	}{
		{"nothing sent", nil, false},
		{"truncated length field", be64(100)[:4], false},
		{"length field only", be64(100), false},
		{"mid-header", rpc[:12], false},
		{"mid-body", rpc[:50], false},
		{"mid-upload-stream", cat(upload, randBytes(100, 6)), true},
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, h := newBadInputEnv(t, testConf(t, mode))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					conn := rawDial(t, e.srv.Port())
					sc := h.peerOf(t, conn.LocalAddr())
					if _, err := conn.Write(tc.data); err != nil {
						t.Fatal(err)
					}
					if tc.upload {
						waitFor(t, "the upload to start", func() bool { return h.sink("partial") != nil })
					}
					conn.Close()
					waitDone(t, sc.Done(), "the server to tear the connection down")
					if tc.upload {
						s := h.sink("partial")
						recv(t, s.aborted, "the partial upload's Abort")
						if s.completes.Load() != 0 || s.aborts.Load() != 1 {
							t.Fatalf("partial upload: %d completes, %d aborts", s.completes.Load(), s.aborts.Load())
						}
					}
					serverStillServes(t, e)
				})
			}
			if n := h.rpcs.Load(); n != int32(len(cases)) {
				t.Fatalf("the handler saw %d RPCs; a partial one must not be handled", n)
			}
		})
	}
}

// TestMaxFrameLength: spark.<module>.io.maxFrameLength lowers the frame
// limit.
func TestMaxFrameLength(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := newBadInputEnv(t, testConf(t, mode, "maxFrameLength=1k"))
			conn := rawDial(t, e.srv.Port())
			if _, err := conn.Write(frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, make([]byte, 2000))); err != nil {
				t.Fatal(err)
			}
			if got := expectPeerClose(t, conn); len(got) != 0 {
				t.Fatalf("an oversized frame was answered")
			}
			serverStillServes(t, e)
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestPeerClosesDuringSend: the peer stops reading and closes while the
// server is in the middle of sending a large file with sendfile. The send
// ends, the connection is torn down, nothing leaks (descriptors included),
// and the server keeps serving.
func TestPeerClosesDuringSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse")
	const size = 64 << 20
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := newNamedStreams()
			sm.add("big", func() codec.ManagedBuffer { return fileSegment(t, path, 0, size) })
			h := newObservingHandler(&testHandler{sm: sm})
			e := newEnv(t, testConf(t, mode), h)
			serverStillServes(t, e) // warm up: start what starts on first use
			before := openFDs(t)

			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.srv.Port()))
			if err != nil {
				t.Fatal(err)
			}
			sc := h.peerOf(t, conn.LocalAddr())
			if _, err := conn.Write(frame(t, &codec.Message{Type: codec.TypeStreamRequest, Stream: "big"}, nil)); err != nil {
				t.Fatal(err)
			}
			// The response has started; the rest waits on a full socket.
			if _, err := io.ReadFull(conn, make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			if n := sm.ChunksBeingTransferred(); n != 1 {
				t.Fatalf("%d transfers in flight, want 1", n)
			}
			conn.Close()
			waitDone(t, sc.Done(), "the server side to close")
			waitFor(t, "the transfer to end", func() bool { return sm.ChunksBeingTransferred() == 0 })
			waitFor(t, "descriptors to be closed", func() bool { return openFDs(t) <= before })
			serverStillServes(t, e)
		})
	}
}
