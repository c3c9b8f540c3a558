package digest

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func md5Sum(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}

func md5Hex(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }

// refResponse is RFC 2831's response-value written out plainly, for ASCII
// inputs, to check the package's computation against.
func refResponse(user, realm, pass, nonce, cnonce, authzid, method, uri, qop string) string {
	a1 := string(md5Sum([]byte(user+":"+realm+":"+pass))) + ":" + nonce + ":" + cnonce
	if authzid != "" {
		a1 += ":" + authzid
	}
	a2 := method + ":" + uri
	if qop != "auth" {
		a2 += ":00000000000000000000000000000000"
	}
	return md5Hex(md5Hex(a1) + ":" + nonce + ":00000001:" + cnonce + ":" + qop + ":" + md5Hex(a2))
}

// RFC 2831 section 4: the IMAP and ACAP examples, with the RFC's nonces,
// cnonces and published response and rspauth values.
var rfcExamples = []struct {
	challenge, cnonce, uri, response, rspauth string
}{
	{
		challenge: `realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`,
		cnonce:    "OA6MHXh6VqTrRk",
		uri:       "imap/elwood.innosoft.com",
		response:  "d388dad90d4bbd760a152321f2143af7",
		rspauth:   "ea40f60335c427b5527b84dbabcdfffd",
	},
	{
		challenge: `realm="elwood.innosoft.com",nonce="OA9BSXrbuRhWay",qop="auth",algorithm=md5-sess,charset=utf-8`,
		cnonce:    "OA9BSuZWMSpW8m",
		uri:       "acap/elwood.innosoft.com",
		response:  "6084c6db3fede7352c551284490fd0fc",
		rspauth:   "2f0b3d7c3c2e486600ef710726aa2eae",
	},
}

func TestRFC2831Example(t *testing.T) {
	for _, ex := range rfcExamples {
		// Client side.
		cli := NewClient("chris", "secret", "", ex.uri, []string{"auth"})
		cli.nonceFunc = func() []byte { return []byte(ex.cnonce) }
		resp, err := cli.Evaluate([]byte(ex.challenge))
		if err != nil {
			t.Fatal(err)
		}
		nonce := ex.challenge[strings.Index(ex.challenge, `nonce="`)+7:]
		nonce = nonce[:strings.IndexByte(nonce, '"')]
		want := `charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="` + nonce +
			`",nc=00000001,cnonce="` + ex.cnonce + `",digest-uri="` + ex.uri +
			`",maxbuf=65536,response=` + ex.response + `,qop=auth`
		if string(resp) != want {
			t.Fatalf("response\n got %s\nwant %s", resp, want)
		}
		if _, err := cli.Evaluate([]byte("rspauth=" + ex.rspauth)); err != nil || !cli.Complete() {
			t.Fatalf("client rejects the RFC's rspauth: %v", err)
		}

		// Server side, fed the RFC's digest-response verbatim.
		srv := NewServer("elwood.innosoft.com", []string{"auth"}, lookupOnly("chris", "secret"), WithDigestURI(ex.uri))
		srv.nonceFunc = func() []byte { return []byte(nonce) }
		if _, err := srv.Evaluate(nil); err != nil {
			t.Fatal(err)
		}
		rfcResp := `charset=utf-8,username="chris",realm="elwood.innosoft.com",` + "\r\n   " +
			`nonce="` + nonce + `",nc=00000001,cnonce="` + ex.cnonce + `",` + "\r\n   " +
			`digest-uri="` + ex.uri + `",response=` + ex.response + `,qop=auth`
		rsp, err := srv.Evaluate([]byte(rfcResp))
		if err != nil {
			t.Fatal(err)
		}
		if string(rsp) != "rspauth="+ex.rspauth {
			t.Fatalf("server says %s, RFC says rspauth=%s", rsp, ex.rspauth)
		}
		// And the plain reference computation agrees.
		if got := refResponse("chris", "elwood.innosoft.com", "secret", nonce, ex.cnonce, "", "AUTHENTICATE", ex.uri, "auth"); got != ex.response {
			t.Fatalf("refResponse = %s", got)
		}
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyDerivation checks Kic, Kis, Kcc and Kcs for H(A1) = 00 01 .. 0f
// against values computed separately (with Python's hashlib), and against
// a plain restatement of RFC 2831 sections 2.3 and 2.4.
func TestKeyDerivation(t *testing.T) {
	var ha1 [16]byte
	for i := range ha1 {
		ha1[i] = byte(i)
	}
	k := deriveKeys(ha1, 16)
	for _, c := range []struct {
		name string
		got  [16]byte
		want string
	}{
		{"Kic", k.kic, "bf27ca0b3a5f2e02a31ccb488ee84b8e"},
		{"Kis", k.kis, "444a3d699a08f6921fdc91b90df3db05"},
		{"Kcc/16", k.kcc, "ff7d44f943d8da51df617c0e5b348b27"},
		{"Kcs/16", k.kcs, "f28326969ae304b9ef3b882ca9923a6e"},
		{"Kcc/7", deriveKeys(ha1, 7).kcc, "5ed782a05a7b13da55e2241ecf718aac"},
		{"Kcs/7", deriveKeys(ha1, 7).kcs, "1a28ccec6dd6188910001ff743106054"},
		{"Kcc/5", deriveKeys(ha1, 5).kcc, "ecc53f4413aa95a182a81c10bc4e7c5c"},
		{"Kcs/5", deriveKeys(ha1, 5).kcs, "630cb6625d951487d9b5feee222a0f8d"},
	} {
		if hex.EncodeToString(c.got[:]) != c.want {
			t.Errorf("%s = %x, want %s", c.name, c.got, c.want)
		}
	}
	plain := func(prefix []byte, magic string) string { return md5Hex(string(prefix) + magic) }
	if hex.EncodeToString(k.kic[:]) != plain(ha1[:], "Digest session key to client-to-server signing key magic constant") {
		t.Error("Kic disagrees with the plain formula")
	}
	if got := deriveKeys(ha1, 5).kcs; hex.EncodeToString(got[:]) != plain(ha1[:5], "Digest H(A1) to server-to-client sealing key magic constant") {
		t.Error("Kcs(rc4-40) disagrees with the plain formula")
	}
	// The prefix per cipher.
	for name, n := range map[string]int{Cipher3DES: 16, CipherRC4: 16, CipherDES: 16, CipherRC456: 7, CipherRC440: 5} {
		if p := ciphers[cipherIndex(name)].prefix; p != n {
			t.Errorf("%s prefix %d, want %d", name, p, n)
		}
	}
}

// refDESKey spreads 7 bytes over 8 the slow way: as a string of 56 bits
// cut into 7-bit groups, each followed by an odd-parity bit.
func refDESKey(seven []byte) []byte {
	var bitsStr strings.Builder
	for _, b := range seven {
		fmt.Fprintf(&bitsStr, "%08b", b)
	}
	s := bitsStr.String()
	out := make([]byte, 8)
	for i := range out {
		group := s[7*i : 7*i+7]
		parity := byte(1)
		if strings.Count(group, "1")%2 == 1 {
			parity = 0
		}
		var v byte
		for _, c := range group {
			v = v<<1 | byte(c-'0')
		}
		out[i] = v<<1 | parity
	}
	return out
}

func TestDESKeyExpansion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ffffffffffffff", "fefefefefefefefe"},
		{"00000000000000", "0101010101010101"},
		{"0123456789abcd", "0191d0ad794cae9b"},
		{"ff7d44f943d8da", "febf519e941f62b5"}, // K1 of Kcc above (Python)
		{"51df617c0e5b34", "51efd92fc1736d68"}, // K2 of Kcc above (Python)
	} {
		got := desKey(unhex(t, c.in))
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("desKey(%s) = %x, want %s", c.in, got, c.want)
		}
	}
	// Many inputs against the slow reference; every byte has odd parity.
	seven := make([]byte, 7)
	for i := range 2000 {
		for j := range seven {
			seven[j] = byte(i*131 + j*71 + i*j*17 + i>>3)
		}
		got := desKey(seven)
		if want := refDESKey(seven); !bytes.Equal(got[:], want) {
			t.Fatalf("desKey(%x) = %x, want %x", seven, got, want)
		}
		for _, b := range got {
			n := 0
			for x := b; x != 0; x >>= 1 {
				n += int(x & 1)
			}
			if n%2 != 1 {
				t.Fatalf("desKey(%x) byte %02x has even parity", seven, b)
			}
		}
	}
}

// refSealer wraps messages the obvious way, from keys computed plainly: one
// RC4 stream or one CBC encrypter per direction for all messages.
type refSealer struct {
	ki     []byte
	stream cipher.Stream
	cbc    cipher.BlockMode
	seq    uint32
}

func newRefSealer(t testing.TB, ha1 [16]byte, cipherName string, clientToServer bool) *refSealer {
	sign, seal := "server-to-client", "server-to-client"
	if clientToServer {
		sign, seal = "client-to-server", "client-to-server"
	}
	n := map[string]int{"": 16, Cipher3DES: 16, CipherRC4: 16, CipherDES: 16, CipherRC456: 7, CipherRC440: 5}[cipherName]
	r := &refSealer{ki: md5Sum([]byte(string(ha1[:]) + "Digest session key to " + sign + " signing key magic constant"))}
	kc := md5Sum([]byte(string(ha1[:n]) + "Digest H(A1) to " + seal + " sealing key magic constant"))
	switch cipherName {
	case CipherRC4, CipherRC456, CipherRC440:
		c, err := rc4.NewCipher(kc)
		if err != nil {
			t.Fatal(err)
		}
		r.stream = c
	case CipherDES:
		b, err := des.NewCipher(refDESKey(kc[:7]))
		if err != nil {
			t.Fatal(err)
		}
		r.cbc = cipher.NewCBCEncrypter(b, kc[8:])
	case Cipher3DES:
		k1, k2 := refDESKey(kc[:7]), refDESKey(kc[7:14])
		b, err := des.NewTripleDESCipher(append(append(append([]byte{}, k1...), k2...), k1...))
		if err != nil {
			t.Fatal(err)
		}
		r.cbc = cipher.NewCBCEncrypter(b, kc[8:])
	}
	return r
}

func (r *refSealer) wrap(msg []byte) []byte {
	var seq [4]byte
	binary.BigEndian.PutUint32(seq[:], r.seq)
	r.seq++
	h := hmac.New(md5.New, r.ki)
	h.Write(seq[:])
	h.Write(msg)
	mac := h.Sum(nil)[:10]
	var body []byte
	switch {
	case r.stream != nil:
		body = append(append([]byte{}, msg...), mac...)
		r.stream.XORKeyStream(body, body)
	case r.cbc != nil:
		pad := 8 - (len(msg)+10)%8
		body = append([]byte{}, msg...)
		body = append(body, bytes.Repeat([]byte{byte(pad)}, pad)...)
		body = append(body, mac...)
		r.cbc.CryptBlocks(body, body)
	default:
		body = append(append([]byte{}, msg...), mac...)
	}
	return append(append(body, 0, 1), seq[:]...)
}

// TestWrapAgainstReference compares Layer.Wrap, for every QOP and cipher
// and both sides, with refSealer over a run of messages (so that cipher
// state carried from one message to the next is checked too).
func TestWrapAgainstReference(t *testing.T) {
	var ha1 [16]byte
	copy(ha1[:], md5Sum([]byte("some session")))
	for _, name := range []string{"", Cipher3DES, CipherRC4, CipherDES, CipherRC456, CipherRC440} {
		qop := QOPAuthConf
		if name == "" {
			qop = QOPAuthInt
		}
		for _, client := range []bool{true, false} {
			l, err := newLayer(ha1, qop, name, client, DefaultMaxBuf)
			if err != nil {
				t.Fatal(err)
			}
			ref := newRefSealer(t, ha1, name, client)
			for i, n := range []int{1, 5, 6, 7, 8, 13, 14, 100, 0, 1000, 3} {
				msg := bytes.Repeat([]byte{byte(i + 1)}, n)
				got, err := l.Wrap(nil, msg)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					if len(got) != 0 {
						t.Fatalf("empty message wrapped to %x", got)
					}
					continue
				}
				if want := ref.wrap(msg); !bytes.Equal(got, want) {
					t.Fatalf("%s/%s client=%v message %d:\n got %x\nwant %x", qop, name, client, i, got, want)
				}
				if len(got) != l.WrappedLen(n) {
					t.Fatalf("WrappedLen(%d) = %d, token %d", n, l.WrappedLen(n), len(got))
				}
			}
		}
	}
}
