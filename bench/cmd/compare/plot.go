package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// A series is one system's line in a plot.
type series struct {
	label  string
	xs, ys []float64
	ember  bool // drawn thicker
}

// palette are the lines' colours (Tableau 10), then dashes tell apart
// systems beyond ten.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

const (
	plotWidth   = 24 * vg.Centimeter
	plotHeight  = 13 * vg.Centimeter
	legendWidth = 7 * vg.Centimeter
)

// percentileX maps a percentile to the x axis of the percentile plots,
// −log10(1 − p/100): 50 → 0.3, 90 → 1, 99 → 2, 99.9 → 3, 99.99 → 4.
func percentileX(p float64) float64 { return -math.Log10(1 - p/100) }

// makePlots writes the PNGs of suites into dir and returns, by workload
// id (and load-plot id), their paths relative to the report at out.
func makePlots(dir, out string, suites []suite, st *store) (map[string]string, error) {
	plots := map[string]string{}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, s := range suites {
		labels := map[string]string{}
		for _, sys := range s.systems {
			labels[sys.key] = sys.label
		}
		for _, wl := range s.workloads {
			if !wl.curves {
				continue
			}
			var ss []series
			for _, c := range wl.cells {
				ps, ns := st.medianCurve(c.bench)
				if len(ps) < 2 {
					continue
				}
				sr := series{label: stripMarkup(labels[c.sys]), ember: isEmber(labels[c.sys])}
				for i := range ps {
					if ns[i] > 0 {
						sr.xs = append(sr.xs, percentileX(ps[i]))
						sr.ys = append(sr.ys, ns[i]/1e3)
					}
				}
				ss = append(ss, sr)
			}
			if len(ss) == 0 {
				continue
			}
			path := filepath.Join(dir, wl.id+".png")
			title := fmt.Sprintf("%s: %s", shortTitle(s.title), wl.title)
			if err := savePercentilePlot(path, title, ss); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			plots[wl.id] = relPath(out, path)
		}
		if s.loadPlots {
			for _, m := range []string{"p50-ns", "p99-ns"} {
				ss := loadSeries(s, st, m)
				if len(ss) == 0 {
					continue
				}
				id := loadPlotID(s.name, m)
				path := filepath.Join(dir, id+".png")
				title := fmt.Sprintf("%s: %s against throughput", shortTitle(s.title), metricHeader(m))
				if err := saveLoadPlot(path, title, metricHeader(m), ss); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				plots[id] = relPath(out, path)
			}
		}
	}
	return plots, nil
}

// loadPlotID names a suite's latency-against-load plot of metric.
func loadPlotID(suiteName, metric string) string {
	return suiteName + "-load-" + strings.TrimSuffix(metric, "-ns")
}

// loadSeries is, per system, metric (µs) against the achieved ops/s at
// each load level of s, connected in the order of the suite's workloads
// (rising offered load, then the closed loop).
func loadSeries(s suite, st *store, metric string) []series {
	var ss []series
	for _, sys := range s.systems {
		sr := series{label: stripMarkup(sys.label), ember: isEmber(sys.label)}
		for _, wl := range s.workloads {
			b := cellBench(wl, sys.key)
			ops, ok1 := st.stat(b, "ops/s")
			lat, ok2 := st.stat(b, metric)
			if ok1 && ok2 && ops.median > 0 && lat.median > 0 {
				sr.xs = append(sr.xs, ops.median)
				sr.ys = append(sr.ys, lat.median/1e3)
			}
		}
		if len(sr.xs) >= 2 {
			ss = append(ss, sr)
		}
	}
	return ss
}

func isEmber(label string) bool { return strings.Contains(label, "Ember") }

// shortTitle drops the benchmark name in parentheses from a suite title.
func shortTitle(t string) string {
	if i := strings.Index(t, " ("); i > 0 {
		return t[:i]
	}
	return t
}

func savePercentilePlot(path, title string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (median of rounds, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{format: micros}
	var xmax float64
	for _, s := range ss {
		xmax = max(xmax, slices.Max(s.xs))
	}
	p.X.Min, p.X.Max = percentileX(50), max(xmax, percentileX(99))
	var ticks []plot.Tick
	for _, t := range []struct {
		p     float64
		label string
	}{{50, "50"}, {75, ""}, {90, "90"}, {95, ""}, {99, "99"}, {99.5, ""}, {99.9, "99.9"}, {99.95, ""}, {99.99, "99.99"}, {99.995, ""}, {99.999, "99.999"}} {
		if x := percentileX(t.p); x <= p.X.Max+1e-9 {
			ticks = append(ticks, plot.Tick{Value: x, Label: t.label})
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	return savePlot(path, p, ss, false)
}

func saveLoadPlot(path, title, metric string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "achieved ops/s at 10%, 50%, 80% of the maximum and closed loop (log scale)"
	p.Y.Label.Text = metric + " latency (log scale)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{format: func(v float64) string { return trimZeros(formatCount(v)) }}
	p.Y.Tick.Marker = logTicks{format: micros}
	return savePlot(path, p, ss, true)
}

// savePlot draws ss on p, with the legend to the right of the plot, and
// writes a PNG.
func savePlot(path string, p *plot.Plot, ss []series, points bool) error {
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top = true
	leg.Left = true
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for i, s := range ss {
		xys := make(plotter.XYs, len(s.xs))
		for j := range s.xs {
			xys[j].X, xys[j].Y = s.xs[j], s.ys[j]
			ymin, ymax = min(ymin, s.ys[j]), max(ymax, s.ys[j])
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.2)
		if s.ember {
			line.Width = vg.Points(2.5)
		}
		if i >= len(palette) {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(line)
		if points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.Color = line.Color
			sc.Shape = draw.CircleGlyph{}
			sc.Radius = vg.Points(2.5)
			p.Add(sc)
			leg.Add(s.label, line, sc)
		} else {
			leg.Add(s.label, line)
		}
	}
	// Whole decades on the log axes, so that there are labelled ticks.
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(ymin)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(ymax)))
	if _, ok := p.X.Scale.(plot.LogScale); ok {
		p.X.Min = math.Pow(10, math.Floor(math.Log10(p.X.Min)))
		p.X.Max = math.Pow(10, math.Ceil(math.Log10(p.X.Max)))
	}

	img := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	leg.Draw(draw.Crop(dc, plotWidth-legendWidth+vg.Points(8), 0, 0, -vg.Points(24)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// micros labels a tick in microseconds as a duration: 500 µs, 2 ms.
func micros(v float64) string { return trimZeros(formatNanos(v * 1e3)) }

// trimZeros drops trailing zeros of the number that starts s: "2.00 ms"
// becomes "2 ms", "1.50k" becomes "1.5k".
func trimZeros(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(s)
	}
	num := s[:end]
	if strings.Contains(num, ".") {
		num = strings.TrimRight(strings.TrimRight(num, "0"), ".")
	}
	return num + s[end:]
}

// logTicks marks a log axis at 1, 2 and 5 times the powers of ten (with
// labels) and at the other integers times them (minor ticks).
type logTicks struct{ format func(float64) string }

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi*(1+1e-9); e++ {
		decade := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * decade
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			label := ""
			if m == 1 || m == 2 || m == 5 {
				label = t.format(v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}
