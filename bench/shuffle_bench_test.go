package bench

// Shuffle benchmarks: Ember's external shuffle service (package shuffle)
// read end to end by its client, in both I/O modes (<mode> is EPOLL or NIO,
// set with spark.shuffle.io.mode on the service and the client).
//
//   - BenchmarkShuffleRead/<mode>/maps=<m>/reducers=<r>/block=<size>: a
//     shuffle of m map outputs × r partitions of <size> each, laid out by
//     shuffle.MapOutputWriter exactly as Spark's sort shuffle does (data
//     and index files under the executor's local dirs), served by a
//     shuffle.Service to which one executor is registered. One op reads the
//     WHOLE shuffle: r reducers, each fetching its m blocks (one per map)
//     with Client.FetchAll (Spark's reducer limits at their defaults), 4
//     reducers at a time. The callback only checks each block's length (no
//     copy). Shapes: maps=16/reducers=64/block=1MiB (1 GiB per op; with
//     -short the blocks are 64 KiB, and the name says block=64KiB) and
//     maps=64/reducers=64/block=64KiB (256 MiB per op).
//   - BenchmarkShuffleSmallBlocks/<mode>: the same with 64 maps × 64
//     reducers × 4 KiB blocks (16 MiB, 4096 blocks per op): per-block cost.
//   - BenchmarkShuffleBaselineChunkFetch/<mode>: the same 1 MiB regions of
//     the same files as BenchmarkShuffleRead's 1 MiB layout, fetched with the
//     transport alone (no shuffle protocol, no index lookup, no FetchAll):
//     one netpoll.OneForOneStreamManager stream of codec.FileSegments per
//     reducer, chunks asked for in order on one connection, 4 in flight.
//     One op is again the whole shuffle, so ns/op and MB/s compare directly
//     with BenchmarkShuffleRead/<mode>/maps=16/reducers=64/block=1MiB, and
//     MB/s with the plain-Go sendfile ceiling BenchmarkRawSendfile
//     (baseline_bench_test.go) and with BenchmarkChunkFetch (1 MiB chunks
//     of one file) of the same run.
//
// Every benchmark reports MB/s (10^6 payload bytes per second) and
// blocks/s; B/op and allocs/op are per whole shuffle and cover client and
// service together. Layouts are written once per process in os.TempDir(),
// read once so they are page-cached, and removed when the last benchmark
// of this file that is selected by -test.bench and uses them ends.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
)

const (
	// shuffleBenchID is the shuffle id of every layout.
	shuffleBenchID = 0
	// shuffleAppID and shuffleExecID name the one registered executor.
	shuffleAppID  = "bench-app"
	shuffleExecID = "exec-1"
	// shuffleSubDirs is spark.diskStore.subDirectories' default.
	shuffleSubDirs = 64
	// shuffleReducersInFlight reducers run at once in BenchmarkShuffleRead.
	shuffleReducersInFlight = 4
	// shuffleBaselineInFlight chunk requests are outstanding in
	// BenchmarkShuffleBaselineChunkFetch.
	shuffleBaselineInFlight = 32
)

// shuffleShape is a shuffle's size: maps × reducers blocks of block bytes.
type shuffleShape struct{ maps, reducers, block int }

func (s shuffleShape) blocks() int  { return s.maps * s.reducers }
func (s shuffleShape) bytes() int64 { return int64(s.blocks()) * int64(s.block) }
func (s shuffleShape) blockID(m, r int) string {
	return shuffle.ShuffleBlockID(shuffleBenchID, int64(m), int32(r))
}

func (s shuffleShape) String() string {
	return fmt.Sprintf("maps=%d/reducers=%d/block=%s", s.maps, s.reducers, sizeName(s.block))
}

// sizeName is n as 4KiB, 1MiB, or bytes.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// bigBlockShuffle is the 1 MiB-block shuffle (64 KiB blocks with -short),
// shared by BenchmarkShuffleRead and BenchmarkShuffleBaselineChunkFetch.
func bigBlockShuffle() shuffleShape {
	if testing.Short() {
		return shuffleShape{16, 64, 64 << 10}
	}
	return shuffleShape{16, 64, 1 << 20}
}

// midBlockShuffle is BenchmarkShuffleRead's 64 KiB-block shuffle.
func midBlockShuffle() shuffleShape { return shuffleShape{64, 64, 64 << 10} }

// smallBlockShuffle is BenchmarkShuffleSmallBlocks' shuffle.
func smallBlockShuffle() shuffleShape { return shuffleShape{64, 64, 4 << 10} }

// shuffleBenchmarks are this file's top-level benchmarks in the order go
// test runs them (declaration order), with the layouts each one uses; a
// layout is removed when no later selected benchmark needs it.
var shuffleBenchmarks = []struct {
	name   string
	shapes func() []shuffleShape
}{
	{"BenchmarkShuffleRead", func() []shuffleShape { return []shuffleShape{bigBlockShuffle(), midBlockShuffle()} }},
	{"BenchmarkShuffleSmallBlocks", func() []shuffleShape { return []shuffleShape{smallBlockShuffle()} }},
	{"BenchmarkShuffleBaselineChunkFetch", func() []shuffleShape { return []shuffleShape{bigBlockShuffle()} }},
}

// ---- layouts ----

// shuffleLayout is one shuffle's map outputs on disk, as Spark writes them.
type shuffleLayout struct {
	shape   shuffleShape
	root    string    // removed with everything under it
	dirs    []string  // the executor's local dirs
	data    []string  // data file of each map
	offsets [][]int64 // offset of each partition in its map's data file
}

// shuffleLayouts are the layouts this process made, by shape.
var shuffleLayouts struct {
	mu   sync.Mutex
	made map[shuffleShape]*shuffleLayout
}

// layoutFor returns the layout of s, writing it on first use.
func layoutFor(b *testing.B, s shuffleShape) *shuffleLayout {
	b.Helper()
	shuffleLayouts.mu.Lock()
	defer shuffleLayouts.mu.Unlock()
	if l := shuffleLayouts.made[s]; l != nil {
		return l
	}
	l, err := writeLayout(s)
	if err != nil {
		b.Fatal(err)
	}
	if shuffleLayouts.made == nil {
		shuffleLayouts.made = make(map[shuffleShape]*shuffleLayout)
	}
	shuffleLayouts.made[s] = l
	return l
}

// writeLayout writes s's map outputs with shuffle.MapOutputWriter under
// two local dirs of a new temp dir, then reads every data file once so the
// benchmarks find them in the page cache.
func writeLayout(s shuffleShape) (l *shuffleLayout, err error) {
	root, err := os.MkdirTemp("", fmt.Sprintf("ember-bench-shuffle-%dx%dx%s-*", s.maps, s.reducers, sizeName(s.block)))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(root)
		}
	}()
	l = &shuffleLayout{shape: s, root: root,
		dirs: []string{filepath.Join(root, "local0"), filepath.Join(root, "local1")}}
	block := make([]byte, s.block)
	rnd := rand.New(rand.NewPCG(uint64(s.block), uint64(s.maps)))
	for i := 0; i+8 <= len(block); i += 8 {
		binary.LittleEndian.PutUint64(block[i:], rnd.Uint64())
	}
	for m := range s.maps {
		w, err := shuffle.NewMapOutputWriter(l.dirs, shuffleSubDirs, shuffleBenchID, int64(m))
		if err != nil {
			return nil, err
		}
		for r := range s.reducers {
			binary.BigEndian.PutUint64(block, uint64(m)<<32|uint64(r)) // no two blocks alike
			if err := w.WritePartition(bytes.NewReader(block)); err != nil {
				w.Abort()
				return nil, err
			}
		}
		lens, err := w.Commit() // syncs: no writeback under the benchmarks
		if err != nil {
			return nil, err
		}
		offs := make([]int64, len(lens))
		var off int64
		for r, n := range lens {
			if n != int64(s.block) {
				return nil, fmt.Errorf("bench: map %d partition %d has %d bytes, want %d", m, r, n, s.block)
			}
			offs[r] = off
			off += n
		}
		l.offsets = append(l.offsets, offs)
		l.data = append(l.data, shuffle.FilePath(l.dirs, shuffleSubDirs, shuffle.DataFileName(shuffleBenchID, int64(m))))
	}
	// Read it once: the benchmarks measure the transport, not the disk.
	buf := make([]byte, 1<<20)
	for _, p := range l.data {
		if err := readAll(p, buf); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func readAll(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := f.Read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// releaseLayouts runs when top-level benchmark name ends: it removes every
// layout that no later benchmark of shuffleBenchmarks selected by
// -test.bench needs.
func releaseLayouts(name string) {
	keep := map[shuffleShape]bool{}
	later := false
	for _, sb := range shuffleBenchmarks {
		if later && benchSelected(sb.name) {
			for _, s := range sb.shapes() {
				keep[s] = true
			}
		}
		if sb.name == name {
			later = true
		}
	}
	shuffleLayouts.mu.Lock()
	defer shuffleLayouts.mu.Unlock()
	for s, l := range shuffleLayouts.made {
		if !keep[s] {
			os.RemoveAll(l.root)
			delete(shuffleLayouts.made, s)
		}
	}
}

// benchSelected reports whether go test will run top-level benchmark name,
// by the rules of package testing: some '|'-alternative of -test.bench
// whose first '/'-element matches name, and no one-element -test.skip
// alternative matching it. A wrong guess only costs a layout written twice
// or one left until the next release.
func benchSelected(name string) bool {
	f := flag.Lookup("test.bench")
	if f == nil || !matchesTopLevel(f.Value.String(), name, false) {
		return false
	}
	s := flag.Lookup("test.skip")
	return s == nil || s.Value.String() == "" || !matchesTopLevel(s.Value.String(), name, true)
}

// matchesTopLevel matches name against the first element of pattern's
// alternatives; with whole, only against alternatives of one element.
func matchesTopLevel(pattern, name string, whole bool) bool {
	for _, alt := range splitBenchPattern(pattern) {
		re, err := regexp.Compile(alt[0])
		if err != nil {
			return !whole
		}
		if re.MatchString(name) {
			return !whole || len(alt) == 1
		}
	}
	return false
}

// splitBenchPattern splits a -test.bench pattern as package testing does:
// into '|'-alternatives of '/'-elements, outside brackets and parentheses.
func splitBenchPattern(s string) [][]string {
	var alts [][]string
	var cur []string
	brackets, parens := 0, 0
	for i := 0; i < len(s); {
		switch s[i] {
		case '[':
			brackets++
		case ']':
			if brackets--; brackets < 0 {
				brackets = 0
			}
		case '(':
			if brackets == 0 {
				parens++
			}
		case ')':
			if brackets == 0 {
				parens--
			}
		case '\\':
			i++
		case '/', '|':
			if brackets == 0 && parens == 0 {
				cur = append(cur, s[:i])
				if s[i] == '|' {
					alts = append(alts, cur)
					cur = nil
				}
				s = s[i+1:]
				i = 0
				continue
			}
		}
		i++
	}
	return append(alts, append(cur, s))
}

// ---- shuffle service and client ----

// shuffleEnv is a shuffle service and a client with one registered
// executor, both in mode; b.Cleanup closes the client, then the service.
type shuffleEnv struct {
	svc    *shuffle.Service
	client *shuffle.Client
}

func newShuffleEnv(b *testing.B, mode netpoll.IOMode, l *shuffleLayout) *shuffleEnv {
	b.Helper()
	dbDir := b.TempDir()
	conf := sparkconf.New().Set("spark.shuffle.io.mode", string(mode))
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: "127.0.0.1", Port: 0, DBDir: dbDir, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: shuffleAppID, TmpDir: dbDir, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	info := shuffle.ExecutorShuffleInfo{LocalDirs: l.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
	if err := cl.RegisterWithShuffleServer("127.0.0.1", svc.Port(), shuffleExecID, info); err != nil {
		b.Fatal(err)
	}
	return &shuffleEnv{svc: svc, client: cl}
}

// reducerRequests returns, for each reducer, its FetchAll request: one
// block per map, with the sizes a map status would give.
func (e *shuffleEnv) reducerRequests(s shuffleShape) [][]shuffle.FetchRequest {
	return shuffleRequests(s, e.svc.Port())
}

// shuffleRequests returns every reducer's FetchAll request of s from the
// shuffle service on 127.0.0.1:port.
func shuffleRequests(s shuffleShape, port int) [][]shuffle.FetchRequest {
	reqs := make([][]shuffle.FetchRequest, s.reducers)
	for r := range reqs {
		blocks := make([]shuffle.BlockInfo, s.maps)
		for m := range blocks {
			blocks[m] = shuffle.BlockInfo{ID: s.blockID(m, r), Size: int64(s.block)}
		}
		reqs[r] = []shuffle.FetchRequest{{Host: "127.0.0.1", Port: port, ExecID: shuffleExecID, Blocks: blocks}}
	}
	return reqs
}

// ---- BenchmarkShuffleRead, BenchmarkShuffleSmallBlocks ----

// BenchmarkShuffleRead reads a whole shuffle per op through the shuffle
// service: every reducer fetches its block of every map with FetchAll, 4
// reducers at a time.
func BenchmarkShuffleRead(b *testing.B) {
	b.Cleanup(func() { releaseLayouts("BenchmarkShuffleRead") })
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) {
			for _, s := range []shuffleShape{bigBlockShuffle(), midBlockShuffle()} {
				b.Run(s.String(), func(b *testing.B) { runShuffleRead(b, mode, s) })
			}
		})
	}
}

// BenchmarkShuffleSmallBlocks is BenchmarkShuffleRead with 4 KiB blocks
// (64 maps × 64 reducers): the per-block cost of the shuffle path.
func BenchmarkShuffleSmallBlocks(b *testing.B) {
	b.Cleanup(func() { releaseLayouts("BenchmarkShuffleSmallBlocks") })
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) { runShuffleRead(b, mode, smallBlockShuffle()) })
	}
}

var errBlockLength = errors.New("bench: shuffle block has the wrong length")

func runShuffleRead(b *testing.B, mode netpoll.IOMode, s shuffleShape) {
	l := layoutFor(b, s)
	env := newShuffleEnv(b, mode, l)
	reqs := env.reducerRequests(s)
	var blocks atomic.Int64
	onBlock := func(_ string, data codec.ManagedBuffer) error {
		if data.Size() != int64(s.block) {
			return errBlockLength
		}
		blocks.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	// Warm up outside the timer: reducer 0 opens the connection and
	// reads every map's index file into the service's cache.
	if err := env.client.FetchAll(ctx, reqs[0], onBlock); err != nil {
		b.Fatal(err)
	}
	blocks.Store(0)
	wd := startWatchdog(b, func() {
		cancel()
		env.client.Close()
	})

	b.SetBytes(s.bytes())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	var err error
	for range b.N {
		if err = readShuffle(ctx, env.client, reqs, onBlock); err != nil {
			break
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	wd.check(b, err)
	if got, want := blocks.Load(), int64(b.N)*int64(s.blocks()); got != want {
		b.Fatalf("read %d blocks, want %d", got, want)
	}
	reportShuffle(b, s, elapsed)
}

// readShuffle runs every reducer's FetchAll, shuffleReducersInFlight at a
// time, and returns the first error.
func readShuffle(ctx context.Context, cl *shuffle.Client, reqs [][]shuffle.FetchRequest, onBlock func(string, codec.ManagedBuffer) error) error {
	var next atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	for range shuffleReducersInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r := next.Add(1) - 1
				if r >= int64(len(reqs)) || failed.get() != nil {
					return
				}
				if err := cl.FetchAll(ctx, reqs[r], onBlock); err != nil {
					failed.set(fmt.Errorf("reducer %d: %w", r, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	return failed.get()
}

// reportShuffle reports payload MB/s and blocks/s of b.N whole shuffles.
func reportShuffle(b *testing.B, s shuffleShape, elapsed time.Duration) {
	if elapsed <= 0 {
		return
	}
	sec := elapsed.Seconds()
	b.ReportMetric(float64(b.N)*float64(s.bytes())/1e6/sec, "MB/s")
	b.ReportMetric(float64(b.N)*float64(s.blocks())/sec, "blocks/s")
}

// ---- BenchmarkShuffleBaselineChunkFetch ----

// BenchmarkShuffleBaselineChunkFetch fetches the regions of
// BenchmarkShuffleRead's 1 MiB-block layout with the transport alone: per
// reducer one OneForOneStreamManager stream whose chunk m is map m's
// partition as a codec.FileSegment (sent with sendfile), chunks asked for
// in order on one connection, 4 in flight. One op is the whole shuffle.
// Compare its MB/s with BenchmarkShuffleRead/<mode>/maps=16/reducers=64/block=1MiB
// (the shuffle protocol's cost on top) and with BenchmarkRawSendfile (plain
// Go's sendfile ceiling) of the same run.
func BenchmarkShuffleBaselineChunkFetch(b *testing.B) {
	b.Cleanup(func() { releaseLayouts("BenchmarkShuffleBaselineChunkFetch") })
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) { runShuffleBaseline(b, mode, bigBlockShuffle()) })
	}
}

// layoutChunks is reducer's blocks as one stream: chunk m is map m's
// partition, a FileSegment built when it is asked for, as the shuffle
// service's resolver builds it (minus the index lookup).
type layoutChunks struct {
	l       *shuffleLayout
	reducer int
}

func (c *layoutChunks) NumChunks() int { return c.l.shape.maps }

func (c *layoutChunks) Chunk(m int) (codec.ManagedBuffer, error) {
	fs, err := codec.NewFileSegment(c.l.data[m], c.l.offsets[m][c.reducer], int64(c.l.shape.block), codec.DefaultFileOptions)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

func (c *layoutChunks) Discard(int) {}

// blockWaiter is a reusable ChunkReceivedCallback that only checks the
// chunk's length (no copy) and reports on done.
type blockWaiter struct {
	want int
	done chan error
}

func (w *blockWaiter) OnSuccess(_ int32, buf []byte) {
	if len(buf) != w.want {
		w.done <- errBlockLength
		return
	}
	w.done <- nil
}

func (w *blockWaiter) OnFailure(_ int32, err error) { w.done <- err }

func runShuffleBaseline(b *testing.B, mode netpoll.IOMode, s shuffleShape) {
	l := layoutFor(b, s)
	h := newBenchHandler()
	env := newEmber(b, mode, h)
	c := env.client(b)
	cb := &blockWaiter{want: s.block, done: make(chan error, shuffleBaselineInFlight)}

	// Warm up outside the timer: reducer 0's stream.
	warm := h.sm.RegisterStream("bench", &layoutChunks{l: l}, nil)
	for m := range s.maps {
		c.FetchChunk(warm, int32(m), cb)
		if err := <-cb.done; err != nil {
			b.Fatal(err)
		}
	}

	// One stream per reducer per op, registered in advance; request k is
	// chunk k%maps of stream k/maps.
	srcs := make([]layoutChunks, b.N*s.reducers)
	sids := make([]int64, len(srcs))
	for i := range srcs {
		srcs[i] = layoutChunks{l: l, reducer: i % s.reducers}
		sids[i] = h.sm.RegisterStream("bench", &srcs[i], nil)
	}
	total := len(sids) * s.maps
	wd := startWatchdog(b, func() { c.Close() })

	b.SetBytes(s.bytes())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	var err error
	issued := 0
	for done := 0; done < issued || (err == nil && done < total); done++ {
		// Keep shuffleBaselineInFlight requests outstanding, in order (a
		// stream's chunks must be asked for in order); none after an error.
		for err == nil && issued < total && issued-done < shuffleBaselineInFlight {
			c.FetchChunk(sids[issued/s.maps], int32(issued%s.maps), cb)
			issued++
		}
		if e := <-cb.done; e != nil && err == nil {
			err = e
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	wd.check(b, err)
	reportShuffle(b, s, elapsed)
}
