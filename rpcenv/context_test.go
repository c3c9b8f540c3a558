package rpcenv

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestTimeoutIsDeadlineExceeded: every way an ask runs out of time is a
// *TimeoutError that satisfies errors.Is(err, context.DeadlineExceeded),
// local and remote; a cancelled ask is context.Canceled and not a
// deadline.
func TestTimeoutIsDeadlineExceeded(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		cli := startEnv(t, client(mode, "spark.rpc.askTimeout", "30ms"))
		setup(t, srv, "silent", newSilent())
		local := setup(t, srv, "silent-local", newSilent())
		remote := lookup(t, cli, srv, "silent")

		for name, ask := range map[string]func() error{
			"local Ask with a deadline": func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				_, err := local.Ask(ctx, "x")
				return err
			},
			"remote Ask with a deadline": func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				_, err := Ask[string](ctx, remote, "x")
				return err
			},
			"remote AskSync (spark.rpc.askTimeout)": func() error {
				_, err := remote.AskSync("x")
				return err
			},
			"remote AskTimeout": func() error {
				_, err := remote.AskTimeout("x", 20*time.Millisecond)
				return err
			},
		} {
			err := ask()
			var te *TimeoutError
			if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want a *TimeoutError that is context.DeadlineExceeded", name, err)
			}
		}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := remote.Ask(ctx, "x")
			done <- err
		}()
		cancel()
		if err := recv(t, done, "the cancelled ask"); !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("cancelled ask: %v, want context.Canceled only", err)
		}
	})
}

// TestSetupEndpointRefContext: the lookup honours the context: found,
// not found, and cancelled before it starts.
func TestSetupEndpointRefContext(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		cli := startEnv(t, client(mode))
		setup(t, srv, "echo", newRecorder(srv))
		ref, err := cli.SetupEndpointRefContext(bigCtx(t), srv.Address(), "echo")
		if err != nil || ref.Name() != "echo" {
			t.Fatalf("lookup: %v, %v", ref, err)
		}
		var nf *NotFoundError
		if _, err := cli.SetupEndpointRefContext(bigCtx(t), srv.Address(), "nobody"); !errors.As(err, &nf) {
			t.Errorf("missing endpoint: %v, want a *NotFoundError", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := cli.SetupEndpointRefByURIContext(ctx, EndpointAddress{Addr: srv.Address(), Name: "echo"}.String()); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled lookup: %v", err)
		}
	})
}

// stuckStopper's OnStop waits until released: a shutdown cannot finish
// before that.
type stuckStopper struct {
	BaseEndpoint
	release chan struct{}
}

func (s *stuckStopper) OnStop() { <-s.release }

// TestShutdownContext: ShutdownContext returns the context's error while
// an endpoint's OnStop holds the shutdown up, and nil once it has
// finished; AwaitTermination then returns.
func TestShutdownContext(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		e, err := createEnv(server(mode))
		if err != nil {
			t.Fatal(err)
		}
		stuck := &stuckStopper{release: make(chan struct{})}
		setup(t, e, "stuck", stuck)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := e.ShutdownContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ShutdownContext with a stuck OnStop: %v, want context.DeadlineExceeded", err)
		}
		close(stuck.release)
		if err := e.ShutdownContext(bigCtx(t)); err != nil {
			t.Fatalf("ShutdownContext after release: %v", err)
		}
		e.AwaitTermination()
		if _, err := e.SetupEndpoint("late", newRecorder(e)); err == nil {
			t.Error("an env shut down accepted an endpoint")
		}
	})
}

// TestConfigTLS: Config.TLS (from crypto/tls) carries an env's traffic;
// a client that does not trust the server's certificate cannot look it
// up, and one without TLS cannot either.
func TestConfigTLS(t *testing.T) {
	cert, pool := testutil.SelfSignedCA(t)
	_, otherPool := testutil.SelfSignedCA(t)
	eachMode(t, func(t *testing.T, mode string) {
		mk := func(name string, clientMode bool, tl *netpoll.TLS) *Env {
			t.Helper()
			e, err := Create(Config{Name: name, BindHost: "127.0.0.1", ClientMode: clientMode, TLS: tl, Logger: testLogger(),
				Conf: sparkconf.New().Set("spark.rpc.io.mode", mode).Set("spark.rpc.lookupTimeout", "5s")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Shutdown)
			return e
		}
		srv := mk("server", false, netpoll.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool}))
		setup(t, srv, "echo", newRecorder(srv))
		good := mk("good", true, netpoll.NewTLS(nil, &tls.Config{RootCAs: pool}))
		ref, err := good.SetupEndpointRefContext(bigCtx(t), srv.Address(), "echo")
		if err != nil {
			t.Fatalf("lookup over TLS: %v", err)
		}
		askOK(t, ref, "over tls")
		for name, tl := range map[string]*netpoll.TLS{
			"untrusting": netpoll.NewTLS(nil, &tls.Config{RootCAs: otherPool}),
			"plain":      nil,
		} {
			c := mk(name, true, tl)
			if _, err := c.SetupEndpointRefContext(bigCtx(t), srv.Address(), "echo"); err == nil {
				t.Errorf("a %s client looked the endpoint up", name)
			}
		}
	})
}
