package javaser_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
)

// fuzzLimits are small so that the memory bound below is meaningful.
func fuzzLimits() javaser.Option {
	l := javaser.DefaultLimits()
	l.MaxAlloc = 1 << 20
	l.MaxDepth = 64
	return javaser.WithLimits(l)
}

// FuzzReadStream feeds the reader arbitrary bytes: it must return a value
// or an error, never panic, and never allocate much beyond its MaxAlloc;
// what it reads must write back, and the written form must be stable.
func FuzzReadStream(f *testing.F) {
	for _, g := range loadGolden(f) {
		f.Add(g.data)
		f.Add(g.data[:len(g.data)/2])
		f.Add(g.data[:len(g.data)-1])
		// Two objects in one stream, and a reset between them.
		two := append(append([]byte{}, g.data...), g.data[4:]...)
		f.Add(two)
		f.Add(append(append(append([]byte{}, g.data...), 0x79), g.data[4:]...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := javaser.ReadStream(b, fuzzLimits())
		v, err1 := javaser.Unmarshal(b, fuzzLimits())
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20+uint64(64*len(b)) {
			t.Fatalf("reading %d bytes allocated %d bytes", len(b), grew)
		}
		if err == nil {
			out, werr := javaser.WriteStream(s)
			if werr != nil {
				t.Fatalf("read but cannot write back: %v", werr)
			}
			s2, rerr := javaser.ReadStream(out)
			if rerr != nil {
				t.Fatalf("written stream does not read: %v", rerr)
			}
			out2, _ := javaser.WriteStream(s2)
			if !bytes.Equal(out, out2) {
				t.Fatalf("writing is not stable:\n%x\n%x", out, out2)
			}
		}
		if err1 == nil {
			if _, werr := javaser.Marshal(v); werr != nil {
				t.Fatalf("Unmarshal result does not Marshal: %v", werr)
			}
		}
	})
}
