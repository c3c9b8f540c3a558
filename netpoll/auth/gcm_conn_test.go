package auth

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
)

// gcmHandshake authenticates p with the AuthEngine and returns the
// client's AES-GCM halves.
func (p *rawPeer) gcmHandshake(version int) (netpoll.Sealer, netpoll.Opener) {
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
	seal, open, err := GCMLayer(e.Keys())
	if err != nil {
		p.t.Fatal(err)
	}
	return seal, open
}

// readOpen reads from p until open yields want bytes of plaintext.
func (p *rawPeer) readOpen(open netpoll.Opener, want int) []byte {
	p.t.Helper()
	var plain []byte
	buf := make([]byte, 64<<10)
	for len(plain) < want {
		n, err := p.conn.Read(buf)
		if err != nil {
			p.t.Fatalf("after %d plaintext bytes: %v", len(plain), err)
		}
		if plain, err = open.Open(plain, buf[:n]); err != nil {
			p.t.Fatal(err)
		}
	}
	return plain
}

// A GCM session carries RPCs split over records and segments in any way;
// a record whose tag does not check, or whose length field was changed,
// closes the connection with an error naming the bad record, nothing of it
// reaches the handler, and the server keeps serving.
func TestGCMConnection(t *testing.T) {
	gcmKV := authKV("spark.network.crypto.enabled=true", "spark.network.crypto.cipher=AES/GCM/NoPadding")
	tamper := map[string]func(rec []byte) []byte{
		"flipped ciphertext bit": func(rec []byte) []byte { rec[len(rec)-20] ^= 0x40; return rec },
		"length field changed": func(rec []byte) []byte {
			binary.BigEndian.PutUint64(rec, binary.BigEndian.Uint64(rec)+1)
			return append(rec, 0)
		},
		"length below header": func(rec []byte) []byte { binary.BigEndian.PutUint64(rec, 3); return rec },
	}
	for _, mode := range modes {
		for name, f := range tamper {
			t.Run(string(mode)+"/"+name, func(t *testing.T) {
				testutil.CheckLeaks(t)
				e := newEnv(t, mode, side{kv: gcmKV}, side{kv: gcmKV}, nil)
				p := dialPeer(t, e.srv.Port())
				seal, open := p.gcmHandshake(1)

				// One RPC (80 KiB: three segments) sealed as two records,
				// written in small pieces.
				body := bytes.Repeat([]byte("gcm-body."), 80<<10/9)
				frame := rpcFrame(t, 11, body)
				wire, _ := seal.Seal(nil, frame[:1000])
				wire, _ = seal.Seal(wire, frame[1000:])
				for len(wire) > 0 {
					n := min(len(wire), 7000)
					if _, err := p.conn.Write(wire[:n]); err != nil {
						t.Fatal(err)
					}
					wire = wire[n:]
				}
				plain := p.readOpen(open, len(frame))
				var dec codec.Decoder
				m, err := dec.Decode(codec.NewBufReader(bytes.NewReader(plain), 1<<20))
				if err != nil || m.Type != codec.TypeRpcResponse || !bytes.Equal(m.Body, body) {
					t.Fatalf("answer: %v %v, %d bytes", m, err, len(plain))
				}

				bad, _ := seal.Seal(nil, rpcFrame(t, 12, []byte("never delivered")))
				if _, err := p.conn.Write(f(bad)); err != nil {
					t.Fatal(err)
				}
				p.expectClosed()
				if n := e.h.rpcCount(); n != 1 {
					t.Fatalf("%d RPCs reached the handler, want 1", n)
				}
				c, err := e.dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if r, err := c.SendRpcSync([]byte("still serving"), 10*time.Second); err != nil || string(r) != "still serving" {
					t.Fatalf("%q %v", r, err)
				}
				waitFor(t, "the server to log the bad record", func() bool {
					return strings.Contains(e.logs.String(), "bad AES-GCM record")
				})
				if n := strings.Count(e.logs.String(), "bad AES-GCM record"); n != 1 {
					t.Fatalf("%d log lines name the bad record, want 1:\n%s", n, e.logs.String())
				}
			})
		}
	}
}
