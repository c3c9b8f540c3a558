package netpoll

import (
	"testing"
)

// Server and Context lifecycle (TransportServer / TransportContext).

// TestServerCloseClosesConnections: closing a server closes the connections
// it accepted (their outstanding requests fail) and stops accepting.
func TestServerCloseClosesConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newStallingHandler(t)
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			rpc := newRPC()
			c.SendRpc([]byte("hang"), rpc)
			recv(t, h.hung, "the RPC to arrive")
			if err := e.srv.Close(); err != nil {
				t.Fatal(err)
			}
			mustContain(t, rpc.waitErr(t), c.RemoteAddr())
			waitDone(t, c.Done(), "the client to see the close")
			if _, err := e.factory.CreateClient("127.0.0.1", e.srv.Port()); err == nil {
				t.Fatal("connected to a closed server")
			}
			if err := e.srv.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// TestContextCloseClosesConnections: a Context closes every connection it
// still has, accepted or dialed, and refuses new ones.
func TestContextCloseClosesConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newObservingHandler(&testHandler{})
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			u, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			for _, cl := range []*Client{c, u} {
				if _, err := cl.SendRpcSync([]byte("x"), safetyWait); err != nil {
					t.Fatal(err)
				}
			}
			accepted := []*Client{h.peerOf(t, c.LocalAddr()), h.peerOf(t, u.LocalAddr())}
			if err := e.ctx.Close(); err != nil {
				t.Fatal(err)
			}
			for _, cl := range append(accepted, c, u) {
				if !isClosed(cl.Done()) {
					t.Fatalf("%v is still open after its context closed", cl)
				}
			}
			// (The server, of the same closed context, refuses it too, so
			// the error may come from either end.)
			if c2, err := e.factory.CreateClient("127.0.0.1", e.srv.Port()); err == nil {
				t.Fatalf("a closed context made a client: %v", c2)
			}
		})
	}
}

// TestServerOptions: a server with an explicit backlog, socket buffers and
// keep-alive serves normally.
func TestServerOptions(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode, "backLog=16", "receiveBuffer=131072", "sendBuffer=131072", "enableTcpKeepAlive=true"), &testHandler{})
			if e.srv.Port() == 0 || e.srv.Addr() == nil {
				t.Fatalf("port %d, addr %v", e.srv.Port(), e.srv.Addr())
			}
			for range 3 {
				c, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.SendRpcSync(randBytes(300<<10, 1), safetyWait)
				c.closeWait()
				if err != nil || len(resp) != 300<<10 {
					t.Fatalf("%d bytes, %v", len(resp), err)
				}
			}
		})
	}
}

// TestServerCloseRightAfterNew: a server closed at once (before its event
// loop got going) closes cleanly, without hanging.
func TestServerCloseRightAfterNew(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			ctx := NewContext(testConf(t, mode), &testHandler{})
			defer ctx.Close()
			for range 50 {
				srv, err := ctx.NewServer("127.0.0.1", 0)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- srv.Close() }()
				if err := recv(t, done, "Server.Close"); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
