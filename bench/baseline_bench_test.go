package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The baselines use plain net.Conns with an 8-byte big-endian length
// header per message (Spark's frames start with an 8-byte length too) and
// buffered readers, so that each side makes one read and one write per
// message, as Ember's transport does.

// rawReadBuffer is the size of the baselines' buffered readers.
const rawReadBuffer = 64 << 10

// rawServer accepts loopback connections and serves each on a goroutine
// of its own; b.Cleanup closes the listener and every connection and waits
// for the goroutines.
type rawServer struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startRawServer(b *testing.B, serve func(net.Conn)) *rawServer {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &rawServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				conn.Close()
				return
			}
			s.conns[conn] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	b.Cleanup(s.close)
	return s
}

func (s *rawServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// dial connects to the server; the connection's deadline bounds the run
// and b.Cleanup closes it.
func (s *rawServer) dial(b *testing.B, limit time.Duration) *net.TCPConn {
	b.Helper()
	conn, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(limit)); err != nil {
		b.Fatal(err)
	}
	return conn.(*net.TCPConn) // Go sets TCP_NODELAY by default, as Ember does
}

// BenchmarkRawTCPPingPong is the baseline of BenchmarkRPC: a length-
// prefixed echo over plain net.Conns, one server goroutine per connection,
// one message in flight per connection.
func BenchmarkRawTCPPingPong(b *testing.B) {
	for _, size := range payloadSizes {
		b.Run(size.name, func(b *testing.B) {
			for _, conns := range []int{1, 32} {
				b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
					runRawPingPong(b, size.n, conns)
				})
			}
		})
	}
}

func serveEcho(maxPayload int) func(net.Conn) {
	return func(conn net.Conn) {
		br := bufio.NewReaderSize(conn, rawReadBuffer)
		buf := make([]byte, 8+maxPayload)
		for {
			if _, err := io.ReadFull(br, buf[:8]); err != nil {
				return
			}
			n := binary.BigEndian.Uint64(buf)
			if n > uint64(maxPayload) {
				return
			}
			if _, err := io.ReadFull(br, buf[8:8+n]); err != nil {
				return
			}
			if _, err := conn.Write(buf[:8+n]); err != nil {
				return
			}
		}
	}
}

// pingPonger is one client connection with its reusable buffers.
type pingPonger struct {
	conn *net.TCPConn
	br   *bufio.Reader
	req  []byte
	resp []byte
}

func (p *pingPonger) roundTrip() error {
	if _, err := p.conn.Write(p.req); err != nil {
		return err
	}
	if _, err := io.ReadFull(p.br, p.resp[:8]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint64(p.resp)
	if n != uint64(len(p.req)-8) {
		return errShortReply
	}
	_, err := io.ReadFull(p.br, p.resp[8:8+n])
	return err
}

func runRawPingPong(b *testing.B, size, conns int) {
	limit := runLimit()
	srv := startRawServer(b, serveEcho(size))
	payload := randomPayload(size)
	clients := make([]*pingPonger, conns)
	for i := range clients {
		p := &pingPonger{conn: srv.dial(b, limit), req: make([]byte, 8+size), resp: make([]byte, 8+size)}
		p.br = bufio.NewReaderSize(p.conn, rawReadBuffer)
		binary.BigEndian.PutUint64(p.req, uint64(size))
		copy(p.req[8:], payload)
		for range 16 { // warm up
			if err := p.roundTrip(); err != nil {
				b.Fatal(err)
			}
		}
		clients[i] = p
	}

	lat := make([]int64, b.N)
	var next atomic.Int64
	var failed firstError
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				i := next.Add(1) - 1
				if i >= int64(len(lat)) {
					return
				}
				t0 := nanotime()
				err := p.roundTrip()
				lat[i] = nanotime() - t0
				if err != nil {
					failed.set(err)
					next.Store(math.MaxInt64 / 2)
					return
				}
			}
		}()
	}

	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
	reportDist(b, lat, elapsed)
}

// BenchmarkRawSendfile is the baseline of BenchmarkChunkFetch: the client
// asks for chunk i with an 8-byte request; the server answers with an
// 8-byte length and the chunk's 1 MiB region of the same page-cached file,
// written by (*net.TCPConn).ReadFrom of an io.LimitedReader over an
// *os.File, which Go sends with sendfile(2). Requests are pipelined 1 or 8
// deep on one connection. One op is one chunk.
func BenchmarkRawSendfile(b *testing.B) {
	for _, inflight := range []int{1, 8} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			runRawSendfile(b, inflight)
		})
	}
}

func serveSendfile(path string, total int64) func(net.Conn) {
	return func(conn net.Conn) {
		f, err := os.Open(path) // one *os.File per connection: its position is ours
		if err != nil {
			return
		}
		defer f.Close()
		tc := conn.(*net.TCPConn)
		br := bufio.NewReaderSize(conn, 4<<10)
		var req, hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], chunkSize)
		lr := &io.LimitedReader{}
		for {
			if _, err := io.ReadFull(br, req[:]); err != nil {
				return
			}
			off := int64(binary.BigEndian.Uint64(req[:])%uint64(total)) * chunkSize
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return
			}
			if _, err := tc.Write(hdr[:]); err != nil {
				return
			}
			lr.R, lr.N = f, chunkSize
			if n, err := tc.ReadFrom(lr); err != nil || n != chunkSize {
				return
			}
		}
	}
}

func runRawSendfile(b *testing.B, inflight int) {
	path, fsize := dataFile(b, chunkFileSize(b.N))
	limit := runLimit()
	srv := startRawServer(b, serveSendfile(path, fsize/chunkSize))
	conn := srv.dial(b, limit)
	br := bufio.NewReaderSize(conn, rawReadBuffer)
	buf := make([]byte, chunkSize)
	var req [8]byte
	fetch := func(i int) error { // sends request i
		binary.BigEndian.PutUint64(req[:], uint64(i))
		_, err := conn.Write(req[:])
		return err
	}
	receive := func() error { // reads one answer into buf
		if _, err := io.ReadFull(br, req[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint64(req[:]) != chunkSize {
			return errChunkLength
		}
		_, err := io.ReadFull(br, buf)
		return err
	}
	for i := range 2 { // warm up
		if err := fetch(i); err != nil {
			b.Fatal(err)
		}
		if err := receive(); err != nil {
			b.Fatal(err)
		}
	}

	issuedAt := make([]int64, b.N)
	lat := make([]int64, b.N)
	b.SetBytes(chunkSize)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	issued := 0
	for done := 0; done < b.N; done++ {
		for issued < b.N && issued-done < inflight {
			issuedAt[issued] = nanotime()
			if err := fetch(issued); err != nil {
				b.Fatal(err)
			}
			issued++
		}
		if err := receive(); err != nil {
			b.Fatal(err)
		}
		lat[done] = nanotime() - issuedAt[done]
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	reportDist(b, lat, elapsed)
}
