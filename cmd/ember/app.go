package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/examples/pi"
	sortex "github.com/ember-rpc/ember/examples/sort"
)

// runExecutor is "ember executor --driver-url U --executor-id N --hostname H
// --cores C --app-id A": what the workers run for the applications of
// "ember example" (and of any driver whose ExecutorProgram is ember).
func runExecutor(args []string) error {
	a, err := app.ParseExecutorArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "usage: ember executor --driver-url URL --executor-id ID [--hostname H] [--cores N] [--app-id ID] "+
			"[--worker-url URL] [--heartbeat-interval D] [--conf k=v]...\n(started by the workers for an application's executors)")
		return flag.ErrHelp
	}
	if err != nil {
		return err
	}
	a.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	sortex.SetExecutorHost(a.Hostname)
	return app.RunExecutor(a)
}

// runExample is "ember example pi --master spark://h:p [--slices N]
// [--samples N]": SparkPi on the cluster, with ember itself as the
// executors.
func runExample(args []string) error {
	if len(args) >= 1 && args[0] == "sort" {
		return runSortExample(args[1:])
	}
	if len(args) >= 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(os.Stderr, "usage: ember example pi --master spark://host:port [--slices N] [--samples N]\n"+
			"       ember example sort --master spark://host:port [--size 64m] [--maps N] [--reduces N]\n"+
			"(add --help after pi or sort for every flag)")
		return flag.ErrHelp
	}
	if len(args) < 1 || args[0] != "pi" {
		return fmt.Errorf("usage: ember example pi --master spark://host:port [--slices N] [--samples N]")
	}
	fs := flag.NewFlagSet("example pi", flag.ContinueOnError)
	masterURL := fs.String("master", os.Getenv(app.EnvMaster), "the masters' URL, spark://host:port[,host2:port2] (default $SPARK_MASTER, set by ember submit)")
	slices := fs.Int("slices", 2, "number of tasks")
	samples := fs.Int("samples", 100000, "samples per task")
	host := fs.String("host", "127.0.0.1", "address the driver listens on (executors connect to it)")
	cores := fs.Int("executor-cores", 1, "cores per executor")
	wait := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	verbose := fs.Bool("verbose", false, "log the driver's progress")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *masterURL == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: ember example pi --master spark://host:port [--slices N] [--samples N]")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	d, err := app.NewDriver(app.DriverConfig{Master: *masterURL, AppName: "Ember Pi", Host: *host,
		CoresPerExecutor: *cores, Logger: log,
		Progress: func(done, total int) { log.Info("progress", "done", done, "total", total) }})
	if err != nil {
		return err
	}
	defer d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	if err := d.WaitExecutors(ctx, 1); err != nil {
		return err
	}
	v, err := pi.Run(ctx, d, *slices, *samples)
	if err != nil {
		return err
	}
	fmt.Printf("Pi is roughly %f\n", v)
	return nil
}

const sortUsage = "usage: ember example sort --master spark://host:port [--size 64m] [--maps N] [--reduces N] " +
	"[--shuffle-port 7337] [--worker-shuffle-ports dir=port,...]"

// runSortExample is "ember example sort": a TeraSort-style sort over the
// workers' external shuffle services (spark.shuffle.service.enabled).
func runSortExample(args []string) error {
	fs := flag.NewFlagSet("example sort", flag.ContinueOnError)
	masterURL := fs.String("master", os.Getenv(app.EnvMaster), "the masters' URL, spark://host:port[,host2:port2] (default $SPARK_MASTER, set by ember submit)")
	size := fs.String("size", "64m", "bytes to sort (k, m, g suffixes)")
	maps := fs.Int("maps", 0, "map tasks (0: one per 32 MB, at least 2)")
	reduces := fs.Int("reduces", 0, "reduce tasks (0: as many as maps)")
	port := fs.Int("shuffle-port", 7337, "the workers' shuffle service port")
	workerPorts := fs.String("worker-shuffle-ports", "", "per-worker shuffle ports: workDir=port,... (workers sharing a host)")
	host := fs.String("host", "127.0.0.1", "address the driver listens on (executors connect to it)")
	cores := fs.Int("executor-cores", 1, "cores per executor")
	mem := fs.Int("executor-memory-mb", 512, "memory per executor (MB)")
	wait := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	verbose := fs.Bool("verbose", false, "log the driver's progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *masterURL == "" || fs.NArg() > 0 {
		return fmt.Errorf("%s", sortUsage)
	}
	total, err := parseSize(*size)
	if err != nil {
		return err
	}
	rules, err := parseDirPorts(*workerPorts)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	sum, err := runSort(ctx, sortRun{master: *masterURL, host: *host, cores: *cores, memMB: *mem, log: log,
		cfg: sortConfig(total, *maps, *reduces, *port, rules)}, nil)
	if err != nil {
		return err
	}
	fmt.Println(sum)
	return nil
}

// sortConfig fills in the default task counts.
func sortConfig(total int64, maps, reduces, port int, rules []sortex.DirPort) sortex.Config {
	if maps <= 0 {
		maps = int(max(2, (total+32<<20-1)/(32<<20)))
	}
	if reduces <= 0 {
		reduces = maps
	}
	return sortex.Config{TotalBytes: total, Maps: maps, Reduces: reduces, ShufflePort: port, WorkerPorts: rules}
}

// sortRun is one run of the sort example with its own driver.
type sortRun struct {
	master, program string
	host            string
	cores, memMB    int
	maxCores        int
	log             *slog.Logger
	cfg             sortex.Config
	conf            *sparkconf.Conf // the driver's (nil: defaults)
}

// runSort starts a driver, waits for an executor and sorts; progress (when
// set) gets every finished task.
func runSort(ctx context.Context, r sortRun, progress func(done, total int)) (sortex.Summary, error) {
	if progress == nil {
		progress = func(done, total int) { r.log.Info("progress", "done", done, "total", total) }
	}
	d, err := app.NewDriver(app.DriverConfig{Master: r.master, AppName: "Ember Sort", Host: r.host,
		ExecutorProgram: r.program, CoresPerExecutor: r.cores, MaxCores: r.maxCores, MemoryPerExecutorMB: r.memMB,
		Logger: r.log, Progress: progress, Conf: r.conf})
	if err != nil {
		return sortex.Summary{}, err
	}
	defer d.Stop()
	if err := d.WaitExecutors(ctx, 1); err != nil {
		return sortex.Summary{}, err
	}
	return sortex.Run(ctx, d, r.cfg)
}

// parseSize reads 123, 64k, 64m, 1g (powers of 1024; an optional trailing
// b or B, e.g. 64MB).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	case strings.HasSuffix(t, "t"):
		mult, t = 1<<40, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 64m or 1g)", s)
	}
	return n * mult, nil
}

// parseDirPorts reads dir=port,dir=port.
func parseDirPorts(s string) ([]sortex.DirPort, error) {
	var out []sortex.DirPort
	if s == "" {
		return nil, nil
	}
	for _, kv := range strings.Split(s, ",") {
		i := strings.LastIndexByte(kv, '=')
		if i <= 0 {
			return nil, fmt.Errorf("bad --worker-shuffle-ports entry %q (want dir=port)", kv)
		}
		p, err := strconv.Atoi(kv[i+1:])
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("bad port in %q", kv)
		}
		out = append(out, sortex.DirPort{Dir: kv[:i], Port: p})
	}
	return out, nil
}
