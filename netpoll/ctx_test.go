package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// TestZeroConf: the zero Conf (and one with only a mode) makes a working
// server and client in both io modes; nothing panics.
func TestZeroConf(t *testing.T) {
	checkLeaks(t)
	for _, conf := range []Conf{{}, {Mode: EPOLL}, {Mode: NIO}, {Mode: AUTO}} {
		t.Run(string(conf.Mode), func(t *testing.T) {
			e := newEnv(t, conf, newEchoHandler(nil))
			got := e.ctx.Conf()
			if got.Module != "rpc" || (got.Mode != EPOLL && got.Mode != NIO) || got.NumConnectionsPerPeer != 1 {
				t.Fatalf("defaults not applied: %+v", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := e.factory.CreateClientContext(ctx, "127.0.0.1", e.srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.SendRpcSyncContext(ctx, []byte("hello"))
			if err != nil || string(resp) != "hello" {
				t.Fatalf("echo: %q, %v", resp, err)
			}
		})
	}
}

// TestNilHandlerRefuses: a Context without a handler answers every RPC
// with a failure that says so.
func TestNilHandlerRefuses(t *testing.T) {
	checkLeaks(t)
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, Conf{Mode: m}, nil)
			_, err := e.client(t).SendRpcSync([]byte("x"), 20*time.Second)
			var re *RemoteError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, "no RpcHandler") {
				t.Fatalf("err = %v, want a RemoteError naming the missing handler", err)
			}
		})
	}
}

// TestInvalidConfRefused: an invalid Conf is an error from NewServer and
// every connect, naming the key, never a panic.
func TestInvalidConfRefused(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		conf Conf
		key  string
	}{
		{Conf{NumConnectionsPerPeer: -1}, "numConnectionsPerPeer"},
		{Conf{MaxQueuedBytes: -1}, "limits"},
		{Conf{Mode: "KQUEUE"}, "io.mode"},
		{Conf{MaxBufferedBytes: -5}, BudgetKey},
	} {
		if err := tc.conf.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%+v: Validate() = %v, want an error naming %s", tc.conf, err, tc.key)
		}
		ctx := NewContext(tc.conf, newEchoHandler(nil))
		if srv, err := ctx.NewServer("127.0.0.1", 0); err == nil {
			srv.Close()
			t.Errorf("%+v: NewServer accepted an invalid conf", tc.conf)
		}
		f := ctx.NewClientFactory()
		if _, err := f.CreateClient("127.0.0.1", 1); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%+v: CreateClient = %v, want an error naming %s", tc.conf, err, tc.key)
		}
		if _, err := f.CreateUnmanagedClient("127.0.0.1", 1); err == nil {
			t.Errorf("%+v: CreateUnmanagedClient accepted an invalid conf", tc.conf)
		}
		f.Close()
		ctx.Close()
	}
	if err := (Conf{}).Validate(); err != nil {
		t.Errorf("the zero Conf is valid after defaults, got %v", err)
	}
}

// silentHandler never answers RPCs; it keeps their responders so that the
// test can answer them at the end (the connection closes then anyway).
type silentHandler struct{ got chan *Responder }

func (h *silentHandler) Receive(_ *Client, _ []byte, r *Responder) { h.got <- r }
func (h *silentHandler) ReceiveOneWay(*Client, []byte)             {}
func (h *silentHandler) StreamManager() StreamManager              { return nil }

// TestSyncRPCDeadlines: a deadline that passes in a synchronous call is a
// *TimeoutError satisfying errors.Is(err, context.DeadlineExceeded), for
// SendRpcSync's timeout and SendRpcSyncContext's context; cancelling
// gives context.Canceled; the context form removes its request.
func TestSyncRPCDeadlines(t *testing.T) {
	checkLeaks(t)
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			h := &silentHandler{got: make(chan *Responder, 8)}
			e := newEnv(t, testConf(t, m), h)
			c := e.client(t)

			_, err := c.SendRpcSync([]byte("a"), 20*time.Millisecond)
			var te *TimeoutError
			if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendRpcSync: %v, want a TimeoutError that is context.DeadlineExceeded", err)
			}
			recv(t, h.got, "the first request")

			before := c.NumOutstanding()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err = c.SendRpcSyncContext(ctx, []byte("b"))
			cancel()
			if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendRpcSyncContext: %v, want a TimeoutError that is context.DeadlineExceeded", err)
			}
			if n := c.NumOutstanding(); n != before {
				t.Fatalf("outstanding requests %d, want %d: the context form must remove its request", n, before)
			}

			ctx, cancel = context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := c.SendRpcSyncContext(ctx, []byte("c"))
				done <- err
			}()
			recv(t, h.got, "the second request")
			recv(t, h.got, "the third request")
			cancel()
			err = recv(t, done, "the cancelled call")
			if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cancelled: %v, want context.Canceled", err)
			}
			if _, err := c.SendRpcSyncContext(ctx, []byte("d")); !errors.Is(err, context.Canceled) {
				t.Fatalf("a done context: %v, want context.Canceled before sending", err)
			}
		})
	}
}

// blockingBootstrap asks the server and waits without a limit: only the
// context of CreateClientContext can end it.
type blockingBootstrap struct{}

func (blockingBootstrap) DoBootstrap(s *Setup) error {
	_, err := s.Client().SendRpcSync([]byte("hello?"), 0)
	return err
}

// TestCreateClientContext: a done context refuses at once; a deadline
// that passes during a bootstrap closes the connection and the error is
// context.DeadlineExceeded.
func TestCreateClientContext(t *testing.T) {
	checkLeaks(t)
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			h := &silentHandler{got: make(chan *Responder, 8)}
			e := newEnv(t, testConf(t, m), h)

			done, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := e.factory.CreateClientContext(done, "127.0.0.1", e.srv.Port()); !errors.Is(err, context.Canceled) {
				t.Fatalf("done context: %v", err)
			}

			f := e.ctx.NewClientFactory(blockingBootstrap{})
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := f.CreateClientContext(ctx, "127.0.0.1", e.srv.Port())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("bootstrap past the deadline: %v, want context.DeadlineExceeded", err)
			}
			var ce *ConnError
			if !errors.As(err, &ce) || ce.Op != "bootstrap" {
				t.Fatalf("want a bootstrap ConnError, got %T %v", err, err)
			}
			waitFor(t, "the abandoned connection to close at the server", func() bool { return e.srv.NumConnections() == 0 })
		})
	}
}

// TestNewTLS: Go tls.Configs drive the transport's TLS in both modes; the
// client verifies the server against the host it dials, and a client
// that does not trust the server's certificate cannot connect.
func TestNewTLS(t *testing.T) {
	checkLeaks(t)
	cert, pool := testutil.SelfSignedCA(t)
	_, otherPool := testutil.SelfSignedCA(t)
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			srvTLS := NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil)
			e := newEnv(t, Conf{Mode: m}, newEchoHandler(nil), WithTLS(srvTLS))

			good := NewContext(Conf{Mode: m}, nil, WithTLS(NewTLS(nil, &tls.Config{RootCAs: pool})))
			defer good.Close()
			gf := good.NewClientFactory()
			defer gf.Close()
			c, err := gf.CreateClientContext(context.Background(), "127.0.0.1", e.srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if resp, err := c.SendRpcSyncContext(ctx, []byte("over tls")); err != nil || string(resp) != "over tls" {
				t.Fatalf("echo over TLS: %q, %v", resp, err)
			}

			bad := NewContext(Conf{Mode: m}, nil, WithTLS(NewTLS(nil, &tls.Config{RootCAs: otherPool})))
			defer bad.Close()
			bf := bad.NewClientFactory()
			defer bf.Close()
			if _, err := bf.CreateClient("127.0.0.1", e.srv.Port()); err == nil || !strings.Contains(err.Error(), "tls handshake") {
				t.Fatalf("an untrusted server: %v, want a tls handshake error", err)
			}
		})
	}
}
