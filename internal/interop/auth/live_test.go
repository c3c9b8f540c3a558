package auth

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
)

const (
	secret = "4a1b3c5d7e9f00112233445566778899"
	appID  = "app-interop"
	mib    = 1 << 20
)

// marker is the recognisable plaintext the tap looks for.
var marker = []byte("EMBER-PLAINTEXT-MARKER-7d41c2")

var ioModes = []netpoll.IOMode{netpoll.EPOLL, netpoll.NIO}

func authKV(extra ...string) []string {
	return append([]string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}, extra...)
}

// secMode is one way of securing a connection, the same settings on both
// ends.
type secMode struct {
	name      string
	kv        []string
	tls       bool
	encrypted bool // the marker must not cross the tap
	// slow: SASL auth-conf negotiates 3DES, a few MB/s; the chunk and
	// the upload are smaller (the RPCs keep their 1 MiB).
	slow bool
}

var secModes = []secMode{
	{"plain", nil, false, false, false},
	{"ctr-v1", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=1"), false, true, false},
	{"ctr-v2", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2"), false, true, false},
	{"gcm-v1", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=1", "spark.network.crypto.cipher=AES/GCM/NoPadding"), false, true, false},
	{"gcm-v2", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2", "spark.network.crypto.cipher=AES/GCM/NoPadding"), false, true, false},
	{"sasl", authKV(), false, false, false},
	{"sasl-conf", authKV("spark.authenticate.enableSaslEncryption=true"), false, true, true},
	{"sasl-always", authKV("spark.authenticate.enableSaslEncryption=true", "spark.network.sasl.serverAlwaysEncrypt=true"), false, true, true},
	{"tls", nil, true, true, false},
	// TLS with a session cipher: Spark seals the TLS records
	// (cipher(TLS(frames))), and so must Ember.
	{"tls+gcm-v2", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2", "spark.network.crypto.cipher=AES/GCM/NoPadding"), true, true, false},
	{"tls+ctr-v1", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=1"), true, true, false},
	{"tls+sasl-conf", authKV("spark.authenticate.enableSaslEncryption=true"), true, true, true},
}

func (m secMode) settings(c *certs) []string {
	kv := append([]string(nil), m.kv...)
	if m.tls {
		kv = append(kv, c.kv()...)
	}
	return kv
}

// TestLive runs every security mode in both directions (Spark client →
// Ember server, Ember client → Spark server) and both Ember io modes, all
// through a tap: RPCs (one carrying the marker, one of 1 MiB), a
// file-backed chunk fetch and an upload. The marker must cross the tap in
// the clear exactly when the mode does not encrypt.
//
// One JVM serves every subtest of the package's live tests.
func TestLive(t *testing.T) {
	testutil.CheckLeaks(t)
	p := startPeer(t)
	c := newCerts(t)
	data, path := blob(t, 3*mib/2+77) // several GCM segments, two sealing chunks
	smallData, smallPath := blob(t, 200<<10+33)
	t.Run("modes", func(t *testing.T) {
		for _, m := range secModes {
			kv := m.settings(c)
			data, path := data, path
			if m.slow {
				data, path = smallData, smallPath
			}
			srvID, srvPort := p.sparkServer(t, kv, secret)
			t.Run(m.name+"/spark-to-spark", func(t *testing.T) {
				// The control: Spark against itself in this mode, through
				// a tap.
				tp := newTap(t, srvPort)
				cli, errText := p.sparkClient(t, kv, secret, appID, tp.port())
				if cli == "" {
					t.Fatalf("Spark client could not connect to Spark: %s", errText)
				}
				p.ok(t, "RPC", cli, fmt.Sprint(mib), "9", b64(marker))
				p.ok(t, "CLOSE", cli)
				checkTap(t, tp, m)
				if m.tls {
					// Under TLS alone Spark's client sends nothing but TLS
					// records; with a session cipher too, the records stop
					// after the handshake: the cipher wraps them.
					checkLayerOrder(t, tp, m, "Spark")
				}
			})
			for _, mode := range ioModes {
				t.Run(m.name+"/"+string(mode)+"/spark-to-ember", func(t *testing.T) {
					sparkToEmber(t, p, m, kv, mode, data, path)
				})
				t.Run(m.name+"/"+string(mode)+"/ember-to-spark", func(t *testing.T) {
					emberToSpark(t, p, m, kv, mode, srvID, srvPort, data, path)
				})
			}
		}
	})
	t.Run("gcm-records", func(t *testing.T) { testGCMRecords(t, p) })
	t.Run("fallback", func(t *testing.T) { testFallback(t, p) })
	t.Run("wrong-secret", func(t *testing.T) { testWrongSecret(t, p) })
}

func sparkToEmber(t *testing.T, p *peer, m secMode, kv []string, mode netpoll.IOMode, data []byte, path string) {
	e := newEmber(t, mode, kv, true, "")
	tp := newTap(t, e.srv.Port())
	cli, errText := p.sparkClient(t, kv, secret, appID, tp.port())
	if cli == "" {
		t.Fatalf("Spark client could not connect: %s", errText)
	}
	defer p.ok(t, "CLOSE", cli)
	p.ok(t, "RPC", cli, "64", "1", b64(marker))
	if f := p.ok(t, "RPC", cli, fmt.Sprint(mib), "2", "-"); f[0] != fmt.Sprint(mib) {
		t.Fatalf("1 MiB RPC echoed %s bytes", f[0])
	}
	sid := e.h.sm.RegisterStream(appID, netpoll.BufferChunks{fileSegment(t, path, int64(len(data)))}, nil)
	f := p.ok(t, "FETCH", cli, fmt.Sprint(sid), "0")
	if f[0] != fmt.Sprint(len(data)) || f[1] != sha(data) {
		t.Fatalf("chunk: %s bytes, sha %s; want %d, %s", f[0], f[1], len(data), sha(data))
	}
	p.ok(t, "UPLOAD", cli, fmt.Sprint(uploadSize(m)), "3")
	if n := e.h.uploads.Load(); n != 1 {
		t.Fatalf("%d uploads reached the handler", n)
	}
	checkTap(t, tp, m)
}

func emberToSpark(t *testing.T, p *peer, m secMode, kv []string, mode netpoll.IOMode, srvID string, srvPort int, data []byte, path string) {
	e := newEmber(t, mode, kv, false, appID)
	tp := newTap(t, srvPort)
	c, err := e.factory.CreateUnmanagedClient("127.0.0.1", tp.port())
	if err != nil {
		t.Fatalf("Ember client could not connect: %v", err)
	}
	defer c.Close()
	if m.kv != nil && c.Encrypted() != m.encrypted {
		t.Fatalf("Encrypted() = %t, want %t", c.Encrypted(), m.encrypted)
	}
	small := append(append([]byte(nil), marker...), "-from-ember"...)
	if r, err := c.SendRpcSync(small, time.Minute); err != nil || !bytes.Equal(r, small) {
		t.Fatalf("small RPC: %q %v", r, err)
	}
	big := make([]byte, mib)
	_, _ = rand.NewChaCha8([32]byte{4, 5}).Read(big)
	if r, err := c.SendRpcSync(big, time.Minute); err != nil || !bytes.Equal(r, big) {
		t.Fatalf("1 MiB RPC: %d bytes back, %v", len(r), err)
	}
	var id int64
	if _, err := fmt.Sscan(p.ok(t, "FILE", srvID, b64([]byte(path)), appID)[0], &id); err != nil {
		t.Fatal(err)
	}
	got, err := fetch(c, id, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("chunk: %d bytes, %v", len(got), err)
	}
	body := big[:uploadSize(m)]
	if r, err := upload(c, body); err != nil || r != sha(body) {
		t.Fatalf("upload: reply %q, %v; want %s", r, err, sha(body))
	}
	checkTap(t, tp, m)
	if m.tls {
		checkLayerOrder(t, tp, m, "Ember")
	}
}

// checkLayerOrder checks the client's side of a TLS connection as Spark
// writes it: only TLS records under TLS alone; with a session cipher too,
// TLS records up to the end of the handshake and then the cipher's
// records wrapping them (cipher(TLS(frames))).
func checkLayerOrder(t *testing.T, tp *tap, m secMode, who string) {
	t.Helper()
	parsed, total := tp.tlsRecords()
	if cipherToo := m.kv != nil; (parsed < total) != cipherToo || parsed == 0 {
		t.Fatalf("%d of %d bytes from %s's client parse as TLS records (session cipher too: %t)", parsed, total, who, cipherToo)
	}
}

func uploadSize(m secMode) int {
	if m.slow {
		return 100 << 10
	}
	return 700 << 10
}

func checkTap(t *testing.T, tp *tap, m secMode) {
	t.Helper()
	if tp.bytes() < mib {
		t.Fatalf("only %d bytes crossed the tap", tp.bytes())
	}
	if seen := tp.contains(marker); seen == m.encrypted {
		t.Fatalf("marker seen on the wire: %t; mode encrypts: %t", seen, m.encrypted)
	}
}

// testFallback: with saslFallback on (the default) an AuthEngine server
// accepts a SASL-only client and an AuthEngine client falls back against a
// SASL-only server; with it off, the AuthEngine side refuses cleanly. A
// serverAlwaysEncrypt server refuses a SASL client that does not ask for
// encryption.
func testFallback(t *testing.T, p *peer) {
	engine := authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2")
	engineNoFallback := append(append([]string(nil), engine...), "spark.network.crypto.saslFallback=false")
	sasl := authKV()
	alwaysEncrypt := authKV("spark.network.sasl.serverAlwaysEncrypt=true")
	cases := []struct {
		name     string
		srv, cli []string
		ok       bool
	}{
		{"engine-server/sasl-client", engine, sasl, true},
		{"sasl-server/engine-client", sasl, engine, true},
		{"no-fallback-server/sasl-client", engineNoFallback, sasl, false},
		{"sasl-server/no-fallback-engine-client", sasl, engineNoFallback, false},
		{"always-encrypt-server/plain-sasl-client", alwaysEncrypt, sasl, false},
	}
	for _, tc := range cases {
		srvID, srvPort := p.sparkServer(t, tc.srv, secret)
		for _, mode := range ioModes {
			t.Run(tc.name+"/"+string(mode)+"/spark-to-ember", func(t *testing.T) {
				e := newEmber(t, mode, tc.srv, true, "")
				cli, errText := p.sparkClient(t, tc.cli, secret, appID, e.srv.Port())
				if !tc.ok {
					if cli != "" {
						p.ok(t, "CLOSE", cli)
						t.Fatal("the Spark client was accepted")
					}
					t.Logf("Spark client error: %s", errText)
					if e.h.rpcs.Load() != 0 {
						t.Fatal("an RPC reached the handler")
					}
					return
				}
				if cli == "" {
					t.Fatalf("Spark client: %s", errText)
				}
				defer p.ok(t, "CLOSE", cli)
				p.ok(t, "RPC", cli, "100", "7", "-")
			})
			t.Run(tc.name+"/"+string(mode)+"/ember-to-spark", func(t *testing.T) {
				e := newEmber(t, mode, tc.cli, false, appID)
				before := p.ok(t, "COUNT", srvID)[0]
				c, err := e.factory.CreateUnmanagedClient("127.0.0.1", srvPort)
				if !tc.ok {
					if err == nil {
						c.Close()
						t.Fatal("the Ember client was accepted")
					}
					t.Logf("Ember client error: %v", err)
					if !strings.Contains(err.Error(), "auth") {
						t.Fatalf("error does not say it is about authentication: %v", err)
					}
					if after := p.ok(t, "COUNT", srvID)[0]; after != before {
						t.Fatalf("RPCs reached Spark's handler: %s -> %s", before, after)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if r, err := c.SendRpcSync([]byte("fallback"), time.Minute); err != nil || string(r) != "fallback" {
					t.Fatalf("%q %v", r, err)
				}
			})
		}
	}
}

// testWrongSecret: a client with the wrong secret fails with an error that
// says authentication failed, nothing reaches the handler, and the server
// goes on serving a client with the right secret.
func testWrongSecret(t *testing.T, p *peer) {
	for _, proto := range []struct {
		name string
		kv   []string
	}{
		{"engine", authKV("spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2", "spark.network.crypto.saslFallback=false")},
		{"sasl", authKV()},
	} {
		srvID, srvPort := p.sparkServer(t, proto.kv, secret)
		for _, mode := range ioModes {
			t.Run(proto.name+"/"+string(mode)+"/spark-to-ember", func(t *testing.T) {
				e := newEmber(t, mode, proto.kv, true, "")
				cli, errText := p.sparkClient(t, proto.kv, "not-the-secret", appID, e.srv.Port())
				if cli != "" {
					p.ok(t, "CLOSE", cli)
					t.Fatal("Spark client with the wrong secret was accepted")
				}
				t.Logf("Spark client error: %s", errText)
				testutil.Eventually(t, 30*time.Second, "the Ember server to log the failed authentication", func() (bool, string) {
					return strings.Contains(e.logs.String(), "authentication failed"), tail(e.logs.String(), 300)
				})
				if e.h.rpcs.Load() != 0 {
					t.Fatal("an RPC reached the handler")
				}
				cli, errText = p.sparkClient(t, proto.kv, secret, appID, e.srv.Port())
				if cli == "" {
					t.Fatalf("good client after a bad one: %s", errText)
				}
				defer p.ok(t, "CLOSE", cli)
				p.ok(t, "RPC", cli, "100", "8", "-")
			})
			t.Run(proto.name+"/"+string(mode)+"/ember-to-spark", func(t *testing.T) {
				bad := newEmber(t, mode, replaceSecret(proto.kv, "not-the-secret"), false, appID)
				before := p.ok(t, "COUNT", srvID)[0]
				c, err := bad.factory.CreateUnmanagedClient("127.0.0.1", srvPort)
				if err == nil {
					c.Close()
					t.Fatal("Ember client with the wrong secret was accepted")
				}
				t.Logf("Ember client error: %v", err)
				var remote *netpoll.RemoteError
				if !strings.Contains(err.Error(), "auth") && !errors.As(err, &remote) {
					t.Fatalf("error does not say it is about authentication: %v", err)
				}
				if after := p.ok(t, "COUNT", srvID)[0]; after != before {
					t.Fatalf("RPCs reached Spark's handler: %s -> %s", before, after)
				}
				good := newEmber(t, mode, proto.kv, false, appID)
				c, err = good.factory.CreateUnmanagedClient("127.0.0.1", srvPort)
				if err != nil {
					t.Fatalf("good client after a bad one: %v", err)
				}
				defer c.Close()
				if r, err := c.SendRpcSync([]byte("right"), time.Minute); err != nil || string(r) != "right" {
					t.Fatalf("%q %v", r, err)
				}
			})
		}
	}
}

func replaceSecret(kv []string, s string) []string {
	out := make([]string, 0, len(kv))
	for _, x := range kv {
		if strings.HasPrefix(x, "spark.authenticate.secret=") {
			x = "spark.authenticate.secret=" + s
		}
		out = append(out, x)
	}
	return out
}
