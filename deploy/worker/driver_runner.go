package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"go.uber.org/atomic"
)

// Driver relaunch back-off (Spark's DriverRunner): 1 s doubling, reset
// after a run longer than 5 s.
const (
	driverBaseBackoff     = time.Second
	driverSuccessfulRunOK = 5 * time.Second
)

// driverRunner runs a cluster-mode driver (Spark's DriverRunner),
// relaunching it on failure when supervised. The loop-owned fields are
// only touched by the worker's endpoint.
type driverRunner struct {
	w    *Worker
	spec DriverSpec

	ctx      context.Context // cancelled by kill (jar downloads)
	cancel   context.CancelFunc
	killed   atomic.Bool
	killCh   chan struct{}
	killOnce sync.Once
}

// driverStateFromRunner is a driver's final state, runner → endpoint.
type driverStateFromRunner struct {
	msg deploy.DriverStateChanged
}

// kill stops the driver (and its supervision); it does not wait.
func (d *driverRunner) kill() {
	d.killOnce.Do(func() {
		d.killed.Store(true)
		d.cancel()
		close(d.killCh)
	})
}

// run is the runner's goroutine: prepare, run (with retries), report.
func (d *driverRunner) run() {
	defer d.cancel()
	st, exc := d.prepareAndRun()
	if exc != nil {
		d.w.log.Warn("driver failed with an exception", "driver", d.spec.ID, "err", *exc)
	}
	_ = d.w.self.Send(driverStateFromRunner{msg: deploy.DriverStateChanged{DriverID: d.spec.ID, State: st, Exception: exc}})
}

func (d *driverRunner) prepareAndRun() (deploy.DriverState, *string) {
	fail := func(err error) (deploy.DriverState, *string) {
		if d.killed.Load() {
			return deploy.DriverKilled, nil // e.g. a jar download the kill interrupted
		}
		return deploy.DriverError, ptr(err.Error())
	}
	if err := os.MkdirAll(d.spec.Dir, 0o755); err != nil {
		return fail(fmt.Errorf("failed to create directory %s: %w", d.spec.Dir, err))
	}
	jar, err := d.fetchJar()
	if err != nil {
		return fail(err)
	}
	argv, env, err := d.command(jar)
	if err != nil {
		return fail(err)
	}
	exit, err := d.runWithRetry(argv, env)
	switch {
	case err != nil:
		return fail(err)
	case exit == 0:
		return deploy.DriverFinished, nil
	case d.killed.Load():
		return deploy.DriverKilled, nil
	default:
		return deploy.DriverFailed, nil
	}
}

// command is the driver's argv and environment, as DriverRunner hands
// CommandUtils: {{WORKER_URL}} and {{USER_JAR}} replaced, the driver's
// memory, and -Dspark.driver.resourcesFile when resources are assigned.
func (d *driverRunner) command(jar string) (argv, env []string, err error) {
	c := d.w.cfg
	resFile, err := writeResourcesFile("spark.driver", d.spec.Resources, d.spec.Dir)
	if err != nil {
		return nil, nil, err
	}
	cmd := d.spec.Desc.Command
	if cmd.MainClass, err = driverProgram(cmd.MainClass, d.spec.Desc.JarURL, jar); err != nil {
		return nil, nil, err
	}
	ls := launchSpec{cmd: cmd, memoryMB: d.spec.Desc.MemoryMB, sparkHome: c.sparkHome, sparkHomeFrom: c.sparkHomeFrom,
		argSubst: func(a string) string {
			switch a {
			case "{{WORKER_URL}}":
				return d.w.workerURI
			case "{{USER_JAR}}":
				return jar
			}
			return a
		}}
	if resFile != "" {
		ls.extraJavaOpts = []string{"-Dspark.driver.resourcesFile=" + resFile}
	}
	if c.authEnabled {
		ls.authSecret = c.authSecret
	}
	return buildLaunch(ls, c.hostEnv)
}

// runWithRetry is Spark's runCommandWithRetry: run, and while supervised
// and failing (and not killed), back off and run again.
func (d *driverRunner) runWithRetry(argv, env []string) (int, error) {
	c := d.w.cfg
	base := time.Duration(float64(driverBaseBackoff) * c.driverBackoffScale)
	wait := base
	exit := -1
	for {
		if d.killed.Load() {
			return exit, nil
		}
		header := commandHeader("Launch Command", c.redact, argv)
		d.w.log.Info("Launch Command", "driver", d.spec.ID, "command", quoteCommand(redactArgs(c.redact, argv)))
		p, err := d.start(argv, env, header)
		if err != nil {
			return exit, err
		}
		started := time.Now()
		select {
		case <-p.done:
			exit = p.exit
		case <-d.killCh:
			exit = p.terminate(c.driverKillGrace)
		}
		if exit == 0 || !d.spec.Desc.Supervise || d.killed.Load() {
			return exit, nil
		}
		if time.Since(started) > driverSuccessfulRunOK {
			wait = base
		}
		d.w.log.Info("Command exited with a failure, re-launching", "driver", d.spec.ID, "status", exit, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.killCh:
			t.Stop()
			return exit, nil
		}
		wait *= 2
	}
}

func (d *driverRunner) start(argv, env []string, header string) (*process, error) {
	stdout, err := openOutput(filepath.Join(d.spec.Dir, "stdout"), "", false)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := openOutput(filepath.Join(d.spec.Dir, "stderr"), header, false)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	return startProcess(procSpec{argv: argv, env: env, dir: d.spec.Dir, stdout: stdout, stderr: stderr}, &d.w.runners)
}

// fetchJar brings the user jar into the driver dir and returns its path:
// a local path or file:// URL is copied, http(s):// is downloaded, and
// spark://host:port/<path> is fetched from that env's file server. An
// existing file of the same name is kept (several workers on one node). An
// empty jarUrl gives an empty {{USER_JAR}}.
func (d *driverRunner) fetchJar() (string, error) {
	raw := d.spec.Desc.JarURL
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid jar URL %q: %w", raw, err)
	}
	var name string
	var open func() (io.ReadCloser, error)
	switch u.Scheme {
	case "", "file", "local":
		p := raw
		if u.Scheme != "" {
			p = u.Path
		}
		name = filepath.Base(p)
		open = func() (io.ReadCloser, error) { return os.Open(p) }
	case "http", "https":
		name = path.Base(u.Path)
		open = func() (io.ReadCloser, error) { return httpGet(d.ctx, raw) }
	case "spark":
		name = path.Base(u.Path)
		open = func() (io.ReadCloser, error) {
			rc, err := d.w.env.OpenChannel(raw)
			if err != nil {
				return nil, err
			}
			stop := context.AfterFunc(d.ctx, func() { rc.Close() })
			return &afterFuncCloser{ReadCloser: rc, stop: stop}, nil
		}
	default:
		return "", fmt.Errorf("unsupported jar URL %q (want a path, file://, http(s):// or spark://)", raw)
	}
	if name == "" || name == "." || name == "/" || name == ".." {
		return "", fmt.Errorf("jar URL %q names no file", raw)
	}
	dst := filepath.Join(d.spec.Dir, name)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	d.w.log.Info("Copying user jar", "jar", raw, "to", dst)
	src, err := open()
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(d.spec.Dir, "."+name+".*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	return dst, nil
}

type afterFuncCloser struct {
	io.ReadCloser
	stop func() bool
}

func (c *afterFuncCloser) Close() error {
	c.stop()
	return c.ReadCloser.Close()
}

func httpGet(ctx context.Context, raw string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	// No keep-alive: nothing of the download outlives it.
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errors.New("HTTP " + resp.Status)
	}
	return resp.Body, nil
}
