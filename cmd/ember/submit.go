package main

// "ember submit" is Ember's spark-submit for the standalone cluster manager.
//
//	ember submit --master spark://h:p[,h2:p2] [--deploy-mode client|cluster]
//	    [--name N] [--conf k=v]... [--properties-file F]
//	    [--executor-memory 1g] [--executor-cores N] [--total-executor-cores N]
//	    [--driver-memory 1g] [--driver-cores N] [--supervise] [--verbose]
//	    <program> [program args...]
//	ember submit --master spark://h:p --kill <driverId>
//	ember submit --master spark://h:p --status <driverId>
//
// <program> is an executable: a Go program built on Ember's app library
// (deploy/app), or ember itself followed by e.g. "example pi".
//
// The program learns its configuration from its environment (in both
// deploy modes):
//
//	SPARK_MASTER     the masters' URL, spark://h:p[,h2:p2] (spark.master)
//	SPARK_CONF_JSON  a JSON object of the spark.* settings: those of the
//	                 properties file and --conf, then the flags, which win:
//	                 spark.master, spark.app.name (--name, default the
//	                 program's base name), spark.submit.deployMode,
//	                 spark.executor.memory (--executor-memory),
//	                 spark.executor.cores (--executor-cores), spark.cores.max
//	                 (--total-executor-cores), spark.driver.memory,
//	                 spark.driver.cores, spark.driver.supervise.
//
// Client mode (the default) runs the program here as a child process
// through deploy/launcher, so it also gets _SPARK_LAUNCHER_PORT and
// _SPARK_LAUNCHER_SECRET (the secret is never on a command line); its
// output is streamed, its state changes are reported with --verbose, and
// ember submit exits with its exit code. SIGINT/SIGTERM ask the program to
// stop (Handle.Stop) and kill it after a grace period.
//
// Cluster mode asks the first ALIVE master to run the program on a worker
// (RequestSubmitDriver). The worker copies the program (JarURL) into the
// driver's directory and runs the copy: a program given as an http(s)://
// URL is downloaded by the worker and need not exist on it; a path must
// exist at the same absolute path on the workers' hosts, where it is
// copied from. The driver's id is printed; --status and --kill take it.
//
// The master asks use spark.rpc.askTimeout and spark.rpc.lookupTimeout,
// but with 30s defaults instead of Spark's 120s (lookupTimeout follows
// askTimeout unless set).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/client"
	"github.com/ember-rpc/ember/deploy/launcher"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// Environment variables through which submit configures the program.
const (
	envSparkMaster   = "SPARK_MASTER"
	envSparkConfJSON = "SPARK_CONF_JSON"
)

const (
	submitDefaultAskTimeout = "30s"
	// submitStopGrace is how long a stopped client-mode child has before
	// it is killed.
	submitStopGrace = 10 * time.Second
)

const submitUsage = `usage: ember submit --master spark://host:port[,host2:port2] [options] <program> [program args...]
       ember submit --master spark://host:port --kill <driverId>
       ember submit --master spark://host:port --status <driverId>

options:
  --deploy-mode client|cluster  run the program here (client, default) or on a worker (cluster;
                                the program may then be an http(s):// URL the workers download)
  --name N                      application name (spark.app.name)
  --conf k=v                    a spark.* setting (repeatable)
  --properties-file F           spark-defaults.conf to read
  --executor-memory M           memory per executor, e.g. 1g (spark.executor.memory)
  --executor-cores N            cores per executor (spark.executor.cores)
  --total-executor-cores N      cores of the whole application (spark.cores.max)
  --driver-memory M             cluster mode: the driver's memory (spark.driver.memory, 1g)
  --driver-cores N              cluster mode: the driver's cores (spark.driver.cores, 1)
  --supervise                   cluster mode: restart the driver when it fails
  --kill ID                     kill a cluster-mode driver
  --status ID                   report a cluster-mode driver's state
  --verbose                     report what submit does
`

// runSubmit is "ember submit": it exits with submit's code when that is
// not 0 (2 for usage errors, the child's code in client mode).
func runSubmit(args []string) error {
	if code := submit(args, os.Stdout, os.Stderr); code != 0 {
		os.Exit(code)
	}
	return nil
}

// submitArgs are the parsed command line.
type submitArgs struct {
	master, deployMode, name, propsFile string
	execMemory, driverMemory            string
	execCores, totalCores, driverCores  int
	supervise, verbose                  bool
	kill, status                        string
	confs                               confFlags
	program                             string
	programArgs                         []string
	conf                                *sparkconf.Conf
	explicitAsk, explicitLookup         bool
	askTimeout, lookupTimeout           time.Duration
	stdout, stderr                      io.Writer
	set                                 map[string]bool // flags given
}

// usageError is a bad command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func parseSubmitArgs(args []string, stderr io.Writer) (*submitArgs, error) {
	a := &submitArgs{stderr: stderr, set: map[string]bool{}}
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.master, "master", "", "")
	fs.StringVar(&a.deployMode, "deploy-mode", "", "")
	fs.StringVar(&a.name, "name", "", "")
	fs.Var(&a.confs, "conf", "")
	fs.StringVar(&a.propsFile, "properties-file", "", "")
	fs.StringVar(&a.execMemory, "executor-memory", "", "")
	fs.IntVar(&a.execCores, "executor-cores", 0, "")
	fs.IntVar(&a.totalCores, "total-executor-cores", 0, "")
	fs.StringVar(&a.driverMemory, "driver-memory", "", "")
	fs.IntVar(&a.driverCores, "driver-cores", 0, "")
	fs.BoolVar(&a.supervise, "supervise", false, "")
	fs.BoolVar(&a.verbose, "verbose", false, "")
	fs.StringVar(&a.kill, "kill", "", "")
	fs.StringVar(&a.status, "status", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	fs.Visit(func(f *flag.Flag) { a.set[f.Name] = true })
	if rest := fs.Args(); len(rest) > 0 {
		a.program, a.programArgs = rest[0], rest[1:]
	}
	lc, err := loadConf("submit", a.propsFile, a.confs)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	conf := lc.conf
	a.conf = conf
	if lc.file != "" {
		a.logf("using properties file %s", lc.file)
	}
	warnUnknownKeys(conf, func(k string) {
		fmt.Fprintf(stderr, "ember submit: warning: unknown configuration key %s, ignored (a typo?)\n", k)
	})
	if a.master == "" {
		a.master, _ = conf.Get("spark.master")
	}
	if a.master == "" {
		return nil, &usageError{"--master is required"}
	}
	if _, err := client.ParseMasterURLs([]string{a.master}); err != nil {
		return nil, &usageError{fmt.Sprintf("bad --master %q: %v", a.master, err)}
	}
	if a.deployMode == "" {
		a.deployMode = conf.GetString("spark.submit.deployMode", "client")
	}
	if a.deployMode != "client" && a.deployMode != "cluster" {
		return nil, &usageError{fmt.Sprintf("bad --deploy-mode %q: want client or cluster", a.deployMode)}
	}
	if a.kill != "" && a.status != "" {
		return nil, &usageError{"--kill and --status exclude each other"}
	}
	if a.kill != "" || a.status != "" {
		if a.program != "" {
			return nil, &usageError{"--kill and --status take no program"}
		}
		return a, a.timeouts()
	}
	if a.program == "" {
		return nil, &usageError{"missing program"}
	}
	if isRemoteProgram(a.program) && a.deployMode != "cluster" {
		return nil, &usageError{fmt.Sprintf("program %s: a URL is for --deploy-mode cluster (client mode runs a local file)", a.program)}
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"executor-cores", a.execCores}, {"total-executor-cores", a.totalCores}, {"driver-cores", a.driverCores}} {
		if a.set[c.name] && c.v <= 0 {
			return nil, &usageError{fmt.Sprintf("--%s must be positive", c.name)}
		}
	}
	for _, m := range []struct{ name, v string }{{"executor-memory", a.execMemory}, {"driver-memory", a.driverMemory}} {
		if a.set[m.name] {
			if _, err := sparkconf.ParseBytes(m.v, 1<<20); err != nil {
				return nil, &usageError{fmt.Sprintf("bad --%s %q: %v", m.name, m.v, err)}
			}
		}
	}
	// The flags win over the properties file and --conf (as in Spark).
	conf.Set("spark.master", a.master)
	conf.Set("spark.submit.deployMode", a.deployMode)
	if a.name != "" {
		conf.Set("spark.app.name", a.name)
	} else if !conf.Contains("spark.app.name") {
		conf.Set("spark.app.name", programName(a.program))
	}
	if a.execMemory != "" {
		conf.Set("spark.executor.memory", a.execMemory)
	}
	if a.execCores > 0 {
		conf.Set("spark.executor.cores", strconv.Itoa(a.execCores))
	}
	if a.totalCores > 0 {
		conf.Set("spark.cores.max", strconv.Itoa(a.totalCores))
	}
	if a.driverMemory != "" {
		conf.Set("spark.driver.memory", a.driverMemory)
	}
	if a.driverCores > 0 {
		conf.Set("spark.driver.cores", strconv.Itoa(a.driverCores))
	}
	if a.supervise {
		conf.Set("spark.driver.supervise", "true")
	}
	return a, a.timeouts()
}

// timeouts resolves the master asks' timeouts (30s defaults).
func (a *submitArgs) timeouts() error {
	ask := a.conf.GetString("spark.rpc.askTimeout", a.conf.GetString("spark.network.timeout", submitDefaultAskTimeout))
	d, err := sparkconf.ParseDuration(ask, time.Second)
	if err != nil || d <= 0 {
		return &usageError{fmt.Sprintf("bad spark.rpc.askTimeout %q", ask)}
	}
	a.askTimeout = d
	a.lookupTimeout = d
	if v, ok := a.conf.Get("spark.rpc.lookupTimeout"); ok {
		if a.lookupTimeout, err = sparkconf.ParseDuration(v, time.Second); err != nil || a.lookupTimeout <= 0 {
			return &usageError{fmt.Sprintf("bad spark.rpc.lookupTimeout %q", v)}
		}
	}
	return nil
}

// submit runs "ember submit args" and returns the exit code.
func submit(args []string, stdout, stderr io.Writer) int {
	a, err := parseSubmitArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, submitUsage)
		return 0
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "ember submit: %v\n\n%s", err, submitUsage)
			return 2
		}
		fmt.Fprintln(stderr, "ember submit:", err)
		return 1
	}
	a.stdout = stdout
	switch {
	case a.kill != "":
		return a.runKill()
	case a.status != "":
		return a.runStatus()
	case a.deployMode == "cluster":
		return a.runCluster()
	default:
		return a.runClient()
	}
}

func (a *submitArgs) logf(format string, args ...any) {
	if a.verbose {
		fmt.Fprintf(a.stderr, "ember submit: "+format+"\n", args...)
	}
}

func (a *submitArgs) fail(err error) int {
	fmt.Fprintln(a.stderr, "ember submit:", err)
	return 1
}

// childEnv is SPARK_MASTER and SPARK_CONF_JSON; secret drops
// spark.authenticate.secret (it is not for the master's records).
func (a *submitArgs) childEnv(secret bool) (map[string]string, error) {
	all := a.conf.All()
	if !secret {
		delete(all, "spark.authenticate.secret")
	}
	b, err := json.Marshal(all)
	if err != nil {
		return nil, err
	}
	return map[string]string{envSparkMaster: a.master, envSparkConfJSON: string(b)}, nil
}

// ---- client mode ----

type stateReporter struct{ a *submitArgs }

func (r stateReporter) StateChanged(h *launcher.Handle) {
	r.a.logf("application state: %s", h.State())
}

func (r stateReporter) InfoChanged(h *launcher.Handle) {
	r.a.logf("application id: %s", h.AppID())
}

func (a *submitArgs) runClient() int {
	prog, err := exec.LookPath(a.program)
	if err != nil && !errors.Is(err, exec.ErrDot) {
		return a.fail(fmt.Errorf("program %s: %w", a.program, err))
	}
	env, err := a.childEnv(true)
	if err != nil {
		return a.fail(err)
	}
	// Signals are caught from here on, so that none is lost between the
	// start and the handler.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	a.logf("running %s %s (master %s)", prog, strings.Join(a.programArgs, " "), a.master)
	l := &launcher.Launcher{Program: prog, Args: a.programArgs, Env: env, Stdout: a.stdout, Stderr: a.stderr}
	h, err := l.StartApplication(stateReporter{a})
	if err != nil {
		return a.fail(err)
	}
	var once sync.Once
	for {
		select {
		case <-h.Done():
			return a.childExit(h)
		case s := <-sigs:
			once.Do(func() {
				a.logf("got %v: stopping the application (killed after %s)", s, submitStopGrace)
				if err := h.Stop(); err != nil {
					a.logf("stop: %v", err)
				}
				go func() {
					t := time.NewTimer(submitStopGrace)
					defer t.Stop()
					select {
					case <-t.C:
						a.logf("killing the application")
						h.Kill()
					case <-h.Done():
					}
				}()
			})
		}
	}
}

// childExit waits for the child and turns its end into submit's exit code.
func (a *submitArgs) childExit(h *launcher.Handle) int {
	err := h.Wait()
	a.logf("application ended in state %s", h.State())
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 {
			return code
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
	}
	return a.fail(err)
}

// ---- cluster mode ----

// eachMaster connects to the masters (each within the lookup timeout); it
// calls try for each reachable one until try returns true.
func (a *submitArgs) eachMaster(try func(ref *rpcenv.Ref) bool) error {
	addrs, err := client.ParseMasterURLs([]string{a.master})
	if err != nil {
		return err
	}
	conf := a.conf.Clone().
		Set("spark.rpc.askTimeout", a.askTimeout.String()).
		Set("spark.rpc.lookupTimeout", a.lookupTimeout.String())
	env, err := rpcenv.Create(rpcenv.Config{Name: "driverClient", ClientMode: true, Conf: conf,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer env.Shutdown()
	var errs []error
	for _, addr := range addrs {
		a.logf("connecting to the master at %s", addr)
		ref, err := env.SetupEndpointRef(addr, deploy.MasterEndpointName)
		if err != nil {
			errs = append(errs, fmt.Errorf("master %s: %w", addr, err))
			continue
		}
		if try(ref) {
			return nil
		}
	}
	if len(errs) == 0 {
		return nil // every reachable master answered; the caller has the answers
	}
	return fmt.Errorf("no master could be reached at %s: %w", a.master, errors.Join(errs...))
}

func (a *submitArgs) ask(ref *rpcenv.Ref, msg any) (any, error) {
	v, err := ref.AskTimeout(msg, a.askTimeout)
	if err != nil {
		return nil, fmt.Errorf("master %s: %w", ref.Address().Addr, err)
	}
	return v, nil
}

// joinErr is why no master served a request: the connection errors and
// the last master's answer.
func joinErr(err, last error) error {
	switch {
	case err == nil && last == nil:
		return errors.New("no master could serve the request")
	case err == nil:
		return last
	case last == nil:
		return err
	}
	return fmt.Errorf("%w; %v", err, last)
}

func notAlive(msg string) bool { return strings.HasPrefix(msg, "Current state is not alive") }

// askAlive asks each master in turn until one answers with a T that is not
// a standby's refusal (refused returns the refusal's text, "" otherwise).
func askAlive[T any](a *submitArgs, msg any, refused func(T) string) (T, error) {
	var resp T
	var last error
	got := false
	err := a.eachMaster(func(ref *rpcenv.Ref) bool {
		v, err := a.ask(ref, msg)
		if err != nil {
			last = err
			return false
		}
		r, ok := v.(T)
		if !ok {
			last = fmt.Errorf("master %s: unexpected reply %T", ref.Address().Addr, v)
			return false
		}
		if why := refused(r); why != "" {
			last = fmt.Errorf("master %s: %s", ref.Address().Addr, why)
			return false
		}
		resp, got = r, true
		return true
	})
	if !got {
		return resp, joinErr(err, last)
	}
	return resp, nil
}

func (a *submitArgs) runCluster() int {
	// The worker copies JarURL into the driver's directory and runs the
	// copy: a program at an http(s):// URL needs to be nowhere on the
	// workers; a path must exist on the worker's host (where it is copied
	// from).
	var prog, jarURL, mainClass string
	if isRemoteProgram(a.program) {
		prog, jarURL, mainClass = a.program, a.program, "{{USER_JAR}}"
	} else {
		p, err := exec.LookPath(a.program)
		if err != nil && !errors.Is(err, exec.ErrDot) {
			return a.fail(fmt.Errorf("program %s: %w", a.program, err))
		}
		if p, err = filepath.Abs(p); err != nil {
			return a.fail(err)
		}
		prog, jarURL, mainClass = p, "file://"+filepath.ToSlash(p), p
	}
	memMB := 1024
	if v, ok := a.conf.Get("spark.driver.memory"); ok {
		n, err := sparkconf.ParseBytes(v, 1<<20)
		if err != nil || n < 1<<20 {
			return a.fail(fmt.Errorf("bad spark.driver.memory %q", v))
		}
		memMB = int(n >> 20)
	}
	cores, err := a.conf.GetInt("spark.driver.cores", 1)
	if err != nil || cores <= 0 {
		return a.fail(fmt.Errorf("bad spark.driver.cores: %v", err))
	}
	supervise, err := a.conf.GetBool("spark.driver.supervise", false)
	if err != nil {
		return a.fail(err)
	}
	env, err := a.childEnv(false)
	if err != nil {
		return a.fail(err)
	}
	desc := deploy.DriverDescription{
		JarURL:    jarURL,
		MemoryMB:  memMB,
		Cores:     cores,
		Supervise: supervise,
		Command: deploy.Command{
			MainClass:   mainClass,
			Arguments:   append([]string{}, a.programArgs...),
			Environment: env,
		},
	}
	a.logf("submitting %s %s (%d MB, %d cores, supervise %v)", prog, strings.Join(a.programArgs, " "), memMB, cores, supervise)
	resp, err := askAlive(a, deploy.RequestSubmitDriver{Desc: desc}, func(r deploy.SubmitDriverResponse) string {
		if !r.Success && notAlive(r.Message) {
			return r.Message
		}
		return ""
	})
	if err != nil {
		return a.fail(err)
	}
	if !resp.Success || resp.DriverID == nil {
		return a.fail(fmt.Errorf("driver submission failed: %s", resp.Message))
	}
	fmt.Fprintln(a.stdout, resp.Message)
	return 0
}

// isRemoteProgram: is the program an http(s):// URL (cluster mode)?
func isRemoteProgram(p string) bool {
	return strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")
}

// programName is the base name of a program path or URL.
func programName(p string) string {
	if isRemoteProgram(p) {
		if u, err := url.Parse(p); err == nil {
			return path.Base(u.Path)
		}
	}
	return filepath.Base(p)
}

func (a *submitArgs) runKill() int {
	resp, err := askAlive(a, deploy.RequestKillDriver{DriverID: a.kill}, func(r deploy.KillDriverResponse) string {
		if !r.Success && notAlive(r.Message) {
			return r.Message
		}
		return ""
	})
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintln(a.stdout, resp.Message)
	if !resp.Success {
		return 1
	}
	return 0
}

func (a *submitArgs) runStatus() int {
	resp, err := askAlive(a, deploy.RequestDriverStatus{DriverID: a.status}, func(r deploy.DriverStatusResponse) string {
		if !r.Found && r.Exception != nil && notAlive(*r.Exception) {
			return *r.Exception
		}
		return ""
	})
	if err != nil {
		return a.fail(err)
	}
	if !resp.Found {
		fmt.Fprintf(a.stderr, "ember submit: the master does not know driver %s\n", a.status)
		return 1
	}
	state := deploy.DriverUnknown
	if resp.State != nil {
		state = *resp.State
	}
	fmt.Fprintf(a.stdout, "State of %s is %s\n", a.status, state)
	if resp.WorkerID != nil && resp.WorkerHostPort != nil {
		fmt.Fprintf(a.stdout, "Driver running on %s (%s)\n", *resp.WorkerHostPort, *resp.WorkerID)
	}
	if resp.Exception != nil {
		fmt.Fprintf(a.stdout, "Exception from cluster was: %s\n", *resp.Exception)
	}
	return 0
}
