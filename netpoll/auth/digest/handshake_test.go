package digest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// sparkUser and sparkPassword are what Spark hands the JDK: Base64 of
// "sparkSaslUser", and Base64 (Netty style, a newline after every 76
// characters) of a 64-hex-character secret.
var (
	sparkUser     = base64.StdEncoding.EncodeToString([]byte("sparkSaslUser"))
	sparkPassword = nettyBase64([]byte("3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170605f4e3"))
)

func nettyBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76])
		out.WriteByte('\n')
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}

func lookupOnly(user, password string) func(string) (string, bool) {
	return func(u string) (string, bool) {
		if u != user {
			return "", false
		}
		return password, true
	}
}

// exchange runs a whole exchange and returns the first error, from either
// side, with the side's name.
func exchange(cli *Client, srv *Server) (side string, err error) {
	ch, err := srv.Evaluate(cli.InitialResponse())
	if err != nil {
		return "server challenge", err
	}
	resp, err := cli.Evaluate(ch)
	if err != nil {
		return "client response", err
	}
	rsp, err := srv.Evaluate(resp)
	if err != nil {
		return "server check", err
	}
	last, err := cli.Evaluate(rsp)
	if err != nil {
		return "client verify", err
	}
	if last != nil {
		return "client verify", errors.New("client returned a token after rspauth")
	}
	return "", nil
}

// sparkPair makes a Spark-configured client and server.
func sparkPair(t testing.TB, srvQOPs, cliQOPs []string, sopts []ServerOption, copts []ClientOption) (*Client, *Server) {
	t.Helper()
	srv := NewServer(SparkRealm, srvQOPs, lookupOnly(sparkUser, sparkPassword), sopts...)
	cli := NewClient(sparkUser, sparkPassword, "", SparkDigestURI, cliQOPs, copts...)
	return cli, srv
}

func mustExchange(t testing.TB, cli *Client, srv *Server) {
	t.Helper()
	if side, err := exchange(cli, srv); err != nil {
		t.Fatalf("%s: %v", side, err)
	}
	if !cli.Complete() || !srv.Complete() {
		t.Fatalf("complete: client %v server %v", cli.Complete(), srv.Complete())
	}
}

func TestInitialResponseEmptyNotNil(t *testing.T) {
	r := NewClient("u", "p", "", SparkDigestURI, nil).InitialResponse()
	if r == nil || len(r) != 0 {
		t.Fatalf("InitialResponse = %#v", r)
	}
}

func TestExchangeQOPs(t *testing.T) {
	for _, tc := range []struct {
		srv, cli []string
		qop      string
		cipher   string
	}{
		{[]string{"auth-conf", "auth"}, []string{"auth"}, QOPAuth, ""},
		{[]string{"auth-conf", "auth"}, []string{"auth-conf"}, QOPAuthConf, Cipher3DES},
		{[]string{"auth-conf"}, []string{"auth-conf"}, QOPAuthConf, Cipher3DES},
		{[]string{"auth-int"}, []string{"auth-conf", "auth-int"}, QOPAuthInt, ""},
		{[]string{"auth,auth-int,auth-conf"}, []string{"AUTH-INT"}, QOPAuthInt, ""},
		{nil, nil, QOPAuth, ""},
	} {
		cli, srv := sparkPair(t, tc.srv, tc.cli, nil, nil)
		mustExchange(t, cli, srv)
		if cli.QOP() != tc.qop || srv.QOP() != tc.qop {
			t.Errorf("%v/%v: qop client %q server %q, want %q", tc.srv, tc.cli, cli.QOP(), srv.QOP(), tc.qop)
		}
		if cli.Cipher() != tc.cipher || srv.Cipher() != tc.cipher {
			t.Errorf("%v/%v: cipher client %q server %q, want %q", tc.srv, tc.cli, cli.Cipher(), srv.Cipher(), tc.cipher)
		}
		if srv.Username() != sparkUser {
			t.Errorf("Username = %q", srv.Username())
		}
		_, cerr := cli.SecurityLayer()
		_, serr := srv.SecurityLayer()
		if tc.qop == QOPAuth {
			if !errors.Is(cerr, ErrNoSecurityLayer) || !errors.Is(serr, ErrNoSecurityLayer) {
				t.Errorf("auth: SecurityLayer errors %v, %v", cerr, serr)
			}
		} else if cerr != nil || serr != nil {
			t.Errorf("SecurityLayer: %v, %v", cerr, serr)
		}
	}
}

// TestClientCipherChoice checks the JDK client's choice: strengths high,
// medium, low; within one, the order 3des, rc4, des, rc4-56, rc4-40,
// whatever the order of the server's list.
func TestClientCipherChoice(t *testing.T) {
	for _, tc := range []struct{ offer, want string }{
		{"3des,rc4,des,rc4-56,rc4-40", "3des"},
		{"rc4-40,rc4-56,des,rc4,3des", "3des"},
		{"rc4,des,rc4-56,rc4-40", "rc4"},
		{"rc4-56,des,rc4-40", "des"},
		{"rc4-40 , rc4-56", "rc4-56"},
		{"rc4-40", "rc4-40"},
		{"aes,rc4-40,RC4", "rc4-40"}, // unknown and wrong-case names ignored
	} {
		cli := NewClient("u", "p", "", SparkDigestURI, []string{"auth-conf"})
		cli.nonceFunc = func() []byte { return []byte("cnonce") }
		ch := `realm="default",nonce="n",qop="auth-conf",charset=utf-8,cipher="` + tc.offer + `",algorithm=md5-sess`
		resp, err := cli.Evaluate([]byte(ch))
		if err != nil {
			t.Fatalf("%q: %v", tc.offer, err)
		}
		if cli.Cipher() != tc.want || !bytes.HasSuffix(resp, []byte(`cipher="`+tc.want+`"`)) {
			t.Errorf("offer %q: chose %q (%s), want %q", tc.offer, cli.Cipher(), resp, tc.want)
		}
	}
	cli := NewClient("u", "p", "", SparkDigestURI, []string{"auth-conf"})
	_, err := cli.Evaluate([]byte(`nonce="n",qop="auth-conf",cipher="aes,RC4",algorithm=md5-sess`))
	if !errors.Is(err, ErrNoCommonCipher) {
		t.Errorf("no known cipher: %v", err)
	}
	cli = NewClient("u", "p", "", SparkDigestURI, []string{"auth-conf"}, WithCipher("des"))
	_, err = cli.Evaluate([]byte(`nonce="n",qop="auth-conf",cipher="3des,rc4",algorithm=md5-sess`))
	if !errors.Is(err, ErrNoCommonCipher) {
		t.Errorf("WithCipher(des) against 3des,rc4: %v", err)
	}
}

// TestWireFormat pins the exact bytes of the challenge and response to
// the JDK's layout, with fixed nonces.
func TestWireFormat(t *testing.T) {
	cli, srv := sparkPair(t, []string{"auth-conf", "auth"}, []string{"auth-conf"}, nil, nil)
	srv.nonceFunc = func() []byte { return []byte("NONCE+/nonce") }
	cli.nonceFunc = func() []byte { return []byte("CNONCE/cnonce") }
	ch, err := srv.Evaluate([]byte{})
	if err != nil {
		t.Fatal(err)
	}
	wantCh := `realm="default",nonce="NONCE+/nonce",qop="auth-conf,auth",charset=utf-8,cipher="3des,rc4,des,rc4-56,rc4-40",algorithm=md5-sess`
	if string(ch) != wantCh {
		t.Fatalf("challenge\n got %s\nwant %s", ch, wantCh)
	}
	resp, err := cli.Evaluate(ch)
	if err != nil {
		t.Fatal(err)
	}
	r := refResponse(sparkUser, SparkRealm, sparkPassword, "NONCE+/nonce", "CNONCE/cnonce", "", "AUTHENTICATE", SparkDigestURI, QOPAuthConf)
	wantResp := `charset=utf-8,username="` + sparkUser + `",realm="default",nonce="NONCE+/nonce",nc=00000001,cnonce="CNONCE/cnonce",digest-uri="null/default",maxbuf=65536,response=` + r + `,qop=auth-conf,cipher="3des"`
	if string(resp) != wantResp {
		t.Fatalf("response\n got %s\nwant %s", resp, wantResp)
	}
	rsp, err := srv.Evaluate(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := "rspauth=" + refResponse(sparkUser, SparkRealm, sparkPassword, "NONCE+/nonce", "CNONCE/cnonce", "", "", SparkDigestURI, QOPAuthConf)
	if string(rsp) != want {
		t.Fatalf("rspauth\n got %s\nwant %s", rsp, want)
	}
	if _, err := cli.Evaluate(rsp); err != nil {
		t.Fatal(err)
	}

	// Only auth offered: no cipher directive; no qop list: no qop directive.
	srv = NewServer("r", []string{"auth"}, lookupOnly("u", "p"))
	srv.nonceFunc = func() []byte { return []byte("n") }
	ch, _ = srv.Evaluate(nil)
	if want := `realm="r",nonce="n",qop="auth",charset=utf-8,algorithm=md5-sess`; string(ch) != want {
		t.Errorf("auth challenge %s, want %s", ch, want)
	}
	srv = NewServer("r", nil, lookupOnly("u", "p"))
	srv.nonceFunc = func() []byte { return []byte("n") }
	ch, _ = srv.Evaluate(nil)
	if want := `realm="r",nonce="n",charset=utf-8,algorithm=md5-sess`; string(ch) != want {
		t.Errorf("default challenge %s, want %s", ch, want)
	}
}

func TestRealNonces(t *testing.T) {
	srv := NewServer(SparkRealm, nil, lookupOnly("u", "p"))
	ch, _ := srv.Evaluate(nil)
	if len(srv.nonce) != 40 {
		t.Fatalf("nonce %q: %d bytes, want 40", srv.nonce, len(srv.nonce))
	}
	if _, err := base64.StdEncoding.DecodeString(string(srv.nonce)); err != nil {
		t.Fatalf("nonce not Base64: %v", err)
	}
	srv2 := NewServer(SparkRealm, nil, lookupOnly("u", "p"))
	srv2.Evaluate(nil)
	if bytes.Equal(srv.nonce, srv2.nonce) {
		t.Fatal("two servers drew the same nonce")
	}
	cli := NewClient("u", "p", "", SparkDigestURI, nil)
	if _, err := cli.Evaluate(ch); err != nil {
		t.Fatal(err)
	}
}

func TestSparkPasswordWithNewline(t *testing.T) {
	if !strings.Contains(sparkPassword, "\n") {
		t.Fatal("test password should contain a newline")
	}
	cli, srv := sparkPair(t, []string{"auth-conf", "auth"}, []string{"auth-conf"}, nil, nil)
	mustExchange(t, cli, srv)
}

func TestWrongPassword(t *testing.T) {
	srv := NewServer(SparkRealm, []string{"auth"}, lookupOnly(sparkUser, sparkPassword))
	cli := NewClient(sparkUser, "not-the-password", "", SparkDigestURI, nil)
	side, err := exchange(cli, srv)
	if side != "server check" || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("%s: %v", side, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "wrong password for user") || !strings.Contains(msg, sparkUser) {
		t.Errorf("error %q should name the user and the cause", msg)
	}
	if strings.Contains(msg, "not-the-password") || strings.Contains(msg, sparkPassword) {
		t.Errorf("error %q contains a password", msg)
	}
	if srv.Complete() {
		t.Error("server complete after failure")
	}
	// The exchange stays failed.
	if _, err2 := srv.Evaluate(nil); err2 != err {
		t.Errorf("Evaluate after failure: %v", err2)
	}
	if _, err := srv.SecurityLayer(); !errors.Is(err, ErrState) {
		t.Errorf("SecurityLayer after failure: %v", err)
	}
}

func TestUnknownUser(t *testing.T) {
	srv := NewServer(SparkRealm, nil, lookupOnly("someone-else", "p"))
	cli := NewClient(sparkUser, sparkPassword, "", SparkDigestURI, nil)
	side, err := exchange(cli, srv)
	if side != "server check" || !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "unknown user") {
		t.Fatalf("%s: %v", side, err)
	}
}

func TestBadRspauth(t *testing.T) {
	cli, srv := sparkPair(t, nil, nil, nil, nil)
	ch, _ := srv.Evaluate(nil)
	resp, err := cli.Evaluate(ch)
	if err != nil {
		t.Fatal(err)
	}
	rsp, err := srv.Evaluate(resp)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, rsp...)
	if bad[len(bad)-1] == '0' {
		bad[len(bad)-1] = '1'
	} else {
		bad[len(bad)-1] = '0'
	}
	if _, err := cli.Evaluate(bad); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("bad rspauth: %v", err)
	}
	if cli.Complete() {
		t.Fatal("client complete after bad rspauth")
	}
	// A server that does not know the password cannot forge rspauth.
	cli, _ = sparkPair(t, nil, nil, nil, nil)
	impostor := NewServer(SparkRealm, nil, func(string) (string, bool) { return "guess", true })
	ch, _ = impostor.Evaluate(nil)
	resp, _ = cli.Evaluate(ch)
	impostor.lookup = func(string) (string, bool) { return sparkPassword, true }
	if _, err := impostor.Evaluate(resp); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Evaluate([]byte("rspauth=" + strings.Repeat("0", 32))); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("forged rspauth: %v", err)
	}
	// No rspauth at all.
	cli, srv = sparkPair(t, nil, nil, nil, nil)
	ch, _ = srv.Evaluate(nil)
	cli.Evaluate(ch)
	if _, err := cli.Evaluate([]byte(`realm="default"`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("missing rspauth: %v", err)
	}
}

func TestNoCommonProtectionLayer(t *testing.T) {
	cli, srv := sparkPair(t, []string{"auth-conf"}, []string{"auth"}, nil, nil)
	side, err := exchange(cli, srv)
	if side != "client response" || !errors.Is(err, ErrNoCommonQOP) {
		t.Fatalf("%s: %v", side, err)
	}
	if !strings.Contains(err.Error(), "no common protection layer") {
		t.Errorf("message %q", err)
	}
	// A client that claims a QOP the server did not offer.
	_, srv = sparkPair(t, []string{"auth-conf"}, nil, nil, nil)
	srv.nonceFunc = func() []byte { return []byte("n") }
	srv.Evaluate(nil)
	_, err = srv.Evaluate([]byte(`username="u",realm="default",nonce="n",cnonce="c",digest-uri="null/default",response=00,qop=auth`))
	if !errors.Is(err, ErrNoCommonQOP) {
		t.Fatalf("server: %v", err)
	}
}

func TestServerRejectsUnofferedCipher(t *testing.T) {
	cli, srv := sparkPair(t, []string{"auth-conf"}, []string{"auth-conf"}, []ServerOption{WithCiphers("rc4")}, []ClientOption{WithCipher("rc4")})
	ch, _ := srv.Evaluate(nil)
	if !bytes.Contains(ch, []byte(`cipher="rc4"`)) {
		t.Fatalf("challenge %s", ch)
	}
	resp, err := cli.Evaluate(ch)
	if err != nil {
		t.Fatal(err)
	}
	resp = bytes.Replace(resp, []byte(`cipher="rc4"`), []byte(`cipher="des"`), 1)
	if _, err := srv.Evaluate(resp); !errors.Is(err, ErrNoCommonCipher) {
		t.Fatalf("unoffered cipher: %v", err)
	}
}

func TestAuthzid(t *testing.T) {
	srv := NewServer(SparkRealm, nil, lookupOnly(sparkUser, sparkPassword))
	cli := NewClient(sparkUser, sparkPassword, "admin", SparkDigestURI, nil)
	side, err := exchange(cli, srv)
	if side != "server check" || !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("%s: %v", side, err)
	}
	// authzid equal to the username is fine, and goes into H(A1).
	srv = NewServer(SparkRealm, []string{"auth-int"}, lookupOnly(sparkUser, sparkPassword))
	cli = NewClient(sparkUser, sparkPassword, sparkUser, SparkDigestURI, []string{"auth-int"})
	srv.nonceFunc = func() []byte { return []byte("n") }
	cli.nonceFunc = func() []byte { return []byte("c") }
	mustExchange(t, cli, srv)
	want := md5Sum(append(append(md5Sum([]byte(sparkUser+":default:"+sparkPassword)), ":n:c:"...), sparkUser...))
	if !bytes.Equal(cli.ha1[:], want) || !bytes.Equal(srv.ha1[:], want) {
		t.Fatalf("H(A1) with authzid: client %x server %x want %x", cli.ha1, srv.ha1, want)
	}
}

func TestDigestURI(t *testing.T) {
	// A client with another digest-uri is refused...
	srv := NewServer(SparkRealm, nil, lookupOnly("u", "p"))
	cli := NewClient("u", "p", "", "imap/host", nil)
	if side, err := exchange(cli, srv); side != "server check" || !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: %v", side, err)
	}
	// ...case does not matter, and the client's spelling is what is hashed.
	srv = NewServer(SparkRealm, nil, lookupOnly("u", "p"))
	cli = NewClient("u", "p", "", "NULL/Default", nil)
	mustExchange(t, cli, srv)
	// WithDigestURI and the "/*" wildcard.
	srv = NewServer("r", nil, lookupOnly("u", "p"), WithDigestURI("imap/*"))
	cli = NewClient("u", "p", "", "IMAP/mail.example.com", nil)
	mustExchange(t, cli, srv)
	srv = NewServer("r", nil, lookupOnly("u", "p"), WithDigestURI("imap/*"))
	cli = NewClient("u", "p", "", "ldap/x", nil)
	if _, err := exchange(cli, srv); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wildcard mismatch: %v", err)
	}
}

func TestSizeLimits(t *testing.T) {
	cli := NewClient("u", "p", "", SparkDigestURI, nil)
	big := []byte(`nonce="n",algorithm=md5-sess,x="` + strings.Repeat("a", MaxChallengeSize) + `"`)
	if _, err := cli.Evaluate(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large challenge: %v", err)
	}
	// Exactly the limit is allowed.
	ok := []byte(`nonce="n",algorithm=md5-sess,x="`)
	ok = append(ok, bytes.Repeat([]byte("a"), MaxChallengeSize-len(ok)-1)...)
	ok = append(ok, '"')
	if _, err := NewClient("u", "p", "", SparkDigestURI, nil).Evaluate(ok); err != nil {
		t.Fatalf("%d-byte challenge: %v", len(ok), err)
	}

	srv := NewServer(SparkRealm, nil, lookupOnly("u", "p"))
	srv.Evaluate(nil)
	if _, err := srv.Evaluate(bytes.Repeat([]byte("a"), MaxResponseSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large response: %v", err)
	}
	// A client whose response would pass the limit refuses to send it.
	cli = NewClient(strings.Repeat("u", 4000), "p", "", SparkDigestURI, nil)
	if _, err := cli.Evaluate([]byte(`nonce="n",algorithm=md5-sess`)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large username: %v", err)
	}
}

func TestChallengeValidation(t *testing.T) {
	for _, tc := range []struct {
		ch   string
		want error
	}{
		{`nonce="n"`, ErrMalformed},                                   // no algorithm
		{`nonce="n",algorithm=md5`, ErrMalformed},                     // wrong algorithm
		{`algorithm=md5-sess`, ErrMalformed},                          // no nonce
		{`nonce="n",nonce="m",algorithm=md5-sess`, ErrMalformed},      // duplicate
		{`nonce="n",algorithm=md5-sess,charset=latin1`, ErrMalformed}, // charset
		{`nonce="n",algorithm=md5-sess,maxbuf=abc`, ErrMalformed},
		{`nonce="n",algorithm=md5-sess,maxbuf=16`, ErrMalformed},
		{`nonce="n",algorithm=md5-sess,maxbuf=99999999999`, ErrMalformed},
		{`nonce="n",algorithm=md5-sess,qop="auth-conf"`, ErrNoCommonQOP},
		{`nonce="n",algorithm=md5-sess,qop=""`, ErrNoCommonQOP},
		{`nonce="n,algorithm=md5-sess`, ErrMalformed}, // unterminated quote
		{`nonce="n",algorithm=md5-sess,qop="auth"`, nil},
		{`realm="a",realm="b",nonce="n",algorithm=md5-sess,stale=true,foo=bar,foo=baz`, nil},
		{` Nonce = "n" , ALGORITHM=md5-sess ,, `, nil},
	} {
		_, err := NewClient("u", "p", "", SparkDigestURI, nil).Evaluate([]byte(tc.ch))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.ch, err, tc.want)
		}
	}
	// With several realms the client takes the first.
	cli := NewClient("u", "p", "", SparkDigestURI, nil)
	resp, err := cli.Evaluate([]byte(`realm="a",realm="b",nonce="n",algorithm=md5-sess`))
	if err != nil || !bytes.Contains(resp, []byte(`realm="a"`)) {
		t.Fatalf("%s %v", resp, err)
	}
	// Without charset=utf-8 the realm is ISO 8859-1, sent back as it came.
	cli = NewClient("u", "p", "", SparkDigestURI, nil)
	cli.nonceFunc = func() []byte { return []byte("c") }
	resp, err = cli.Evaluate([]byte("realm=\"caf\xe9\",nonce=\"n\",algorithm=md5-sess"))
	if err != nil || !bytes.Contains(resp, []byte("realm=\"caf\xe9\"")) {
		t.Fatalf("latin-1 realm: %q %v", resp, err)
	}
	if want := md5Sum(append(md5Sum([]byte("u:caf\xe9:p")), ":n:c"...)); !bytes.Equal(cli.ha1[:], want) {
		t.Fatalf("latin-1 realm: H(A1) %x, want %x", cli.ha1, want)
	}
	// No realm: none sent; no charset: none echoed.
	cli = NewClient("u", "p", "", SparkDigestURI, nil)
	resp, _ = cli.Evaluate([]byte(`nonce="n",algorithm=md5-sess`))
	if bytes.Contains(resp, []byte("realm=")) || bytes.Contains(resp, []byte("charset=")) {
		t.Fatalf("%s", resp)
	}
}

func TestResponseValidation(t *testing.T) {
	good := func() (*Server, map[string]string) {
		srv := NewServer(SparkRealm, []string{"auth-conf", "auth"}, lookupOnly("u", "p"))
		srv.nonceFunc = func() []byte { return []byte("n") }
		srv.Evaluate(nil)
		r := refResponse("u", SparkRealm, "p", "n", "c", "", "AUTHENTICATE", SparkDigestURI, QOPAuth)
		return srv, map[string]string{
			"username": `"u"`, "realm": `"default"`, "nonce": `"n"`, "cnonce": `"c"`,
			"nc": "00000001", "digest-uri": `"null/default"`, "response": r, "qop": "auth",
		}
	}
	build := func(m map[string]string, extra string) []byte {
		var parts []string
		for _, k := range []string{"charset", "username", "realm", "nonce", "nc", "cnonce", "digest-uri", "maxbuf", "response", "qop", "cipher", "authzid"} {
			if v, ok := m[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		return []byte(strings.Join(parts, ",") + extra)
	}
	srv, m := good()
	if _, err := srv.Evaluate(build(m, ",auth-param=x,unknown=\"y\"")); err != nil {
		t.Fatalf("good response: %v", err)
	}
	for _, tc := range []struct {
		key, value string // value "" deletes
		extra      string
		want       error
	}{
		{"username", "", "", ErrMalformed},
		{"nonce", `"other"`, "", ErrMalformed},
		{"nonce", "", "", ErrMalformed},
		{"cnonce", "", "", ErrMalformed},
		{"realm", `"elsewhere"`, "", ErrMalformed},
		{"realm", "", "", ErrMalformed},
		{"nc", "00000002", "", ErrMalformed},
		{"nc", "zz", "", ErrMalformed},
		{"qop", "auth-bogus", "", ErrMalformed},
		{"qop", "AUTH", "", ErrMalformed}, // the JDK server wants exact names
		{"qop", "auth-int", "", ErrNoCommonQOP},
		{"qop", "auth-conf", "", ErrMalformed}, // no cipher directive
		{"digest-uri", "", "", ErrMalformed},
		{"response", "", "", ErrMalformed},
		{"response", strings.Repeat("0", 32), "", ErrAuthFailed},
		{"charset", "utf-16", "", ErrMalformed},
		{"maxbuf", "-1", "", ErrMalformed},
		{"username", `"u"`, `,username="u"`, ErrMalformed}, // duplicate
		{"realm", `"default"`, `,Realm="default"`, ErrMalformed},
	} {
		srv, m := good()
		if tc.value == "" {
			delete(m, tc.key)
		} else {
			m[tc.key] = tc.value
		}
		_, err := srv.Evaluate(build(m, tc.extra))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s=%q%s: %v, want %v", tc.key, tc.value, tc.extra, err, tc.want)
		}
	}
	// nc given as a short hex number is still 1 (Integer.parseInt(.., 16)).
	srv, m = good()
	m["nc"] = "1"
	if _, err := srv.Evaluate(build(m, "")); err != nil {
		t.Errorf("nc=1: %v", err)
	}
}

func TestStateErrors(t *testing.T) {
	cli, srv := sparkPair(t, nil, nil, nil, nil)
	if _, err := cli.SecurityLayer(); !errors.Is(err, ErrState) {
		t.Errorf("client layer before completion: %v", err)
	}
	if _, err := srv.SecurityLayer(); !errors.Is(err, ErrState) {
		t.Errorf("server layer before completion: %v", err)
	}
	mustExchange(t, cli, srv)
	if _, err := cli.Evaluate([]byte("rspauth=x")); !errors.Is(err, ErrState) {
		t.Errorf("client Evaluate after completion: %v", err)
	}
	if _, err := srv.Evaluate(nil); !errors.Is(err, ErrState) {
		t.Errorf("server Evaluate after completion: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewClient("u", "p", "", SparkDigestURI, []string{"auth-secret"}).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("bad client qop: %v", err)
	}
	if _, err := NewClient("u", "p", "", SparkDigestURI, nil, WithCipher("aes")).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("bad client cipher: %v", err)
	}
	if _, err := NewServer("r", []string{"auth", "bogus"}, lookupOnly("u", "p")).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("bad server qop: %v", err)
	}
	if _, err := NewServer("r", nil, nil).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil lookup: %v", err)
	}
	if _, err := NewServer("r", []string{"auth-conf"}, lookupOnly("u", "p"), WithCiphers()).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("no ciphers: %v", err)
	}
	if _, err := NewServer("r", nil, lookupOnly("u", "p"), WithCiphers("aes")).Evaluate(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("bad server cipher: %v", err)
	}
}

// TestNonLatin1Credentials checks the charset rule for H(A1): ISO 8859-1
// when every character fits, UTF-8 otherwise.
func TestNonLatin1Credentials(t *testing.T) {
	for _, tc := range []struct{ user, pass string }{
		{"jürgen", "pässword"},      // Latin-1: hashed as single bytes
		{"Дмитрий", "пароль"},       // beyond Latin-1: hashed as UTF-8
		{"plain", "mixed-€-ü"},      // per string
		{"quote\"back\\slash", "p"}, // escaped on the wire
	} {
		srv := NewServer(SparkRealm, nil, lookupOnly(tc.user, tc.pass))
		cli := NewClient(tc.user, tc.pass, "", SparkDigestURI, nil)
		srv.nonceFunc = func() []byte { return []byte("n") }
		cli.nonceFunc = func() []byte { return []byte("c") }
		mustExchange(t, cli, srv)
		enc := func(s string) string {
			for _, r := range s {
				if r > 0xFF {
					return s
				}
			}
			b := make([]byte, 0, len(s))
			for _, r := range s {
				b = append(b, byte(r))
			}
			return string(b)
		}
		want := md5Sum(append(md5Sum([]byte(enc(tc.user)+":default:"+enc(tc.pass))), ":n:c"...))
		if !bytes.Equal(cli.ha1[:], want) {
			t.Errorf("%q: H(A1) %x, want %x", tc.user, cli.ha1, want)
		}
	}
}
