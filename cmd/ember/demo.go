package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	sortex "github.com/ember-rpc/ember/examples/sort"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// sortClusterConf is the local cluster's conf for the sort: every worker
// runs an external shuffle service, each on its own free port.
func sortClusterConf() *sparkconf.Conf {
	return sparkconf.New().
		Set("spark.worker.ember.registrationIntervalScale", "0.05").
		Set("spark.shuffle.service.enabled", "true").
		Set("spark.shuffle.service.port", "0")
}

// startSortCluster starts an in-process master and n workers with shuffle
// services, and returns which shuffle port each worker's executors use.
func startSortCluster(n, cores, memMB int, dir string, extra *sparkconf.Conf, log *slog.Logger) (*localCluster, []sortex.DirPort, error) {
	conf := sortClusterConf()
	// The executors' local dirs (their shuffle files) live under dir, so
	// removing dir leaves nothing behind in the system's temp dir.
	conf.Set("spark.local.dir", filepath.Join(dir, "local"))
	if extra != nil {
		for k, v := range extra.All() {
			conf.Set(k, v)
		}
	}
	lc, err := startLocalCluster(n, cores, memMB, dir, conf, log)
	if err != nil {
		return nil, nil, err
	}
	var rules []sortex.DirPort
	for i, w := range lc.workers {
		svc := w.ShuffleService()
		if svc == nil {
			lc.close()
			return nil, nil, fmt.Errorf("worker %d has no shuffle service", i+1)
		}
		wd, err := filepath.Abs(w.WorkDir())
		if err != nil {
			lc.close()
			return nil, nil, err
		}
		rules = append(rules, sortex.DirPort{Dir: wd, Port: svc.Port()})
	}
	return lc, rules, nil
}

// dirPortsFlag is rules as --worker-shuffle-ports takes them.
func dirPortsFlag(rules []sortex.DirPort) string {
	s := ""
	for i, r := range rules {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s=%d", r.Dir, r.Port)
	}
	return s
}

// runDemo is "ember demo [--size 1g]": with no configuration, an
// in-process master and two workers (each with a shuffle service) on
// loopback, and the sort example on them with this program as the
// executors; it shows progress, the result and the web UI, and shuts
// everything down at the end or on Ctrl-C.
func runDemo(args []string) error {
	began := time.Now()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	size := fs.String("size", "1g", "bytes to sort (k, m, g suffixes)")
	maps := fs.Int("maps", 0, "map tasks (0: one per 32 MB, at least 2)")
	reduces := fs.Int("reduces", 0, "reduce tasks (0: as many as maps)")
	workers := fs.Int("workers", 2, "workers")
	cores := fs.Int("cores", max(1, runtime.NumCPU()/2), "cores per worker")
	verbose := fs.Bool("verbose", false, "log the cluster and the driver to stderr")
	secure := fs.Bool("secure", false, "turn on spark.authenticate with AES-CTR encryption (a random secret)")
	keep := fs.Bool("keep", false, "after the sort, keep the cluster and its web UIs up until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *workers < 1 || *cores < 1 {
		return errors.New("usage: ember demo [--size 1g] [--maps N] [--reduces N] [--workers 2] [--cores N] [--secure] [--keep] [--verbose]")
	}
	// Everything the demo writes stays under its own temp dir, removed at
	// the end: SPARK_LOCAL_DIRS would send the executors' shuffle files
	// elsewhere (it wins over spark.local.dir).
	os.Unsetenv("SPARK_LOCAL_DIRS")
	var secConf *sparkconf.Conf
	if *secure {
		var key [32]byte
		if _, err := cryptorand.Read(key[:]); err != nil {
			return err
		}
		secConf = sparkconf.New().
			Set("spark.authenticate", "true").
			Set("spark.authenticate.secret", hex.EncodeToString(key[:])).
			Set("spark.network.crypto.enabled", "true")
	}
	total, err := parseSize(*size)
	if err != nil {
		return err
	}
	program, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program for the executors: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var logOut io.Writer = io.Discard
	if *verbose {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	dir, err := os.MkdirTemp("", "ember-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const memMB = 4096
	lc, rules, err := startSortCluster(*workers, *cores, memMB, dir, secConf, log)
	if err != nil {
		return err
	}
	defer lc.close()
	if _, err := lc.waitAlive(*workers, 60*time.Second); err != nil {
		return err
	}
	fmt.Printf("local cluster: master %s, %d workers x %d cores, web UI %s\n", lc.master.MasterURL(), *workers, *cores, lc.masterUI.URL())
	if *secure {
		fmt.Println("  every connection authenticated (spark.authenticate) and AES-CTR encrypted")
	}
	for i, r := range rules {
		fmt.Printf("  worker %d: shuffle service on 127.0.0.1:%d, web UI %s\n", i+1, r.Port, lc.uis[i].URL())
	}
	cfg := sortConfig(total, *maps, *reduces, 0, rules)
	fmt.Printf("sorting %s (%d records of 100 bytes) with %d maps and %d reduces\n", humanBytes(total), total/100, cfg.Maps, cfg.Reduces)
	pr := newProgress(os.Stdout, isTerminal(os.Stdout), began)
	cfg.OnStage = pr.stage
	sum, err := runSort(ctx, sortRun{master: lc.master.MasterURL(), program: program, host: "127.0.0.1",
		cores: *cores, memMB: memMB / 2, log: log, cfg: cfg, conf: secConf}, pr.task)
	pr.end()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Println("interrupted, shutting down")
			return fmt.Errorf("demo interrupted: %w", err)
		}
		return err
	}
	fmt.Println(sum)
	fmt.Printf("done in %v\n", time.Since(began).Round(time.Millisecond))
	if !*keep {
		fmt.Printf("web UI: %s (the application is listed as completed until the demo exits; --keep keeps it up)\n", lc.masterUI.URL())
		return nil
	}
	fmt.Printf("web UI: %s (the cluster stays up, the sort listed as completed; Ctrl-C to stop)\n", lc.masterUI.URL())
	<-ctx.Done()
	fmt.Println("stopping the cluster")
	return nil
}

// isTerminal: is f a character device (a terminal)?
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// progress shows the stages' progress: one updating bar on a terminal,
// plain lines otherwise.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	tty       bool
	began     time.Time
	first     bool
	name      string
	tasks     int
	bytes     int64
	start     time.Time
	lastWidth int
	lastPlain time.Time
}

func newProgress(w io.Writer, tty bool, began time.Time) *progress {
	return &progress{w: w, tty: tty, began: began}
}

func (p *progress) stage(name string, tasks int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLine()
	p.name, p.tasks, p.bytes, p.start = name, tasks, bytes, time.Now()
	p.draw(0, true)
}

func (p *progress) task(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.first {
		p.first = true
		p.clearLine() // the bar is drawn again below this line
		fmt.Fprintf(p.w, "time to first task: %v\n", time.Since(p.began).Round(time.Millisecond))
	}
	p.tasks = total
	p.draw(done, done == total)
}

// end finishes the bar line.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLine()
}

// clearLine erases the bar being drawn, leaving the cursor at the start
// of its (now empty) line.
func (p *progress) clearLine() {
	if p.tty && p.lastWidth > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastWidth))
	}
	p.lastWidth = 0
}

func (p *progress) finishLine() {
	if p.tty && p.lastWidth > 0 {
		fmt.Fprintln(p.w)
	}
	p.lastWidth = 0
}

// draw shows done of the stage's tasks; plain output prints at most a
// line a second (and the first and last).
func (p *progress) draw(done int, force bool) {
	el := time.Since(p.start)
	mbps := 0.0
	if p.tasks > 0 && el > 0 {
		mbps = float64(p.bytes) * float64(done) / float64(p.tasks) / 1e6 / el.Seconds()
	}
	if !p.tty {
		if force || time.Since(p.lastPlain) >= time.Second {
			p.lastPlain = time.Now()
			fmt.Fprintf(p.w, "%s: %d/%d tasks, %.1f MB/s, %v\n", p.name, done, p.tasks, mbps, el.Round(time.Millisecond))
		}
		return
	}
	const width = 30
	fill := 0
	if p.tasks > 0 {
		fill = done * width / p.tasks
	}
	line := fmt.Sprintf("%-6s [%s%s] %d/%d tasks  %.1f MB/s  %v", p.name, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		done, p.tasks, mbps, el.Round(100*time.Millisecond))
	pad := max(0, p.lastWidth-len(line))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.lastWidth = len(line)
}
