package rpcenv

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Java content between two Ember envs: a ref made with
// SetupJavaEndpointRef writes Java streams, the other env reads them by
// their magic and answers in Java, while a JSON ref to the same endpoint
// keeps JSON (the choice is per message).
func TestJavaContentBetweenEmberEnvs(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		a := startEnv(t, server(mode))
		b := startEnv(t, server(mode))
		echo := &jvmEcho{env: a, got: make(chan any, 4), refs: make(chan *Ref, 4)}
		setup(t, a, "echo", echo)
		jref, err := b.SetupJavaEndpointRef(a.Address(), "echo")
		if err != nil {
			t.Fatal(err)
		}
		ctx := bigCtx(t)
		if v, err := jref.Ask(ctx, "hi"); err != nil || v != "ember:hi" {
			t.Errorf("Java ask: %v, %v", v, err)
		}
		if v, err := jref.Ask(ctx, 1<<40); err != nil || v != int64(1<<40+1) {
			t.Errorf("Java ask of a long: %v (%T), %v", v, v, err)
		}
		if _, err = jref.Ask(ctx, "fail"); err == nil || !strings.Contains(err.Error(), "ember refuses") {
			t.Errorf("Java failure (a transport RpcFailure): %v", err)
		}
		// A ref travels as a NettyRpcEndpointRef and comes back as one.
		self := setup(t, b, "self", &jvmEcho{env: b, got: make(chan any, 4), refs: make(chan *Ref, 4)})
		v, err := jref.Ask(ctx, self)
		if err != nil {
			t.Fatal(err)
		}
		back, ok := v.(*Ref)
		if !ok || !back.Java() || back.Address() != (EndpointAddress{Addr: a.Address(), Name: "echo"}) {
			t.Errorf("ref reply: %#v", v)
		}
		r := recv(t, echo.refs, "the ref")
		if !r.Java() || r.Address() != self.Address() {
			t.Errorf("ref arrived as %v (java %v)", r.Address(), r.Java())
		}
		jsonRef := lookup(t, b, a, "echo")
		if jsonRef.Java() {
			t.Error("a JSON lookup made a Java ref")
		}
		if v := askOK(t, jsonRef, "json"); v != "ember:json" {
			t.Errorf("JSON ask: %v", v)
		}
		if err := jref.Send("one-way"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, echo.got, "the Java send"); got != "one-way from "+b.Address().String() {
			t.Errorf("Java send: %v", got)
		}
	})
}

// evilObject is a class no Spark release has.
func evilObject() *javaser.Object {
	d := javaser.NewClassDesc("com.example.Evil", 42, javaser.SCSerializable, nil, javaser.ObjField("x", "java.lang.String"))
	return javaser.NewObject(d).MustSet("x", "boom")
}

// oddBoolean is a java.lang.Boolean with the right serialVersionUID and
// an int value field (found by FuzzJavaContent).
func oddBoolean() []byte {
	d := javaser.NewClassDesc("java.lang.Boolean", -3665804199014368530, javaser.SCSerializable, nil, javaser.PrimField("value", javaser.TypeInt))
	b, _ := javaser.Marshal(javaser.NewObject(d).MustSet("value", 1))
	return b
}

// Bad Java content is refused with an error that names the class and the
// Spark version, answered as a transport RpcFailure, and never panics.
func TestJavaContentBadInput(t *testing.T) {
	e := &Env{}
	for _, tc := range []struct {
		name string
		body func() []byte
		want []string
	}{
		{"unknown class", func() []byte { b, _ := javaser.Marshal(evilObject()); return b }, []string{"com.example.Evil", "Spark 4.1.4"}},
		{"other serialVersionUID", func() []byte {
			d := javaser.NewClassDesc(javaCheckExistence, 7, javaser.SCSerializable, nil, javaser.ObjField("name", "java.lang.String"))
			b, _ := javaser.Marshal(javaser.NewObject(d).MustSet("name", "Master"))
			return b
		}, []string{javaCheckExistence, "serialVersionUID 7", "Spark 4.1.4"}},
		{"a table class with other fields", func() []byte { return oddBoolean() }, []string{"java.lang.Boolean"}},
		{"garbage", func() []byte { return append(append([]byte{}, javaMagic...), 0x73, 0x99, 0x01) }, []string{"cannot read the stream", "Spark 4.1.4"}},
		{"truncated", func() []byte { return javaMagic }, []string{"cannot read the stream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.decodeJava(tc.body(), nil)
			if !errors.Is(err, ErrJavaContent) {
				t.Fatalf("err = %v, want ErrJavaContent", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// Over the wire: the asker gets the refusal as an RpcFailure, one-way
	// messages are dropped, the env goes on, and the error is logged once.
	eachMode(t, func(t *testing.T, mode string) {
		logs := &testutil.LogBuffer{}
		conf := sparkconf.New().Set("spark.rpc.io.mode", mode)
		a, err := Create(Config{Name: "a", BindHost: "127.0.0.1", Conf: conf, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Shutdown)
		b := startEnv(t, server(mode))
		echo := &jvmEcho{env: a, got: make(chan any, 4), refs: make(chan *Ref, 4)}
		setup(t, a, "echo", echo)
		ref := b.JavaRefFor(EndpointAddress{Addr: a.Address(), Name: "echo"})
		for i := 0; i < 3; i++ {
			_, err := ref.Ask(bigCtx(t), evilObject())
			if err == nil || !strings.Contains(err.Error(), "com.example.Evil") || !strings.Contains(err.Error(), "Spark 4.1.4") {
				t.Errorf("ask with an unknown class: %v", err)
			}
		}
		if err := ref.Send(evilObject()); err != nil {
			t.Fatal(err)
		}
		if v, err := ref.Ask(bigCtx(t), "still"); err != nil || v != "ember:still" {
			t.Errorf("after bad input: %v, %v", v, err)
		}
		if _, err := ref.Ask(bigCtx(t), struct{ X int }{1}); !errors.Is(err, ErrJavaContent) {
			t.Errorf("a value with no Java form: %v", err)
		}
		// Three asks and a send with the same bad class: one log line.
		if n := strings.Count(logs.String(), "refusing Java content"); n != 1 {
			t.Errorf("%d log lines for one repeated refusal, want 1:\n%s", n, logs.String())
		}
	})
}

// FuzzJavaContent: whatever a peer sends after the RequestMessage header,
// reading it as Java content never panics and refuses with ErrJavaContent.
func FuzzJavaContent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "codec", "javaser", "testdata", "spark-4.1.4", "*.ser"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add(javaMagic)
	f.Add(oddBoolean())
	e := &Env{askTimeout: timeoutSpec{d: 120e9, key: "spark.rpc.askTimeout"}}
	var c *netpoll.Client
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := e.decodeJava(b, c)
		if err != nil {
			if !errors.Is(err, ErrJavaContent) {
				t.Fatalf("error without ErrJavaContent: %v", err)
			}
			return
		}
		var re *RemoteError
		if _, err := e.decodeJavaReply(b, c); err != nil && !errors.Is(err, ErrJavaContent) && !errors.As(err, &re) {
			t.Fatalf("reply error without ErrJavaContent: %v", err)
		}
		// What was read can be written back.
		if _, err := e.appendJavaContent(nil, v); err != nil && !errors.Is(err, ErrJavaContent) {
			t.Fatalf("re-encoding %T: %v", v, err)
		}
	})
}
