package netpoll

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"go.uber.org/atomic"
)

// lockedBuf is a log sink safe for the connection goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// frameBytes encodes m with body as one frame.
func frameBytes(t testing.TB, m *codec.Message, body []byte) []byte {
	t.Helper()
	b, err := codec.AppendHeader(nil, m, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	return append(b, body...)
}

// exchange writes frames to the server at port on one raw connection,
// reads until the server closes it and returns the frames it got.
func exchange(t testing.TB, port int, frames ...[]byte) []codec.Message {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(safetyWait)) // a hang becomes a failure
	if _, err := conn.Write(bytes.Join(frames, nil)); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(conn)
	if err != nil && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("reading until the server closes: %v", err)
	}
	var out []codec.Message
	for len(all) > 0 {
		if len(all) < 8 {
			t.Fatalf("%d stray bytes after the frames", len(all))
		}
		n := binary.BigEndian.Uint64(all)
		if n < 9 || n > uint64(len(all)) {
			t.Fatalf("bad frame length %d with %d bytes left", n, len(all))
		}
		var m codec.Message
		if err := codec.DecodeFrame(append([]byte(nil), all[8:n]...), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		all = all[n:]
	}
	return out
}

// refusingServer starts a server whose admission treats every peer as
// remote (remote=true) or uses the real rule, behind a handler that counts
// what reaches it.
func refusingServer(t *testing.T, mode IOMode, remote bool, linger ...time.Duration) (srv *Server, a *Admission, reached *atomic.Int32, logs *lockedBuf) {
	t.Helper()
	logs = &lockedBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reached = atomic.NewInt32(0)
	h := &testHandler{
		receive: func(c *Client, msg []byte, r *Responder) { reached.Inc(); r.Reply(clone(msg)) },
		oneWay:  func(c *Client, msg []byte) { reached.Inc() },
		sm:      NewOneForOneStreamManager(),
	}
	a = NewProtectedMode("test daemon", log)
	if remote {
		a.local = func(_, _ netip.Addr) bool { return false }
	}
	if len(linger) > 0 {
		a.linger = linger[0]
	}
	ctx := NewContext(testConf(t, mode), h, WithLogger(log))
	srv, err := ctx.NewServer("127.0.0.1", 0, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		ctx.Close()
	})
	return srv, a, reached, logs
}

// TestProtectedModeRefusals: a peer that is not local gets exactly one
// answer, of its request's kind, naming the daemon, its address and the
// keys to set, and then the connection closes (a one-way message gets an
// RpcFailure for request -1); an oversized frame gets no answer; nothing
// reaches the daemon's handler.
func TestProtectedModeRefusals(t *testing.T) {
	checkLeaks(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			srv, a, reached, _ := refusingServer(t, mode, true)
			want := []string{"Ember test daemon at 127.0.0.1:" + strconv.Itoa(srv.Port()) + " is in protected mode",
				"spark.authenticate=true", "spark.authenticate.secret.file", "spark.ember.protectedMode=false"}
			rpc := func(id int64, body []byte) []byte {
				return frameBytes(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: id}, body)
			}
			cases := []struct {
				name   string
				frames [][]byte
				want   codec.Type // 0: no answer at all
				check  func(m codec.Message) bool
			}{
				{"rpc", [][]byte{rpc(7, []byte("hello"))}, codec.TypeRpcFailure,
					func(m codec.Message) bool { return m.RequestID == 7 }},
				{"two pipelined rpcs: only the first is answered", [][]byte{rpc(1, []byte("a")), rpc(2, []byte("b"))}, codec.TypeRpcFailure,
					func(m codec.Message) bool { return m.RequestID == 1 }},
				{"chunk fetch", [][]byte{frameBytes(t, &codec.Message{Type: codec.TypeChunkFetchRequest,
					Chunk: codec.StreamChunkID{StreamID: 5, ChunkIndex: 2}}, nil)}, codec.TypeChunkFetchFailure,
					func(m codec.Message) bool { return m.Chunk == codec.StreamChunkID{StreamID: 5, ChunkIndex: 2} }},
				{"stream", [][]byte{frameBytes(t, &codec.Message{Type: codec.TypeStreamRequest, Stream: "jars/x.jar"}, nil)},
					codec.TypeStreamFailure, func(m codec.Message) bool { return m.Stream == "jars/x.jar" }},
				{"upload", [][]byte{frameBytes(t, &codec.Message{Type: codec.TypeUploadStream, RequestID: 9, Meta: []byte("m"), ByteCount: 4}, nil),
					[]byte("body")}, codec.TypeRpcFailure, func(m codec.Message) bool { return m.RequestID == 9 }},
				{"one-way: a failure that matches no request", [][]byte{frameBytes(t, &codec.Message{Type: codec.TypeOneWayMessage}, []byte("x"))},
					codec.TypeRpcFailure, func(m codec.Message) bool { return m.RequestID == -1 }},
				{"oversized frame (pre-auth cap)", [][]byte{rpc(3, make([]byte, 64<<10))}, 0, nil},
			}
			for _, tc := range cases {
				got := exchange(t, srv.Port(), tc.frames...)
				if tc.want == 0 {
					if len(got) != 0 {
						t.Fatalf("%s: got %d frames (first %v), want none", tc.name, len(got), got[0].Type)
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("%s: got %d frames, want exactly one %v", tc.name, len(got), tc.want)
				}
				if got[0].Type != tc.want || !tc.check(got[0]) {
					t.Fatalf("%s: got %+v, want a %v for the request", tc.name, got[0], tc.want)
				}
				for _, w := range want {
					if !strings.Contains(got[0].Error, w) {
						t.Fatalf("%s: refusal %q does not name %q", tc.name, got[0].Error, w)
					}
				}
			}
			if n := reached.Load(); n != 0 {
				t.Fatalf("%d requests of refused peers reached the handler", n)
			}
			if got := a.Refused(); got != int64(len(cases)) {
				t.Fatalf("Refused() = %d, want %d", got, len(cases))
			}
			waitFor(t, "refused connections to go", func() bool { return srv.NumConnections() == 0 })
		})
	}
}

// TestProtectedModeServesLocalPeers: with the real rule, a loopback peer
// is served as if there were no admission.
func TestProtectedModeServesLocalPeers(t *testing.T) {
	checkLeaks(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			srv, a, reached, _ := refusingServer(t, mode, false)
			got := exchange(t, srv.Port(), frameBytes(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 4}, []byte("hi")),
				frameBytes(t, &codec.Message{Type: codec.TypeOneWayMessage}, []byte("x")),
				// An invalid frame type makes the server close, which ends the exchange.
				[]byte{0, 0, 0, 0, 0, 0, 0, 9, 0x7f})
			if len(got) != 1 || got[0].Type != codec.TypeRpcResponse || got[0].RequestID != 4 {
				t.Fatalf("local peer: got %+v, want the RPC's response", got)
			}
			if n := reached.Load(); n != 2 {
				t.Fatalf("%d requests reached the handler, want 2", n)
			}
			if a.Refused() != 0 {
				t.Fatalf("a loopback peer was refused")
			}
		})
	}
}

// TestProtectedModeClosesSilentPeers: a refused peer that sends nothing
// is closed after the admission's linger, without an answer.
func TestProtectedModeClosesSilentPeers(t *testing.T) {
	checkLeaks(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			srv, a, _, _ := refusingServer(t, mode, true, 50*time.Millisecond)
			if got := exchange(t, srv.Port()); len(got) != 0 {
				t.Fatalf("a silent refused peer got %d frames", len(got))
			}
			if a.Refused() != 1 {
				t.Fatalf("Refused() = %d, want 1", a.Refused())
			}
		})
	}
}

// TestProtectedModeLogIsRateLimited: many refusals of one peer host give
// one WARN line (the rest are counted), which names the keys.
func TestProtectedModeLogIsRateLimited(t *testing.T) {
	checkLeaks(t)
	srv, a, _, logs := refusingServer(t, NIO, true)
	const n = 20
	for i := range n {
		exchange(t, srv.Port(), frameBytes(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: int64(i)}, nil))
	}
	if a.Refused() != n {
		t.Fatalf("Refused() = %d, want %d", a.Refused(), n)
	}
	lines := strings.Count(logs.String(), "protected mode: refusing")
	if lines != 1 {
		t.Fatalf("%d refusal lines for %d refusals, want 1:\n%s", lines, n, logs.String())
	}
	if !strings.Contains(logs.String(), "spark.ember.protectedMode=false") {
		t.Fatalf("the refusal line does not name the keys:\n%s", logs.String())
	}
}

// TestIsLocalPeer: loopback (v4, v6, v4-mapped) and a peer connecting from
// the address it dialled are local; anything else is not.
func TestIsLocalPeer(t *testing.T) {
	p := netip.MustParseAddr
	for _, tc := range []struct {
		remote, local string
		want          bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.5", "10.0.0.1", true},
		{"::1", "::1", true},
		{"::ffff:127.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"::ffff:10.0.0.1", "10.0.0.1", true},
		{"10.0.0.2", "10.0.0.1", false},
		{"192.0.2.7", "127.0.0.1", false},
		{"fd00::2", "fd00::1", false},
	} {
		if got := IsLocalPeer(p(tc.remote), p(tc.local)); got != tc.want {
			t.Errorf("IsLocalPeer(%s, %s) = %v, want %v", tc.remote, tc.local, got, tc.want)
		}
	}
	if IsLocalPeer(netip.Addr{}, netip.Addr{}) {
		t.Errorf("an unknown peer address is local")
	}
}
