package main

import (
	"archive/zip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// config is the command's flags.
type config struct {
	out          string
	reps         int
	haReps       int
	haWorkers    int
	apps         int
	idle         time.Duration
	interval     time.Duration
	systems      []system
	skipFleet    bool
	skipRecovery bool
	pyspark      bool
	keep         bool
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("daemons", flag.ContinueOnError)
	var cfg config
	var systems string
	fs.StringVar(&cfg.out, "out", "", "write the Markdown report here (default: stdout only)")
	fs.IntVar(&cfg.reps, "reps", 5, "SparkPi submissions per system")
	fs.IntVar(&cfg.haReps, "ha-reps", 2, "ZooKeeper failovers per system")
	fs.IntVar(&cfg.haWorkers, "ha-workers", 3, "workers in the ZooKeeper failover cluster")
	fs.IntVar(&cfg.apps, "apps", 50, "applications AppFleet registers with each master")
	fs.DurationVar(&cfg.idle, "idle", 30*time.Second, "settle time after the daemons start before the idle sample")
	fs.DurationVar(&cfg.interval, "interval", 10*time.Second, "CPU sampling interval")
	fs.StringVar(&systems, "systems", "ember,spark", "systems to run (ember, spark)")
	fs.BoolVar(&cfg.skipFleet, "skip-fleet", false, "skip the many-apps sample")
	fs.BoolVar(&cfg.skipRecovery, "skip-recovery", false, "skip the ZooKeeper failover")
	fs.BoolVar(&cfg.pyspark, "pyspark", true, "also time Spark's pi.py (needs python3)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the scratch dir (logs) and print its path")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, s := range strings.Split(systems, ",") {
		switch system(s) {
		case emberSys, sparkSys:
			cfg.systems = append(cfg.systems, system(s))
		default:
			return cfg, fmt.Errorf("unknown system %q (ember, spark)", s)
		}
	}
	if cfg.reps < 1 || cfg.haReps < 0 || cfg.haWorkers < 1 || cfg.apps < 1 {
		return cfg, errors.New("-reps, -ha-workers and -apps must be positive, -ha-reps not negative")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemons:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if res != nil {
		md := res.markdown()
		fmt.Print(md)
		if cfg.out != "" {
			if werr := os.WriteFile(cfg.out, []byte(md), 0o644); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemons:", err)
		os.Exit(1)
	}
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s daemons: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// setup builds ember, compiles the Java programs and packs the SparkPi jar.
func setup(cfg config) (*env, error) {
	home, err := testutil.FindSparkHome()
	if err != nil {
		return nil, err
	}
	java, _, err := testutil.FindJava()
	if err != nil {
		return nil, err
	}
	root, err := testutil.ProjectRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ember-daemons-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, sparkHome: home, java: java, ember: filepath.Join(dir, "ember")}
	build := exec.Command("go", "build", "-o", e.ember, "./cmd/ember")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return e, fmt.Errorf("go build ./cmd/ember: %v\n%s", err, b)
	}
	pi, err := e.javac(filepath.Join(root, "internal", "interop", "jvm", "sparkapp"), "classes-sparkapp")
	if err != nil {
		return e, err
	}
	if e.appJar, err = packJar(pi, filepath.Join(dir, "ember-sparkpi.jar")); err != nil {
		return e, err
	}
	if !cfg.skipFleet {
		if e.fleet, err = e.javac(filepath.Join(root, "internal", "interop", "jvm", "daemonbench"), "classes-daemonbench"); err != nil {
			return e, err
		}
	}
	return e, nil
}

// packJar zips the .class files under classes into a jar (spark-submit
// gets --class: no manifest needed).
func packJar(classes, jarPath string) (string, error) {
	f, err := os.Create(jarPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = filepath.Walk(classes, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".class") {
			return err
		}
		rel, _ := filepath.Rel(classes, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	return jarPath, err
}

// run runs every phase and returns what was measured (also on error: the
// phases done so far).
func run(ctx context.Context, cfg config) (*results, error) {
	start := time.Now()
	res := newResults(cfg)
	res.loadStart = loadAvg()
	e, err := setup(cfg)
	if e != nil {
		defer func() {
			e.killAll()
			if cfg.keep {
				logf("logs kept in %s", e.dir)
			} else {
				os.RemoveAll(e.dir)
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	go func() { // ^C: kill the children so the phase's waits end
		<-ctx.Done()
		e.killAll()
	}()
	defer func() { res.took = time.Since(start); res.loadEnd = loadAvg() }()

	// Clusters for the pi and resource phases: a master and one 2-core
	// worker each, both up at once.
	clusters := map[system]*cluster{}
	var upAt time.Time
	for _, s := range cfg.systems {
		logf("starting %s's master and worker", s)
		c, err := e.startCluster(s, "main", 1, 2, "4g")
		if err != nil {
			return res, fmt.Errorf("%s cluster: %w", s, err)
		}
		clusters[s] = c
		upAt = time.Now()
	}
	if wait := time.Until(upAt.Add(cfg.idle)); wait > 0 {
		logf("settling %v before the idle sample", wait.Round(time.Second))
		time.Sleep(wait) // the settle period is what is measured
	}
	pids, owners := daemonPids(cfg, clusters)
	us, err := sample(pids, cfg.interval)
	if err != nil {
		return res, err
	}
	for i, o := range owners {
		res.idle[o] = us[i]
	}
	res.loadIdle = loadAvg()

	kinds := []bool{false}
	if cfg.pyspark {
		if _, err := exec.LookPath("python3"); err != nil {
			res.notes = append(res.notes, "PySpark pi skipped: no python3")
		} else {
			kinds = append(kinds, true)
		}
	}
	for _, py := range kinds {
		for rep := range cfg.reps {
			order := append([]system{}, cfg.systems...)
			if rep%2 == 1 {
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, s := range order {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				r, err := e.runPi(clusters[s], rep, py)
				if err != nil {
					return res, fmt.Errorf("%s pi %d (py %v): %w", s, rep, py, err)
				}
				logf("%s pi %d (py %v): first task %v, exit %v", s, rep, py, r.firstTask.Round(time.Millisecond), r.exit.Round(time.Millisecond))
				if py {
					res.piPy[s] = append(res.piPy[s], r)
				} else {
					res.pi[s] = append(res.pi[s], r)
				}
			}
		}
	}
	res.loadPi = loadAvg()
	for i, pid := range pids {
		rss, hwm, err := memKiB(pid)
		if err != nil {
			return res, err
		}
		res.afterPi[owners[i]] = usage{rssKiB: rss, hwmKiB: hwm}
	}

	if !cfg.skipFleet {
		for _, s := range cfg.systems {
			logf("%s: registering %d apps", s, cfg.apps)
			m, w, reg, err := e.fleetRun(clusters[s], cfg.apps, cfg.interval)
			if err != nil {
				return res, fmt.Errorf("%s fleet: %w", s, err)
			}
			res.fleet[owner{s, "master"}], res.fleet[owner{s, "worker"}] = m, w
			res.fleetReg[s] = reg
		}
		res.loadFleet = loadAvg()
	}
	for _, c := range clusters {
		for _, w := range c.workers {
			w.kill()
		}
		c.master.kill()
	}

	if !cfg.skipRecovery && cfg.haReps > 0 {
		zk, err := e.startZooKeeper()
		if err != nil {
			res.notes = append(res.notes, "recovery skipped: "+err.Error())
			return res, nil
		}
		for rep := range cfg.haReps {
			order := append([]system{}, cfg.systems...)
			if rep%2 == 1 {
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, s := range order {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				logf("%s: ZooKeeper failover %d with %d workers", s, rep, cfg.haWorkers)
				r, err := e.runRecovery(s, zk, cfg.haWorkers, rep)
				if err != nil {
					return res, fmt.Errorf("%s recovery %d: %w", s, rep, err)
				}
				logf("%s failover %d: ALIVE after %v, complete after %v", s, rep, r.alive.Round(time.Millisecond), r.full.Round(time.Millisecond))
				res.recovery[s] = append(res.recovery[s], r)
			}
		}
		res.loadRecovery = loadAvg()
	}
	return res, nil
}

// owner names a daemon: a system's master or worker.
type owner struct {
	sys  system
	role string
}

func daemonPids(cfg config, clusters map[system]*cluster) ([]int, []owner) {
	var pids []int
	var owners []owner
	for _, s := range cfg.systems {
		c := clusters[s]
		pids = append(pids, c.master.pid(), c.workers[0].pid())
		owners = append(owners, owner{s, "master"}, owner{s, "worker"})
	}
	return pids, owners
}
