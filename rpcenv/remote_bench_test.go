package rpcenv

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Remote round trips between two envs of this process, over loopback, in
// each io mode: what TestAllocRemoteAsk and TestAllocRemoteSend budget,
// and what BenchmarkAskRemote and BenchmarkSendRemote measure. B/op and
// allocs/op count both envs.

// remoteEcho echoes asks and signals each one-way message on got.
type remoteEcho struct {
	BaseEndpoint
	got chan struct{}
}

func (e *remoteEcho) Receive(any, Address) error {
	e.got <- struct{}{}
	return nil
}

func (e *remoteEcho) ReceiveAndReply(msg any, cc CallContext) error {
	cc.Reply(msg)
	return nil
}

// remotePair is a listening env with a remoteEcho, and a ref to it from a
// second listening env (so requests carry a sender address, as between
// a master and a worker).
type remotePair struct {
	ref  *Ref
	echo *remoteEcho
}

func newRemotePair(tb testing.TB, mode string) remotePair {
	tb.Helper()
	var envs [2]*Env
	for i, name := range []string{"server", "client"} {
		e, err := createEnv(envSpec{name: name, mode: mode, kv: []string{"spark.rpc.askTimeout", "60s"}})
		if err != nil {
			tb.Fatalf("create env %s: %v", name, err)
		}
		tb.Cleanup(e.Shutdown)
		envs[i] = e
	}
	echo := &remoteEcho{got: make(chan struct{}, 1)}
	setup(tb, envs[0], "echo", echo)
	return remotePair{ref: lookup(tb, envs[1], envs[0], "echo"), echo: echo}
}

// ask is one remote ask of benchValue, checked.
func (p remotePair) ask(tb testing.TB) {
	v, err := p.ref.Ask(context.Background(), benchValue)
	if err != nil {
		tb.Fatal(err)
	}
	if m, ok := v.(benchMsg); !ok || m.N != 1_000_000 {
		tb.Fatalf("bad echo %#v", v)
	}
}

// send is one remote send of benchValue, waited for at the receiver;
// limit, reset to waitLimit for each send (no allocation), only turns a
// lost message into a failure.
func (p remotePair) send(tb testing.TB, limit *time.Timer) {
	limit.Reset(waitLimit)
	if err := p.ref.Send(benchValue); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.echo.got:
	case <-limit.C:
		tb.Fatal("a one-way message did not arrive")
	}
}

// javaRef is the pair's ref written in Java content (as to a JVM).
func (p remotePair) javaRef() *Ref { return p.ref.env.JavaRefFor(p.ref.Address()) }

// javaString is the message of the Java asks; javaValue is it boxed once.
var (
	javaString     = strings.Repeat("j", 64)
	javaValue  any = javaString
)

// askJava is one remote ask of javaValue through a Java ref, checked.
func (p remotePair) askJava(tb testing.TB, ref *Ref) {
	v, err := ref.Ask(context.Background(), javaValue)
	if err != nil {
		tb.Fatal(err)
	}
	if s, ok := v.(string); !ok || s != javaString {
		tb.Fatalf("bad echo %#v", v)
	}
}

// BenchmarkAskRemote is Ref.Ask of a 64-byte JSON message to an endpoint
// of another env, one ask at a time.
func BenchmarkAskRemote(b *testing.B) {
	for _, mode := range ioModes {
		b.Run(mode, func(b *testing.B) {
			p := newRemotePair(b, mode)
			for range 200 {
				p.ask(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.ask(b)
			}
		})
	}
}

// BenchmarkSendRemote is Ref.Send of a 64-byte JSON message to an endpoint
// of another env, each one waited for at the receiver.
func BenchmarkSendRemote(b *testing.B) {
	for _, mode := range ioModes {
		b.Run(mode, func(b *testing.B) {
			p := newRemotePair(b, mode)
			limit := time.NewTimer(waitLimit)
			defer limit.Stop()
			for range 200 {
				p.send(b, limit)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.send(b, limit)
			}
		})
	}
}

// BenchmarkAskRemoteJava is a remote ask in Java content, as to a Spark
// JVM: a ref written in Java (JavaRefFor) asks a string, which the other
// env decodes from, and answers in, a Java serialization stream.
func BenchmarkAskRemoteJava(b *testing.B) {
	for _, mode := range ioModes {
		b.Run(mode, func(b *testing.B) {
			p := newRemotePair(b, mode)
			ref := p.javaRef()
			for range 200 {
				p.askJava(b, ref)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.askJava(b, ref)
			}
		})
	}
}
