package netpoll

import (
	"errors"
	"net"
	"sync"
	"testing"
)

// TransportClientFactorySuite.

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestFactoryReuseUpToNumConnections(t *testing.T) {
	for _, mode := range modes {
		for _, concurrent := range []bool{false, true} {
			name := string(mode) + "/sequential"
			if concurrent {
				name = string(mode) + "/concurrent"
			}
			t.Run(name, func(t *testing.T) {
				checkLeaks(t)
				const perPeer = 3
				h := newObservingHandler(&testHandler{})
				e := newEnv(t, testConf(t, mode, "numConnectionsPerPeer=3"), h)
				var mu sync.Mutex
				seen := map[*Client]bool{}
				create := func() error {
					c, err := e.factory.CreateClient("127.0.0.1", e.srv.Port())
					if err != nil {
						return err
					}
					if !c.IsActive() {
						return errors.New("got an inactive client")
					}
					mu.Lock()
					seen[c] = true
					mu.Unlock()
					return nil
				}
				const attempts = 60
				if concurrent {
					var wg sync.WaitGroup
					errs := make(chan error, attempts)
					for range 12 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for range attempts / 12 {
								if err := create(); err != nil {
									errs <- err
								}
							}
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						t.Fatal(err)
					}
				} else {
					for range attempts {
						if err := create(); err != nil {
							t.Fatal(err)
						}
					}
				}
				if len(seen) < 1 || len(seen) > perPeer {
					t.Fatalf("%d distinct clients, want 1..%d", len(seen), perPeer)
				}
				for c := range seen {
					if resp, err := c.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
						t.Fatalf("pooled client: %q %v", resp, err)
					}
				}
				// Every client has been answered, so the server has accepted
				// its connection: no connection was made and thrown away.
				if n := int(h.active.Load()); n != len(seen) {
					t.Fatalf("the server accepted %d connections for %d clients", n, len(seen))
				}
			})
		}
	}
}

func TestFactoryDifferentServers(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			srv2, err := e.ctx.NewServer("127.0.0.1", 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv2.Close() })
			c1 := e.client(t)
			c2, err := e.factory.CreateClient("127.0.0.1", srv2.Port())
			if err != nil {
				t.Fatal(err)
			}
			if c1 == c2 {
				t.Fatal("one client for two servers")
			}
			if c1.RemoteAddr() == c2.RemoteAddr() {
				t.Fatalf("both clients talk to %s", c1.RemoteAddr())
			}
			if again := e.client(t); again != c1 {
				t.Fatal("the first server's client was not reused")
			}
		})
	}
}

func TestFactoryNeverReturnsInactiveClients(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			c1 := e.client(t)
			c1.Close()
			if c1.IsActive() {
				t.Fatal("closed client is active")
			}
			c2 := e.client(t)
			if c2 == c1 || !c2.IsActive() {
				t.Fatal("the factory returned the closed client")
			}
			waitDone(t, c1.Done(), "the closed client's teardown")
			if resp, err := c2.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}

func TestFactoryCloseClosesClients(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newObservingHandler(&testHandler{})
			e := newEnv(t, testConf(t, mode, "numConnectionsPerPeer=2"), h)
			srv2, err := e.ctx.NewServer("127.0.0.1", 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv2.Close() })
			var clients []*Client
			for range 10 {
				clients = append(clients, e.client(t))
			}
			c3, err := e.factory.CreateClient("127.0.0.1", srv2.Port())
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c3)
			if err := e.factory.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range clients {
				if c.IsActive() || !isClosed(c.Done()) {
					t.Fatal("a client survived its factory's Close")
				}
			}
			// The servers saw every connection go.
			for _, c := range clients {
				waitDone(t, h.peerOf(t, c.LocalAddr()).Done(), "the server side to close")
			}
			_, err = e.factory.CreateClient("127.0.0.1", e.srv.Port())
			if !errors.Is(err, ErrFactoryClosed) {
				t.Fatalf("CreateClient after Close: %v", err)
			}
		})
	}
}

// TestFactoryClosedBeforeCreate: a closed factory refuses every kind of
// client.
func TestFactoryClosedBeforeCreate(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			e.factory.Close()
			if _, err := e.factory.CreateClient("127.0.0.1", e.srv.Port()); !errors.Is(err, ErrFactoryClosed) {
				t.Fatalf("CreateClient: %v", err)
			}
			if _, err := e.factory.CreateClientFastFail("127.0.0.1", e.srv.Port()); !errors.Is(err, ErrFactoryClosed) {
				t.Fatalf("CreateClientFastFail: %v", err)
			}
			if _, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port()); !errors.Is(err, ErrFactoryClosed) {
				t.Fatalf("CreateUnmanagedClient: %v", err)
			}
			var ce *ConnError
			_, err := e.factory.CreateClient("127.0.0.1", e.srv.Port())
			if !errors.As(err, &ce) {
				t.Fatalf("want a ConnError, got %T", err)
			}
		})
	}
}

// TestFactoryCloseIdleConnections: with closeIdleConnections and
// connectionTimeout=1s, an idle client is closed by its own idle check.
func TestFactoryCloseIdleConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{}) // the server never closes idle ones
			c, f := clientTo(t, testConf(t, mode, "connectionTimeout=1s"), &testHandler{}, e.srv.Port(), WithCloseIdleConnections(true))
			if resp, err := c.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
				t.Fatalf("%q %v", resp, err)
			}
			waitDone(t, c.Done(), "the idle client to be closed")
			mustContain(t, c.Err(), "idle")
			c2, err := f.CreateClient("127.0.0.1", e.srv.Port())
			if err != nil || c2 == c {
				t.Fatalf("after the idle close: %v (same client: %v)", err, c2 == c)
			}
		})
	}
}

// TestFactoryFastFail: a second connect within 95% of retryWait of a failed
// one fails at once with ErrFastFail; without fast-fail, or with a zero
// window, a real connect is tried.
func TestFactoryFastFail(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			port := closedPort(t)
			ctx := NewContext(testConf(t, mode, "retryWait=3600s"), &testHandler{})
			f := ctx.NewClientFactory()
			t.Cleanup(func() { f.Close(); ctx.Close() })

			_, err := f.CreateClientFastFail("127.0.0.1", port)
			var ce *ConnError
			if err == nil || errors.Is(err, ErrFastFail) || !errors.As(err, &ce) || ce.Op != "connect" {
				t.Fatalf("first attempt: want a connect error, got %v", err)
			}
			_, err = f.CreateClientFastFail("127.0.0.1", port)
			if !errors.Is(err, ErrFastFail) {
				t.Fatalf("second attempt: want ErrFastFail, got %v", err)
			}
			_, err = f.CreateClient("127.0.0.1", port)
			if err == nil || errors.Is(err, ErrFastFail) {
				t.Fatalf("without fast-fail: want a real connect error, got %v", err)
			}

			ctx0 := NewContext(testConf(t, mode, "retryWait=0"), &testHandler{})
			f0 := ctx0.NewClientFactory()
			t.Cleanup(func() { f0.Close(); ctx0.Close() })
			for i := range 2 {
				if _, err := f0.CreateClientFastFail("127.0.0.1", port); err == nil || errors.Is(err, ErrFastFail) {
					t.Fatalf("retryWait=0, attempt %d: %v", i, err)
				}
			}
		})
	}
}

// TestFactoryUnlimitedTimeouts: zero (or negative) connection and creation
// timeouts mean "no limit", and connecting still works.
func TestFactoryUnlimitedTimeouts(t *testing.T) {
	for _, mode := range modes {
		for _, v := range []string{"0", "-1"} {
			t.Run(string(mode)+"/"+v, func(t *testing.T) {
				checkLeaks(t)
				conf := testConf(t, mode, "connectionTimeout="+v, "connectionCreationTimeout="+v)
				if conf.ConnectionTimeout > 0 || conf.ConnectionCreationTimeout > 0 {
					t.Fatalf("timeouts %v / %v", conf.ConnectionTimeout, conf.ConnectionCreationTimeout)
				}
				e := newEnv(t, conf, &testHandler{})
				c := e.client(t)
				if resp, err := c.SendRpcSync([]byte("x"), 0); err != nil || string(resp) != "x" {
					t.Fatalf("%q %v", resp, err)
				}
				u, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
				if err != nil {
					t.Fatal(err)
				}
				defer u.Close()
				if u == c {
					t.Fatal("an unmanaged client came from the pool")
				}
				if resp, err := u.SendRpcSync([]byte("y"), 0); err != nil || string(resp) != "y" {
					t.Fatalf("%q %v", resp, err)
				}
			})
		}
	}
}

type failingBootstrap struct{ calls int }

func (b *failingBootstrap) DoBootstrap(*Setup) error {
	b.calls++
	return errors.New("bootstrap says no")
}

// TestFactoryBootstrapFailure: a failing client bootstrap closes the new
// connection and returns its error.
func TestFactoryBootstrapFailure(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newObservingHandler(&testHandler{})
			e := newEnv(t, testConf(t, mode), h)
			b := &failingBootstrap{}
			f := e.ctx.NewClientFactory(b)
			t.Cleanup(func() { f.Close() })
			_, err := f.CreateClient("127.0.0.1", e.srv.Port())
			mustContain(t, err, "bootstrap says no")
			if b.calls != 1 {
				t.Fatalf("bootstrap ran %d times", b.calls)
			}
			sc := recv(t, h.actives, "the server to accept")
			waitDone(t, sc.Done(), "the server to see the connection close")
		})
	}
}
