// Command extmod uses Ember as another module does: only its public
// packages, through the replace directive in go.mod. internal/apitest
// builds and runs it; every check prints one "ok" line, and any failure
// exits 1 with what went wrong.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/ember-rpc/ember/shuffle"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, mode := range []string{"EPOLL", "NIO"} {
		for _, check := range []struct {
			name string
			run  func(context.Context, string) error
		}{
			{"zero-conf echo", zeroConfEcho},
			{"authenticated, encrypted echo from Spark keys", authEcho},
			{"TLS from crypto/tls", tlsEcho},
			{"deadline is context.DeadlineExceeded", rpcDeadline},
			{"actor ask with auth", actorAsk},
			{"actor ask over TLS", actorAskTLS},
			{"shuffle fetch", shuffleFetch},
		} {
			if err := check.run(ctx, mode); err != nil {
				fmt.Printf("FAIL %s %s: %v\n", mode, check.name, err)
				os.Exit(1)
			}
			fmt.Printf("ok %s %s\n", mode, check.name)
		}
	}
	if err := registryClash(); err != nil {
		fmt.Printf("FAIL registry clash: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("ok registry clash is an error")
}

// echo answers every RPC with its request.
type echo struct{}

func (echo) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(append([]byte(nil), msg...))
}
func (echo) ReceiveOneWay(*netpoll.Client, []byte) {}
func (echo) StreamManager() netpoll.StreamManager  { return nil }

// roundTrip serves echo on a server context and asks it once from a
// client context.
func roundTrip(ctx context.Context, srvCtx, cliCtx *netpoll.Context, boots []netpoll.ServerBootstrap, cboots []netpoll.ClientBootstrap) error {
	srv, err := srvCtx.NewServer("127.0.0.1", 0, boots...)
	if err != nil {
		return err
	}
	defer srv.Close()
	f := cliCtx.NewClientFactory(cboots...)
	defer f.Close()
	c, err := f.CreateClientContext(ctx, "127.0.0.1", srv.Port())
	if err != nil {
		return err
	}
	resp, err := c.SendRpcSyncContext(ctx, []byte("ping"))
	if err != nil {
		return err
	}
	if string(resp) != "ping" {
		return fmt.Errorf("echo answered %q", resp)
	}
	return nil
}

func zeroConfEcho(ctx context.Context, mode string) error {
	tc := netpoll.NewContext(netpoll.Conf{Mode: netpoll.IOMode(mode)}, echo{}, netpoll.WithLogger(quiet))
	defer tc.Close()
	return roundTrip(ctx, tc, tc, nil, nil)
}

// authEcho configures the transport as a daemon would, from Spark's keys:
// spark.authenticate with a secret, AES-CTR session encryption, io mode
// and timeouts.
func authEcho(ctx context.Context, mode string) error {
	props := sparkconf.New().
		Set("spark.authenticate", "true").
		Set("spark.authenticate.secret", "a shared secret for the example").
		Set("spark.network.crypto.enabled", "true").
		Set("spark.rpc.io.mode", mode).
		Set("spark.rpc.io.connectionTimeout", "30s")
	conf, err := netpoll.NewConf("rpc", props, "")
	if err != nil {
		return err
	}
	if conf.ConnectionTimeout != 30*time.Second || string(conf.Mode) != mode {
		return fmt.Errorf("NewConf read %v, %s", conf.ConnectionTimeout, conf.Mode)
	}
	sec, err := auth.Configure(props, "rpc", auth.SaslUser, quiet)
	if err != nil {
		return err
	}
	if len(sec.Client) == 0 || len(sec.Server) == 0 {
		return errors.New("spark.authenticate gave no bootstraps")
	}
	srvCtx := netpoll.NewContext(conf, echo{}, netpoll.WithLogger(quiet))
	defer srvCtx.Close()
	cliCtx := netpoll.NewContext(conf, nil, netpoll.WithLogger(quiet))
	defer cliCtx.Close()
	if err := roundTrip(ctx, srvCtx, cliCtx, sec.Server, sec.Client); err != nil {
		return err
	}
	// The wrong secret is refused.
	wrong, err := auth.Configure(sparkconf.New().Set("spark.authenticate", "true").
		Set("spark.authenticate.secret", "not the secret").Set("spark.network.crypto.enabled", "true"),
		"rpc", auth.SaslUser, quiet)
	if err != nil {
		return err
	}
	if err := roundTrip(ctx, srvCtx, cliCtx, sec.Server, wrong.Client); err == nil {
		return errors.New("a client with the wrong secret was served")
	}
	return nil
}

func tlsEcho(ctx context.Context, mode string) error {
	cert, pool, err := selfSigned()
	if err != nil {
		return err
	}
	srvTLS := netpoll.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil)
	cliTLS := netpoll.NewTLS(nil, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	conf := netpoll.DefaultConf("rpc")
	conf.Mode = netpoll.IOMode(mode)
	srvCtx := netpoll.NewContext(conf, echo{}, netpoll.WithTLS(srvTLS), netpoll.WithLogger(quiet))
	defer srvCtx.Close()
	cliCtx := netpoll.NewContext(conf, nil, netpoll.WithTLS(cliTLS), netpoll.WithLogger(quiet))
	defer cliCtx.Close()
	return roundTrip(ctx, srvCtx, cliCtx, nil, nil)
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, nil
}

// silent never answers.
type silent struct{ echo }

func (silent) Receive(*netpoll.Client, []byte, *netpoll.Responder) {}

func rpcDeadline(ctx context.Context, mode string) error {
	tc := netpoll.NewContext(netpoll.Conf{Mode: netpoll.IOMode(mode)}, silent{}, netpoll.WithLogger(quiet))
	defer tc.Close()
	srv, err := tc.NewServer("127.0.0.1", 0)
	if err != nil {
		return err
	}
	defer srv.Close()
	f := tc.NewClientFactory()
	defer f.Close()
	c, err := f.CreateClientContext(ctx, "127.0.0.1", srv.Port())
	if err != nil {
		return err
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = c.SendRpcSyncContext(short, []byte("x"))
	var te *netpoll.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("transport: %v is not a TimeoutError that is context.DeadlineExceeded", err)
	}
	return nil
}

type Ping struct{ N int }
type Pong struct{ N int }

func init() {
	rpcenv.MustRegister[Ping]("extmod.Ping")
	rpcenv.MustRegister[Pong]("extmod.Pong")
}

type counter struct{ rpcenv.BaseEndpoint }

func (counter) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	switch m := msg.(type) {
	case Ping:
		if m.N < 0 {
			return nil // never answers: the asker times out
		}
		cc.Reply(Pong{N: m.N + 1})
		return nil
	}
	return rpcenv.ErrUnsupported
}

func actorAsk(ctx context.Context, mode string) error {
	conf := sparkconf.New().
		Set("spark.authenticate", "true").
		Set("spark.authenticate.secret", "env secret").
		Set("spark.network.crypto.enabled", "true").
		Set("spark.rpc.io.mode", mode).
		Set("spark.rpc.askTimeout", "30s")
	server, err := rpcenv.Create(rpcenv.Config{Name: "server", BindHost: "127.0.0.1", Conf: conf, Logger: quiet})
	if err != nil {
		return err
	}
	defer server.ShutdownContext(ctx)
	if _, err := server.SetupEndpoint("counter", counter{}); err != nil {
		return err
	}
	client, err := rpcenv.Create(rpcenv.Config{Name: "client", ClientMode: true, Conf: conf, Logger: quiet})
	if err != nil {
		return err
	}
	ref, err := client.SetupEndpointRefContext(ctx, server.Address(), "counter")
	if err != nil {
		return err
	}
	pong, err := rpcenv.Ask[Pong](ctx, ref, Ping{N: 1})
	if err != nil {
		return err
	}
	if pong.N != 2 {
		return fmt.Errorf("pong %d", pong.N)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = ref.Ask(short, Ping{N: -1})
	var te *rpcenv.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ask: %v is not a TimeoutError that is context.DeadlineExceeded", err)
	}
	// A client with another secret is refused.
	other := sparkconf.New().Set("spark.authenticate", "true").Set("spark.authenticate.secret", "wrong").
		Set("spark.network.crypto.enabled", "true").Set("spark.rpc.io.mode", mode)
	intruder, err := rpcenv.Create(rpcenv.Config{Name: "intruder", ClientMode: true, Conf: other, Logger: quiet})
	if err != nil {
		return err
	}
	if _, err := intruder.SetupEndpointRefContext(ctx, server.Address(), "counter"); err == nil {
		return errors.New("a client with the wrong secret looked the endpoint up")
	}
	if err := intruder.ShutdownContext(ctx); err != nil {
		return err
	}
	return client.ShutdownContext(ctx)
}

// actorAskTLS runs the envs over TLS from crypto/tls (rpcenv.Config.TLS).
func actorAskTLS(ctx context.Context, mode string) error {
	cert, pool, err := selfSigned()
	if err != nil {
		return err
	}
	conf := sparkconf.New().Set("spark.rpc.io.mode", mode)
	server, err := rpcenv.Create(rpcenv.Config{Name: "server", BindHost: "127.0.0.1", Conf: conf, Logger: quiet,
		TLS: netpoll.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool})})
	if err != nil {
		return err
	}
	defer server.ShutdownContext(ctx)
	if _, err := server.SetupEndpoint("counter", counter{}); err != nil {
		return err
	}
	client, err := rpcenv.Create(rpcenv.Config{Name: "client", ClientMode: true, Conf: conf, Logger: quiet,
		TLS: netpoll.NewTLS(nil, &tls.Config{RootCAs: pool})})
	if err != nil {
		return err
	}
	defer client.ShutdownContext(ctx)
	ref, err := client.SetupEndpointRefContext(ctx, server.Address(), "counter")
	if err != nil {
		return err
	}
	pong, err := rpcenv.Ask[Pong](ctx, ref, Ping{N: 9})
	if err != nil {
		return err
	}
	if pong.N != 10 {
		return fmt.Errorf("pong %d", pong.N)
	}
	return nil
}

func shuffleFetch(ctx context.Context, mode string) error {
	dir, err := os.MkdirTemp("", "extmod-shuffle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, "blockmgr-0")
	if err := os.Mkdir(local, 0o755); err != nil {
		return err
	}
	w, err := shuffle.NewMapOutputWriter([]string{local}, 2, 3, 0)
	if err != nil {
		return err
	}
	for _, p := range []string{"first", "second", "third"} {
		if err := w.WritePartition(strings.NewReader(p)); err != nil {
			return err
		}
	}
	if _, err := w.Commit(); err != nil {
		return err
	}
	conf := sparkconf.New().Set("spark.shuffle.io.mode", mode)
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: "127.0.0.1", Port: 0, Logger: quiet})
	if err != nil {
		return err
	}
	defer svc.Close()
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: "extmod-app", TmpDir: dir, Logger: quiet})
	if err != nil {
		return err
	}
	defer cl.Close()
	info := shuffle.ExecutorShuffleInfo{LocalDirs: []string{local}, SubDirsPerLocalDir: 2, ShuffleManager: shuffle.SortShuffleManager}
	if err := cl.RegisterWithShuffleServer("127.0.0.1", svc.Port(), "exec-0", info); err != nil {
		return err
	}
	got := map[string]string{}
	req := shuffle.FetchRequest{Host: "127.0.0.1", Port: svc.Port(), ExecID: "exec-0",
		Blocks: []shuffle.BlockInfo{{ID: "shuffle_3_0_0", Size: 5}, {ID: "shuffle_3_0_2", Size: 5}}}
	var mu sync.Mutex // onBlock may run concurrently
	err = cl.FetchAll(ctx, []shuffle.FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
		b, err := data.Bytes()
		if err != nil {
			return err
		}
		mu.Lock()
		got[id] = string(b)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if got["shuffle_3_0_0"] != "first" || got["shuffle_3_0_2"] != "third" || len(got) != 2 {
		return fmt.Errorf("fetched %v", got)
	}
	return nil
}

func registryClash() error {
	type NotPing struct{}
	err := rpcenv.Register[NotPing]("extmod.Ping")
	if !errors.Is(err, rpcenv.ErrNameConflict) {
		return fmt.Errorf("Register of a taken name: %v", err)
	}
	return nil
}
