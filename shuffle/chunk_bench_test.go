package shuffle

import (
	"sync/atomic"
	"testing"
)

// benchResolver returns a resolver serving one registered executor's
// shuffle 0 of maps maps (4 reduce partitions each), every map's index
// cached and, with maxOpenFiles > 0, its data file open in the cache.
func benchResolver(b *testing.B, maxOpenFiles, maps int) *resolver {
	b.Helper()
	r, _ := servingResolver(b, maxOpenFiles, 0, maps, 4)
	for m := 0; m < maps; m++ {
		buf, err := r.shuffleBlock("app", "exec", 0, int64(m), 1, 2)
		if err != nil {
			b.Fatal(err)
		}
		buf.Release()
	}
	return r
}

// BenchmarkShuffleBlock measures the resolver's part of serving a chunk
// (finding the executor, the map's index and its open data file, the
// fstat that tells a replaced file, the segment and its release), from
// one goroutine and from GOMAXPROCS goroutines (where the cache's lock is
// contended), against the baseline of no open-file cache (the data file
// opened for each chunk).
func BenchmarkShuffleBlock(b *testing.B) {
	const maps = 64
	for _, c := range []struct {
		name     string
		maxOpen  int
		parallel bool
	}{
		{"cached", DefaultMaxOpenFiles, false},
		{"cached-parallel", DefaultMaxOpenFiles, true},
		{"uncached", 0, false},
		{"uncached-parallel", 0, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := benchResolver(b, c.maxOpen, maps)
			var next atomic.Int64
			serve := func(m int64) {
				buf, err := r.shuffleBlock("app", "exec", 0, m%maps, 1, 2)
				if err != nil {
					b.Fatal(err)
				}
				buf.Release()
			}
			b.ReportAllocs()
			b.ResetTimer()
			if !c.parallel {
				for i := 0; i < b.N; i++ {
					serve(int64(i))
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				m := next.Add(17)
				for pb.Next() {
					serve(m)
					m++
				}
			})
		})
	}
}
