package rpcenv

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// Live interop with a real Spark 4.1 RpcEnv (NettyRpcEnv) in a JVM: the
// JVM looks up, asks and sends to Ember's endpoints in Java serialization,
// passes refs both ways (a JVM ref answered over its connection, an Ember
// ref the JVM asks with its own default timeout), and Ember does the same
// to the JVM's endpoint. The JVM is internal/interop/jvm/rpcenv.

// jvmPeer drives the RpcPeer program line by line.
type jvmPeer struct {
	t      *testing.T
	mu     sync.Mutex
	stdin  io.Writer
	lines  chan string
	stderr *testutil.LogBuffer
}

func startJVMPeer(t *testing.T) *jvmPeer {
	t.Helper()
	home, java := testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "rpcenv"))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.rpcenv.RpcPeer")
	p := &jvmPeer{t: t, lines: make(chan string, 16), stderr: &testutil.LogBuffer{}}
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		fmt.Fprintln(stdin, "QUIT")
		stdin.Close()
		select {
		case <-done:
		case <-time.After(waitLimit):
		}
		cancel()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("JVM stderr:\n%s", p.stderr.String())
		}
	})
	if l := p.line(); l != "READY" {
		t.Fatalf("JVM peer said %q, want READY\n%s", l, p.stderr.String())
	}
	return p
}

func (p *jvmPeer) line() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("JVM peer exited\n%s", p.stderr.String())
		}
		return l
	case <-time.After(2 * waitLimit):
		p.t.Fatalf("JVM peer did not answer\n%s", p.stderr.String())
		return ""
	}
}

// do sends one command and returns the answer's words after OK; fail is
// the decoded error text of a FAIL answer.
func (p *jvmPeer) do(cmd ...string) (ok []string, fail string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.stdin, strings.Join(cmd, " "))
	l := p.line()
	w := strings.Fields(l)
	switch {
	case len(w) > 0 && w[0] == "OK":
		return w[1:], ""
	case len(w) == 2 && w[0] == "FAIL":
		return nil, unb64(p.t, w[1])
	}
	p.t.Fatalf("JVM peer: %s -> %q", strings.Join(cmd, " "), l)
	return nil, ""
}

func (p *jvmPeer) must(cmd ...string) []string {
	p.t.Helper()
	ok, fail := p.do(cmd...)
	if fail != "" {
		p.t.Fatalf("JVM peer: %s failed: %s", strings.Join(cmd, " "), fail)
	}
	return ok
}

func b64(s string) string {
	if s == "" {
		return "-"
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func unb64(t testing.TB, s string) string {
	if s == "-" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 %q", s)
	}
	return string(b)
}

// jvmEcho is the Ember endpoint the JVM talks to.
type jvmEcho struct {
	BaseEndpoint
	env  *Env
	got  chan any // one-way messages
	refs chan *Ref
}

func (e *jvmEcho) Receive(msg any, sender Address) error {
	e.got <- fmt.Sprintf("%v from %v", msg, sender)
	return nil
}

func (e *jvmEcho) ReceiveAndReply(msg any, cc CallContext) error {
	switch m := msg.(type) {
	case string:
		if m == "fail" {
			return errors.New("ember refuses")
		}
		cc.Reply("ember:" + m)
	case int:
		cc.Reply(m + 1)
	case int64:
		cc.Reply(m + 1)
	case *Ref:
		e.refs <- m
		if err := m.Send("pushed"); err != nil {
			return err
		}
		cc.Reply(e.env.EndpointRef(e))
	default:
		return fmt.Errorf("unexpected %T", msg)
	}
	return nil
}

func TestSparkRpcEnvLive(t *testing.T) {
	p := startJVMPeer(t)
	eachMode(t, func(t *testing.T, mode string) {
		p.t = t
		e := startEnv(t, server(mode, "spark.rpc.askTimeout", "45s"))
		echo := &jvmEcho{env: e, got: make(chan any, 8), refs: make(chan *Ref, 8)}
		setup(t, e, "echo", echo)
		host, port := "127.0.0.1", strconv.Itoa(e.Address().Port)

		slot := "server-" + mode
		jvmPort, _ := strconv.Atoi(p.must("START", slot, "server")[0])
		jvmAddr := NewAddress("127.0.0.1", jvmPort)

		t.Run("jvm-to-ember", func(t *testing.T) {
			p.t = t
			if got := unb64(t, p.must("ASK", slot, host, port, "echo", b64("hi"))[0]); got != "ember:hi" {
				t.Errorf("ask: %q", got)
			}
			if got := p.must("ASKINT", slot, host, port, "echo", "41")[0]; got != "java.lang.Integer:42" {
				t.Errorf("ask Integer: %q", got)
			}
			if _, fail := p.do("ASK", slot, host, port, "nope", b64("hi")); !strings.Contains(fail, "RpcEndpointNotFoundException") {
				t.Errorf("lookup of a missing endpoint: %q", fail)
			}
			if _, fail := p.do("ASK", slot, host, port, "echo", b64("fail")); !strings.Contains(fail, "ember refuses") {
				t.Errorf("failed ask: %q", fail)
			}
			p.must("SEND", slot, host, port, "echo", b64("one-way"))
			if got := recv(t, echo.got, "the JVM's one-way message"); got != "one-way from "+jvmAddr.String() {
				t.Errorf("one-way: %q (the sender must be the JVM's advertised address)", got)
			}
			// A JVM ref in, an Ember ref out: Ember sends over the JVM's
			// connection, the JVM asks Ember's ref with its default timeout.
			got := unb64(t, p.must("REFTRIP", slot, host, port, "echo")[0])
			if want := e.Address().String() + "/echo ember:again"; got != want {
				t.Errorf("ref round trip: %q, want %q", got, want)
			}
			r := recv(t, echo.refs, "the JVM's ref")
			if !r.Java() || r.Address() != (EndpointAddress{Addr: jvmAddr, Name: "jvm-echo"}) {
				t.Errorf("JVM ref decoded as %v (java %v)", r.Address(), r.Java())
			}
			waitFor(t, "the JVM to get the push", func() bool {
				return strings.Contains(unb64(t, p.must("RECEIVED", slot)[0]), "pushed")
			})
		})

		t.Run("jvm-client-mode", func(t *testing.T) {
			p.t = t
			cslot := "client-" + mode
			p.must("START", cslot, "client")
			if got := unb64(t, p.must("ASK", cslot, host, port, "echo", b64("hi"))[0]); got != "ember:hi" {
				t.Errorf("ask: %q", got)
			}
			got := unb64(t, p.must("REFTRIP", cslot, host, port, "echo")[0])
			if want := e.Address().String() + "/echo ember:again"; got != want {
				t.Errorf("ref round trip: %q, want %q", got, want)
			}
			r := recv(t, echo.refs, "the client-mode JVM's ref")
			if !r.Address().Addr.IsZero() || r.Name() != "jvm-echo" {
				t.Errorf("client-mode ref decoded as %v", r.Address())
			}
			waitFor(t, "the client-mode JVM to get the push over its connection", func() bool {
				return strings.Contains(unb64(t, p.must("RECEIVED", cslot)[0]), "pushed")
			})
		})

		t.Run("ember-to-jvm", func(t *testing.T) {
			p.t = t
			ref, err := e.SetupJavaEndpointRef(jvmAddr, "jvm-echo")
			if err != nil {
				t.Fatal(err)
			}
			ctx := bigCtx(t)
			v, err := ref.Ask(ctx, "x")
			if want := "jvm:x from " + e.Address().String(); err != nil || v != want {
				t.Errorf("ask: %v, %v; want %q", v, err, want)
			}
			if v, err := ref.Ask(ctx, 5); err != nil || v != 6 {
				t.Errorf("ask Integer: %v (%T), %v", v, v, err)
			}
			_, err = ref.Ask(ctx, "fail")
			var re *RemoteError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, "java.lang.IllegalStateException: jvm refuses") {
				t.Errorf("failed ask: %v", err)
			}
			// The JVM asks the Ember ref it gets back "from-jvm".
			if v, err := ref.Ask(ctx, e.EndpointRef(echo)); err != nil || v != "ember:from-jvm" {
				t.Errorf("ask with a ref: %v, %v", v, err)
			}
			if err := ref.Send("y"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the JVM to get the send", func() bool {
				for _, m := range strings.Split(p.must("RECEIVED", slot)[0], ",") {
					if unb64(t, m) == "y" {
						return true
					}
				}
				return false
			})
			var nf *NotFoundError
			if _, err := e.SetupJavaEndpointRef(jvmAddr, "missing"); !errors.As(err, &nf) {
				t.Errorf("lookup of a missing JVM endpoint: %v", err)
			}
		})
	})
}
