package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// reportHeader is what the report says about the run as a whole.
type reportHeader struct {
	command   string // how to run it again
	date      string
	goVersion string
	cpus      int
	rounds    int
	benchtime string
	short     bool
	raw       string // path of the raw output, relative to the report
	notes     []string
}

// percentileMetrics are the latency columns, in order.
var percentileMetrics = []string{"p50-ns", "p99-ns", "p99.9-ns"}

// writeReport writes the markdown report of suites; plots maps a
// workload id (or a suite's load-plot id) to its PNG path relative to the
// report.
func writeReport(w io.Writer, h reportHeader, suites []suite, st *store, plots map[string]string) {
	fmt.Fprintf(w, "# Ember and its peers, A/B/A/B\n\n")
	fmt.Fprintf(w, "Generated %s by\n\n```sh\n%s\n```\n\n", h.date, h.command)
	short := ""
	if h.short {
		short = " with `-test.short` (small sizes: not for publishing)"
	}
	fmt.Fprintf(w, "%s, %d CPUs, loopback only; -benchtime=%s%s. Each system's benchmarks of a workload group ran in a process of their own, "+
		"systems in the same order in each of %d round(s) (A/B/A/B), so that drift of the machine touches every system alike. "+
		"Figures are medians over the rounds; `min` and `max` show their spread. "+
		"Ratios divide this row's median by the baseline's: for throughput higher is better, for latency (`p50 vs`, `p99 vs`) lower is. "+
		"`allocs/op` counts the whole process, client and server together. Raw output: [%s](%s).\n\n",
		h.goVersion, h.cpus, h.benchtime, short, h.rounds, h.raw, h.raw)
	for _, s := range suites {
		writeSuite(w, s, st, plots)
	}
	if len(h.notes) > 0 {
		fmt.Fprintf(w, "## Notes from the run\n\n")
		for _, n := range h.notes {
			fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
		fmt.Fprintln(w)
	}
}

func writeSuite(w io.Writer, s suite, st *store, plots map[string]string) {
	fmt.Fprintf(w, "## %s\n\n%s\n\n", s.title, s.intro)
	labels := map[string]string{}
	for _, sys := range s.systems {
		labels[sys.key] = sys.label
	}
	for _, wl := range s.workloads {
		fmt.Fprintf(w, "### %s\n\n", wl.title)
		writeTable(w, wl, labels, st)
		if p, ok := plots[wl.id]; ok {
			fmt.Fprintf(w, "\n![%s, %s: latency percentiles](%s)\n", stripMarkup(s.title), wl.title, p)
		}
		fmt.Fprintln(w)
	}
	for _, m := range []string{"p50-ns", "p99-ns"} {
		if p, ok := plots[loadPlotID(s.name, m)]; ok {
			fmt.Fprintf(w, "![%s: %s against offered load](%s)\n\n", stripMarkup(s.title), metricHeader(m), p)
		}
	}
}

// writeTable writes one workload's table: a row per system that has a
// result.
func writeTable(w io.Writer, wl workload, labels map[string]string, st *store) {
	// Columns: the key metric's median, min, max; the percentiles that any
	// row has (other than the key metric); the extra metrics; allocs/op;
	// the ratios to the baseline.
	var pcts []string
	for _, m := range percentileMetrics {
		if m == wl.metric {
			continue
		}
		for _, c := range wl.cells {
			if _, ok := st.stat(c.bench, m); ok {
				pcts = append(pcts, m)
				break
			}
		}
	}
	var extras []string
	for _, m := range wl.extra {
		if m != wl.metric {
			extras = append(extras, m)
		}
	}
	// The "vs Spark 4.1 JVM" columns, when some row and its Spark peer
	// both have results.
	var peerRatio, peerP50 bool
	for sys, peer := range wl.peers {
		_, ok1 := st.stat(cellBench(wl, sys), wl.metric)
		_, ok2 := st.stat(cellBench(wl, peer), wl.metric)
		if ok1 && ok2 {
			peerRatio = true
			_, ok3 := st.stat(cellBench(wl, peer), "p50-ns")
			peerP50 = peerP50 || (ok3 && !lowerIsBetter(wl.metric))
		}
	}
	base, haveBase := st.stat(cellBench(wl, wl.baseline), wl.metric)
	baseP50, haveBaseP50 := st.stat(cellBench(wl, wl.baseline), "p50-ns")
	p50Ratio := haveBaseP50 && wl.metric != "p50-ns" && !lowerIsBetter(wl.metric)

	hdr := []string{"system", metricHeader(wl.metric), "min", "max"}
	align := []string{"---", "---:", "---:", "---:"}
	for _, m := range append(slices.Clone(pcts), extras...) {
		hdr = append(hdr, metricHeader(m))
		align = append(align, "---:")
	}
	hdr = append(hdr, "allocs/op")
	align = append(align, "---:")
	baseLabel := stripMarkup(labels[wl.baseline])
	if haveBase {
		hdr = append(hdr, fmt.Sprintf("%s vs %s", metricHeader(wl.metric), baseLabel))
		align = append(align, "---:")
	}
	if p50Ratio {
		hdr = append(hdr, "p50 vs "+baseLabel)
		align = append(align, "---:")
	}
	if peerRatio {
		hdr = append(hdr, fmt.Sprintf("%s vs %s", metricHeader(wl.metric), sparkLabel))
		align = append(align, "---:")
	}
	if peerP50 {
		hdr = append(hdr, "p50 vs "+sparkLabel)
		align = append(align, "---:")
	}
	fmt.Fprintf(w, "| %s |\n|%s|\n", strings.Join(hdr, " | "), strings.Join(align, "|"))

	// Open-loop rows whose figures say more about the generator or the
	// machine than about the system get a mark and a footnote.
	openLoop := slices.Contains(wl.extra, "lag-p99-ns") && slices.Contains(wl.extra, "target-ops/s")
	var lagBound, behind bool
	rows := 0
	for _, c := range wl.cells {
		key, ok := st.stat(c.bench, wl.metric)
		if !ok {
			continue
		}
		rows++
		label := labels[c.sys]
		if c.sys == wl.baseline {
			label += " (baseline)"
		}
		row := []string{label, formatMetric(wl.metric, key.median), formatMetric(wl.metric, key.min), formatMetric(wl.metric, key.max)}
		if openLoop {
			lag, ok1 := st.stat(c.bench, "lag-p99-ns")
			p99, ok2 := st.stat(c.bench, "p99-ns")
			if ok1 && ok2 && lag.median >= p99.median/2 {
				row[0] += " †"
				lagBound = true
			}
			target, ok1 := st.stat(c.bench, "target-ops/s")
			ops, ok2 := st.stat(c.bench, "ops/s")
			if ok1 && ok2 && ops.median < 0.97*target.median {
				row[0] += " ‡"
				behind = true
			}
		}
		for _, m := range append(slices.Clone(pcts), extras...) {
			row = append(row, statCell(st, c.bench, m))
		}
		if c.sys == sparkJVM {
			row = append(row, "n/a (JVM)") // the Go process only drove it
		} else {
			row = append(row, statCell(st, c.bench, "allocs/op"))
		}
		if haveBase {
			row = append(row, formatRatio(key.median, base.median))
		}
		if p50Ratio {
			if p, ok := st.stat(c.bench, "p50-ns"); ok {
				row = append(row, formatRatio(p.median, baseP50.median))
			} else {
				row = append(row, "—")
			}
		}
		if peerRatio {
			row = append(row, peerCell(st, wl, c.sys, wl.metric, key.median))
		}
		if peerP50 {
			cell := "—"
			if p, ok := st.stat(c.bench, "p50-ns"); ok {
				cell = peerCell(st, wl, c.sys, "p50-ns", p.median)
			}
			row = append(row, cell)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	if rows == 0 {
		fmt.Fprintf(w, "| (no results) |%s\n", strings.Repeat(" |", len(hdr)-1))
	}
	if lagBound {
		fmt.Fprintf(w, "\n† The load generator itself released requests late (lag p99 at least half the p99): this row measures the generator and the machine as much as the system.\n")
	}
	if behind {
		fmt.Fprintf(w, "\n‡ Fell more than 3%% behind the offered load: the system (or the machine) was saturated, so queueing dominates its latencies.\n")
	}
}

// peerCell is the ratio of v (sys's median of metric) to the median of
// sys's Spark peer in wl, "—" when sys has no peer or the peer no result.
func peerCell(st *store, wl workload, sys, metric string, v float64) string {
	peer, ok := wl.peers[sys]
	if !ok {
		return "—"
	}
	p, ok := st.stat(cellBench(wl, peer), metric)
	if !ok {
		return "—"
	}
	return formatRatio(v, p.median)
}

// cellBench is the benchmark of system sys in wl ("" if none).
func cellBench(wl workload, sys string) string {
	for _, c := range wl.cells {
		if c.sys == sys {
			return c.bench
		}
	}
	return ""
}

func statCell(st *store, bench, metric string) string {
	s, ok := st.stat(bench, metric)
	if !ok {
		return "—"
	}
	return formatMetric(metric, s.median)
}

// metricHeader names a metric in a column header.
func metricHeader(m string) string {
	switch m {
	case "p50-ns":
		return "p50"
	case "p99-ns":
		return "p99"
	case "p99.9-ns":
		return "p99.9"
	case "lag-p99-ns":
		return "lag p99"
	case "target-ops/s":
		return "offered ops/s"
	case "peak-RSS-MiB":
		return "server peak RSS (MiB)"
	}
	return m
}

// formatMetric formats a value of metric for a table.
func formatMetric(metric string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case strings.HasSuffix(metric, "-ns") || metric == "ns/op":
		return formatNanos(v)
	case metric == "MB/s":
		if v >= 100 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	case metric == "allocs/op" || metric == "B/op":
		if v == math.Trunc(v) || v >= 100 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	case strings.HasSuffix(metric, "/s"):
		return formatCount(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatNanos formats nanoseconds with three significant digits in a
// fitting unit.
func formatNanos(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return sig3(ns/1e3) + " µs"
	case ns < 1e9:
		return sig3(ns/1e6) + " ms"
	}
	return sig3(ns/1e9) + " s"
}

// formatCount formats a rate: 158k, 15.8k, 1.23M.
func formatCount(v float64) string {
	switch {
	case v >= 1e6:
		return sig3(v/1e6) + "M"
	case v >= 1e3:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

// sig3 formats v (>= 0) with three significant digits, at least as an
// integer.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func formatRatio(v, base float64) string {
	if base == 0 || math.IsNaN(v) || math.IsNaN(base) {
		return "—"
	}
	return strconv.FormatFloat(v/base, 'f', 2, 64)
}

// stripMarkup drops markdown emphasis from a label.
func stripMarkup(s string) string { return strings.ReplaceAll(s, "**", "") }

// relPath is target relative to the directory of from, with forward
// slashes, for links in the report.
func relPath(from, target string) string {
	rel, err := filepath.Rel(filepath.Dir(from), target)
	if err != nil {
		return filepath.ToSlash(target)
	}
	return filepath.ToSlash(rel)
}
