package digest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// layerKinds are every layer this package makes: auth-int, and auth-conf
// with each cipher.
var layerKinds = []struct{ qop, cipher string }{
	{QOPAuthInt, ""},
	{QOPAuthConf, Cipher3DES},
	{QOPAuthConf, CipherRC4},
	{QOPAuthConf, CipherDES},
	{QOPAuthConf, CipherRC456},
	{QOPAuthConf, CipherRC440},
}

func kindName(qop, cipher string) string {
	if cipher == "" {
		return qop
	}
	return qop + "/" + cipher
}

// negotiatedLayers runs a real exchange that agrees on qop and cipher and
// returns the client's and the server's layers.
func negotiatedLayers(t testing.TB, qop, cipher string) (cl, sl *Layer) {
	t.Helper()
	var sopts []ServerOption
	var copts []ClientOption
	if cipher != "" {
		sopts = append(sopts, WithCiphers(cipher))
	}
	cli, srv := sparkPair(t, []string{qop}, []string{qop}, sopts, copts)
	mustExchange(t, cli, srv)
	if cli.QOP() != qop || cli.Cipher() != cipher || srv.Cipher() != cipher {
		t.Fatalf("agreed %s/%s (server %s), want %s/%s", cli.QOP(), cli.Cipher(), srv.Cipher(), qop, cipher)
	}
	cl, err := cli.SecurityLayer()
	if err != nil {
		t.Fatal(err)
	}
	sl, err = srv.SecurityLayer()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := cli.SecurityLayer(); again != cl {
		t.Fatal("SecurityLayer returned a new Layer on the second call")
	}
	return cl, sl
}

// fixedLayers makes a client/server pair from a fixed H(A1), without an
// exchange.
func fixedLayers(t testing.TB, qop, cipher string) (cl, sl *Layer) {
	var ha1 [16]byte
	copy(ha1[:], "fixed-session-ha")
	cl, err := newLayer(ha1, qop, cipher, true, DefaultMaxBuf)
	if err != nil {
		t.Fatal(err)
	}
	sl, err = newLayer(ha1, qop, cipher, false, DefaultMaxBuf)
	if err != nil {
		t.Fatal(err)
	}
	return cl, sl
}

// TestLayerRoundTrip sends many messages of random sizes (0..70000 bytes)
// both ways over every kind of layer, agreed by a real exchange.
func TestLayerRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 7, 8, 9, 15, 16, 17, 65536, 70000}
	for range 20 {
		sizes = append(sizes, rng.IntN(70001))
	}
	for _, k := range layerKinds {
		t.Run(kindName(k.qop, k.cipher), func(t *testing.T) {
			cl, sl := negotiatedLayers(t, k.qop, k.cipher)
			if cl.QOP() != k.qop || cl.Cipher() != k.cipher || sl.QOP() != k.qop {
				t.Fatalf("layer reports %s/%s", cl.QOP(), cl.Cipher())
			}
			var tok, out []byte
			for i, n := range sizes {
				msg := make([]byte, n)
				for j := range msg {
					msg[j] = byte(rng.Uint32())
				}
				for dir, pair := range [][2]*Layer{{cl, sl}, {sl, cl}} {
					var err error
					prefix := []byte("keep")
					tok, err = pair[0].Wrap(append(tok[:0], prefix...), msg)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(tok, prefix) || len(tok)-len(prefix) != pair[0].WrappedLen(n) {
						t.Fatalf("Wrap did not append: %d bytes for %d", len(tok), n)
					}
					body := tok[len(prefix):]
					if n > 0 && k.qop == QOPAuthConf && bytes.Contains(body, msg[:min(n, 64)]) && n >= 16 {
						t.Fatalf("auth-conf token contains the plaintext")
					}
					out, err = pair[1].Unwrap(append(out[:0], "x"...), body)
					if err != nil {
						t.Fatalf("message %d (%d bytes) dir %d: %v", i, n, dir, err)
					}
					if !bytes.Equal(out[1:], msg) || out[0] != 'x' {
						t.Fatalf("message %d (%d bytes) dir %d: round trip differs", i, n, dir)
					}
				}
			}
		})
	}
}

func TestLayerSizes(t *testing.T) {
	for _, k := range layerKinds {
		cl, _ := fixedLayers(t, k.qop, k.cipher)
		if cl.MaxSendSize() != DefaultMaxBuf {
			t.Errorf("MaxSendSize %d", cl.MaxSendSize())
		}
		want := DefaultMaxBuf - 16
		if k.qop == QOPAuthConf {
			want = DefaultMaxBuf - 26
		}
		if cl.RawSendSize() != want {
			t.Errorf("%s: RawSendSize %d, want %d", kindName(k.qop, k.cipher), cl.RawSendSize(), want)
		}
		for n := range 40 {
			tok, _ := cl.Wrap(nil, make([]byte, n))
			if len(tok) != cl.WrappedLen(n) {
				t.Fatalf("WrappedLen(%d) = %d, token %d", n, cl.WrappedLen(n), len(tok))
			}
			if n > 0 && (len(tok)-n < IntegrityOverhead || len(tok)-n > ConfidentialityOverhead) {
				t.Fatalf("overhead %d", len(tok)-n)
			}
		}
	}
	// The server's maxbuf reaches the client's layer.
	cli := NewClient("u", "p", "", SparkDigestURI, []string{"auth-int"})
	srv := NewServer(SparkRealm, []string{"auth-int"}, lookupOnly("u", "p"))
	ch, _ := srv.Evaluate(nil)
	ch = append([]byte(`maxbuf="1000",`), ch...)
	resp, err := cli.Evaluate(ch)
	if err != nil {
		t.Fatal(err)
	}
	rsp, err := srv.Evaluate(resp)
	if err != nil {
		t.Fatal(err)
	}
	cli.Evaluate(rsp)
	l, err := cli.SecurityLayer()
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxSendSize() != 1000 || l.RawSendSize() != 984 {
		t.Fatalf("maxbuf 1000: MaxSendSize %d RawSendSize %d", l.MaxSendSize(), l.RawSendSize())
	}
}

// TestLayerTamper flips every bit of a token in turn: Unwrap must fail
// each time and return dst unchanged.
func TestLayerTamper(t *testing.T) {
	for _, k := range layerKinds {
		for _, n := range []int{1, 6, 21} {
			cl, _ := fixedLayers(t, k.qop, k.cipher)
			tok, _ := cl.Wrap(nil, bytes.Repeat([]byte("m"), n))
			for bit := range len(tok) * 8 {
				_, sl := fixedLayers(t, k.qop, k.cipher)
				bad := append([]byte{}, tok...)
				bad[bit/8] ^= 1 << (bit % 8)
				dst := []byte("dst")
				out, err := sl.Unwrap(dst, bad)
				if err == nil {
					t.Fatalf("%s, %d bytes: flipping bit %d went unnoticed", kindName(k.qop, k.cipher), n, bit)
				}
				if string(out) != "dst" {
					t.Fatalf("dst changed on error: %q", out)
				}
				if !errors.Is(err, ErrTokenIntegrity) && !errors.Is(err, ErrTokenType) && !errors.Is(err, ErrTokenSequence) {
					t.Fatalf("bit %d: unexpected error %v", bit, err)
				}
			}
		}
	}
}

func TestLayerReplayAndOrder(t *testing.T) {
	for _, k := range layerKinds {
		name := kindName(k.qop, k.cipher)
		cl, sl := fixedLayers(t, k.qop, k.cipher)
		t1, _ := cl.Wrap(nil, []byte("first"))
		t2, _ := cl.Wrap(nil, []byte("second"))
		if _, err := sl.Unwrap(nil, t1); err != nil {
			t.Fatal(err)
		}
		_, err := sl.Unwrap(nil, t1) // replay
		if err == nil {
			t.Fatalf("%s: replay accepted", name)
		}
		if k.qop == QOPAuthInt {
			// auth-int: the MAC holds, the sequence number does not; the
			// layer is still usable.
			if !errors.Is(err, ErrTokenSequence) {
				t.Fatalf("%s: replay: %v", name, err)
			}
			if out, err := sl.Unwrap(nil, t2); err != nil || string(out) != "second" {
				t.Fatalf("%s: after a refused replay: %q %v", name, out, err)
			}
		} else {
			// auth-conf: the replay decrypts to garbage under the moved-on
			// cipher state; after that the layer is broken for good.
			if !errors.Is(err, ErrTokenIntegrity) {
				t.Fatalf("%s: replay: %v", name, err)
			}
			if _, err := sl.Unwrap(nil, t2); !errors.Is(err, ErrLayerBroken) || !errors.Is(err, ErrTokenIntegrity) {
				t.Fatalf("%s: after failure: %v", name, err)
			}
		}

		// Reordering: the second token first.
		cl, sl = fixedLayers(t, k.qop, k.cipher)
		t1, _ = cl.Wrap(nil, []byte("first"))
		t2, _ = cl.Wrap(nil, []byte("second"))
		if _, err := sl.Unwrap(nil, t2); err == nil {
			t.Fatalf("%s: out-of-order token accepted", name)
		}

		// A sender whose counter skipped ahead, with the cipher in step:
		// only the sequence check can catch it.
		cl, sl = fixedLayers(t, k.qop, k.cipher)
		t1, _ = cl.Wrap(nil, []byte("first"))
		cl.send.seq = 7
		t2, _ = cl.Wrap(nil, []byte("second"))
		if _, err := sl.Unwrap(nil, t1); err != nil {
			t.Fatal(err)
		}
		if _, err := sl.Unwrap(nil, t2); !errors.Is(err, ErrTokenSequence) {
			t.Fatalf("%s: skipped sequence number: %v", name, err)
		}
	}
}

func TestLayerTruncated(t *testing.T) {
	for _, k := range layerKinds {
		cl, _ := fixedLayers(t, k.qop, k.cipher)
		tok, _ := cl.Wrap(nil, bytes.Repeat([]byte("z"), 30))
		for cut := 1; cut < len(tok); cut++ {
			for _, part := range [][]byte{tok[:len(tok)-cut], tok[cut:]} {
				_, sl := fixedLayers(t, k.qop, k.cipher)
				if out, err := sl.Unwrap(nil, part); err == nil {
					t.Fatalf("%s: %d-byte piece of a %d-byte token accepted: %q", kindName(k.qop, k.cipher), len(part), len(tok), out)
				}
			}
		}
		_, sl := fixedLayers(t, k.qop, k.cipher)
		if out, err := sl.Unwrap([]byte("d"), nil); err != nil || string(out) != "d" {
			t.Fatalf("empty token: %q %v", out, err)
		}
	}
}

func TestLayerMessageType(t *testing.T) {
	for _, k := range layerKinds {
		cl, sl := fixedLayers(t, k.qop, k.cipher)
		tok, _ := cl.Wrap(nil, []byte("hello"))
		tok[len(tok)-6], tok[len(tok)-5] = 0, 2
		if _, err := sl.Unwrap(nil, tok); !errors.Is(err, ErrTokenType) {
			t.Fatalf("%s: type 2: %v", kindName(k.qop, k.cipher), err)
		}
	}
}

// TestLayerBadPadding builds DES tokens with well-formed MACs but bad
// padding: a JDK receiver would look only at the last byte.
func TestLayerBadPadding(t *testing.T) {
	for _, name := range []string{CipherDES, Cipher3DES} {
		for _, mutate := range []func(p []byte){
			func(p []byte) { p[len(p)-1] = 0 },         // zero pad length
			func(p []byte) { p[len(p)-1] = 9 },         // longer than a block
			func(p []byte) { p[len(p)-2] ^= 0x40 },     // inner pad byte differs
			func(p []byte) { p[len(p)-1] = byte(200) }, // longer than the message
		} {
			cl, sl := fixedLayers(t, QOPAuthConf, name)
			msg := []byte("0123456789") // 10 + 10 = 20: 4 bytes of padding
			mac := cl.send.sign(0, msg)
			padded := append(append([]byte{}, msg...), 4, 4, 4, 4)
			mutate(padded)
			body := append(padded, mac...)
			cl.send.cbc.CryptBlocks(body, body)
			tok := append(body, 0, 1, 0, 0, 0, 0)
			if _, err := sl.Unwrap(nil, tok); !errors.Is(err, ErrTokenIntegrity) {
				t.Fatalf("%s: bad padding: %v", name, err)
			}
		}
	}
}

// TestLayerConcurrentDirections wraps in one goroutine and unwraps in
// another on each layer, under -race.
func TestLayerConcurrentDirections(t *testing.T) {
	for _, k := range layerKinds {
		cl, sl := negotiatedLayers(t, k.qop, k.cipher)
		const n = 200
		c2s := make(chan []byte, 8)
		s2c := make(chan []byte, 8)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		send := func(l *Layer, ch chan<- []byte, seed uint64) {
			defer wg.Done()
			defer close(ch)
			rng := rand.New(rand.NewPCG(seed, 0))
			for i := range n {
				msg := make([]byte, rng.IntN(3000))
				for j := range msg {
					msg[j] = byte(i + j)
				}
				tok, err := l.Wrap(nil, msg)
				if err != nil {
					errs <- err
					return
				}
				ch <- tok
			}
		}
		recv := func(l *Layer, ch <-chan []byte, seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 0))
			i := 0
			for tok := range ch {
				out, err := l.Unwrap(nil, tok)
				if err != nil {
					errs <- err
					return
				}
				want := rng.IntN(3000)
				if len(out) != want || (want > 0 && out[want-1] != byte(i+want-1)) {
					errs <- errors.New("wrong message")
					return
				}
				i++
			}
		}
		wg.Add(4)
		go send(cl, c2s, 1)
		go send(sl, s2c, 2)
		go recv(sl, c2s, 1)
		go recv(cl, s2c, 2)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", kindName(k.qop, k.cipher), err)
		}
	}
}

// TestLayerDirectionsDiffer: the client's token does not unwrap on the
// client itself (each direction has its own keys).
func TestLayerDirectionsDiffer(t *testing.T) {
	for _, k := range layerKinds {
		cl, _ := fixedLayers(t, k.qop, k.cipher)
		other, _ := fixedLayers(t, k.qop, k.cipher)
		tok, _ := cl.Wrap(nil, []byte("to the server"))
		if _, err := other.Unwrap(nil, tok); err == nil {
			t.Fatalf("%s: a client accepted a client's token", kindName(k.qop, k.cipher))
		}
	}
}

func TestLayerSequenceWraps(t *testing.T) {
	cl, sl := fixedLayers(t, QOPAuthInt, "")
	cl.send.seq, sl.recv.seq = 1<<32-1, 1<<32-1
	for _, m := range []string{"last", "first again"} {
		tok, _ := cl.Wrap(nil, []byte(m))
		if out, err := sl.Unwrap(nil, tok); err != nil || string(out) != m {
			t.Fatalf("%q: %q %v", m, out, err)
		}
	}
	if cl.send.seq != 1 || sl.recv.seq != 1 {
		t.Fatalf("counters %d %d", cl.send.seq, sl.recv.seq)
	}
}
