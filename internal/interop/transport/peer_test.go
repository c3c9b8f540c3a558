package transport

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"go.uber.org/goleak"
)

// answerLimit bounds the wait for one answer of the peer. It turns a hang
// into a failure and never decides an outcome (the peer's own waits are
// 120 s), so it is generous for a loaded two-core machine under -race.
const answerLimit = 4 * time.Minute

// peer is a running Java peer (ember.interop.transport.Peer).
type peer struct {
	t      testing.TB
	cancel context.CancelFunc
	stdin  io.WriteCloser
	lines  chan string   // answers, in order
	exited chan struct{} // closed when the process has been waited for
	stderr *testutil.LogBuffer

	mu sync.Mutex // serialises calls: one command, one answer
}

// javaDir is the peer kit's source directory.
func javaDir(t testing.TB, kit string) string {
	t.Helper()
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "internal", "interop", "jvm", kit)
}

// startPeer compiles the kit (cached), starts the JVM and waits for its
// READY line. The JVM is stopped (QUIT, then killed) in t's cleanup.
func startPeer(t *testing.T) *peer {
	t.Helper()
	home, java := testutil.RequireSpark(t)
	classes := testutil.CompileJava(t, home, javaDir(t, "transport"))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.transport.Peer")
	// Spark's warnings (a closed channel, a failed request) go to stderr,
	// which a failing test prints.
	cmd.Args = slices.Insert(cmd.Args, 1, "-Dorg.apache.logging.log4j.level="+cmp.Or(os.Getenv("EMBER_INTEROP_LOG"), "WARN"))
	p := &peer{t: t, cancel: cancel, lines: make(chan string, 16), exited: make(chan struct{}),
		stderr: &testutil.LogBuffer{}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		<-readDone // Wait must not run before the pipe is read to its end
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	if l := p.next(); l != "READY" {
		t.Fatalf("peer did not start: %q\nstderr:\n%s", l, p.stderr)
	}
	return p
}

// next returns the next answer line, or "" when the peer is gone.
func (p *peer) next() string {
	timer := time.NewTimer(answerLimit)
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			return ""
		}
		return l
	case <-timer.C:
		return ""
	}
}

// stop asks the peer to quit, kills it if it does not, and waits for it.
func (p *peer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, "QUIT\n"); err == nil {
		p.stdin.Close()
		timer := time.NewTimer(30 * time.Second)
		defer timer.Stop()
		for done := false; !done; {
			select {
			case _, ok := <-p.lines:
				done = !ok
			case <-timer.C:
				done = true
			}
		}
	}
	p.cancel() // kills the JVM if it is still there
	for range p.lines {
	}
	<-p.exited
	if p.t.Failed() {
		p.t.Logf("Spark peer stderr:\n%s", tail(p.stderr.String(), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// call sends one command and returns the answer's status (OK or FAIL) and
// fields. An ERR answer or a dead peer fails the test.
func (p *peer) call(t testing.TB, format string, args ...any) (string, []string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := fmt.Sprintf(format, args...)
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		t.Fatalf("peer %q: %v\nstderr:\n%s", cmd, err, tail(p.stderr.String(), 8000))
	}
	l := p.next()
	f := strings.Fields(l)
	if len(f) == 0 || (f[0] != "OK" && f[0] != "FAIL") {
		msg := l
		if len(f) == 2 && f[0] == "ERR" {
			msg = "ERR " + unb64(t, f[1])
		}
		t.Fatalf("peer %q answered %q\nstderr:\n%s", cmd, msg, tail(p.stderr.String(), 8000))
	}
	return f[0], f[1:]
}

// ok is call for commands that must succeed, with at least n fields.
func (p *peer) ok(t testing.TB, n int, format string, args ...any) []string {
	t.Helper()
	st, f := p.call(t, format, args...)
	if st != "OK" || len(f) < n {
		t.Fatalf("peer %q: %s %q, want OK with %d fields", fmt.Sprintf(format, args...), st, decodeFields(f), n)
	}
	return f
}

// decodeFields shows the Base64 fields of a FAIL answer readably.
func decodeFields(f []string) []string {
	out := make([]string, len(f))
	for i, s := range f {
		out[i] = s
		if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(s) > 8 {
			out[i] = string(b)
		}
	}
	return out
}

// b64 encodes text for the line protocol ("-" is the empty text).
func b64(s string) string {
	if s == "" {
		return "-"
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func unb64(t testing.TB, s string) string {
	t.Helper()
	if s == "-" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("peer sent bad Base64 %q: %v", s, err)
	}
	return string(b)
}

// checkLeaks fails t at its end if goroutines started after this call are
// still running (the reactor's process-wide ones excepted). Call it first,
// so that it runs after the test's other cleanups.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, append([]goleak.Option{before}, testutil.ReactorGoroutines...)...)
	})
}
