package digest

import (
	"bytes"
	"testing"
)

// FuzzParseDirectives feeds arbitrary bytes to the directive parser and,
// as challenge and response, to a client and a server. Nothing may panic,
// and whatever parses must parse the same after re-encoding.
func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{
		`realm="default",nonce="abc+/def",qop="auth-conf,auth",charset=utf-8,cipher="3des,rc4,des,rc4-56,rc4-40",algorithm=md5-sess`,
		`charset=utf-8,username="dXNlcg==",realm="default",nonce="n",nc=00000001,cnonce="c",digest-uri="null/default",maxbuf=65536,response=0123456789abcdef0123456789abcdef,qop=auth-conf,cipher="3des"`,
		`rspauth=ea40f60335c427b5527b84dbabcdfffd`,
		`a="x\"y\\z",b = "1,2" ,, c=d` + "\r\n\t" + `e=""`,
		`realm="a",realm="b",nonce="n",algorithm=md5-sess`,
		`a="unterminated`,
		`a="trailing\`,
		`=novalue`,
		`key`,
		`k="v"junk`,
		"",
		",,,",
		"nonce=\"\x00\xff\"",
	} {
		f.Add([]byte(s))
		// Split frames: the first and second half on their own.
		f.Add([]byte(s[:len(s)/2]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The parser's logic does not depend on length, and the size limits
		// have their own tests. Long inputs only stall the fuzzer: its
		// minimizer costs O(n^2) runs per new input.
		if len(data) > 512 {
			return
		}
		dirs, err := parseDirectives(data)
		if err == nil {
			var enc []byte
			for i, d := range dirs {
				if i > 0 {
					enc = append(enc, ',')
				}
				enc = append(enc, d.key...)
				enc = append(enc, '=')
				enc = appendQuoted(enc, d.value)
			}
			again, err := parseDirectives(enc)
			if err != nil {
				t.Fatalf("re-encoded %q does not parse: %v", enc, err)
			}
			if len(again) != len(dirs) {
				t.Fatalf("%d directives, %d after re-encoding", len(dirs), len(again))
			}
			for i := range dirs {
				if dirs[i].key != again[i].key || !bytes.Equal(dirs[i].value, again[i].value) {
					t.Fatalf("directive %d: %q=%q became %q=%q", i, dirs[i].key, dirs[i].value, again[i].key, again[i].value)
				}
				if dirs[i].key == "" {
					t.Fatalf("empty key from %q", data)
				}
			}
		}

		// As a challenge to a client, then as its rspauth.
		// Fixed nonces keep every run of an input the same.
		cli := NewClient("u", "p\n", "", SparkDigestURI, []string{"auth-conf", "auth-int", "auth"})
		cli.nonceFunc = func() []byte { return []byte("c") }
		if _, err := cli.Evaluate(data); err == nil {
			cli.Evaluate(data)
		}
		// As a response to a server.
		srv := NewServer(SparkRealm, []string{"auth-conf", "auth-int", "auth"}, lookupOnly("u", "p"))
		srv.nonceFunc = func() []byte { return []byte("n") }
		srv.Evaluate(nil)
		if _, err := srv.Evaluate(data); err == nil && !srv.Complete() {
			t.Fatal("server accepted a response without completing")
		}
	})
}

// FuzzUnwrap feeds arbitrary tokens to a fixed layer of each kind. Nothing
// may panic; an accepted token yields no more bytes than it had, and dst
// is kept.
func FuzzUnwrap(f *testing.F) {
	for i, k := range layerKinds {
		cl, _ := fixedLayers(f, k.qop, k.cipher)
		for _, m := range []string{"a", "hello, world", "0123456789abcdef0123"} {
			tok, _ := cl.Wrap(nil, []byte(m))
			f.Add(uint8(i), tok)
		}
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), make([]byte, 16))
		f.Add(uint8(i), make([]byte, 22))
	}
	f.Fuzz(func(t *testing.T, which uint8, tok []byte) {
		if len(tok) > 256 { // see FuzzParseDirectives
			return
		}
		k := layerKinds[int(which)%len(layerKinds)]
		_, sl := fixedLayers(t, k.qop, k.cipher)
		for range 2 { // a second token after the first, whatever happened
			out, err := sl.Unwrap([]byte("dst"), tok)
			if !bytes.HasPrefix(out, []byte("dst")) {
				t.Fatalf("dst lost: %q", out)
			}
			if err != nil && len(out) != 3 {
				t.Fatalf("output %q with error %v", out, err)
			}
			if len(out)-3 > len(tok) {
				t.Fatalf("%d bytes out of a %d-byte token", len(out)-3, len(tok))
			}
		}
	})
}
