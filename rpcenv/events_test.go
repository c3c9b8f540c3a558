package rpcenv

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

func addrOf(t *testing.T, a net.Addr) Address {
	t.Helper()
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		t.Fatalf("not a TCP address: %v", a)
	}
	return NewAddress(ta.IP.String(), ta.Port)
}

// RpcEnvSuite "network events in server RpcEnv when another RpcEnv is in
// server mode", both ways: the accepting env sees the socket address and
// the sender's listen address connect and disconnect; the dialling env sees
// the server's address; the env that shuts down sees no disconnects
// (SPARK-14699).
func TestNetworkEventsServerServer(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, stopping := range []string{"sender", "receiver"} {
			a := startEnv(t, envSpec{name: "a", mode: mode})
			b := startEnv(t, envSpec{name: "b", mode: mode})
			recA, recB := newRecorder(nil), newRecorder(nil)
			setup(t, a, "events", recA)
			setup(t, b, "events", recB)
			refB := lookup(t, a, b, "events")
			if err := refB.Send("hello"); err != nil {
				t.Fatal(err)
			}
			recB.waitCount(t, "receive", 1)
			for i := 0; i < 3; i++ {
				askOK(t, refB, i)
			}
			sock := addrOf(t, pooledClient(t, a, b.Address()).LocalAddr())
			recB.waitEvent(t, "connected", sock)        // channel active
			recB.waitEvent(t, "connected", a.Address()) // first message with a sender
			recA.waitEvent(t, "connected", b.Address()) // the dialling side
			if ev := recB.of("receive")[0]; ev.addr != a.Address() {
				t.Errorf("sender seen by b: %v, want %v", ev.addr, a.Address())
			}
			if n := len(recA.of("connected")); n != 1 {
				t.Errorf("a saw %d connect events for one connection: %v", n, recA.of("connected"))
			}
			if stopping == "sender" {
				a.Shutdown()
				recB.waitEvent(t, "disconnected", sock)
				recB.waitEvent(t, "disconnected", a.Address())
				if n := recA.count("disconnected"); n != 0 {
					t.Errorf("SPARK-14699: the env that shut down saw %d disconnects: %v", n, recA.of("disconnected"))
				}
				b.handler.mu.Lock()
				left := len(b.handler.remoteAddrs)
				b.handler.mu.Unlock()
				if left != 0 {
					t.Errorf("b still maps %d remote addresses", left)
				}
			} else {
				b.Shutdown()
				recA.waitEvent(t, "disconnected", b.Address())
				if n := recB.count("disconnected"); n != 0 {
					t.Errorf("SPARK-14699: the env that shut down saw %d disconnects", n)
				}
				// The outbox to b went with the connection: a new send
				// tries a new connection, which is refused.
				waitFor(t, "a's outbox to b removed", func() bool {
					a.outMu.Lock()
					defer a.outMu.Unlock()
					return a.outboxes[b.Address()] == nil
				})
				if _, err := refB.Ask(bigCtx(t), "gone"); err == nil || isTimeout(err) {
					t.Errorf("ask to a shut down env: %v", err)
				}
			}
		}
	})
}

// RpcEnvSuite "network events in server RpcEnv when another RpcEnv is in
// client mode" and "... in client RpcEnv when another RpcEnv is in server
// mode".
func TestNetworkEventsClientMode(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, stopping := range []string{"client", "server"} {
			srv := startEnv(t, server(mode))
			cli := startEnv(t, client(mode))
			recS, recC := newRecorder(nil), newRecorder(nil)
			setup(t, srv, "events", recS)
			setup(t, cli, "events", recC)
			ref := lookup(t, cli, srv, "events")
			if err := ref.Send("hello"); err != nil {
				t.Fatal(err)
			}
			recS.waitCount(t, "receive", 1)
			sock := addrOf(t, pooledClient(t, cli, srv.Address()).LocalAddr())
			if ev := recS.of("receive")[0]; ev.addr != sock {
				t.Errorf("a client-mode sender is its socket address: %v, want %v", ev.addr, sock)
			}
			recS.waitEvent(t, "connected", sock)
			for _, ev := range recS.of("connected") {
				if ev.addr != sock {
					t.Errorf("server saw a connect from %v; a client-mode env has no listen address", ev.addr)
				}
			}
			recC.waitEvent(t, "connected", srv.Address())
			if stopping == "client" {
				cli.Shutdown()
				recS.waitEvent(t, "disconnected", sock)
				if n := recC.count("disconnected"); n != 0 {
					t.Errorf("SPARK-14699: the client that shut down saw %d disconnects", n)
				}
			} else {
				srv.Shutdown()
				recC.waitEvent(t, "disconnected", srv.Address())
			}
		}
	})
}

// oneWayFrame is a transport OneWayMessage carrying a RequestMessage.
func oneWayFrame(t *testing.T, m *requestMessage) []byte {
	t.Helper()
	body, err := appendRequest(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := codec.EncodeHeader(&codec.Message{Type: codec.TypeOneWayMessage}, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	frame := append(append([]byte(nil), hdr.B...), body...)
	codec.PutBuffer(hdr)
	return frame
}

// NettyRpcHandlerSuite: the first message from a remote env posts
// RemoteProcessConnected(its listen address); a broken connection posts
// RemoteProcessConnectionError and then RemoteProcessDisconnected for the
// socket address and the recorded listen address.
func TestNetworkErrorEvents(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, withSender := range []bool{true, false} {
			srv := startEnv(t, server(mode))
			rec := newRecorder(nil)
			setup(t, srv, "events", rec)
			conn, err := net.Dial("tcp", srv.Address().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			sock := addrOf(t, conn.LocalAddr())
			rec.waitEvent(t, "connected", sock)

			listen := NewAddress("10.9.8.7", 4242) // what the peer claims to listen on
			m := requestMessage{receiver: EndpointAddress{Addr: srv.Address(), Name: "events"}, content: "hi"}
			if withSender {
				m.sender = listen
			}
			if _, err := conn.Write(oneWayFrame(t, &m)); err != nil {
				t.Fatal(err)
			}
			rec.waitCount(t, "receive", 1)
			if withSender {
				rec.waitEvent(t, "connected", listen)
			} else if ev := rec.of("receive")[0]; ev.addr != sock {
				t.Errorf("no sender: the socket address %v stands in, got %v", sock, ev.addr)
			}
			// A frame length of zero is a protocol error: the connection
			// fails.
			if _, err := conn.Write(make([]byte, 8)); err != nil {
				t.Fatal(err)
			}
			rec.waitEvent(t, "networkError", sock)
			rec.waitEvent(t, "disconnected", sock)
			if withSender {
				rec.waitEvent(t, "networkError", listen)
				rec.waitEvent(t, "disconnected", listen)
			} else if rec.has("disconnected", listen) || rec.has("connected", listen) {
				t.Error("events for a listen address nobody announced")
			}
			for _, ev := range rec.of("networkError") {
				if ev.err == nil {
					t.Error("network error event without an error")
				}
			}
			conn.SetReadDeadline(time.Now().Add(waitLimit))
			if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Errorf("the server did not close the broken connection: %v", err)
			}
		}
	})
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
