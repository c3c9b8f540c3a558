package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-systems", "ember", "-reps", "2"})
	if err != nil || len(cfg.systems) != 1 || cfg.systems[0] != emberSys || cfg.reps != 2 {
		t.Fatalf("parseFlags: %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"-systems", "flink"}, {"-reps", "0"}, {"-apps", "-1"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestSpreadOf(t *testing.T) {
	s := spreadOf([]time.Duration{3 * time.Second, time.Second, 2 * time.Second, 10 * time.Second})
	if s.med != 2500*time.Millisecond || s.lo != time.Second || s.hi != 10*time.Second {
		t.Errorf("spreadOf: %+v", s)
	}
	if got := spreadOf(nil).String(); got != "–" {
		t.Errorf("empty spread renders %q", got)
	}
}

func TestMarkdown(t *testing.T) {
	cfg, _ := parseFlags([]string{"-out", "x.md"})
	r := newResults(cfg)
	r.pi[emberSys] = []piRun{{sys: emberSys, connected: time.Second, executor: 2 * time.Second, firstTask: 3 * time.Second, exit: 4 * time.Second}}
	r.pi[sparkSys] = []piRun{{sys: sparkSys, connected: time.Second, executor: 2 * time.Second, firstTask: 6 * time.Second, exit: 8 * time.Second}}
	r.idle[owner{emberSys, "master"}] = usage{rssKiB: 10240, hwmKiB: 10240, cpuPct: 0.5}
	r.idle[owner{sparkSys, "master"}] = usage{rssKiB: 204800, hwmKiB: 204800, cpuPct: 1}
	r.recovery[emberSys] = []recoveryRun{{elected: 5 * time.Second, alive: 6 * time.Second, full: 6 * time.Second}}
	md := r.markdown()
	for _, want := range []string{
		"`go run ./cmd/daemons -out x.md`",
		"| to first task | 3.00 s (3.00–3.00) | 6.00 s (6.00–6.00) | 2.00× |",
		"| to exit | 4.00 s (4.00–4.00) | 8.00 s (8.00–8.00) | 2.00× |",
		"| master | idle | 10.0 | 200.0 | 20.00× | 10.0 | 200.0 | 0.50 | 1.00 |",
		"| standby ALIVE | 6.00 s (6.00–6.00) | – | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| worker |") {
		t.Errorf("report has worker rows without worker figures:\n%s", md)
	}
}

// TestSmokePiEmber runs the pi phase once on Ember's daemons only: a real
// spark-submit of the JVM SparkPi, timed to its first task and exit.
func TestSmokePiEmber(t *testing.T) {
	testutil.RequireSpark(t)
	testutil.CheckLeaks(t) // the children's reader goroutines end with them
	cfg, err := parseFlags([]string{"-systems", "ember", "-reps", "1", "-skip-fleet", "-skip-recovery", "-pyspark=false",
		"-idle", "0s", "-interval", "1s"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runs := res.pi[emberSys]
	if len(runs) != 1 {
		t.Fatalf("%d pi runs, want 1", len(runs))
	}
	p := runs[0]
	if !(0 < p.connected && p.connected <= p.executor && p.executor <= p.firstTask && p.firstTask <= p.exit) {
		t.Errorf("milestones out of order: %+v", p)
	}
	for _, role := range []string{"master", "worker"} {
		if u := res.idle[owner{emberSys, role}]; u.rssKiB <= 0 || u.hwmKiB < u.rssKiB {
			t.Errorf("%s idle usage: %+v", role, u)
		}
	}
	if md := res.markdown(); !strings.Contains(md, "| to first task |") {
		t.Errorf("report:\n%s", md)
	}
}
