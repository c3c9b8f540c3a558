package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// Peers of BenchmarkAsk and BenchmarkTransportRPC from other Go RPC
// stacks, echoing raw bytes on loopback:
//
//   - BenchmarkGRPCUnary/size=<64B|4KiB>/inflight=<1|32>: grpc-go unary
//     calls on one ClientConn (HTTP/2, one TCP connection); inflight=32 is
//     32 goroutines sharing it.
//   - BenchmarkGRPCStream/size=64B: ping-pong on one bidi stream (one
//     message each way per op, no per-call HTTP/2 stream setup).
//   - BenchmarkNetRPC/inflight=<1|32>: Go's net/rpc (gob) echo of 64 bytes
//     over one TCP connection; 32 goroutines share the *rpc.Client.
//
// No protoc: messages are raw bytes through the "ember-raw" codec
// (grpcRawCodec), and the service is a hand-written grpc.ServiceDesc.
// Metrics as in rpcenv_bench_test.go (p50-ns, p99-ns, ops/s; B/op and
// allocs/op of client and server together).

// grpcRaw is the message of the gRPC benchmarks: raw bytes, no framing of
// its own.
type grpcRaw struct{ B []byte }

// grpcRawCodec encodes a *grpcRaw (or *[]byte) as its bytes. Unmarshal
// keeps data without copying: gRPC hands the codec a freshly materialized
// slice.
type grpcRawCodec struct{}

const grpcRawCodecName = "ember-raw"

func (grpcRawCodec) Name() string { return grpcRawCodecName }

func (grpcRawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *grpcRaw:
		return m.B, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("ember-raw codec: cannot marshal %T", v)
}

func (grpcRawCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *grpcRaw:
		m.B = data
		return nil
	case *[]byte:
		*m = data
		return nil
	}
	return fmt.Errorf("ember-raw codec: cannot unmarshal into %T", v)
}

func init() { encoding.RegisterCodec(grpcRawCodec{}) }

// grpcEchoService is the handler type of grpcEchoDesc.
type grpcEchoService interface{ isGRPCEcho() }

type grpcEchoServer struct{}

func (grpcEchoServer) isGRPCEcho() {}

const (
	grpcServiceName  = "ember.bench.Echo"
	grpcEchoMethod   = "/" + grpcServiceName + "/Echo"
	grpcStreamMethod = "/" + grpcServiceName + "/EchoStream"
)

// grpcEchoDesc is what protoc would generate for
//
//	service Echo {
//	  rpc Echo(Raw) returns (Raw);
//	  rpc EchoStream(stream Raw) returns (stream Raw);
//	}
var grpcEchoDesc = grpc.ServiceDesc{
	ServiceName: grpcServiceName,
	HandlerType: (*grpcEchoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler:    grpcEchoUnary,
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "EchoStream",
		Handler:       grpcEchoStream,
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: "ember_bench_echo.proto",
}

func grpcEchoUnary(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(grpcRaw)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return in, nil
	}
	info := &grpc.UnaryServerInfo{Server: grpcEchoServer{}, FullMethod: grpcEchoMethod}
	return interceptor(ctx, in, info, func(_ context.Context, req any) (any, error) { return req, nil })
}

func grpcEchoStream(_ any, stream grpc.ServerStream) error {
	var m grpcRaw
	for {
		if err := stream.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.SendMsg(&m); err != nil {
			return err
		}
	}
}

// grpcPeer starts an echo server on 127.0.0.1:0 and returns a ClientConn
// to it using the raw codec; b.Cleanup closes the conn and stops the
// server. ctx ends after the run limit (every call uses it, so no call
// outlives the run).
func grpcPeer(b *testing.B) (*grpc.ClientConn, context.Context) {
	b.Helper()
	return grpcPeerWith(b, &grpcEchoDesc, grpcEchoServer{})
}

var errGRPCEcho = errors.New("bench: echo reply differs in length")

// ---- BenchmarkGRPCUnary ----

func BenchmarkGRPCUnary(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"4KiB", 4 << 10}} {
		b.Run("size="+size.name, func(b *testing.B) {
			for _, inflight := range []int{1, 32} {
				b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
					runGRPCUnary(b, size.n, inflight)
				})
			}
		})
	}
}

func runGRPCUnary(b *testing.B, size, inflight int) {
	conn, ctx := grpcPeer(b)
	req := &grpcRaw{B: bytes.Repeat([]byte{0xAB}, size)}
	resps := make([]grpcRaw, inflight)
	call := func(w int) error {
		resp := &resps[w]
		if err := conn.Invoke(ctx, grpcEchoMethod, req, resp); err != nil {
			return err
		}
		if len(resp.B) != size {
			return errGRPCEcho
		}
		return nil
	}
	for w := range inflight { // warm up (connects) outside the timer
		for range 16 {
			if err := call(w); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(int64(size))
	rbDrive(b, inflight, call)
}

// ---- BenchmarkGRPCStream ----

func BenchmarkGRPCStream(b *testing.B) {
	b.Run("size=64B", func(b *testing.B) { runGRPCStream(b, 64) })
}

func runGRPCStream(b *testing.B, size int) {
	conn, ctx := grpcPeer(b)
	sctx, cancel := context.WithCancel(ctx)
	stream, err := conn.NewStream(sctx, &grpcEchoDesc.Streams[0], grpcStreamMethod)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stream.CloseSend()
		cancel()
	})
	req := &grpcRaw{B: bytes.Repeat([]byte{0xAB}, size)}
	var resp grpcRaw
	pingPong := func(int) error {
		if err := stream.SendMsg(req); err != nil {
			return err
		}
		if err := stream.RecvMsg(&resp); err != nil {
			return err
		}
		if len(resp.B) != size {
			return errGRPCEcho
		}
		return nil
	}
	for range 16 { // warm up outside the timer
		if err := pingPong(0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	rbDrive(b, 1, pingPong)
}

// ---- BenchmarkNetRPC ----

// NetRPCEcho is the net/rpc echo service (net/rpc wants exported methods).
type NetRPCEcho struct{}

// Echo replies with the arguments.
func (NetRPCEcho) Echo(args []byte, reply *[]byte) error {
	*reply = args
	return nil
}

// netRPCPeer serves NetRPCEcho on 127.0.0.1:0 (a goroutine per
// connection) and returns a client on one connection; b.Cleanup closes
// the client, the listener and every served connection, and waits.
func netRPCPeer(b *testing.B) (*rpc.Client, net.Conn) {
	b.Helper()
	srv := rpc.NewServer()
	if err := srv.RegisterName("Echo", NetRPCEcho{}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				srv.ServeConn(c) // closes c when done
			}()
		}
	}()
	b.Cleanup(func() {
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		ln.Close()
		wg.Wait()
	})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	client := rpc.NewClient(conn)
	b.Cleanup(func() { client.Close() }) // runs before the server's cleanup
	return client, conn
}

func BenchmarkNetRPC(b *testing.B) {
	for _, inflight := range []int{1, 32} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			runNetRPC(b, 64, inflight)
		})
	}
}

func runNetRPC(b *testing.B, size, inflight int) {
	client, conn := netRPCPeer(b)
	// Watchdog: closing the connection makes every pending Call return.
	var fired atomic.Bool
	limit := runLimit()
	wd := time.AfterFunc(limit, func() { fired.Store(true); conn.Close() })
	b.Cleanup(func() { wd.Stop() })

	req := bytes.Repeat([]byte{0xAB}, size)
	resps := make([][]byte, inflight)
	call := func(w int) error {
		resps[w] = resps[w][:0]
		if err := client.Call("Echo.Echo", req, &resps[w]); err != nil {
			if fired.Load() {
				return fmt.Errorf("bench: run of %d ops did not finish within %v: %w", b.N, limit, err)
			}
			return err
		}
		if len(resps[w]) != size {
			return errGRPCEcho
		}
		return nil
	}
	for w := range inflight { // warm up outside the timer
		for range 16 {
			if err := call(w); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(int64(size))
	rbDrive(b, inflight, call)
}
