package bench

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll"
)

// BenchmarkShuffleMatrix/<system>/maps=64/reducers=64/block=<64KiB|4KiB>
// reads a whole 64 × 64 shuffle per op (BenchmarkShuffleRead's layouts,
// written by shuffle.MapOutputWriter) by three stacks:
//
//   - EPOLL, NIO: Ember's shuffle service and client (FetchAll, 4 reducers
//     at a time), what BenchmarkShuffleRead and BenchmarkShuffleSmallBlocks
//     run;
//   - chunkfetch-EPOLL, chunkfetch-NIO: the same regions through Ember's
//     transport alone (BenchmarkShuffleBaselineChunkFetch's loop: a stream
//     per reducer, 32 chunks in flight on one connection);
//   - rawsendfile: plain Go, the same regions with the raw sendfile loop's
//     protocol (8-byte request naming the block, 8-byte length, then
//     (*net.TCPConn).ReadFrom of the region of the map's data file), 32
//     requests in flight on one connection: the software-stack limit;
//   - essproc-EPOLL, essproc-NIO: EPOLL and NIO with the service in a
//     process of its own (`ember shuffle-service`, ess_proc_test.go), with
//     that process's peak-RSS-MiB and RSS-MiB;
//   - spark-ess-EPOLL, spark-ess-NIO: Ember's client (in that mode) reading
//     the same layout from Spark 4.1's external shuffle service in a JVM
//     (jvm_peer_test.go), with the JVM's peak-RSS-MiB and RSS-MiB.
//
// Reports MB/s and blocks/s; B/op and allocs/op are per whole shuffle. The
// layouts are removed when the benchmark ends. With -short only the 4 KiB
// layout runs.
func BenchmarkShuffleMatrix(b *testing.B) {
	b.Cleanup(removeAllLayouts)
	ess := newLazyJVM(b, "shuffle-service", "1g")
	systems := []struct {
		name string
		run  func(*testing.B, shuffleShape)
	}{
		{"EPOLL", func(b *testing.B, s shuffleShape) { runShuffleRead(b, netpoll.EPOLL, s) }},
		{"NIO", func(b *testing.B, s shuffleShape) { runShuffleRead(b, netpoll.NIO, s) }},
		{"chunkfetch-EPOLL", func(b *testing.B, s shuffleShape) { runShuffleBaseline(b, netpoll.EPOLL, s) }},
		{"chunkfetch-NIO", func(b *testing.B, s shuffleShape) { runShuffleBaseline(b, netpoll.NIO, s) }},
		{"rawsendfile", runShuffleRawSendfile},
		{essProcPrefix + "EPOLL", func(b *testing.B, s shuffleShape) { runEmberESSProc(b, netpoll.EPOLL, s) }},
		{essProcPrefix + "NIO", func(b *testing.B, s shuffleShape) { runEmberESSProc(b, netpoll.NIO, s) }},
		{sparkESSPrefix + "EPOLL", func(b *testing.B, s shuffleShape) { runJVMShuffle(b, ess, netpoll.EPOLL, s) }},
		{sparkESSPrefix + "NIO", func(b *testing.B, s shuffleShape) { runJVMShuffle(b, ess, netpoll.NIO, s) }},
	}
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			for _, s := range shuffleMatrixShapes() {
				b.Run(s.String(), func(b *testing.B) { sys.run(b, s) })
			}
		})
	}
}

// shuffleMatrixShapes are the layouts of BenchmarkShuffleMatrix: 64 × 64
// blocks of 64 KiB and of 4 KiB; with -short only the 4 KiB one (16 MiB
// per op), so that a smoke run does not move gigabytes.
func shuffleMatrixShapes() []shuffleShape {
	if testing.Short() {
		return []shuffleShape{smallBlockShuffle()}
	}
	return []shuffleShape{midBlockShuffle(), smallBlockShuffle()}
}

// removeAllLayouts removes every shuffle layout this process wrote. This
// file's benchmark runs after those of shuffle_bench_test.go (go test runs
// files in name order), so none of them still needs one.
func removeAllLayouts() {
	shuffleLayouts.mu.Lock()
	defer shuffleLayouts.mu.Unlock()
	for s, l := range shuffleLayouts.made {
		os.RemoveAll(l.root)
		delete(shuffleLayouts.made, s)
	}
}

// serveLayout serves the blocks of l: request k (8 bytes) is block
// (map k%maps, reducer k/maps%reducers); the answer is an 8-byte length
// and the block's region of the map's data file, sent with sendfile.
func serveLayout(l *shuffleLayout) func(net.Conn) {
	s := l.shape
	return func(conn net.Conn) {
		files := make([]*os.File, s.maps) // per connection: their positions are ours
		for m := range files {
			f, err := os.Open(l.data[m])
			if err != nil {
				return
			}
			defer f.Close()
			files[m] = f
		}
		tc := conn.(*net.TCPConn)
		br := bufio.NewReaderSize(conn, 4<<10)
		var req, hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(s.block))
		lr := &io.LimitedReader{}
		for {
			if _, err := io.ReadFull(br, req[:]); err != nil {
				return
			}
			k := binary.BigEndian.Uint64(req[:])
			m, r := int(k%uint64(s.maps)), int(k/uint64(s.maps)%uint64(s.reducers))
			if _, err := files[m].Seek(l.offsets[m][r], io.SeekStart); err != nil {
				return
			}
			if _, err := tc.Write(hdr[:]); err != nil {
				return
			}
			lr.R, lr.N = files[m], int64(s.block)
			if n, err := tc.ReadFrom(lr); err != nil || n != int64(s.block) {
				return
			}
		}
	}
}

func runShuffleRawSendfile(b *testing.B, s shuffleShape) {
	l := layoutFor(b, s)
	srv := startRawServer(b, serveLayout(l))
	conn := srv.dial(b, runLimit()) // the deadline bounds the run
	f := &rawFetcher{conn: conn, br: bufio.NewReaderSize(conn, rawReadBuffer), buf: make([]byte, s.block)}
	for k := range s.maps { // warm up: reducer 0's blocks
		if err := f.ask(k); err != nil {
			b.Fatal(err)
		}
		if err := f.receive(); err != nil {
			b.Fatal(err)
		}
	}

	total := b.N * s.blocks()
	b.SetBytes(s.bytes())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	issued := 0
	for done := 0; done < total; done++ {
		for issued < total && issued-done < shuffleBaselineInFlight {
			if err := f.ask(issued); err != nil {
				b.Fatal(err)
			}
			issued++
		}
		if err := f.receive(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	reportShuffle(b, s, elapsed)
}
