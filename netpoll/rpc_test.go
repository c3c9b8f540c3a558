package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// RpcIntegrationSuite: RPCs, failures, panics and one-way messages.

func rpcEnv(t *testing.T, mode IOMode) (*env, *Client) {
	e := newEnv(t, testConf(t, mode), &testHandler{receive: sparkRPC})
	return e, e.client(t)
}

// rpcOutcome sends every message at once and returns successes and
// failures (by text), checking each callback ran exactly once.
func rpcOutcome(t *testing.T, c *Client, msgs ...string) (ok []string, failed []string) {
	t.Helper()
	cbs := make([]*rpcCollector, len(msgs))
	for i, m := range msgs {
		cbs[i] = newRPC()
		c.SendRpc([]byte(m), cbs[i])
	}
	for _, cb := range cbs {
		res := cb.wait(t)
		if res.err != nil {
			failed = append(failed, res.err.Error())
		} else {
			ok = append(ok, string(res.resp))
		}
	}
	for i, cb := range cbs {
		if n := cb.calls.Load(); n != 1 {
			t.Fatalf("callback of %q called %d times", msgs[i], n)
		}
	}
	return ok, failed
}

func TestRPCSingle(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			resp, err := c.SendRpcSync([]byte("hello"), safetyWait)
			if err != nil || string(resp) != "Hello, hello!" {
				t.Fatalf("got %q, %v", resp, err)
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d requests outstanding after the answer", n)
			}
		})
	}
}

func TestRPCDouble(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			a, b := newRPC(), newRPC()
			c.SendRpc([]byte("hello"), a)
			c.SendRpc([]byte("world"), b)
			if got := string(a.waitOK(t)); got != "Hello, hello!" {
				t.Fatalf("first RPC got %q", got)
			}
			if got := string(b.waitOK(t)); got != "Hello, world!" {
				t.Fatalf("second RPC got %q", got)
			}
		})
	}
}

func TestRPCReturnError(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			_, err := c.SendRpcSync([]byte("return error/OK"), safetyWait)
			mustContain(t, err, "Returned: OK")
			var re *RemoteError
			if !errors.As(err, &re) || re.Msg != "Returned: OK" || re.Addr != c.RemoteAddr() {
				t.Fatalf("want a RemoteError from %s with the handler's text, got %#v", c.RemoteAddr(), err)
			}
		})
	}
}

func TestRPCThrowError(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			_, err := c.SendRpcSync([]byte("throw error/uh-oh"), safetyWait)
			mustContain(t, err, "Thrown: uh-oh")
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("want a RemoteError, got %T %v", err, err)
			}
			// The server keeps serving, on the same connection.
			if !c.IsActive() {
				t.Fatal("a panicking handler closed the connection")
			}
			resp, err := c.SendRpcSync([]byte("again"), safetyWait)
			if err != nil || string(resp) != "Hello, again!" {
				t.Fatalf("after the panic: %q, %v", resp, err)
			}
		})
	}
}

func TestRPCDoubleTrouble(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			ok, failed := rpcOutcome(t, c, "return error/OK", "throw error/uh-oh")
			if len(ok) != 0 || len(failed) != 2 {
				t.Fatalf("ok=%q failed=%q", ok, failed)
			}
			if !strings.Contains(failed[0], "Returned: OK") || !strings.Contains(failed[1], "Thrown: uh-oh") {
				t.Fatalf("failures not matched to their requests: %q", failed)
			}
		})
	}
}

func TestRPCSendSuccessAndFailure(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			_, c := rpcEnv(t, mode)
			ok, failed := rpcOutcome(t, c, "hello", "return error/OK", "world", "throw error/uh-oh")
			if strings.Join(ok, "|") != "Hello, hello!|Hello, world!" {
				t.Fatalf("successes: %q", ok)
			}
			if len(failed) != 2 || !strings.Contains(failed[0], "Returned: OK") || !strings.Contains(failed[1], "Thrown: uh-oh") {
				t.Fatalf("failures: %q", failed)
			}
		})
	}
}

func TestRPCOneWay(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			got := make(chan string, 4)
			h := &testHandler{
				receive: func(c *Client, msg []byte, r *Responder) { t.Errorf("RPC handler called for a one-way message") },
				oneWay:  func(c *Client, msg []byte) { got <- string(msg) },
			}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			if err := c.Send([]byte("hello world")); err != nil {
				t.Fatal(err)
			}
			if m := recv(t, got, "one-way message"); m != "hello world" {
				t.Fatalf("handler got %q", m)
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("a one-way message left %d requests outstanding", n)
			}
			// A managed-buffer one-way message is released once written.
			buf := newCounting([]byte("managed"))
			if err := c.SendBuffer(buf); err != nil {
				t.Fatal(err)
			}
			if m := recv(t, got, "one-way message"); m != "managed" {
				t.Fatalf("handler got %q", m)
			}
			waitFor(t, "the one-way buffer to be released", func() bool { return buf.releases.Load() == 1 })
		})
	}
}

// TestRPCOneWayPanic: a one-way handler that panics is only logged; the
// connection keeps working.
func TestRPCOneWayPanic(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := &testHandler{oneWay: func(*Client, []byte) { panic("one-way boom") }}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			if err := c.Send([]byte("x")); err != nil {
				t.Fatal(err)
			}
			resp, err := c.SendRpcSync([]byte("still there"), safetyWait)
			if err != nil || string(resp) != "still there" {
				t.Fatalf("after a one-way panic: %q, %v", resp, err)
			}
		})
	}
}

// TestRPCManagedBuffersReleased: request and reply bodies given as managed
// buffers are released once written (MessageWithHeader's deallocate).
func TestRPCManagedBuffersReleased(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			var mu sync.Mutex
			var replies []*countingBuffer
			h := &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
				b := newCounting([]byte("reply to " + string(msg)))
				mu.Lock()
				replies = append(replies, b)
				mu.Unlock()
				r.ReplyBuffer(b)
				r.Reply([]byte("ignored: the first answer wins"))
				late := newCounting([]byte("ignored too"))
				r.ReplyBuffer(late)
				if late.releases.Load() != 1 {
					t.Errorf("a refused reply buffer was not released")
				}
			}}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			req := newCounting([]byte("req"))
			cb := newRPC()
			c.SendRpcBuffer(req, cb)
			if got := string(cb.waitOK(t)); got != "reply to req" {
				t.Fatalf("got %q", got)
			}
			waitFor(t, "the request buffer to be released", func() bool { return req.releases.Load() == 1 })
			mu.Lock()
			reply := replies[0]
			mu.Unlock()
			waitFor(t, "the reply buffer to be released", func() bool { return reply.releases.Load() == 1 })
			// A second answer to the same request is ignored: the callback
			// ran once, and another RPC still works.
			resp, err := c.SendRpcSync([]byte("two"), safetyWait)
			if err != nil || string(resp) != "reply to two" || cb.calls.Load() != 1 {
				t.Fatalf("got %q, %v, first callback called %d times", resp, err, cb.calls.Load())
			}
		})
	}
}

// TestRPCLargeShortWrites: with tiny socket buffers every frame goes out in
// many short writes; big request and reply bodies still arrive intact, and
// pipelined requests stay in order (MessageWithHeader single/short write).
func TestRPCLargeShortWrites(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode, "sendBuffer=32768", "receiveBuffer=32768"), &testHandler{})
			c := e.client(t)
			payloads := [][]byte{randBytes(3<<20+5, 1), randBytes(1, 2), randBytes(0, 3), randBytes(200<<10, 4)}
			cbs := make([]*rpcCollector, len(payloads))
			for i, p := range payloads {
				cbs[i] = newRPC()
				c.SendRpc(p, cbs[i])
			}
			for i, cb := range cbs {
				if got := cb.waitOK(t); !bytes.Equal(got, payloads[i]) {
					t.Fatalf("payload %d: got %d bytes, want %d", i, len(got), len(payloads[i]))
				}
			}
		})
	}
}

// TestRPCSyncTimeout: SendRpcSync gives up with a TimeoutError when no
// answer comes; the request stays outstanding until removed.
func TestRPCSyncTimeout(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
				if string(msg) != "never" {
					r.Reply(clone(msg))
				}
			}}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			_, err := c.SendRpcSync([]byte("never"), 20*time.Millisecond)
			var te *TimeoutError
			if !errors.As(err, &te) || !te.Timeout() {
				t.Fatalf("want a TimeoutError, got %v", err)
			}
			if n := c.NumOutstanding(); n != 1 {
				t.Fatalf("the timed-out RPC should stay outstanding, have %d", n)
			}
			var id int64
			if _, err := fmt.Sscanf(te.Op, "RPC %d", &id); err != nil {
				t.Fatalf("TimeoutError.Op %q names no request id", te.Op)
			}
			c.RemoveRpcRequest(id)
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("RemoveRpcRequest left %d outstanding", n)
			}
			if resp, err := c.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}

// TestServerCallsBack: a server handler uses the *Client of an accepted
// connection to send an RPC back; the client side's handler answers it.
func TestServerCallsBack(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			serverSide := make(chan *Client, 1)
			srvHandler := &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
				serverSide <- c
				c.SendRpc([]byte("ping from server"), RpcFunc{
					Success: func(b []byte) { r.Reply(append([]byte("client said: "), b...)) },
					Failure: func(err error) { r.Fail(err) },
				})
			}}
			e := newEnv(t, testConf(t, mode), srvHandler)
			cliHandler := &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
				r.Reply([]byte("pong to " + string(msg)))
			}}
			c, _ := clientTo(t, testConf(t, mode), cliHandler, e.srv.Port())
			resp, err := c.SendRpcSync([]byte("call me back"), safetyWait)
			if err != nil || string(resp) != "client said: pong to ping from server" {
				t.Fatalf("got %q, %v", resp, err)
			}
			sc := recv(t, serverSide, "the server-side client")
			if sc.RemoteAddr() != c.LocalAddr().String() {
				t.Fatalf("server side sees %s, client is %s", sc.RemoteAddr(), c.LocalAddr())
			}
			if sc.Handler() != RpcHandler(srvHandler) {
				t.Fatal("the accepted connection is not served by the server's handler")
			}
		})
	}
}

// TestModesInteroperate: an EPOLL client talks to a NIO server and the
// other way round: RPC, chunk (sendfile), stream and upload.
func TestModesInteroperate(t *testing.T) {
	data := randBytes(1<<20+3, 7)
	path := writeTempFile(t, data)
	for _, pair := range [][2]IOMode{{EPOLL, NIO}, {NIO, EPOLL}} {
		cliMode, srvMode := pair[0], pair[1]
		t.Run(string(cliMode)+"-client/"+string(srvMode)+"-server", func(t *testing.T) {
			checkLeaks(t)
			sm := newNamedStreams()
			sm.add("file", func() codec.ManagedBuffer { return fileSegment(t, path, 0, int64(len(data))) })
			h := &uploadHandler{testHandler: &testHandler{sm: sm}}
			e := newEnv(t, testConf(t, srvMode), h)
			c, _ := clientTo(t, testConf(t, cliMode), &testHandler{}, e.srv.Port())

			if resp, err := c.SendRpcSync([]byte("hi"), safetyWait); err != nil || string(resp) != "hi" {
				t.Fatalf("rpc: %q %v", resp, err)
			}
			sid := sm.RegisterStream("app", BufferChunks{fileSegment(t, path, 10, 5000), codec.NewBytes([]byte("mem"))}, nil)
			chunks := newChunks()
			c.FetchChunk(sid, 0, chunks)
			c.FetchChunk(sid, 1, chunks)
			got := chunks.waitN(t, 2)
			if !bytes.Equal(got[0].data, data[10:5010]) || string(got[1].data) != "mem" {
				t.Fatalf("chunks: %v / %v", got[0].err, got[1].err)
			}
			sr := newStreamRecorder()
			c.Stream("file", sr)
			if err := sr.wait(t); err != nil || !bytes.Equal(sr.bytes(), data) {
				t.Fatalf("stream: %v, %d bytes", err, len(sr.bytes()))
			}
			up := newRPC()
			c.UploadStream([]byte("ok"), fileSegment(t, path, 0, int64(len(data))), up)
			if got := string(up.waitOK(t)); got != uploadReply("ok", data) {
				t.Fatalf("upload reply %q", got)
			}
		})
	}
}
