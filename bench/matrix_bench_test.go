package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
	"google.golang.org/grpc"
)

// The comparison matrices: every system of a workload under the same
// sub-benchmark names, so that bench/cmd/compare (and a -bench pattern such
// as 'RPCMatrix/.*/64B/inflight=1$') puts them side by side. They overlap
// the older suites on purpose (BenchmarkRPCMatrix/NIO/64B/inflight=1 runs
// what BenchmarkRPC/NIO/64B/inflight=1/conns=1 runs) and add p99.9-ns and
// the percentile curves (latency_test.go).
//
//   - BenchmarkRPCMatrix/<system>/<size>/inflight=<1|32|256>: closed-loop
//     echo round trips of 64B, 4KiB and 1MiB payloads (64KiB with -short)
//     by n concurrent callers, for every echoSystem (peers_test.go).
//     MB/s counts the payload one way. System spark-jvm is Spark 4.1's
//     TransportClient and TransportServer in a JVM (jvm_peer_test.go).
//   - BenchmarkAskMatrix/<EPOLL|NIO>/inflight=<1|32|256>: closed-loop
//     rpcenv.Ask of BenchmarkAsk's 64-byte JSON message to a remote echo
//     endpoint by n callers sharing one ref. Its peers are
//     BenchmarkRPCMatrix/<system>/64B/inflight=<n>.
//   - BenchmarkOneWayMatrix/<system>/64B: 64-byte one-way messages on one
//     connection as fast as one sender can; the run ends when the receiver
//     has counted all b.N. Systems: EPOLL and NIO (Ember's Send, what
//     BenchmarkOneWay runs), rawtcp (one conn.Write per framed message),
//     rawtcp-buffered (framed messages through a 64 KiB bufio.Writer,
//     flushed at the end: the batching limit), grpc-stream (SendMsg on one
//     client-streaming grpc-go call), spark-jvm (Spark 4.1's
//     TransportClient.send in a JVM, jvm_peer_test.go). Reports msgs/s.

// rpcMatrixInflight are the matrix's concurrency levels.
var rpcMatrixInflight = []int{1, 32, 256}

// rpcMatrixSizes are the matrix's payload sizes; the largest is 1 MiB, or
// 64 KiB with -short (256 callers with 1 MiB each hold about 1 GiB).
func rpcMatrixSizes() []int {
	if testing.Short() {
		return []int{64, 4 << 10, 64 << 10}
	}
	return []int{64, 4 << 10, 1 << 20}
}

func BenchmarkRPCMatrix(b *testing.B) {
	for _, sys := range echoSystems {
		b.Run(sys.name, func(b *testing.B) {
			for _, size := range rpcMatrixSizes() {
				b.Run(sizeName(size), func(b *testing.B) {
					for _, n := range rpcMatrixInflight {
						b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
							op, abort := sys.setup(b, size, n)
							b.SetBytes(int64(size))
							driveClosed(b, n, op, abort)
						})
					}
				})
			}
		})
	}
	// Spark's own transport in a JVM (jvm_peer_test.go), started once for
	// all of its rows that run.
	jvm := newLazyJVM(b, "transport", "2g")
	b.Run(sparkJVMSystem, func(b *testing.B) {
		for _, size := range rpcMatrixSizes() {
			b.Run(sizeName(size), func(b *testing.B) {
				for _, n := range rpcMatrixInflight {
					b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) { runJVMRPC(b, jvm, size, n) })
				}
			})
		}
	})
}

func BenchmarkAskMatrix(b *testing.B) {
	for _, sys := range askSystems {
		b.Run(sys.name, func(b *testing.B) {
			for _, n := range rpcMatrixInflight {
				b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
					op, abort := sys.setup(b, 0, n)
					driveClosed(b, n, op, abort)
				})
			}
		})
	}
}

// ---- BenchmarkOneWayMatrix ----

// oneWaySize is the payload of the one-way benchmarks.
const oneWaySize = 64

func BenchmarkOneWayMatrix(b *testing.B) {
	jvm := newLazyJVM(b, "transport", "2g")
	systems := []struct {
		name string
		run  func(*testing.B)
	}{
		{"EPOLL", func(b *testing.B) { runOneWay(b, netpoll.EPOLL) }},
		{"NIO", func(b *testing.B) { runOneWay(b, netpoll.NIO) }},
		{"rawtcp", func(b *testing.B) { runRawOneWay(b, false) }},
		{"rawtcp-buffered", func(b *testing.B) { runRawOneWay(b, true) }},
		{"grpc-stream", runGRPCOneWay},
		{sparkJVMSystem, func(b *testing.B) { runJVMOneWay(b, jvm) }},
	}
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			b.Run(sizeName(oneWaySize), sys.run)
		})
	}
}

// msgCounter counts received one-way messages; reaching the target
// signals done.
type msgCounter struct {
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newMsgCounter() *msgCounter {
	c := &msgCounter{done: make(chan struct{}, 1)}
	c.target.Store(-1)
	return c
}

func (c *msgCounter) add() {
	if c.count.Add(1) == c.target.Load() {
		select {
		case c.done <- struct{}{}:
		default:
		}
	}
}

// expect resets the count and sets the number of messages awaited; call
// it only when no message is in flight.
func (c *msgCounter) expect(n int) {
	c.target.Store(-1)
	c.count.Store(0)
	select {
	case <-c.done:
	default:
	}
	c.target.Store(int64(n))
}

// wait waits until the target is reached or timer fires (then it fails
// the benchmark).
func (c *msgCounter) wait(b *testing.B, timer <-chan time.Time, limit time.Duration) {
	b.Helper()
	select {
	case <-c.done:
	case <-timer:
		b.Fatalf("only %d of %d one-way messages arrived within %v", c.count.Load(), c.target.Load(), limit)
	}
}

// runOneWayLoop warms up with 256 messages, then times b.N: send(n) sends
// n messages (returning the first error), and cnt counts them at the
// receiver.
func runOneWayLoop(b *testing.B, cnt *msgCounter, send func(n int) error) {
	b.Helper()
	limit := runLimit()
	const warm = 256
	cnt.expect(warm)
	if err := send(warm); err != nil {
		b.Fatal(err)
	}
	warmTimer := time.NewTimer(limit)
	cnt.wait(b, warmTimer.C, limit)
	warmTimer.Stop()

	cnt.expect(b.N)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	b.SetBytes(oneWaySize)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	if err := send(b.N); err != nil {
		b.Fatal(err)
	}
	cnt.wait(b, timer.C, limit)
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

var errOneWayFrame = errors.New("bench: one-way frame has the wrong length")

func runRawOneWay(b *testing.B, buffered bool) {
	cnt := newMsgCounter()
	srv := startRawServer(b, func(conn net.Conn) {
		br := bufio.NewReaderSize(conn, rawReadBuffer)
		var buf [8 + oneWaySize]byte
		for {
			if _, err := io.ReadFull(br, buf[:]); err != nil {
				return
			}
			if binary.BigEndian.Uint64(buf[:]) != oneWaySize {
				return // the sender's wait then times out and reports it
			}
			cnt.add()
		}
	})
	conn := srv.dial(b, runLimit()) // the deadline bounds every write
	msg := make([]byte, 8+oneWaySize)
	binary.BigEndian.PutUint64(msg, oneWaySize)
	copy(msg[8:], randomPayload(oneWaySize))
	var w io.Writer = conn
	var bw *bufio.Writer
	if buffered {
		bw = bufio.NewWriterSize(conn, 64<<10)
		w = bw
	}
	runOneWayLoop(b, cnt, func(n int) error {
		for range n {
			if _, err := w.Write(msg); err != nil {
				return err
			}
		}
		if bw != nil {
			return bw.Flush()
		}
		return nil
	})
}

// grpcSinkService is the handler type of grpcSinkDesc.
type grpcSinkService interface{ countsMessages() }

// grpcSink counts the messages of client-streaming calls.
type grpcSink struct{ cnt *msgCounter }

func (grpcSink) countsMessages() {}

const grpcSinkMethod = "/ember.bench.Sink/Sink"

// grpcSinkDesc is what protoc would generate for
//
//	service Sink { rpc Sink(stream Raw) returns (Raw); }
var grpcSinkDesc = grpc.ServiceDesc{
	ServiceName: "ember.bench.Sink",
	HandlerType: (*grpcSinkService)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Sink",
		Handler:       grpcSinkHandler,
		ClientStreams: true,
	}},
	Metadata: "ember_bench_sink.proto",
}

func grpcSinkHandler(srv any, stream grpc.ServerStream) error {
	s := srv.(grpcSink)
	var m grpcRaw
	for {
		if err := stream.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return stream.SendMsg(&grpcRaw{})
			}
			return err
		}
		if len(m.B) == oneWaySize {
			s.cnt.add()
		}
	}
}

func runGRPCOneWay(b *testing.B) {
	cnt := newMsgCounter()
	conn, ctx := grpcPeerWith(b, &grpcSinkDesc, grpcSink{cnt: cnt})
	stream, err := conn.NewStream(ctx, &grpcSinkDesc.Streams[0], grpcSinkMethod)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stream.CloseSend() })
	req := &grpcRaw{B: randomPayload(oneWaySize)}
	runOneWayLoop(b, cnt, func(n int) error {
		for range n {
			if err := stream.SendMsg(req); err != nil {
				return err
			}
		}
		return nil
	})
}
