package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A unit is one process of the run: one system's benchmarks of one group
// of a suite's workloads in one round.
type unit struct {
	round   int // 1-based
	suite   string
	group   string
	sys     string
	benches []string
}

// buildPlan orders the units of rounds rounds A/B/A/B: every round runs
// every selected suite, group by group, and within a group every system in
// the suite's order, so slow drift of the machine touches all systems
// alike. A benchmark that two suites share runs once per round, for the
// first of them.
func buildPlan(suites []suite, rounds int) []unit {
	var plan []unit
	for r := 1; r <= rounds; r++ {
		seen := map[string]bool{}
		for _, s := range suites {
			var groups []string
			for _, w := range s.workloads {
				if !slices.Contains(groups, w.group) {
					groups = append(groups, w.group)
				}
			}
			for _, g := range groups {
				for _, sys := range s.systems {
					u := unit{round: r, suite: s.name, group: g, sys: sys.key}
					for _, w := range s.workloads {
						if w.group != g {
							continue
						}
						for _, c := range w.cells {
							if c.sys == sys.key && !c.ref && !seen[c.bench] {
								seen[c.bench] = true
								u.benches = append(u.benches, c.bench)
							}
						}
					}
					if len(u.benches) > 0 {
						plan = append(plan, u)
					}
				}
			}
		}
	}
	return plan
}

// benchPattern is a -test.bench pattern that selects exactly the named
// benchmarks: each name's '/'-separated elements anchored and quoted, the
// names joined by '|' (package testing matches alternatives of
// '/'-separated patterns element by element, and does not split inside
// parentheses). Names that differ only in their last element share one
// alternative: ^A$/^B$/^(x|y)$.
func benchPattern(names []string) string {
	type alt struct {
		prefix []string
		lasts  []string
	}
	var alts []*alt
	byPrefix := map[string]*alt{}
	for _, name := range names {
		elems := strings.Split(name, "/")
		key := strings.Join(elems[:len(elems)-1], "/")
		a := byPrefix[key]
		if a == nil || len(elems) == 1 {
			a = &alt{prefix: elems[:len(elems)-1]}
			alts = append(alts, a)
			byPrefix[key] = a
		}
		a.lasts = append(a.lasts, regexp.QuoteMeta(elems[len(elems)-1]))
	}
	out := make([]string, len(alts))
	for i, a := range alts {
		elems := make([]string, 0, len(a.prefix)+1)
		for _, e := range a.prefix {
			elems = append(elems, "^"+regexp.QuoteMeta(e)+"$")
		}
		last := a.lasts[0]
		if len(a.lasts) > 1 {
			last = "(" + strings.Join(a.lasts, "|") + ")"
		}
		elems = append(elems, "^"+last+"$")
		out[i] = strings.Join(elems, "/")
	}
	return strings.Join(out, "|")
}

// String describes the unit for progress lines.
func (u unit) String() string {
	return fmt.Sprintf("round %d %s/%s %s (%d benchmarks)", u.round, u.suite, u.group, u.sys, len(u.benches))
}
