package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	cwnetpoll "github.com/cloudwego/netpoll"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/rpcenv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The request/response systems the comparison benchmarks (BenchmarkRPCMatrix,
// BenchmarkAskMatrix, BenchmarkOpenLoop) drive, each echoing a payload on
// loopback:
//
//   - EPOLL, NIO: Ember's transport (SendRpc with a reusable callback) on
//     ONE connection that every caller shares, as Spark's one connection
//     per peer; the server's handler echoes a copy.
//   - rawtcp: plain Go, one connection per caller, 8-byte length framing
//     (BenchmarkRawTCPPingPong's client and server): the software limit.
//   - cwnetpoll: cloudwego/netpoll on its own, one connection per caller,
//     the same framing (BenchmarkNetpollRawEcho's server).
//   - grpc-unary: grpc-go unary calls, every caller on one ClientConn.
//   - grpc-stream: grpc-go, one bidi stream per caller on one ClientConn,
//     one message each way per operation.
//   - netrpc: Go's net/rpc (gob), every caller on one *rpc.Client.
//   - ask-EPOLL, ask-NIO (askSystems): rpcenv.Ask of a 64-byte JSON message
//     to a remote echo endpoint, every caller on one ref (one connection).
//     The payload size is fixed; the size argument is ignored.

// echoSystem is one system: setup starts its server and connects clients
// for workers concurrent callers, warmed up, with b.Cleanup tearing it
// all down; it returns op, one round trip of worker w (0 <= w < workers;
// a worker runs one op at a time), and abort, which makes every pending
// op return with an error.
type echoSystem struct {
	name  string
	setup func(b *testing.B, size, workers int) (op func(w int) error, abort func())
}

// echoSystems are the payload-echo systems, in table order.
var echoSystems = []echoSystem{
	{"EPOLL", emberEcho(netpoll.EPOLL)},
	{"NIO", emberEcho(netpoll.NIO)},
	{"rawtcp", rawTCPEcho},
	{"cwnetpoll", netpollEcho},
	{"grpc-unary", grpcUnaryEcho},
	{"grpc-stream", grpcStreamEcho},
	{"netrpc", netRPCEcho},
}

// askSystems are rpcenv's remote asks, by I/O mode.
var askSystems = []echoSystem{
	{"EPOLL", emberAsk("EPOLL")},
	{"NIO", emberAsk("NIO")},
}

func emberEcho(mode netpoll.IOMode) func(*testing.B, int, int) (func(int) error, func()) {
	return func(b *testing.B, size, workers int) (func(int) error, func()) {
		env := newEmber(b, mode, newBenchHandler())
		c := env.client(b)
		payload := randomPayload(size)
		for range warmRounds(size) {
			resp, err := c.SendRpcSync(payload, rpcTimeout)
			if err != nil {
				b.Fatal(err)
			}
			if len(resp) != size {
				b.Fatal(errShortReply)
			}
		}
		waiters := make([]*rpcWaiter, workers)
		for w := range waiters {
			waiters[w] = newRPCWaiter(size)
		}
		op := func(w int) error {
			wt := waiters[w]
			c.SendRpc(payload, wt)
			<-wt.ch
			return wt.err
		}
		return op, func() { c.Close() }
	}
}

func rawTCPEcho(b *testing.B, size, workers int) (func(int) error, func()) {
	limit := runLimit()
	srv := startRawServer(b, serveEcho(size))
	payload := randomPayload(size)
	clients := make([]*pingPonger, workers)
	for i := range clients {
		p := &pingPonger{conn: srv.dial(b, limit), req: make([]byte, 8+size), resp: make([]byte, 8+size)}
		p.br = bufio.NewReaderSize(p.conn, rawReadBuffer)
		binary.BigEndian.PutUint64(p.req, uint64(size))
		copy(p.req[8:], payload)
		for range warmRounds(size) {
			if err := p.roundTrip(); err != nil {
				b.Fatal(err)
			}
		}
		clients[i] = p
	}
	op := func(w int) error { return clients[w].roundTrip() }
	abort := func() {
		for _, p := range clients {
			p.conn.Close()
		}
	}
	return op, abort
}

func netpollEcho(b *testing.B, size, workers int) (func(int) error, func()) {
	addr := startNetpollEcho(b)
	limit := runLimit()
	msg := make([]byte, 8+size) // read-only once built: every worker writes it
	binary.BigEndian.PutUint64(msg, uint64(size))
	copy(msg[8:], randomPayload(size))
	conns := make([]cwnetpoll.Connection, workers)
	roundTrip := func(c cwnetpoll.Connection) error {
		w := c.Writer()
		if _, err := w.WriteBinary(msg); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		r := c.Reader()
		if _, err := r.Next(8 + size); err != nil {
			return err
		}
		return r.Release()
	}
	for i := range conns {
		c, err := cwnetpoll.DialConnection("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.SetReadTimeout(limit); err != nil {
			b.Fatal(err)
		}
		for range warmRounds(size) {
			if err := roundTrip(c); err != nil {
				b.Fatal(err)
			}
		}
		conns[i] = c
	}
	op := func(w int) error { return roundTrip(conns[w]) }
	abort := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	return op, abort
}

func grpcUnaryEcho(b *testing.B, size, workers int) (func(int) error, func()) {
	conn, ctx := grpcPeer(b)
	req := &grpcRaw{B: randomPayload(size)}
	resps := make([]grpcRaw, workers)
	op := func(w int) error {
		resp := &resps[w]
		if err := conn.Invoke(ctx, grpcEchoMethod, req, resp); err != nil {
			return err
		}
		if len(resp.B) != size {
			return errGRPCEcho
		}
		return nil
	}
	for w := range workers {
		for range warmRounds(size) {
			if err := op(w); err != nil {
				b.Fatal(err)
			}
		}
	}
	return op, func() { conn.Close() }
}

func grpcStreamEcho(b *testing.B, size, workers int) (func(int) error, func()) {
	conn, ctx := grpcPeer(b)
	sctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	streams := make([]grpc.ClientStream, workers)
	for w := range streams {
		s, err := conn.NewStream(sctx, &grpcEchoDesc.Streams[0], grpcStreamMethod)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.CloseSend() })
		streams[w] = s
	}
	req := &grpcRaw{B: randomPayload(size)}
	resps := make([]grpcRaw, workers)
	op := func(w int) error {
		s := streams[w]
		if err := s.SendMsg(req); err != nil {
			return err
		}
		if err := s.RecvMsg(&resps[w]); err != nil {
			return err
		}
		if len(resps[w].B) != size {
			return errGRPCEcho
		}
		return nil
	}
	for w := range workers {
		for range warmRounds(size) {
			if err := op(w); err != nil {
				b.Fatal(err)
			}
		}
	}
	return op, cancel
}

func netRPCEcho(b *testing.B, size, workers int) (func(int) error, func()) {
	client, conn := netRPCPeer(b)
	req := randomPayload(size)
	resps := make([][]byte, workers)
	op := func(w int) error {
		resps[w] = resps[w][:0]
		if err := client.Call("Echo.Echo", req, &resps[w]); err != nil {
			return err
		}
		if len(resps[w]) != size {
			return errGRPCEcho
		}
		return nil
	}
	for w := range workers {
		for range warmRounds(size) {
			if err := op(w); err != nil {
				b.Fatal(err)
			}
		}
	}
	return op, func() { conn.Close() }
}

func emberAsk(mode string) func(*testing.B, int, int) (func(int) error, func()) {
	return func(b *testing.B, _, workers int) (func(int) error, func()) {
		ref, _ := rbEchoRef(b, "remote", mode)
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		msgs := make([]any, workers)
		op := func(w int) error {
			got, err := rpcenv.Ask[rbMsg](ctx, ref, msgs[w])
			if err != nil {
				return err
			}
			if got.N != 1_000_000+w {
				return fmt.Errorf("bench: echo of %d came back as %d", 1_000_000+w, got.N)
			}
			return nil
		}
		for w := range msgs {
			msgs[w] = rbNewMsg(w)
			for range 16 {
				if err := op(w); err != nil {
					b.Fatal(err)
				}
			}
		}
		return op, cancel
	}
}

// grpcPeerWith serves desc with impl on 127.0.0.1:0 and returns a
// ClientConn to it with the raw codec; b.Cleanup closes the conn and stops
// the server. ctx ends after the run limit.
func grpcPeerWith(b *testing.B, desc *grpc.ServiceDesc, impl any) (*grpc.ClientConn, context.Context) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(desc, impl)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		srv.Stop()
		<-served
	})
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(grpcRawCodec{})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), runLimit())
	b.Cleanup(cancel)
	return conn, ctx
}
