package shuffle_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// callTimeout bounds one request to the peer (its own waits are 60 s).
const callTimeout = 90 * time.Second

// sparkPeer is the JVM running ShufflePeer: Spark's shuffle service and
// client, driven line by line.
type sparkPeer struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout lines; closed at EOF
	stderr *testutil.LogBuffer

	mu sync.Mutex // serialises requests
}

// startPeer compiles (once) and starts the peer; it is stopped at cleanup.
func startPeer(t *testing.T) *sparkPeer {
	t.Helper()
	home, java := testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "shuffle"))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.shuffle.ShufflePeer")
	p := &sparkPeer{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &testutil.LogBuffer{}}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting the Spark peer: %v", err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, _ = io.WriteString(p.stdin, "quit\n")
		_ = p.stdin.Close()
		exited := make(chan error, 1)
		go func() {
			// Drain stdout so the JVM never blocks writing its goodbye.
			for range p.lines {
			}
			<-readerDone
			exited <- cmd.Wait()
		}()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cancel() // kills the JVM
			<-exited
		}
		cancel()
		if t.Failed() {
			t.Logf("Spark peer stderr (tail):\n%s", tail(p.stderr.String(), 6000))
		}
	})
	if _, err := p.read(2 * time.Minute); err != nil {
		t.Fatalf("the Spark peer did not start: %v\n%s", err, tail(p.stderr.String(), 4000))
	}
	return p
}

// read waits for the next answer line: its fields, or the peer's error.
func (p *sparkPeer) read(limit time.Duration) ([]string, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return nil, errors.New("the Spark peer exited")
			}
			f := strings.Split(line, "\t")
			switch f[0] {
			case "@@ok":
				return f[1:], nil
			case "@@err":
				return nil, &peerError{msg: strings.Join(f[1:], " ")}
			}
			// Not an answer (a stray print): skip it.
		case <-timer.C:
			return nil, fmt.Errorf("no answer from the Spark peer in %v", limit)
		}
	}
}

// peerError is a request the peer answered with @@err (Spark threw).
type peerError struct{ msg string }

func (e *peerError) Error() string { return "spark: " + e.msg }

// call sends one request and returns the answer's fields.
func (p *sparkPeer) call(args ...string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range args {
		if strings.ContainsAny(a, "\t\n") {
			return nil, fmt.Errorf("peer argument %q holds a tab or newline", a)
		}
	}
	if _, err := io.WriteString(p.stdin, strings.Join(args, "\t")+"\n"); err != nil {
		return nil, fmt.Errorf("writing to the Spark peer: %w", err)
	}
	return p.read(callTimeout)
}

// must is call that fails the test on an error.
func (p *sparkPeer) must(args ...string) []string {
	p.t.Helper()
	f, err := p.call(args...)
	if err != nil {
		p.t.Fatalf("%s: %v", args[0], err)
	}
	return f
}

// startServer starts Spark's shuffle service named name with conf and
// returns its port; it is closed at t's cleanup.
func (p *sparkPeer) startServer(t *testing.T, name string, conf ...string) int {
	t.Helper()
	f := p.must(append([]string{"server", name}, conf...)...)
	port, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatalf("server port %q", f[0])
	}
	t.Cleanup(func() { _, _ = p.call("close", name) })
	return port
}

// startClient makes Spark's ExternalBlockStoreClient for appID named name;
// it is closed at t's cleanup.
func (p *sparkPeer) startClient(t *testing.T, name, appID string, conf ...string) {
	t.Helper()
	p.must(append([]string{"client", name, "app=" + appID}, conf...)...)
	t.Cleanup(func() { _, _ = p.call("close", name) })
}

// javaBlock is one block as Spark's client received it.
type javaBlock struct {
	ok    bool
	size  int64
	sha   string
	class string // the ManagedBuffer's class
	err   string
}

// fetch runs Spark's fetchBlocks and returns each block's outcome.
func (p *sparkPeer) fetch(t *testing.T, client string, port int, execID string, toDisk bool, ids []string) map[string]javaBlock {
	t.Helper()
	out, err := p.fetchErr(client, port, execID, toDisk, ids)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fetchErr is fetch for any goroutine: it returns what went wrong.
func (p *sparkPeer) fetchErr(client string, port int, execID string, toDisk bool, ids []string) (map[string]javaBlock, error) {
	disk := "0"
	if toDisk {
		disk = "1"
	}
	f, err := p.call(append([]string{"fetch", client, localhost, strconv.Itoa(port), execID, disk}, ids...)...)
	if err != nil {
		return nil, err
	}
	return parseFetch(f, ids)
}

// fetchParallel runs n fetches of ids at once through Spark's client and
// returns each one's blocks.
func (p *sparkPeer) fetchParallel(t *testing.T, client string, port int, execID string, n int, ids []string) []map[string]javaBlock {
	t.Helper()
	f := p.must(append([]string{"fetchpar", client, localhost, strconv.Itoa(port), execID, strconv.Itoa(n)}, ids...)...)
	byFetch := make([][]string, n)
	for _, e := range f {
		k, rest, ok := strings.Cut(e, ":")
		i, err := strconv.Atoi(k)
		if !ok || err != nil || i < 0 || i >= n {
			t.Fatalf("fetchpar answer %q", e)
		}
		byFetch[i] = append(byFetch[i], rest)
	}
	out := make([]map[string]javaBlock, n)
	for i, entries := range byFetch {
		m, err := parseFetch(entries, ids)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		out[i] = m
	}
	return out
}

// parseFetch reads a fetch answer's ID=OK:SIZE:SHA:CLASS / ID=FAIL:MSG.
func parseFetch(f []string, ids []string) (map[string]javaBlock, error) {
	out := map[string]javaBlock{}
	for _, e := range f {
		id, res, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("fetch answer %q", e)
		}
		if msg, ok := strings.CutPrefix(res, "FAIL:"); ok {
			out[id] = javaBlock{err: msg}
			continue
		}
		parts := strings.Split(strings.TrimPrefix(res, "OK:"), ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("fetch answer %q", e)
		}
		n, _ := strconv.ParseInt(parts[0], 10, 64)
		out[id] = javaBlock{ok: true, size: n, sha: parts[1], class: parts[2]}
	}
	if len(out) != len(ids) {
		return nil, fmt.Errorf("fetch of %d blocks answered %d", len(ids), len(out))
	}
	return out, nil
}

// diagnosis is one answer to DiagnoseCorruption: the cause, or "FAIL"
// when the service failed the request.
type diagnosis struct {
	cause string
	err   string
}

func (d diagnosis) String() string {
	if d.err != "" {
		return "FAIL(" + d.err + ")"
	}
	return d.cause
}

// kind is what must match across implementations: the cause, or FAIL.
func (d diagnosis) kind() string {
	if d.err != "" {
		return "FAIL"
	}
	return d.cause
}

// diagnose asks through Spark's client: the answer of its
// diagnoseCorruption, and the service's raw answer.
func (p *sparkPeer) diagnose(t *testing.T, client string, port int, execID string, shuffleID int32, mapID int64, reduceID int32, checksum int64, algorithm string) (byClient string, raw diagnosis) {
	t.Helper()
	f := p.must("diagnose", client, localhost, strconv.Itoa(port), execID, strconv.Itoa(int(shuffleID)),
		strconv.FormatInt(mapID, 10), strconv.Itoa(int(reduceID)), strconv.FormatInt(checksum, 10), algorithm)
	if len(f) != 2 {
		t.Fatalf("diagnose answer %q", f)
	}
	if msg, ok := strings.CutPrefix(f[1], "FAIL:"); ok {
		return f[0], diagnosis{err: msg}
	}
	return f[0], diagnosis{cause: f[1]}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
