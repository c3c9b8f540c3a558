// Command scale runs Ember's scale, memory and GC measurements that need
// more than one process: a clean resident set size (RSS) can only be read
// for a process that holds nothing but the side being measured. Each
// measurement starts its servers as child processes, drives them from this
// process over loopback, reads their /proc/<pid>/status and prints a
// Markdown table.
//
//	go run ./cmd/scale -what idle-conns            # 10,000 idle connections, RSS per connection
//	go run ./cmd/scale -what allocs                # allocations per operation, client and server apart
//	go run ./cmd/scale -what gc -duration 60s      # GC pauses under a mixed ask + chunk-fetch load
//	go run ./cmd/scale -what master -ember /tmp/ember        # a master with 1,000 simulated workers
//	go run ./cmd/scale -what shuffle-rss -ember /tmp/ember   # shuffle service serving 64 reducers
//	go run ./cmd/scale -what all -short            # every one, small (a smoke run)
//
// The daemons (master, worker, shuffle service) are run from the ember
// binary given with -ember (go build -o /tmp/ember ./cmd/ember); without
// it this program runs them itself, through the same library calls.
// -modes picks the I/O modes (EPOLL, NIO). See bench/results/scale.md for
// what each one measures and a run's numbers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ember-rpc/ember/netpoll"
)

// options are the command's flags.
type options struct {
	what         string
	modes        []netpoll.IOMode
	short        bool
	ember        string
	conns        int
	raw          bool
	ops          int
	duration     time.Duration
	workers      int
	rounds       int
	maps         int
	reducers     int
	block        int
	parallel     int
	rssEvery     time.Duration
	heapProfiles string
}

// measurements are the -what values in the order "all" runs them.
var measurements = []struct {
	name string
	run  func(o *options) error
}{
	{"idle-conns", runIdleConns},
	{"allocs", runAllocs},
	{"gc", runGC},
	{"master", runMaster},
	{"shuffle-rss", runShuffleRSS},
}

// logger keeps Ember's info chatter out of the output.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func main() {
	if roleName := os.Getenv(childEnv); roleName != "" {
		if err := runChild(roleName); err != nil {
			fmt.Fprintln(os.Stderr, "scale child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// run parses args and runs the measurements they ask for.
func run(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var o options
	var modes string
	var block string
	names := make([]string, 0, len(measurements))
	for _, m := range measurements {
		names = append(names, m.name)
	}
	fs.StringVar(&o.what, "what", "", "measurement: "+strings.Join(names, ", ")+", or all")
	fs.StringVar(&modes, "modes", "EPOLL,NIO", "I/O modes, comma-separated")
	fs.BoolVar(&o.short, "short", false, "small sizes (a smoke run): 100 connections, 20 workers, 1 s loads")
	fs.StringVar(&o.ember, "ember", "", "ember binary for the master, worker and shuffle-service children (default: this program runs them)")
	fs.IntVar(&o.conns, "conns", 10000, "idle-conns: connections")
	fs.BoolVar(&o.raw, "raw", true, "idle-conns: also measure a plain-Go server (goroutine and 4 KiB bufio.Reader per connection)")
	fs.IntVar(&o.ops, "ops", 20000, "allocs: operations per path")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "gc: load duration; master: steady-state duration")
	fs.IntVar(&o.workers, "workers", 1000, "master: simulated workers")
	fs.IntVar(&o.rounds, "rounds", 20, "master: heartbeat rounds; shuffle-rss: whole-shuffle reads")
	fs.IntVar(&o.maps, "maps", 64, "shuffle-rss: map outputs")
	fs.IntVar(&o.reducers, "reducers", 64, "shuffle-rss: reducers (partitions), all fetching at once")
	fs.StringVar(&block, "block", "64KiB", "shuffle-rss: block size (B, KiB or MiB)")
	fs.IntVar(&o.parallel, "parallel", 16, "idle-conns, master: connections opened at once")
	fs.StringVar(&o.heapProfiles, "heap-profiles", "", "idle-conns: write the server's heap profile (after the connections, after a GC) into this directory")
	fs.DurationVar(&o.rssEvery, "rss-every", 20*time.Millisecond, "how often VmRSS is sampled while a load runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for m := range strings.SplitSeq(modes, ",") {
		mode, err := netpoll.ParseIOMode(strings.TrimSpace(m))
		if err != nil {
			return err
		}
		o.modes = append(o.modes, mode)
	}
	var err error
	if o.block, err = parseSize(block); err != nil {
		return err
	}
	if o.short {
		o.shorten(fs)
	}
	if o.what == "" {
		return errors.New("-what is required")
	}
	for _, m := range measurements {
		if o.what == m.name || o.what == "all" {
			fmt.Printf("## %s\n\n", m.name)
			if err := m.run(&o); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			fmt.Println()
			if o.what != "all" {
				return nil
			}
		}
	}
	if o.what != "all" {
		return fmt.Errorf("unknown -what %q", o.what)
	}
	return nil
}

// shorten applies -short to every size flag not set explicitly.
func (o *options) shorten(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	short := map[string]func(){
		"conns":    func() { o.conns = 100 },
		"ops":      func() { o.ops = 500 },
		"duration": func() { o.duration = time.Second },
		"workers":  func() { o.workers = 20 },
		"rounds":   func() { o.rounds = 2 },
		"maps":     func() { o.maps = 8 },
		"reducers": func() { o.reducers = 8 },
		"block":    func() { o.block = 4 << 10 },
	}
	for name, f := range short {
		if !set[name] {
			f()
		}
	}
}

// parseSize reads 4096, 4KiB, 1MiB.
func parseSize(s string) (int, error) {
	mult := 1
	num := s
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	var n int
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// sizeName is n as 4KiB, 1MiB, or bytes.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// mib formats KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// dur formats d in µs below a millisecond, else ms.
func dur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}
