package bench

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
)

// rpcShapes are the concurrency shapes of the RPC benchmarks: requests in
// flight, and the connections they share (1: Spark's one connection per
// peer; 32: one connection per in-flight request, as the raw ping-pong).
var rpcShapes = []struct{ inflight, conns int }{{1, 1}, {32, 1}, {32, 32}}

// BenchmarkRPC measures SendRpc round trips against an echo handler with a
// reusable callback, so the benchmark loop itself allocates nothing.
func BenchmarkRPC(b *testing.B) { benchRPC(b, false) }

// BenchmarkRPCSync is BenchmarkRPC through SendRpcSync (its timer and reply
// copy included).
func BenchmarkRPCSync(b *testing.B) { benchRPC(b, true) }

func benchRPC(b *testing.B, useSync bool) {
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) {
			for _, size := range payloadSizes {
				b.Run(size.name, func(b *testing.B) {
					for _, inflight := range []int{1, 32} {
						b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
							for _, sh := range rpcShapes {
								if sh.inflight != inflight {
									continue
								}
								b.Run(fmt.Sprintf("conns=%d", sh.conns), func(b *testing.B) {
									runRPC(b, mode, size.n, sh.inflight, sh.conns, useSync)
								})
							}
						})
					}
				})
			}
		})
	}
}

func runRPC(b *testing.B, mode netpoll.IOMode, size, inflight, conns int, useSync bool, kv ...string) {
	env := newEmber(b, mode, newBenchHandler(), kv...)
	clients := make([]*netpoll.Client, conns)
	if conns == 1 {
		clients[0] = env.client(b)
	} else {
		for i := range clients {
			clients[i] = env.unmanaged(b)
		}
	}
	payload := randomPayload(size)
	// Warm up every connection (and the handler paths) outside the timer.
	for _, c := range clients {
		for range 16 {
			resp, err := c.SendRpcSync(payload, rpcTimeout)
			if err != nil {
				b.Fatal(err)
			}
			if len(resp) != size {
				b.Fatal(errShortReply)
			}
		}
	}

	lat := make([]int64, b.N)
	var next atomic.Int64
	var failed firstError
	wd := startWatchdog(b, func() {
		for _, c := range clients {
			c.Close()
		}
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range inflight {
		c := clients[g%conns]
		w := newRPCWaiter(size)
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
				var err error
				if useSync {
					var resp []byte
					resp, err = c.SendRpcSync(payload, rpcTimeout)
					if err == nil && len(resp) != size {
						err = errShortReply
					}
				} else {
					c.SendRpc(payload, w)
					<-w.ch
					err = w.err
				}
				lat[i] = nanotime() - t0
				if err != nil {
					failed.set(err)
					next.Store(math.MaxInt64 / 2) // stop the others
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
	wd.check(b, failed.get())
	reportDist(b, lat, elapsed)
}

// BenchmarkOneWay measures Send throughput of 64-byte one-way messages on
// one connection; a run ends when the server's handler has counted all b.N.
func BenchmarkOneWay(b *testing.B) {
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) { runOneWay(b, mode) })
	}
}

func runOneWay(b *testing.B, mode netpoll.IOMode) {
	const size = 64
	h := newBenchHandler()
	env := newEmber(b, mode, h)
	c := env.client(b)
	payload := randomPayload(size) // never changed, so it may be sent again and again
	limit := runLimit()

	wait := func(n int, timer <-chan time.Time) {
		b.Helper()
		select {
		case <-h.done:
		case <-timer:
			b.Fatalf("only %d of %d one-way messages arrived within %v", h.count.Load(), n, limit)
		}
	}
	// Warm up outside the timer.
	const warm = 256
	h.expectOneWay(warm)
	for range warm {
		if err := c.Send(payload); err != nil {
			b.Fatal(err)
		}
	}
	wait(warm, time.After(limit))

	h.expectOneWay(int64(b.N))
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err := c.Send(payload); err != nil {
			b.Fatal(err)
		}
	}
	wait(b.N, timeout.C)
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkChunkFetch measures FetchChunk of 1 MiB file-segment chunks
// (sent with sendfile) from a page-cached file, 1 or 8 in flight on one
// connection. One op is one chunk.
func BenchmarkChunkFetch(b *testing.B) {
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) {
			for _, inflight := range []int{1, 8} {
				b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
					runChunkFetch(b, mode, inflight)
				})
			}
		})
	}
}

func runChunkFetch(b *testing.B, mode netpoll.IOMode, inflight int, kv ...string) {
	runFetchConns(b, mode, inflight, 1, kv...)
}

// BenchmarkStream measures Client.Stream of a whole page-cached file
// (256 MiB, 64 MiB with -short) sent with sendfile. One op is one stream.
func BenchmarkStream(b *testing.B) {
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) { runStream(b, mode) })
	}
}

func runStream(b *testing.B, mode netpoll.IOMode) {
	size := int64(streamSize)
	if testing.Short() {
		size = smallFileSize
	}
	path, _ := dataFile(b, size)
	h := newBenchHandler()
	h.streams.setFile(path, size)
	env := newEmber(b, mode, h)
	c := env.client(b)
	if _, err := c.SendRpcSync([]byte("warm-up"), rpcTimeout); err != nil {
		b.Fatal(err)
	}
	cb := &streamWaiter{want: size, done: make(chan error, 1)}
	wd := startWatchdog(b, func() { c.Close() })

	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	var err error
	for range b.N {
		c.Stream(streamName, cb)
		if err = <-cb.done; err != nil {
			break
		}
	}
	b.StopTimer()
	wd.check(b, err)
}
