package digest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jdkPeer is a running testdata/JDKPeer.java: the JDK's own DIGEST-MD5
// client and server, configured as Spark configures them.
type jdkPeer struct {
	t   testing.TB
	in  io.WriteCloser
	out *bufio.Reader
}

// startJDK compiles and starts the Java peer, or skips the test when no
// JDK is installed (or with -short).
func startJDK(t *testing.T) *jdkPeer {
	t.Helper()
	if testing.Short() {
		t.Skip("JDK interop skipped in -short mode")
	}
	javac, err1 := exec.LookPath("javac")
	java, err2 := exec.LookPath("java")
	if err1 != nil || err2 != nil {
		t.Skip("no JDK (javac and java) on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	if out, err := exec.CommandContext(ctx, javac, "-d", dir, filepath.Join("testdata", "JDKPeer.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	if v, err := exec.CommandContext(ctx, java, "-version").CombinedOutput(); err == nil {
		t.Logf("JDK: %s", bytes.SplitN(v, []byte("\n"), 2)[0])
	}
	cmd := exec.CommandContext(ctx, java, "-cp", dir, "JDKPeer")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("JDK stderr: %s", stderr.Bytes())
		}
	})
	return &jdkPeer{t: t, in: in, out: bufio.NewReaderSize(out, 1<<17)}
}

// call sends one command and returns the answer's payload, or the JDK's
// exception text as an error.
func (p *jdkPeer) call(cmd string, payload []byte) ([]byte, error) {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.in, "%s %s\n", cmd, base64.StdEncoding.EncodeToString(payload)); err != nil {
		p.t.Fatalf("writing to the JDK: %v", err)
	}
	return p.answer(cmd)
}

func (p *jdkPeer) answer(cmd string) ([]byte, error) {
	p.t.Helper()
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("reading from the JDK: %v", err)
	}
	line = strings.TrimSuffix(line, "\n")
	kind, rest, _ := strings.Cut(line, " ")
	if kind == "E" {
		return nil, fmt.Errorf("JDK: %s", rest)
	}
	if kind != cmd {
		p.t.Fatalf("JDK answered %q to %s", line, cmd)
	}
	if rest == "-" {
		return nil, nil
	}
	if cmd == "S" || cmd == "N" {
		return []byte(rest), nil
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		p.t.Fatalf("JDK answer %q: %v", line, err)
	}
	return b, nil
}

func (p *jdkPeer) start(role, qop, cipher, user, password string) {
	p.t.Helper()
	b := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	fmt.Fprintf(p.in, "N %s %s %s %s %s\n", b(role), b(qop), b(cipher), b(user), b(password))
	if _, err := p.answer("N"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *jdkPeer) status() string {
	p.t.Helper()
	fmt.Fprintf(p.in, "S\n")
	s, err := p.answer("S")
	if err != nil {
		p.t.Fatal(err)
	}
	return string(s)
}

// exchangeLayers sends messages of random sizes both ways between our
// layer and the JDK's, checking each arrives intact.
func (p *jdkPeer) exchangeLayers(t *testing.T, l *Layer, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	sizes := []int{0, 1, 8, 9, 65536, 70000}
	for range 10 {
		sizes = append(sizes, rng.IntN(70001))
	}
	for i, n := range sizes {
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		// Ours to the JDK.
		tok, err := l.Wrap(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.call("U", tok)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes) to the JDK: %v (got %d bytes)", i, n, err, len(got))
		}
		// The JDK's to ours.
		tok, err = p.call("W", msg)
		if err != nil {
			t.Fatalf("JDK wrap: %v", err)
		}
		if len(tok) != l.WrappedLen(n) {
			t.Fatalf("JDK token of %d bytes for %d, WrappedLen says %d", len(tok), n, l.WrappedLen(n))
		}
		got, err = l.Unwrap(nil, tok)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes) from the JDK: %v", i, n, err)
		}
	}
}

// directiveValue returns the value of one directive of msg.
func directiveValue(t testing.TB, msg []byte, key string) []byte {
	t.Helper()
	dirs, err := parseDirectives(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.key == key {
			return d.value
		}
	}
	t.Fatalf("no %s in %s", key, msg)
	return nil
}

var strengthOf = map[string]string{"": "null", Cipher3DES: "high", CipherRC4: "high", CipherDES: "medium", CipherRC456: "medium", CipherRC440: "low"}

// TestJDKServerGoClient: the JDK's server (as SparkSaslServer sets it up)
// against our client.
func TestJDKServerGoClient(t *testing.T) {
	p := startJDK(t)
	for i, tc := range []struct {
		jdkQOP     string
		ours       []string
		onlyCipher string
		qop        string
		cipher     string
	}{
		{"auth-conf,auth", []string{"auth"}, "", QOPAuth, ""},
		{"auth-conf,auth", []string{"auth-conf"}, "", QOPAuthConf, Cipher3DES}, // our default choice
		{"auth-conf", []string{"auth-conf"}, CipherRC4, QOPAuthConf, CipherRC4},
		{"auth-conf", []string{"auth-conf"}, CipherDES, QOPAuthConf, CipherDES},
		{"auth-conf", []string{"auth-conf"}, CipherRC456, QOPAuthConf, CipherRC456},
		{"auth-conf", []string{"auth-conf"}, CipherRC440, QOPAuthConf, CipherRC440},
		{"auth-int", []string{"auth-conf", "auth-int"}, "", QOPAuthInt, ""},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.qop, tc.cipher), func(t *testing.T) {
			p.t = t
			p.start("server", tc.jdkQOP, "", sparkUser, sparkPassword)
			var opts []ClientOption
			if tc.onlyCipher != "" {
				opts = append(opts, WithCipher(tc.onlyCipher))
			}
			cli := NewClient(sparkUser, sparkPassword, "", SparkDigestURI, tc.ours, opts...)
			ch, err := p.call("T", cli.InitialResponse())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("JDK challenge: %s", ch)
			// Ours, given the JDK's nonce, is the same byte for byte.
			mine := NewServer(SparkRealm, []string{tc.jdkQOP}, lookupOnly(sparkUser, sparkPassword))
			mine.nonceFunc = func() []byte { return directiveValue(t, ch, "nonce") }
			if ours, _ := mine.Evaluate(nil); !bytes.Equal(ours, ch) {
				t.Fatalf("challenges differ:\n JDK %s\nours %s", ch, ours)
			}
			resp, err := cli.Evaluate(ch)
			if err != nil {
				t.Fatal(err)
			}
			rsp, err := p.call("T", resp)
			if err != nil {
				t.Fatalf("JDK rejects our response %s: %v", resp, err)
			}
			if _, err := cli.Evaluate(rsp); err != nil || !cli.Complete() {
				t.Fatalf("our client rejects the JDK's %s: %v", rsp, err)
			}
			if st, want := p.status(), tc.qop+" "+strengthOf[tc.cipher]; st != want && !(tc.cipher == "" && strings.HasPrefix(st, tc.qop+" ")) {
				t.Fatalf("JDK says %q, want %q", st, want)
			}
			if cli.QOP() != tc.qop || cli.Cipher() != tc.cipher {
				t.Fatalf("we agreed %s/%s", cli.QOP(), cli.Cipher())
			}
			if tc.qop != QOPAuth {
				l, err := cli.SecurityLayer()
				if err != nil {
					t.Fatal(err)
				}
				p.exchangeLayers(t, l, uint64(i))
			}
		})
	}
}

// TestJDKClientGoServer: the JDK's client (as SparkSaslClient sets it up)
// against our server. With no cipher property the JDK makes its own
// choice, which must be the one our client makes.
func TestJDKClientGoServer(t *testing.T) {
	p := startJDK(t)
	for i, tc := range []struct {
		ours      []string
		jdkQOP    string
		jdkCipher string
		qop       string
		cipher    string
	}{
		{[]string{"auth-conf", "auth"}, "auth", "", QOPAuth, ""},
		{[]string{"auth-conf", "auth"}, "auth-conf", "", QOPAuthConf, Cipher3DES},
		{[]string{"auth-conf"}, "auth-conf", "", QOPAuthConf, Cipher3DES},
		{[]string{"auth-conf"}, "auth-conf", "rc4", QOPAuthConf, CipherRC4},
		{[]string{"auth-conf"}, "auth-conf", "des", QOPAuthConf, CipherDES},
		{[]string{"auth-conf"}, "auth-conf", "rc4-56", QOPAuthConf, CipherRC456},
		{[]string{"auth-conf"}, "auth-conf", "rc4-40", QOPAuthConf, CipherRC440},
		{[]string{"auth-int", "auth"}, "auth-int", "", QOPAuthInt, ""},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.qop, tc.cipher), func(t *testing.T) {
			p.t = t
			p.start("client", tc.jdkQOP, tc.jdkCipher, sparkUser, sparkPassword)
			srv := NewServer(SparkRealm, tc.ours, lookupOnly(sparkUser, sparkPassword))
			ch, err := srv.Evaluate([]byte{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.call("T", ch)
			if err != nil {
				t.Fatalf("JDK rejects our challenge %s: %v", ch, err)
			}
			t.Logf("JDK response: %s", resp)
			// Ours, given the JDK's cnonce, is the same byte for byte.
			var opts []ClientOption
			if tc.jdkCipher != "" {
				opts = append(opts, WithCipher(tc.jdkCipher))
			}
			mine := NewClient(sparkUser, sparkPassword, "", SparkDigestURI, []string{tc.jdkQOP}, opts...)
			mine.nonceFunc = func() []byte { return directiveValue(t, resp, "cnonce") }
			if ours, err := mine.Evaluate(ch); err != nil || !bytes.Equal(ours, resp) {
				t.Fatalf("responses differ (%v):\n JDK %s\nours %s", err, resp, ours)
			}
			rsp, err := srv.Evaluate(resp)
			if err != nil {
				t.Fatal(err)
			}
			last, err := p.call("T", rsp)
			if err != nil || last != nil {
				t.Fatalf("JDK rejects our rspauth: %v %q", err, last)
			}
			if st := p.status(); !strings.HasPrefix(st, tc.qop+" ") {
				t.Fatalf("JDK says %q", st)
			}
			if srv.QOP() != tc.qop || srv.Cipher() != tc.cipher {
				t.Fatalf("agreed %s/%s, want %s/%s", srv.QOP(), srv.Cipher(), tc.qop, tc.cipher)
			}
			if tc.qop != QOPAuth {
				l, err := srv.SecurityLayer()
				if err != nil {
					t.Fatal(err)
				}
				p.exchangeLayers(t, l, uint64(100+i))
			}
		})
	}
}

// TestJDKWrongPassword: each side refuses the other's wrong password.
func TestJDKWrongPassword(t *testing.T) {
	p := startJDK(t)

	p.start("server", "auth-conf,auth", "", sparkUser, sparkPassword)
	cli := NewClient(sparkUser, "wrong", "", SparkDigestURI, nil)
	ch, _ := p.call("T", nil)
	resp, err := cli.Evaluate(ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.call("T", resp); err == nil {
		t.Fatal("the JDK server accepted a wrong password")
	}

	p.start("client", "auth", "", sparkUser, "wrong")
	srv := NewServer(SparkRealm, []string{"auth-conf", "auth"}, lookupOnly(sparkUser, sparkPassword))
	ch, _ = srv.Evaluate(nil)
	resp, err = p.call("T", ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Evaluate(resp); err == nil {
		t.Fatal("our server accepted the JDK client's wrong password")
	}
}
