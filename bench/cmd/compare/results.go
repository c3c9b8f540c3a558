package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// A sample is one round's figures of one benchmark.
type sample struct {
	round   int
	metrics map[string]float64
}

// A curve is one run's latency percentile curve, as the benchmarks write
// it to EMBER_BENCH_LATDIR (bench/latency_test.go).
type curve struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	P     []float64 `json:"p"`
	NS    []int64   `json:"ns"`
}

// store holds everything measured, by benchmark name.
type store struct {
	samples map[string][]sample
	curves  map[string][]curve
	notes   []string // problems worth a line in the report
}

func newStore() *store {
	return &store{samples: map[string][]sample{}, curves: map[string][]curve{}}
}

func (s *store) add(round int, r result) {
	s.samples[r.name] = append(s.samples[r.name], sample{round: round, metrics: r.metrics})
}

// loadCurves reads every curve file in dir.
func (s *store) loadCurves(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var c curve
		if err := json.Unmarshal(data, &c); err != nil {
			return err
		}
		if c.Name != "" && len(c.P) == len(c.NS) && len(c.P) > 0 {
			s.curves[c.Name] = append(s.curves[c.Name], c)
		}
	}
	return nil
}

// stat is the median, minimum and maximum of one metric over rounds.
type stat struct {
	median, min, max float64
	n                int
}

// stat returns the statistics of metric over bench's samples; ok is false
// when no sample has it.
func (s *store) stat(bench, metric string) (st stat, ok bool) {
	var vs []float64
	for _, smp := range s.samples[bench] {
		if v, ok := smp.metrics[metric]; ok && !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return stat{}, false
	}
	slices.Sort(vs)
	return stat{median: median(vs), min: vs[0], max: vs[len(vs)-1], n: len(vs)}, true
}

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// medianCurve is the pointwise median of bench's curves over rounds, as
// (percentile, ns) pairs; a percentile counts when every round has it.
func (s *store) medianCurve(bench string) (ps, ns []float64) {
	cs := s.curves[bench]
	if len(cs) == 0 {
		return nil, nil
	}
	n := len(cs[0].P)
	for _, c := range cs[1:] {
		n = min(n, len(c.P))
	}
	for i := range n {
		vs := make([]float64, len(cs))
		for j, c := range cs {
			vs[j] = float64(c.NS[i])
		}
		slices.Sort(vs)
		ps = append(ps, cs[0].P[i])
		ns = append(ns, median(vs))
	}
	return ps, ns
}
