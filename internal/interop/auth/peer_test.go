package auth

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// peer is the JVM running ember.interop.auth.AuthPeer: Spark's servers and
// clients, driven one command line at a time.
type peer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex // serialises commands: one answer per command
	stderr *testutil.LogBuffer
	done   chan struct{} // closed when the stdout reader ends
}

// answerTimeout bounds one command; the slowest is a SASL auth-conf upload
// under -race on a busy machine.
const answerTimeout = 2 * time.Minute

func startPeer(t *testing.T) *peer {
	t.Helper()
	home, java := testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "auth"))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.auth.AuthPeer")
	p := &peer{cmd: cmd, lines: make(chan string, 4), stderr: &testutil.LogBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		_, _ = io.WriteString(p.stdin, "QUIT\n")
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("peer did not quit; killing it")
		}
		cancel() // kills the JVM if it is still there
		_ = cmd.Wait()
		p.mu.Unlock()
		if t.Failed() {
			t.Logf("peer stderr (tail):\n%s", tail(p.stderr.String(), 6000))
		}
	})
	select {
	case l, ok := <-p.lines:
		if !ok || l != "READY" {
			t.Fatalf("peer did not start: %q\n%s", l, tail(p.stderr.String(), 4000))
		}
	case <-time.After(answerTimeout):
		t.Fatalf("peer did not start in time\n%s", tail(p.stderr.String(), 4000))
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// do sends one command and returns the answer's fields. An ERR answer (a
// harness failure) fails the test; OK and FAIL are returned.
func (p *peer) do(t *testing.T, args ...string) []string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, strings.Join(args, " ")+"\n"); err != nil {
		t.Fatalf("peer: %v", err)
	}
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("peer exited during %s\n%s", args[0], tail(p.stderr.String(), 4000))
		}
		f := strings.Fields(l)
		if len(f) == 0 || f[0] == "ERR" {
			msg := l
			if len(f) > 1 {
				msg = unb64(f[1])
			}
			t.Fatalf("peer %s: harness error: %s", args[0], msg)
		}
		return f
	case <-time.After(answerTimeout):
		t.Fatalf("peer %s: no answer within %s", args[0], answerTimeout)
	}
	return nil
}

// ok runs a command that must succeed and returns the answer after "OK".
func (p *peer) ok(t *testing.T, args ...string) []string {
	t.Helper()
	f := p.do(t, args...)
	if f[0] != "OK" {
		msg := ""
		if len(f) > 1 {
			msg = unb64(f[1])
		}
		t.Fatalf("peer %s failed: %s", args[0], msg)
	}
	return f[1:]
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	return string(b)
}

// confArg encodes "key=value" pairs for the peer.
func confArg(kv []string) string { return b64([]byte(strings.Join(kv, "\n"))) }

// sparkServer starts a Spark TransportServer with kv and returns its id
// and port.
func (p *peer) sparkServer(t *testing.T, kv []string, secret string) (id string, port int) {
	t.Helper()
	f := p.ok(t, "SERVER", confArg(kv), secretArg(secret))
	if _, err := fmt.Sscan(f[1], &port); err != nil {
		t.Fatal(err)
	}
	return f[0], port
}

// sparkClient connects a Spark client with kv to port; it returns the
// client id, or "" and the error text.
func (p *peer) sparkClient(t *testing.T, kv []string, secret, appID string, port int) (string, string) {
	t.Helper()
	f := p.do(t, "CLIENT", confArg(kv), secretArg(secret), appID, fmt.Sprint(port))
	if f[0] == "OK" {
		return f[1], ""
	}
	return "", unb64(f[1])
}

func secretArg(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
