package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// A result is one benchmark line of go test's output.
type result struct {
	name    string // without the -GOMAXPROCS suffix
	procs   int    // GOMAXPROCS from the suffix; 1 when there is none
	n       int64  // iterations
	metrics map[string]float64
}

// parseOutput reads go test -bench output and returns its benchmark
// results in order, and the lines that report a failure, a skip or a
// panic. A benchmark's name and its figures may be split over two lines
// when something (a log line) is written while it runs:
//
//	BenchmarkX/a-2   	2026/11/21 07:22:22 some log line
//	      74	  15716074 ns/op	 5397043 B/op
//
// so a name line without figures is remembered until a figures-only line
// comes.
func parseOutput(r io.Reader) (results []result, problems []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pending := ""
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "--- FAIL"), strings.HasPrefix(trimmed, "--- SKIP"),
			strings.HasPrefix(trimmed, "panic:"), strings.HasPrefix(trimmed, "FAIL"):
			problems = append(problems, trimmed)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasPrefix(fields[0], "Benchmark") {
			if res, ok := parseFigures(fields[0], fields[1:]); ok {
				results = append(results, res)
				pending = ""
			} else {
				pending = fields[0]
			}
			continue
		}
		if pending != "" {
			if res, ok := parseFigures(pending, fields); ok {
				results = append(results, res)
				pending = ""
			}
		}
	}
	return results, problems, sc.Err()
}

// parseFigures parses "N value unit value unit ..." for benchmark name
// (with its -GOMAXPROCS suffix).
func parseFigures(name string, fields []string) (result, bool) {
	if len(fields) < 3 || len(fields)%2 != 1 {
		return result{}, false
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return result{}, false
	}
	res := result{n: n, metrics: make(map[string]float64, len(fields)/2)}
	res.name, res.procs = splitProcs(name)
	for i := 1; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return result{}, false
		}
		res.metrics[fields[i+1]] = v
	}
	if _, ok := res.metrics["ns/op"]; !ok {
		return result{}, false
	}
	return res, true
}

// splitProcs splits the -GOMAXPROCS suffix go test appends to a
// benchmark's name (none when GOMAXPROCS is 1).
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 {
		return name, 1
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p <= 0 {
		return name, 1
	}
	return name[:i], p
}
