package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/ember-rpc/ember/shuffle"
)

// TestZeroConfigs: the public entry points take their zero configuration
// (on loopback where they listen): defaults, no error and no panic.
// netpoll's zero Conf is covered by netpoll.TestZeroConf and extmod.
func TestZeroConfigs(t *testing.T) {
	testutil.CheckLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client, err := rpcenv.Create(rpcenv.Config{ClientMode: true})
	if err != nil {
		t.Fatalf("rpcenv client with a zero config: %v", err)
	}
	server, err := rpcenv.Create(rpcenv.Config{BindHost: "127.0.0.1"})
	if err != nil {
		t.Fatalf("rpcenv server with a zero config but the host: %v", err)
	}
	if _, err := client.SetupEndpointRefContext(ctx, server.Address(), rpcenv.VerifierName); err != nil {
		t.Errorf("looking up the server's verifier: %v", err)
	}
	for _, e := range []*rpcenv.Env{client, server} {
		if err := e.ShutdownContext(ctx); err != nil {
			t.Error(err)
		}
	}

	svc, err := shuffle.NewService(shuffle.ServiceConfig{Host: "127.0.0.1"})
	if err != nil {
		t.Fatalf("shuffle service with a zero config but the host: %v", err)
	}
	if svc.Port() <= 0 {
		t.Errorf("shuffle service port %d", svc.Port())
	}
	if err := svc.Close(); err != nil {
		t.Error(err)
	}
	cl, err := shuffle.NewClient(shuffle.ClientConfig{})
	if err != nil {
		t.Fatalf("shuffle client with a zero config: %v", err)
	}
	if err := cl.Close(); err != nil {
		t.Error(err)
	}
}
