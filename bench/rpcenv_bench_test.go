package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// The RPC environment suite (package rpcenv, Spark's NettyRpcEnv) and, next
// to it, the bare transport round trip it is built on:
//
//   - BenchmarkAsk/<local|remote>/<mode>/inflight=<1|32>: rpcenv.Ask of a
//     small JSON message (rbMsg, 64 bytes of JSON) to an echo endpoint.
//     local: the endpoint is in the asking env (never serialized, mode is
//     irrelevant); remote: a second env on loopback, reached through a
//     verified ref (one connection, as Spark has one per peer). inflight=32
//     is 32 goroutines sharing the ref.
//   - BenchmarkSend/<local|remote>/<mode>: one-way Ref.Send of the same
//     message as fast as one caller can; the run ends once the endpoint has
//     counted all b.N. The sender keeps at most rbSendWindow messages
//     unreceived (so a run measures sustained throughput, not how fast
//     queues grow).
//   - BenchmarkAskThroughputOneEndpoint/<mode>/senders=<1|8|32>: N
//     goroutines, each with an env (and so a connection) of its own, ask
//     the same remote echo endpoint: many peers fanning in to one
//     thread-safe endpoint, as executors to the driver. (N goroutines
//     sharing one env and connection is BenchmarkAsk/remote/inflight=N.)
//   - BenchmarkTransportRPC/<mode>/inflight=<1|32>: netpoll SendRpc round
//     trips of a 64-byte payload against an echo RpcHandler on one
//     connection, the transport configured as rpcenv configures it: the
//     floor under BenchmarkAsk/remote.
//
// Metrics as in the transport suite: p50-ns and p99-ns are per-operation
// latencies, ops/s (msgs/s) the throughput; B/op and allocs/op count the
// whole process (both envs).

// rbModes are the I/O modes of the rpcenv suite.
var rbModes = []string{"EPOLL", "NIO"}

// rbMsg is the message of the rpcenv benchmarks: with a 7-digit N and a
// 44-byte S its JSON is 64 bytes.
type rbMsg struct {
	N int    `json:"n"`
	S string `json:"s"`
}

const rbMsgName = "bench.rpcenv.msg"

func init() { rpcenv.Register[rbMsg](rbMsgName) }

// rbNewMsg returns the message of worker w, boxed once so that asking with
// it allocates nothing in the benchmark loop.
func rbNewMsg(w int) any {
	return rbMsg{N: 1_000_000 + w, S: strings.Repeat("s", 44)}
}

// rbEpoch is the origin of rbNanotime.
var rbEpoch = time.Now()

// rbNanotime is a monotonic clock in nanoseconds (no allocation).
func rbNanotime() int64 { return int64(time.Since(rbEpoch)) }

// rbLogger keeps rpcenv's info chatter out of the benchmark output.
var rbLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// rbDrive runs b.N operations on workers goroutines (each takes the next
// operation until all are taken), timing each one, then reports latency
// percentiles and ops/s. op(w) runs one operation on worker w; the first
// error stops every worker and fails the benchmark. Each op must be
// bounded (a timeout, a deadline or a watchdog).
func rbDrive(b *testing.B, workers int, op func(w int) error) {
	b.Helper()
	driveClosed(b, workers, op, func() {}) // ops time out on their own
}

// ---- envs and endpoints ----

// rbNewEnv creates a listening env on loopback in mode; b.Cleanup shuts
// it down.
func rbNewEnv(b *testing.B, name, mode string) *rpcenv.Env {
	b.Helper()
	conf := sparkconf.New().
		Set("spark.rpc.io.mode", mode).
		Set("spark.rpc.askTimeout", "60s").
		Set("spark.rpc.lookupTimeout", "30s")
	env, err := rpcenv.Create(rpcenv.Config{Name: name, BindHost: "127.0.0.1", Conf: conf, Logger: rbLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Shutdown)
	return env
}

// rbEcho answers every ask with the message itself and counts one-way
// messages; reaching the target signals done.
type rbEcho struct {
	rpcenv.BaseEndpoint
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newRBEcho() *rbEcho {
	e := &rbEcho{done: make(chan struct{}, 1)}
	e.target.Store(-1)
	return e
}

func (e *rbEcho) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	cc.Reply(msg)
	return nil
}

func (e *rbEcho) Receive(any, rpcenv.Address) error {
	if e.count.Add(1) == e.target.Load() {
		select {
		case e.done <- struct{}{}:
		default:
		}
	}
	return nil
}

// expect resets the count and sets the number of messages awaited.
func (e *rbEcho) expect(n int64) {
	e.target.Store(-1)
	e.count.Store(0)
	select {
	case <-e.done:
	default:
	}
	e.target.Store(n)
}

// rbEchoRef sets up an echo endpoint and returns the ref to ask it by:
// local, the endpoint's own ref in a single env; remote, a verified ref
// from a second env.
func rbEchoRef(b *testing.B, where, mode string) (*rpcenv.Ref, *rbEcho) {
	b.Helper()
	server := rbNewEnv(b, "bench-server", mode)
	ep := newRBEcho()
	local, err := server.SetupEndpoint("echo", ep)
	if err != nil {
		b.Fatal(err)
	}
	if where == "local" {
		return local, ep
	}
	client := rbNewEnv(b, "bench-client", mode)
	ref, err := client.SetupEndpointRef(server.Address(), "echo")
	if err != nil {
		b.Fatal(err)
	}
	return ref, ep
}

// rbAsk asks ref with msg (rbNewMsg(w)) and checks the echo.
func rbAsk(ref *rpcenv.Ref, msg any, w int) error {
	got, err := rpcenv.Ask[rbMsg](context.Background(), ref, msg)
	if err != nil {
		return err
	}
	if got.N != 1_000_000+w {
		return fmt.Errorf("bench: echo of %d came back as %d", 1_000_000+w, got.N)
	}
	return nil
}

// ---- BenchmarkAsk ----

func BenchmarkAsk(b *testing.B) {
	for _, where := range []string{"local", "remote"} {
		b.Run(where, func(b *testing.B) {
			for _, mode := range rbModes {
				b.Run(mode, func(b *testing.B) {
					for _, inflight := range []int{1, 32} {
						b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
							runAsk(b, where, mode, inflight)
						})
					}
				})
			}
		})
	}
}

func runAsk(b *testing.B, where, mode string, inflight int) {
	ref, _ := rbEchoRef(b, where, mode)
	msgs := make([]any, inflight)
	for w := range msgs {
		msgs[w] = rbNewMsg(w)
		for range 16 { // warm up outside the timer
			if err := rbAsk(ref, msgs[w], w); err != nil {
				b.Fatal(err)
			}
		}
	}
	rbDrive(b, inflight, func(w int) error { return rbAsk(ref, msgs[w], w) })
}

// ---- BenchmarkSend ----

// rbSendWindow is how many sent messages may be unreceived before the
// sender waits.
const rbSendWindow = 1 << 14

func BenchmarkSend(b *testing.B) {
	for _, where := range []string{"local", "remote"} {
		b.Run(where, func(b *testing.B) {
			for _, mode := range rbModes {
				b.Run(mode, func(b *testing.B) { runSend(b, where, mode) })
			}
		})
	}
}

func runSend(b *testing.B, where, mode string) {
	ref, ep := rbEchoRef(b, where, mode)
	msg := rbNewMsg(0)
	limit := runLimit()
	deadline := time.Now().Add(limit)

	send := func(n int) {
		b.Helper()
		ep.expect(int64(n))
		for i := range n {
			for int64(i)-ep.count.Load() >= rbSendWindow {
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d one-way messages arrived within %v", ep.count.Load(), n, limit)
				}
				time.Sleep(20 * time.Microsecond)
			}
			if err := ref.Send(msg); err != nil {
				b.Fatal(err)
			}
		}
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case <-ep.done:
		case <-timer.C:
			b.Fatalf("only %d of %d one-way messages arrived within %v", ep.count.Load(), n, limit)
		}
	}
	send(256) // warm up outside the timer

	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	send(b.N)
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// ---- BenchmarkAskThroughputOneEndpoint ----

func BenchmarkAskThroughputOneEndpoint(b *testing.B) {
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) {
			for _, senders := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
					runAskThroughput(b, mode, senders)
				})
			}
		})
	}
}

func runAskThroughput(b *testing.B, mode string, senders int) {
	server := rbNewEnv(b, "bench-server", mode)
	if _, err := server.SetupEndpoint("echo", newRBEcho()); err != nil {
		b.Fatal(err)
	}
	refs := make([]*rpcenv.Ref, senders)
	msgs := make([]any, senders)
	for w := range refs {
		client := rbNewEnv(b, fmt.Sprintf("bench-client-%d", w), mode)
		ref, err := client.SetupEndpointRef(server.Address(), "echo")
		if err != nil {
			b.Fatal(err)
		}
		refs[w], msgs[w] = ref, rbNewMsg(w)
		for range 16 { // warm up outside the timer
			if err := rbAsk(ref, msgs[w], w); err != nil {
				b.Fatal(err)
			}
		}
	}
	rbDrive(b, senders, func(w int) error { return rbAsk(refs[w], msgs[w], w) })
}

// ---- BenchmarkTransportRPC ----

// rbTransportHandler echoes RPCs (a copy: msg is valid only during the
// call, as the transport suite's handler does).
type rbTransportHandler struct{}

func (rbTransportHandler) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(bytes.Clone(msg))
}

func (rbTransportHandler) ReceiveOneWay(*netpoll.Client, []byte) {}

func (rbTransportHandler) StreamManager() netpoll.StreamManager { return nil }

var errRBReply = errors.New("bench: reply has the wrong length")

// rbWaiter is a reusable RpcResponseCallback: it checks the reply's length
// and signals ch.
type rbWaiter struct {
	want int
	err  error
	ch   chan struct{}
}

func (w *rbWaiter) OnSuccess(resp []byte) {
	w.err = nil
	if len(resp) != w.want {
		w.err = errRBReply
	}
	w.ch <- struct{}{}
}

func (w *rbWaiter) OnFailure(err error) {
	w.err = err
	w.ch <- struct{}{}
}

func BenchmarkTransportRPC(b *testing.B) {
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) {
			for _, inflight := range []int{1, 32} {
				b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
					runTransportRPC(b, mode, inflight)
				})
			}
		})
	}
}

func runTransportRPC(b *testing.B, mode string, inflight int) {
	const size = 64
	conf, err := netpoll.NewConf("rpc", sparkconf.New().Set("spark.rpc.io.mode", mode), "")
	if err != nil {
		b.Fatal(err)
	}
	// As rpcenv.Create sets it up.
	conf.NumConnectionsPerPeer = 1
	conf.ServerThreads = min(runtime.NumCPU(), 8)
	conf.ClientThreads = min(runtime.NumCPU(), 8)
	tctx := netpoll.NewContext(conf, rbTransportHandler{}, netpoll.WithLogger(rbLogger))
	srv, err := tctx.NewServer("127.0.0.1", 0)
	if err != nil {
		tctx.Close()
		b.Fatal(err)
	}
	factory := tctx.NewClientFactory()
	b.Cleanup(func() {
		factory.Close()
		srv.Close()
		tctx.Close()
	})
	c, err := factory.CreateClient("127.0.0.1", srv.Port())
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte{0xAB}, size)
	for range 16 { // warm up outside the timer
		resp, err := c.SendRpcSync(payload, 30*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp) != size {
			b.Fatal(errRBReply)
		}
	}
	// Watchdog: closing the connection fails every outstanding callback.
	var fired atomic.Bool
	limit := runLimit()
	wd := time.AfterFunc(limit, func() { fired.Store(true); c.Close() })
	b.Cleanup(func() { wd.Stop() })

	waiters := make([]*rbWaiter, inflight)
	for w := range waiters {
		waiters[w] = &rbWaiter{want: size, ch: make(chan struct{}, 1)}
	}
	b.SetBytes(size)
	rbDrive(b, inflight, func(w int) error {
		wt := waiters[w]
		c.SendRpc(payload, wt)
		<-wt.ch
		if fired.Load() {
			return fmt.Errorf("bench: run of %d ops did not finish within %v (last error: %v)", b.N, limit, wt.err)
		}
		return wt.err
	})
}
