//go:build linux

package fault

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// record collects the timings of one run of a scenario: named durations
// (detection, failover, recovery, ...) in the order measured. Each is
// logged as it is added ("timing <scenario>/<name>: <d>"); the soak mode
// summarises records over its runs.
type record struct {
	scenario string

	mu     sync.Mutex // guards values
	values []timing
}

type timing struct {
	name string
	d    time.Duration
}

func newRecord(scenario string) *record { return &record{scenario: scenario} }

// add records a timing and logs it.
func (r *record) add(t testing.TB, name string, d time.Duration) {
	t.Helper()
	r.mu.Lock()
	r.values = append(r.values, timing{name: name, d: d})
	r.mu.Unlock()
	t.Logf("timing %s/%s: %v", r.scenario, name, d.Round(time.Millisecond))
}

func (r *record) timings() []timing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]timing(nil), r.values...)
}

// summary aggregates records by scenario and timing name.
type summary struct {
	mu        sync.Mutex // guards the fields below
	order     []string   // scenarios in first-seen order
	runs      map[string]int
	failures  map[string]int
	skips     map[string]int
	names     map[string][]string // scenario → timing names, first-seen order
	durations map[string]map[string][]time.Duration
}

func newSummary() *summary {
	return &summary{runs: map[string]int{}, failures: map[string]int{}, skips: map[string]int{},
		names: map[string][]string{}, durations: map[string]map[string][]time.Duration{}}
}

// add counts one run of a scenario and its timings.
func (s *summary) add(r *record, failed, skipped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := r.scenario
	if _, ok := s.runs[sc]; !ok {
		s.order = append(s.order, sc)
		s.durations[sc] = map[string][]time.Duration{}
	}
	s.runs[sc]++
	switch {
	case failed: // its timings may be partial: only passed and skipped runs count
		s.failures[sc]++
		return
	case skipped: // for want of something, or at a known bug after measuring
		s.skips[sc]++
	}
	for _, v := range r.timings() {
		if _, ok := s.durations[sc][v.name]; !ok {
			s.names[sc] = append(s.names[sc], v.name)
		}
		s.durations[sc][v.name] = append(s.durations[sc][v.name], v.d)
	}
}

// table renders the summary: one line per scenario with its runs,
// failures and skips, then one per timing with its count, min, median and
// max over the runs that did not fail.
func (s *summary) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := len("scenario / timing")
	for _, sc := range s.order {
		w = max(w, len(sc))
		for _, name := range s.names[sc] {
			w = max(w, 2+len(name))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s %5s %8s %6s %9s %9s %9s\n", w, "scenario / timing", "runs", "failures", "skips", "min", "median", "max")
	for _, sc := range s.order {
		fmt.Fprintf(&b, "%-*s %5d %8d %6d\n", w, sc, s.runs[sc], s.failures[sc], s.skips[sc])
		for _, name := range s.names[sc] {
			ds := slices.Clone(s.durations[sc][name])
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			fmt.Fprintf(&b, "  %-*s %5d %8s %6s %9s %9s %9s\n", w-2, name, len(ds), "", "",
				round(ds[0]), round(median(ds)), round(ds[len(ds)-1]))
		}
	}
	return b.String()
}

// median of sorted durations (the mean of the middle two for an even
// count).
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// TestSummaryTable: the soak summary counts runs, failures and skips and
// orders each timing's min, median and max.
func TestSummaryTable(t *testing.T) {
	s := newSummary()
	for i, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 10 * time.Second} {
		r := newRecord("cut")
		r.values = append(r.values, timing{"detection", d})
		s.add(r, i == 3, false)
	}
	s.add(newRecord("zk"), false, true)
	got := s.table()
	rows := map[string]string{}
	for _, line := range strings.Split(got, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	for name, want := range map[string]string{
		"cut":       "4 1 0",      // runs, failures, skips
		"detection": "3 1s 2s 3s", // the runs that did not fail: count, min, median, max
		"zk":        "1 0 1",
	} {
		if rows[name] != want {
			t.Errorf("summary row %s = %q, want %q; the table:\n%s", name, rows[name], want, got)
		}
	}
	if m := median([]time.Duration{1, 2, 3, 4}); m != 2 {
		t.Errorf("median of 1..4 = %v, want 2 (integer mean of the middle two)", m)
	}
}
