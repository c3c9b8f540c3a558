package auth

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
)

const secret = "4a1b3c5d7e9f"

// variants are the ways a connection can be secured, each with the
// settings of both ends.
var variants = []struct {
	name    string
	kv      []string
	tls     bool
	encrypt bool // the bytes on the wire must not show the plaintext
	small   bool // a slow layer (SASL's 3DES): smaller payloads
}{
	{"ctr-v1", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true"}, false, true, false},
	{"ctr-v2", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2"}, false, true, false},
	{"gcm-v1", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true", "spark.network.crypto.cipher=AES/GCM/NoPadding"}, false, true, false},
	{"gcm-v2", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2", "spark.network.crypto.cipher=AES/GCM/NoPadding"}, false, true, false},
	{"sasl", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}, false, false, false},
	{"sasl-conf", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.authenticate.enableSaslEncryption=true", "spark.network.sasl.maxEncryptedBlockSize=10k"}, false, true, true},
	{"tls", nil, true, true, false},
	// With TLS the session layer seals and opens the TLS records, as
	// Spark layers them (cipher(TLS(frames))).
	{"tls+ctr", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true"}, true, true, false},
	{"tls+gcm-v2", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2", "spark.network.crypto.cipher=AES/GCM/NoPadding"}, true, true, false},
	{"tls+sasl-conf", []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.authenticate.enableSaslEncryption=true", "spark.network.sasl.maxEncryptedBlockSize=10k"}, true, true, true},
}

// TestSecuredTraffic runs every kind of request over every variant in both
// io modes: RPCs (small and large), a file-backed chunk (sendfile when
// plain), a named stream, an upload and a one-way message.
func TestSecuredTraffic(t *testing.T) {
	mkData := func(n int) ([]byte, string) {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rand.IntN(256))
		}
		path := filepath.Join(t.TempDir(), "blob")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return data, path
	}
	bigData, bigPath := mkData(3<<20 + 11)
	smallData, smallPath := mkData(300<<10 + 11)
	certs := newCerts(t)
	marker := []byte("plaintext-marker-0123456789")
	for _, mode := range modes {
		for _, v := range variants {
			t.Run(string(mode)+"/"+v.name, func(t *testing.T) {
				testutil.CheckLeaks(t)
				data, path, unit := bigData, bigPath, 1<<20
				if v.small {
					data, path, unit = smallData, smallPath, 100<<10
				}
				s := side{kv: v.kv, tls: v.tls}
				e := newEnv(t, mode, s, s, certs)
				e.h.files["blob"] = path
				tp := newTap(t, e.srv.Port())
				c, err := e.factory.CreateUnmanagedClient("127.0.0.1", tp.port())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if v.kv != nil && c.ClientID() != "app-1" {
					t.Errorf("client id %q after auth", c.ClientID())
				}

				resp, err := c.SendRpcSync(marker, 10*time.Second)
				if err != nil || !bytes.Equal(resp, marker) {
					t.Fatalf("small rpc: %q %v", resp, err)
				}
				big := data[:2*unit+5]
				resp, err = c.SendRpcSync(big, 20*time.Second)
				if err != nil || !bytes.Equal(resp, big) {
					t.Fatalf("large rpc: %d bytes, %v", len(resp), err)
				}

				seg, err := codec.NewFileSegment(path, 1000, int64(2*unit), codec.DefaultFileOptions)
				if err != nil {
					t.Fatal(err)
				}
				sid := e.h.sm.RegisterStream("app-1", netpoll.BufferChunks{seg}, nil)
				got := make(chan []byte, 1)
				c.FetchChunk(sid, 0, netpoll.ChunkFunc{
					Success: func(_ int32, b []byte) { got <- append([]byte(nil), b...) },
					Failure: func(_ int32, err error) { t.Error(err); got <- nil },
				})
				if b := <-got; !bytes.Equal(b, data[1000:1000+2*unit]) {
					t.Fatalf("chunk mismatch: %d bytes", len(b))
				}

				sc := &collector{done: make(chan error, 1)}
				c.Stream("blob", sc)
				if err := <-sc.done; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sc.buf.Bytes(), data) {
					t.Fatalf("stream mismatch: %d bytes", sc.buf.Len())
				}

				up := data[:unit*7/10]
				done := make(chan error, 1)
				c.UploadStream([]byte("meta"), codec.NewBytes(up), netpoll.RpcFunc{
					Success: func(r []byte) {
						if string(r) != "stored" {
							done <- errors.New("upload reply " + string(r))
							return
						}
						done <- nil
					},
					Failure: func(err error) { done <- err },
				})
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if u := <-e.h.uploads; !bytes.Equal(u, up) {
					t.Fatalf("upload mismatch: %d bytes", len(u))
				}

				if err := c.Send(marker); err != nil {
					t.Fatal(err)
				}
				if m := <-e.h.oneWay; !bytes.Equal(m, marker) {
					t.Fatalf("one-way %q", m)
				}

				if seen := tp.contains(marker); seen == v.encrypt {
					t.Fatalf("marker on the wire: %t, encryption %t", seen, v.encrypt)
				}
				if v.kv != nil && c.Encrypted() != v.encrypt {
					t.Fatalf("Encrypted() = %t", c.Encrypted())
				}
			})
		}
	}
}

type collector struct {
	buf  bytes.Buffer
	done chan error
}

func (s *collector) OnData(_ string, p []byte) error { s.buf.Write(p); return nil }
func (s *collector) OnComplete(string) error         { s.done <- nil; return nil }
func (s *collector) OnFailure(_ string, err error)   { s.done <- err }

func authKV(extra ...string) []string {
	return append([]string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}, extra...)
}

// A wrong secret fails client creation, the server says why in its log, and
// it goes on serving clients with the right secret.
func TestWrongSecret(t *testing.T) {
	for _, mode := range modes {
		for _, crypto := range []string{"true", "false"} {
			t.Run(string(mode)+"/crypto="+crypto, func(t *testing.T) {
				testutil.CheckLeaks(t)
				good := side{kv: authKV("spark.network.crypto.enabled=" + crypto)}
				bad := side{kv: []string{"spark.authenticate=true", "spark.authenticate.secret=wrong", "spark.network.crypto.enabled=" + crypto}}
				e := newEnv(t, mode, good, bad, nil)
				if c, err := e.dial(); err == nil {
					c.Close()
					t.Fatal("client with the wrong secret was created")
				}
				waitFor(t, "server log", func() bool { return strings.Contains(e.logs.String(), "authentication failed") })
				if e.h.rpcCount() != 0 {
					t.Fatalf("%d RPCs reached the handler", e.h.rpcCount())
				}
				e2 := newEnv(t, mode, good, good, nil)
				_ = e2
				// The first server still serves good clients.
				gb, err := NewClientBootstrap(mustConf(t, good.kv), "app-1", nil)
				if err != nil {
					t.Fatal(err)
				}
				f := e.cliCtx.NewClientFactory(gb)
				defer f.Close()
				c, err := f.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if r, err := c.SendRpcSync([]byte("x"), 10*time.Second); err != nil || string(r) != "x" {
					t.Fatalf("good client: %q %v", r, err)
				}
			})
		}
	}
}

func mustConf(t *testing.T, kv []string) *Conf {
	t.Helper()
	c, err := NewConf(conf(kv...), "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A client without auth reaches nothing on a server that requires it.
func TestNoAuthClient(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			testutil.CheckLeaks(t)
			e := newEnv(t, mode, side{kv: authKV("spark.network.crypto.enabled=true", "spark.network.ember.authHandshakeTimeout=500ms")}, side{}, nil)
			e.h.files["blob"] = writeFile(t, []byte("secret data"))

			// A one-way message first: it must be dropped, not delivered.
			c, err := e.dial()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send([]byte("sneaky")); err != nil {
				t.Fatal(err)
			}
			sc := &collector{done: make(chan error, 1)}
			c.Stream("blob", sc)
			if err := <-sc.done; err == nil || sc.buf.Len() != 0 {
				t.Fatalf("unauthenticated stream: %v, %d bytes", err, sc.buf.Len())
			}
			if _, err := c.SendRpcSync([]byte("hello"), 10*time.Second); err == nil {
				t.Fatal("unauthenticated RPC succeeded")
			}
			<-c.Done()
			c.Close()

			// An upload before auth fails too.
			c2, err := e.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			done := make(chan error, 1)
			c2.UploadStream([]byte("m"), codec.NewBytes([]byte("body")), netpoll.RpcFunc{
				Success: func([]byte) { done <- nil },
				Failure: func(err error) { done <- err },
			})
			if err := <-done; err == nil {
				t.Fatal("unauthenticated upload succeeded")
			}
			if n := e.h.rpcCount(); n != 0 {
				t.Fatalf("%d RPCs reached the handler", n)
			}
			select {
			case m := <-e.h.oneWay:
				t.Fatalf("one-way %q reached the handler", m)
			case u := <-e.h.uploads:
				t.Fatalf("upload %q reached the handler", u)
			default:
			}
			if !strings.Contains(e.logs.String(), "dropping one-way message") {
				t.Fatalf("no log line for the dropped one-way message")
			}
		})
	}
}

// The server falls back to SASL for a SASL-only client, and a crypto
// client falls back to SASL against a SASL-only server.
func TestSaslFallback(t *testing.T) {
	crypto := side{kv: authKV("spark.network.crypto.enabled=true")}
	sasl := side{kv: authKV()}
	for _, mode := range modes {
		for _, tc := range []struct {
			name     string
			srv, cli side
		}{{"server", crypto, sasl}, {"client", sasl, crypto}} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				testutil.CheckLeaks(t)
				e := newEnv(t, mode, tc.srv, tc.cli, nil)
				c, err := e.dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if r, err := c.SendRpcSync([]byte("hi"), 10*time.Second); err != nil || string(r) != "hi" {
					t.Fatalf("%q %v", r, err)
				}
				if c.Encrypted() {
					t.Fatal("SASL without auth-conf installed encryption")
				}
			})
		}
	}
}

// Without saslFallback the crypto server refuses a SASL client.
func TestNoSaslFallback(t *testing.T) {
	testutil.CheckLeaks(t)
	e := newEnv(t, netpoll.NIO, side{kv: authKV("spark.network.crypto.enabled=true", "spark.network.crypto.saslFallback=false")}, side{kv: authKV()}, nil)
	if c, err := e.dial(); err == nil {
		c.Close()
		t.Fatal("SASL client accepted without fallback")
	}
}

// A server that insists on encryption refuses a SASL client that does not
// ask for it.
func TestServerAlwaysEncrypt(t *testing.T) {
	testutil.CheckLeaks(t)
	e := newEnv(t, netpoll.NIO, side{kv: authKV("spark.network.sasl.serverAlwaysEncrypt=true")}, side{kv: authKV()}, nil)
	if c, err := e.dial(); err == nil {
		c.Close()
		t.Fatal("client without encryption accepted")
	}
	e2 := newEnv(t, netpoll.NIO, side{kv: authKV("spark.network.sasl.serverAlwaysEncrypt=true")}, side{kv: authKV("spark.authenticate.enableSaslEncryption=true")}, nil)
	c, err := e2.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Encrypted() {
		t.Fatal("auth-conf agreed but no encryption installed")
	}
}

// A peer that connects and says nothing is disconnected once the
// handshake timeout passes.
func TestHandshakeTimeout(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			testutil.CheckLeaks(t)
			e := newEnv(t, mode, side{kv: authKV("spark.network.crypto.enabled=true", "spark.network.ember.authHandshakeTimeout=200ms")}, side{}, nil)
			c, err := e.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case <-c.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("silent peer still connected")
			}
			waitFor(t, "log line", func() bool {
				return strings.Contains(e.logs.String(), "authentication did not finish in time")
			})
		})
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Right after the handshake, many requests at once: the first reads after
// the layer was installed carry several frames, which must all be opened
// and delivered (not taken for bytes that arrived before the layer).
func TestPipelinedAfterAuth(t *testing.T) {
	certs := newCerts(t)
	for _, mode := range modes {
		for _, v := range variants {
			if v.small || v.kv == nil {
				continue
			}
			t.Run(string(mode)+"/"+v.name, func(t *testing.T) {
				testutil.CheckLeaks(t)
				e := newEnv(t, mode, side{kv: v.kv, tls: v.tls}, side{kv: v.kv, tls: v.tls}, certs)
				for round := 0; round < 5; round++ {
					c, err := e.dial()
					if err != nil {
						t.Fatal(err)
					}
					const n = 64
					done := make(chan error, n)
					for i := 0; i < n; i++ {
						c.SendRpc([]byte("pipelined"), netpoll.RpcFunc{
							Success: func(r []byte) {
								if string(r) != "pipelined" {
									done <- errors.New("wrong answer " + string(r))
									return
								}
								done <- nil
							},
							Failure: func(err error) { done <- err },
						})
					}
					for i := 0; i < n; i++ {
						if err := <-done; err != nil {
							t.Fatalf("round %d: %v", round, err)
						}
					}
					c.Close()
				}
			})
		}
	}
}
