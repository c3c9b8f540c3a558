package auth

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth/digest"
)

// rawPeer is a hand-driven client on a plain socket, to send what a real
// client never would.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	br   *codec.BufReader
	dec  codec.Decoder
	id   int64
}

func dialPeer(t *testing.T, port int) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawPeer{t: t, conn: c, br: codec.NewBufReader(c, 64<<10)}
}

func rpcFrame(t *testing.T, id int64, body []byte) []byte {
	t.Helper()
	hdr, err := codec.EncodeHeader(&codec.Message{Type: codec.TypeRpcRequest, RequestID: id}, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer codec.PutBuffer(hdr)
	return append(append([]byte(nil), hdr.B...), body...)
}

// rpc sends one plaintext RPC and reads the plaintext answer.
func (p *rawPeer) rpc(body []byte) *codec.Message {
	p.t.Helper()
	p.id++
	if _, err := p.conn.Write(rpcFrame(p.t, p.id, body)); err != nil {
		p.t.Fatal(err)
	}
	m, err := p.dec.Decode(p.br)
	if err != nil {
		p.t.Fatal(err)
	}
	m.Body = append([]byte(nil), m.Body...)
	_ = p.br.Release()
	return m
}

// expectClosed reads until the server closes the connection.
func (p *rawPeer) expectClosed() {
	p.t.Helper()
	_, err := io.Copy(io.Discard, p.conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatal("server did not close the connection")
	}
}

// engineHandshake authenticates p with the AuthEngine and returns the
// client's CTR halves.
func (p *rawPeer) engineHandshake(version int) (netpoll.Sealer, netpoll.Opener) {
	p.t.Helper()
	e, _ := NewEngine("app-1", secret, version)
	ch, err := e.Challenge()
	if err != nil {
		p.t.Fatal(err)
	}
	m := p.rpc(ch.Encode())
	if m.Type != codec.TypeRpcResponse {
		p.t.Fatalf("handshake answer %v %q", m.Type, m.Error)
	}
	rm, err := DecodeAuthMessage(m.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := e.Finish(ch, rm); err != nil {
		p.t.Fatal(err)
	}
	seal, open, err := CTRLayer(e.Keys(), true)
	if err != nil {
		p.t.Fatal(err)
	}
	return seal, open
}

func cryptoServer(t *testing.T, mode netpoll.IOMode) *env {
	return newEnv(t, mode, side{kv: authKV("spark.network.crypto.enabled=true")}, side{kv: authKV("spark.network.crypto.enabled=true")}, nil)
}

// After the handshake, a peer without the key (one replaying plaintext)
// gets nothing through: its bytes decrypt to garbage, the server drops the
// connection, and it keeps serving authenticated clients.
func TestPlaintextAfterAuth(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			testutil.CheckLeaks(t)
			e := cryptoServer(t, mode)
			p := dialPeer(t, e.srv.Port())
			p.engineHandshake(1)
			if _, err := p.conn.Write(rpcFrame(t, 99, []byte("replayed plaintext"))); err != nil {
				t.Fatal(err)
			}
			p.expectClosed()
			if n := e.h.rpcCount(); n != 0 {
				t.Fatalf("%d RPCs reached the handler", n)
			}
			c, err := e.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if r, err := c.SendRpcSync([]byte("ok"), 10*time.Second); err != nil || string(r) != "ok" {
				t.Fatalf("%q %v", r, err)
			}
		})
	}
}

// Once authenticated, an auth message is just a payload for the handler,
// and answers come back encrypted under the session key.
func TestAuthMessageAfterAuth(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			testutil.CheckLeaks(t)
			e := cryptoServer(t, mode)
			p := dialPeer(t, e.srv.Port())
			seal, open := p.engineHandshake(1)
			again, _ := NewEngine("app-1", secret, 2)
			ch, _ := again.Challenge()
			payload := ch.Encode()
			wire, _ := seal.Seal(nil, rpcFrame(t, 7, payload))
			if _, err := p.conn.Write(wire); err != nil {
				t.Fatal(err)
			}
			// Read and open the encrypted answer.
			var plain []byte
			buf := make([]byte, 4096)
			for {
				n, err := p.conn.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				plain, err = open.Open(plain, buf[:n])
				if err != nil {
					t.Fatal(err)
				}
				if len(plain) >= 21 {
					var dec codec.Decoder
					br := codec.NewBufReader(bytes.NewReader(plain), 64<<10)
					if m, err := dec.Decode(br); err == nil {
						if m.Type != codec.TypeRpcResponse || m.RequestID != 7 || !bytes.Equal(m.Body, payload) {
							t.Fatalf("answer %v id %d body %d bytes", m.Type, m.RequestID, len(m.Body))
						}
						break
					}
				}
			}
			if e.h.rpcCount() != 1 {
				t.Fatalf("handler saw %d RPCs", e.h.rpcCount())
			}
		})
	}
}

// A challenge with a wrong app id, a tampered challenge, or an ordinary
// payload where the challenge belongs: refused with a bare failure, logged,
// and the connection closed.
func TestBadChallenges(t *testing.T) {
	e := newEnv(t, netpoll.NIO, side{kv: authKV("spark.network.crypto.enabled=true", "spark.network.crypto.saslFallback=false")}, side{}, nil)
	good, _ := NewEngine("app-1", secret, 1)
	ch, _ := good.Challenge()
	tampered := *ch
	tampered.Ciphertext = append([]byte(nil), ch.Ciphertext...)
	tampered.Ciphertext[20] ^= 0x40
	wrongKey, _ := NewEngine("app-1", "not-the-secret", 1)
	wch, _ := wrongKey.Challenge()
	for name, payload := range map[string][]byte{
		"tampered":     tampered.Encode(),
		"wrong secret": wch.Encode(),
		"plain rpc":    []byte("hello"),
		"empty":        {},
		"truncated":    ch.Encode()[:10],
	} {
		t.Run(name, func(t *testing.T) {
			p := dialPeer(t, e.srv.Port())
			m := p.rpc(payload)
			if m.Type != codec.TypeRpcFailure || m.Error != ErrAuthFailed.Error() {
				t.Fatalf("answer %v %q", m.Type, m.Error)
			}
			p.expectClosed()
		})
	}
	if e.h.rpcCount() != 0 {
		t.Fatalf("%d RPCs reached the handler", e.h.rpcCount())
	}
	if !strings.Contains(e.logs.String(), "authentication failed") {
		t.Fatal("no log line")
	}
}

// With SASL auth-conf, a corrupted encrypted frame fails its MAC and the
// connection is closed before anything reaches the handler.
func TestCorruptSaslFrame(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			testutil.CheckLeaks(t)
			kv := authKV("spark.authenticate.enableSaslEncryption=true")
			e := newEnv(t, mode, side{kv: kv}, side{kv: kv}, nil)
			p := dialPeer(t, e.srv.Port())
			dc := digest.NewClient(saslUserName(SaslUser), saslPassword(secret), "", "null/default", []string{"auth-conf"})
			token := dc.InitialResponse()
			for !dc.Complete() {
				m := p.rpc((&SaslMessage{AppID: "app-1", Token: token}).Encode())
				if m.Type != codec.TypeRpcResponse {
					t.Fatalf("SASL step: %v %q", m.Type, m.Error)
				}
				var err error
				if token, err = dc.Evaluate(m.Body); err != nil {
					t.Fatal(err)
				}
			}
			layer, err := dc.SecurityLayer()
			if err != nil {
				t.Fatal(err)
			}
			seal, _ := SaslLayer(layer, 64<<10)
			wire, err := seal.Seal(nil, rpcFrame(t, 5, []byte("must not arrive")))
			if err != nil {
				t.Fatal(err)
			}
			wire[len(wire)/2] ^= 0x01
			if _, err := p.conn.Write(wire); err != nil {
				t.Fatal(err)
			}
			p.expectClosed()
			if n := e.h.rpcCount(); n != 0 {
				t.Fatalf("%d RPCs reached the handler", n)
			}
		})
	}
}
