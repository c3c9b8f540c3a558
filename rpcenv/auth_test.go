package rpcenv

import (
	"context"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// RPC-env messaging under each authentication mode (Spark's RpcEnvSuite
// "send/ask with authentication / SASL encryption / AES encryption"), and
// a peer with the wrong secret cannot reach an endpoint.
func TestAuthModes(t *testing.T) {
	base := []string{"spark.authenticate", "true", "spark.authenticate.secret", "good-secret", "spark.rpc.askTimeout", "10s"}
	cases := []struct {
		name string
		kv   []string
	}{
		{"sasl", nil},
		{"sasl-encryption", []string{"spark.authenticate.enableSaslEncryption", "true"}},
		{"aes-ctr", []string{"spark.network.crypto.enabled", "true"}},
		{"aes-ctr-v2", []string{"spark.network.crypto.enabled", "true", "spark.network.crypto.authEngineVersion", "2"}},
	}
	for _, mode := range []string{"EPOLL", "NIO"} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				kv := append(append([]string{"spark.rpc.io.mode", mode}, base...), tc.kv...)
				a := newTestEnv(t, "a", kv...)
				b := newTestEnv(t, "b", kv...)
				ep := &pingEndpoint{got: make(chan ping, 10)}
				if _, err := b.SetupEndpoint("ping", ep); err != nil {
					t.Fatal(err)
				}
				ref, err := a.SetupEndpointRef(b.Address(), "ping")
				if err != nil {
					t.Fatal(err)
				}
				v, err := ref.Ask(context.Background(), ping{N: 41})
				if err != nil || v.(pong).N != 42 {
					t.Fatalf("ask: %v %v", v, err)
				}
				if err := ref.Send(ping{N: 7}); err != nil {
					t.Fatal(err)
				}
				if got := <-ep.got; got.N != 7 {
					t.Fatalf("send delivered %v", got)
				}

				// A peer with another secret is refused.
				bad := append([]string{}, kv...)
				for i := range bad {
					if bad[i] == "good-secret" {
						bad[i] = "bad-secret"
					}
				}
				c := newTestEnv(t, "c", append(bad, "spark.rpc.lookupTimeout", "5s")...)
				_, err = c.SetupEndpointRef(b.Address(), "ping")
				if err == nil {
					t.Fatal("lookup with the wrong secret succeeded")
				}
				if !strings.Contains(err.Error(), "uthentication") && !strings.Contains(err.Error(), "auth") {
					t.Fatalf("error does not mention authentication: %v", err)
				}
			})
		}
	}
}

// A misconfigured secret is reported when the env is created.
func TestAuthWithoutSecret(t *testing.T) {
	t.Setenv("_SPARK_AUTH_SECRET", "")
	_, err := Create(Config{Name: "x", BindHost: "127.0.0.1", Conf: confOf("spark.authenticate", "true")})
	if err == nil || !strings.Contains(err.Error(), "spark.authenticate.secret") {
		t.Fatalf("want an error naming spark.authenticate.secret, got %v", err)
	}
}

func confOf(kv ...string) *sparkconf.Conf {
	c := sparkconf.New()
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}
