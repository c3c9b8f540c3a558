package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
)

// BenchmarkFetchMatrix/<system>/inflight=<1|8|32>/conns=<1|4> fetches
// 1 MiB chunks of a page-cached file (the file of BenchmarkChunkFetch) on
// c connections with n requests outstanding on EACH connection (n·c in
// all); the b.N chunks are split evenly over the connections and each
// connection asks for its share in order. One op is one chunk; p50-ns,
// p99-ns and p99.9-ns run from a chunk's request to its last byte, so
// they include queueing behind the chunks ahead on the same connection.
//
//   - EPOLL, NIO: Ember's FetchChunk of codec.FileSegment chunks (sent with
//     sendfile), one OneForOneStreamManager stream per 64 chunks; conns=1
//     is the factory's pooled client, conns=4 are unmanaged clients.
//   - rawsendfile: BenchmarkRawSendfile's plain-Go loop (8-byte request,
//     8-byte length, (*net.TCPConn).ReadFrom of the file region) on c
//     connections: the software-stack limit of the fetch path.
//   - spark-jvm: Spark 4.1's fetchChunk of FileSegmentManagedBuffers of the
//     same file, client and server in one JVM (jvm_peer_test.go).
func BenchmarkFetchMatrix(b *testing.B) {
	jvm := newLazyJVM(b, "transport", "2g")
	systems := []struct {
		name string
		run  func(b *testing.B, inflight, conns int)
	}{
		{"EPOLL", func(b *testing.B, n, c int) { runFetchConns(b, netpoll.EPOLL, n, c) }},
		{"NIO", func(b *testing.B, n, c int) { runFetchConns(b, netpoll.NIO, n, c) }},
		{"rawsendfile", runRawSendfileConns},
		{sparkJVMSystem, func(b *testing.B, n, c int) { runJVMFetch(b, jvm, n, c) }},
	}
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			for _, n := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
					for _, c := range []int{1, 4} {
						b.Run(fmt.Sprintf("conns=%d", c), func(b *testing.B) { sys.run(b, n, c) })
					}
				})
			}
		})
	}
}

// share is connection k's part [lo, hi) of n operations over conns.
func share(n, conns, k int) (lo, hi int) { return k * n / conns, (k + 1) * n / conns }

// runFetchConns is the chunk-fetch driver; kv are extra settings of both
// ends (see newEmber).
func runFetchConns(b *testing.B, mode netpoll.IOMode, inflight, conns int, kv ...string) {
	path, fsize := dataFile(b, chunkFileSize(b.N))
	total := fsize / chunkSize
	h := newBenchHandler()
	env := newEmber(b, mode, h, kv...)
	clients := make([]*netpoll.Client, conns)
	if conns == 1 {
		clients[0] = env.client(b)
	} else {
		for k := range clients {
			clients[k] = env.unmanaged(b)
		}
	}
	// Warm up every connection outside the timer: a short stream each.
	for _, c := range clients {
		cb := &chunkWaiter{done: make(chan error, 1)}
		warm := h.sm.RegisterStream("bench", &fileChunks{path: path, total: total, n: 2}, nil)
		for i := range int32(2) {
			c.FetchChunk(warm, i, cb)
			if err := <-cb.done; err != nil {
				b.Fatal(err)
			}
		}
	}

	// Connection k fetches chunks [lo, hi) of the run, one stream per
	// chunksPerStream of them, walking the file from chunk lo.
	type req struct {
		stream int64
		index  int32
	}
	reqs := make([]req, b.N)
	for k := range conns {
		lo, hi := share(b.N, conns, k)
		for first := lo; first < hi; first += chunksPerStream {
			n := min(chunksPerStream, hi-first)
			sid := h.sm.RegisterStream("bench", &fileChunks{path: path, first: int64(first), total: total, n: n}, nil)
			for j := range n {
				reqs[first+j] = req{sid, int32(j)}
			}
		}
	}
	issuedAt := make([]int64, b.N)
	lat := make([]int64, b.N)
	cbs := make([]*chunkWaiter, conns)
	for k := range cbs {
		cbs[k] = &chunkWaiter{done: make(chan error, inflight)}
	}
	var failed firstError
	wd := startWatchdog(b, func() {
		for _, c := range clients {
			c.Close()
		}
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k, c := range clients {
		lo, hi := share(b.N, conns, k)
		cb := cbs[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// inflight requests outstanding, issued in order: a stream's
			// chunks must be asked for in order, and one connection's
			// chunks come back in order. Every request gets exactly one
			// callback, so the loop drains even after an error.
			issued := lo
			for done := lo; done < hi; done++ {
				for issued < hi && issued-done < inflight {
					r := reqs[issued]
					issuedAt[issued] = nanotime()
					c.FetchChunk(r.stream, r.index, cb)
					issued++
				}
				if err := <-cb.done; err != nil {
					failed.set(err)
				}
				lat[done] = nanotime() - issuedAt[done]
			}
		}()
	}

	b.SetBytes(chunkSize)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	wd.check(b, failed.get())
	reportDist(b, lat, elapsed)
}

// rawFetcher is one client connection of the raw sendfile loop with its
// reusable buffers.
type rawFetcher struct {
	conn *net.TCPConn
	br   *bufio.Reader
	buf  []byte
	req  [8]byte
}

// ask sends the request for chunk i.
func (f *rawFetcher) ask(i int) error {
	binary.BigEndian.PutUint64(f.req[:], uint64(i))
	_, err := f.conn.Write(f.req[:])
	return err
}

// receive reads one answer (length, then the chunk) into buf.
func (f *rawFetcher) receive() error {
	var hdr [8]byte
	if _, err := io.ReadFull(f.br, hdr[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint64(hdr[:]) != uint64(len(f.buf)) {
		return errChunkLength
	}
	_, err := io.ReadFull(f.br, f.buf)
	return err
}

func runRawSendfileConns(b *testing.B, inflight, conns int) {
	path, fsize := dataFile(b, chunkFileSize(b.N))
	limit := runLimit()
	srv := startRawServer(b, serveSendfile(path, fsize/chunkSize))
	fetchers := make([]*rawFetcher, conns)
	for k := range fetchers {
		conn := srv.dial(b, limit) // the deadline bounds the run
		f := &rawFetcher{conn: conn, br: bufio.NewReaderSize(conn, rawReadBuffer), buf: make([]byte, chunkSize)}
		for i := range 2 { // warm up
			if err := f.ask(i); err != nil {
				b.Fatal(err)
			}
			if err := f.receive(); err != nil {
				b.Fatal(err)
			}
		}
		fetchers[k] = f
	}

	issuedAt := make([]int64, b.N)
	lat := make([]int64, b.N)
	var failed firstError
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k, f := range fetchers {
		lo, hi := share(b.N, conns, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			issued := lo
			for done := lo; done < hi; done++ {
				for issued < hi && issued-done < inflight {
					issuedAt[issued] = nanotime()
					if err := f.ask(issued); err != nil {
						failed.set(err)
						return
					}
					issued++
				}
				if err := f.receive(); err != nil {
					failed.set(err)
					return
				}
				lat[done] = nanotime() - issuedAt[done]
			}
		}()
	}

	b.SetBytes(chunkSize)
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
