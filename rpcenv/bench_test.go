package rpcenv

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Micro benchmarks of the env's parts: the local ask and send paths (no
// transport), the run-queue ring, the inbox core, and the RequestMessage
// encoding. The end-to-end suite (remote asks, gRPC and net/rpc peers) is
// in ../bench.

// benchMsg is the message of these benchmarks, the one of ../bench: with a
// 7-digit N and a 44-byte S its JSON is 64 bytes.
type benchMsg struct {
	N int    `json:"n"`
	S string `json:"s"`
}

func init() { Register[benchMsg]("rpcenv.bench.msg") }

// benchValue is a benchMsg boxed once, so passing it allocates nothing.
var benchValue any = benchMsg{N: 1_000_000, S: strings.Repeat("s", 44)}

// benchEndpoint echoes asks and counts one-way messages.
type benchEndpoint struct {
	BaseEndpoint
	count atomic.Int64
}

func (e *benchEndpoint) Receive(any, Address) error {
	e.count.Add(1)
	return nil
}

func (e *benchEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	cc.Reply(msg)
	return nil
}

// benchCC is a CallContext that drops the answer.
type benchCC struct{}

func (benchCC) Reply(any)              {}
func (benchCC) SendFailure(error)      {}
func (benchCC) SenderAddress() Address { return Address{} }

func newBenchEnv(b *testing.B) *Env {
	b.Helper()
	conf := sparkconf.New().Set("spark.rpc.askTimeout", "30s")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := Create(Config{Name: "bench", BindHost: "127.0.0.1", Conf: conf, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Shutdown)
	return e
}

// BenchmarkLocalAsk is Ref.Ask to an endpoint of the same env: post to the
// inbox, a loop goroutine runs it, the reply comes back on the ask's
// channel (with the ask's timeout timer). No serialization.
func BenchmarkLocalAsk(b *testing.B) {
	env := newBenchEnv(b)
	ref, err := env.SetupEndpoint("echo", &benchEndpoint{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range 16 { // warm up (OnStart has run after the first)
		if _, err := ref.Ask(ctx, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		v, err := ref.Ask(ctx, benchValue)
		if err != nil {
			b.Fatal(err)
		}
		if v.(benchMsg).N != 1_000_000 {
			b.Fatalf("bad echo %v", v)
		}
	}
}

// BenchmarkLocalSend is Ref.Send to an endpoint of the same env; the run
// ends once the endpoint has received all b.N. The sender waits while
// 1<<14 messages are unreceived, so the queue does not just grow.
func BenchmarkLocalSend(b *testing.B) {
	const window = 1 << 14
	env := newBenchEnv(b)
	ep := &benchEndpoint{}
	ref, err := env.SetupEndpoint("sink", ep)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	wait := func(n int64) {
		b.Helper()
		for ep.count.Load() < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d messages arrived", ep.count.Load(), n)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	for range 256 { // warm up
		if err := ref.Send(benchValue); err != nil {
			b.Fatal(err)
		}
	}
	wait(256)
	base := ep.count.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range int64(b.N) {
		if i-(ep.count.Load()-base) >= window {
			wait(base + i - window/2)
		}
		if err := ref.Send(benchValue); err != nil {
			b.Fatal(err)
		}
	}
	wait(base + int64(b.N))
}

// BenchmarkRingPushPop is one push and one pop of the run-queue ring:
// serial on one goroutine, and parallel on GOMAXPROCS goroutines at once
// (a pop that finds the ring momentarily empty, behind a push still
// publishing, is retried).
func BenchmarkRingPushPop(b *testing.B) {
	in := &inbox{}
	b.Run("serial", func(b *testing.B) {
		r := newRing(1 << 12)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r.push(in)
			if r.pop() == nil {
				b.Fatal("empty ring after push")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		r := newRing(1 << 12)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for !r.push(in) {
					runtime.Gosched()
				}
				for r.pop() == nil {
					runtime.Gosched()
				}
			}
		})
	})
}

// BenchmarkInboxPostProcess is the inbox's pure core: post one message
// (which schedules the inbox) and process it, on one goroutine, for a
// one-way message (Receive) and an ask (ReceiveAndReply with a CallContext
// that drops the reply).
func BenchmarkInboxPostProcess(b *testing.B) {
	for _, tc := range []struct {
		name string
		m    inboxMsg
	}{
		{"oneway", inboxMsg{kind: kindOneWay, content: benchValue}},
		{"rpc", inboxMsg{kind: kindRPC, content: benchValue, cc: benchCC{}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := newInbox("bench", &benchEndpoint{}, nil, 0)
			in.process() // OnStart
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if schedule, err := in.post(tc.m); err != nil || !schedule {
					b.Fatalf("post: schedule=%v err=%v", schedule, err)
				}
				if in.process() {
					b.Fatal("inbox asks to be requeued")
				}
			}
		})
	}
}

// benchRequest is the RequestMessage of the encoding benchmarks.
func benchRequest() *requestMessage {
	return &requestMessage{
		sender:   NewAddress("127.0.0.1", 40001),
		receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 40002), Name: "echo"},
		content:  benchValue,
	}
}

// BenchmarkEncodeRequest is appendRequestTo of benchRequest into a reused
// message buffer (the header, the type name and the JSON), as Ref.encode
// does.
func BenchmarkEncodeRequest(b *testing.B) {
	m := benchRequest()
	mb := codec.GetPooledBytes()
	defer mb.Release()
	bb := mb.Buf()
	if err := appendRequestTo(&bb.B, m); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(bb.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bb.Reset()
		if err := appendRequestTo(&bb.B, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest is decodeRequestHeader + decodeContent of the
// encoding of benchRequest.
func BenchmarkDecodeRequest(b *testing.B) {
	enc, err := appendRequest(nil, benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m, rest, err := decodeRequestHeader(enc)
		if err != nil {
			b.Fatal(err)
		}
		v, _, err := decodeContent(rest)
		if err != nil {
			b.Fatal(err)
		}
		if m.receiver.Name != "echo" || v.(benchMsg).N != 1_000_000 {
			b.Fatalf("bad decode: %+v %v", m, v)
		}
	}
}

// TestAllocsRing checks that a ring push and pop allocate nothing.
func TestAllocsRing(t *testing.T) {
	if raceDetectorOn {
		t.Skip("the race detector allocates")
	}
	r := newRing(64)
	in := &inbox{}
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.push(in) {
			t.Fatal("push to an empty ring failed")
		}
		if r.pop() != in {
			t.Fatal("pop did not return what was pushed")
		}
	})
	if allocs != 0 {
		t.Fatalf("ring push+pop: %v allocations per run, want 0", allocs)
	}
}
