//go:build !race && unix && !shuffle_portable

package shuffle

import (
	"testing"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/netpoll"
)

// The allocation budget of serving a chunk, enforced without the race
// detector (which allocates on its own; CI runs the Alloc tests in a
// non-race pass): with the map's index cached and its data file open in
// the cache, the service's part of serving a chunk (the stream manager
// finding the stream, the resolver finding the block, the segment the
// transport sends with sendfile, and its release) allocates nothing. The
// budget is Unix's: the portable fallback (open_portable.go) tells a
// replaced file with os.File.Stat, which allocates.

func TestAllocChunkServed(t *testing.T) {
	for _, cached := range []bool{true, false} {
		for _, batch := range []bool{false, true} {
			allocs := chunkAllocs(t, cached, batch)
			t.Logf("cached=%v batch=%v: %v allocations per chunk", cached, batch, allocs)
			switch {
			case cached && allocs != 0:
				t.Errorf("batch=%v: a chunk served from cached files costs %v allocations, want 0", batch, allocs)
			case !cached && allocs == 0:
				// The measurement must cover the resolver: opening the
				// file for each chunk allocates.
				t.Errorf("batch=%v: a chunk served without the open-file cache costs no allocations: the test measures nothing", batch)
			}
		}
	}
}

// chunkAllocs returns the allocations per chunk served, in steady state,
// from a stream of a FetchShuffleBlocks of 2 maps (400 reduce ids each, or
// one batch range each).
func chunkAllocs(t *testing.T, cached, batch bool) float64 {
	const reduces = 400
	maxOpen := DefaultMaxOpenFiles
	if !cached {
		maxOpen = 0
	}
	r, _ := servingResolver(t, maxOpen, 3, 2, reduces)
	h := &blockHandler{res: r, streams: netpoll.NewOneForOneStreamManager(), metrics: &Metrics{},
		maxBlocks: DefaultMaxBlocksPerRequest, budgets: newConnBudgets(1, 1), warnings: ratelog.New(warnInterval, 16)}
	m := &FetchShuffleBlocks{AppID: "app", ExecID: "exec", ShuffleID: 3, MapIDs: []int64{0, 1}, BatchFetchEnabled: batch}
	n := 0
	for range m.MapIDs {
		if batch {
			m.ReduceIDs = append(m.ReduceIDs, []int32{1, 3})
			n++
			continue
		}
		ids := make([]int32, reduces)
		for i := range ids {
			ids[i] = int32(i)
		}
		m.ReduceIDs = append(m.ReduceIDs, ids)
		n += reduces
	}
	// Streams enough for the warm-up and the measured runs.
	const runs = 200
	var streams []int64
	for k := 0; k < (reduces+runs+2)/n+2; k++ {
		src, err := h.fetchChunks(m)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, h.streams.RegisterStream("app", src, nil))
	}
	s, i := 0, int32(0)
	serve := func() {
		if int(i) == n {
			s, i = s+1, 0
		}
		buf, err := h.streams.GetChunk(streams[s], i)
		if err != nil {
			t.Fatal(err)
		}
		i++
		fs, ok := buf.(*codec.FileSegment)
		if !ok {
			t.Fatalf("chunk is a %T, want *codec.FileSegment", buf)
		}
		if f, err := fs.File(); err != nil || f == nil {
			t.Fatalf("chunk file: %v", err)
		}
		buf.Release()
	}
	// Warm up: both maps' index and data files (map 1 starts at chunk
	// reduces without batch fetch).
	for k := 0; k <= reduces && (k < 2 || !batch); k++ {
		serve()
	}
	return testing.AllocsPerRun(runs, serve)
}
