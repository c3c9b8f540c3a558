package worker

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// executorRunner runs one executor process (Spark's ExecutorRunner). Its
// goroutine launches the command and reports every state change to the
// worker's endpoint, which feeds them to the core.
type executorRunner struct {
	w    *Worker
	spec ExecutorSpec

	killCh   chan struct{} // closed by kill
	killOnce sync.Once
}

// executorStateFromRunner is what a runner tells the worker's endpoint.
type executorStateFromRunner struct {
	msg deploy.ExecutorStateChanged
}

// kill asks the runner to stop its process; it does not wait.
func (r *executorRunner) kill() { r.killOnce.Do(func() { close(r.killCh) }) }

func (r *executorRunner) report(st deploy.ExecutorState, msg *string, exit *int) {
	_ = r.w.self.Send(executorStateFromRunner{msg: deploy.ExecutorStateChanged{
		AppID: r.spec.AppID, ExecID: r.spec.ExecID, State: st, Message: msg, ExitStatus: exit}})
}

// run is the runner's goroutine (Spark's fetchAndRunExecutor): RUNNING once
// the process started, then EXITED with its code, KILLED when killed
// (SIGTERM, SIGKILL after the grace), FAILED when it cannot start.
func (r *executorRunner) run() {
	select {
	case <-r.killCh:
		r.report(deploy.ExecutorKilled, nil, nil)
		return
	default:
	}
	p, err := r.start()
	if err != nil {
		r.w.log.Error("Error running executor", "executor", r.spec.FullID(), "err", err)
		r.report(deploy.ExecutorFailed, ptr("Error running executor: "+err.Error()), nil)
		return
	}
	r.report(deploy.ExecutorRunning, nil, nil)
	select {
	case <-p.done:
		r.report(deploy.ExecutorExited, ptr(fmt.Sprintf("Command exited with code %d", p.exit)), ptr(p.exit))
	case <-r.killCh:
		r.w.log.Info("Killing process!", "executor", r.spec.FullID(), "pid", p.pid())
		code := p.terminate(r.w.cfg.executorKillGrace)
		r.report(deploy.ExecutorKilled, nil, ptr(code))
	}
}

// start writes the resources file, builds the command, writes the stderr
// header and starts the process.
func (r *executorRunner) start() (*process, error) {
	c := r.w.cfg
	resFile, err := writeResourcesFile("spark.executor", r.spec.Resources, r.spec.Dir)
	if err != nil {
		return nil, err
	}
	argv, env, err := buildLaunch(r.w.executorLaunchSpec(r.spec, resFile), c.hostEnv)
	if err != nil {
		return nil, err
	}
	header := commandHeader("Spark Executor Command", c.redact, argv)
	r.w.log.Info("Launch command", "executor", r.spec.FullID(), "command", quoteCommand(redactArgs(c.redact, argv)))
	stdoutPath, stderrPath := filepath.Join(r.spec.Dir, "stdout"), filepath.Join(r.spec.Dir, "stderr")
	stdout, err := openOutput(stdoutPath, "", false)
	if err != nil {
		return nil, err
	}
	stderr, err := openOutput(stderrPath, header, true)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	spec := procSpec{argv: argv, env: env, dir: r.spec.Dir, stdout: stdout, stderr: stderr}
	if c.rolling.enabled() {
		// The child writes to pipes, copied into rolling files.
		out := newRollingWriter(c.rolling, stdoutPath, stdout, time.Now, r.w.log)
		errw := newRollingWriter(c.rolling, stderrPath, stderr, time.Now, r.w.log)
		spec.stdout, spec.stderr, spec.closers = out, errw, []io.Closer{out, errw}
	} else {
		// The child holds its own descriptors: ours can go now.
		defer stdout.Close()
		defer stderr.Close()
	}
	return startProcess(spec, &r.w.runners)
}

// executorLaunchSpec is what ExecutorRunner hands CommandUtils: the
// placeholders of the arguments ({{WORKER_URL}}, {{EXECUTOR_ID}},
// {{HOSTNAME}}, {{CORES}}, {{APP_ID}}, {{RESOURCE_PROFILE_ID}}) and of the
// javaOpts ({{APP_ID}}, {{EXECUTOR_ID}} anywhere), --resourcesFile, the
// executor memory, and the environment: SPARK_EXECUTOR_DIRS,
// SPARK_LAUNCH_WITH_SCALA=0 and the log page URLs.
func (w *Worker) executorLaunchSpec(s ExecutorSpec, resourcesFile string) launchSpec {
	c := w.cfg
	execID := strconv.Itoa(s.ExecID)
	ls := launchSpec{cmd: s.Desc.Command, memoryMB: s.MemoryMB, sparkHome: c.sparkHome, sparkHomeFrom: c.sparkHomeFrom,
		argSubst: func(a string) string {
			switch a {
			case "{{WORKER_URL}}":
				return w.workerURI
			case "{{EXECUTOR_ID}}":
				return execID
			case "{{HOSTNAME}}":
				return w.host
			case "{{CORES}}":
				return strconv.Itoa(s.Cores)
			case "{{APP_ID}}":
				return s.AppID
			case "{{RESOURCE_PROFILE_ID}}":
				return strconv.Itoa(s.RPID)
			}
			return a
		},
		optSubst: func(o string) string {
			o = strings.ReplaceAll(o, "{{APP_ID}}", s.AppID)
			return strings.ReplaceAll(o, "{{EXECUTOR_ID}}", execID)
		},
	}
	if resourcesFile != "" {
		ls.extraArgs = []string{"--resourcesFile", resourcesFile}
	}
	if c.authEnabled {
		ls.authSecret = c.authSecret
	}
	logURL := w.logURL(fmt.Sprintf("appId=%s&executorId=%d", s.AppID, s.ExecID))
	ls.extraEnv = []string{
		"SPARK_EXECUTOR_DIRS=" + strings.Join(s.LocalDirs, string(filepath.ListSeparator)),
		"SPARK_LAUNCH_WITH_SCALA=0",
		"SPARK_LOG_URL_STDERR=" + logURL + "stderr",
		"SPARK_LOG_URL_STDOUT=" + logURL + "stdout",
	}
	ls.programEnv = []string{
		"SPARK_EXECUTOR_MEMORY=" + strconv.Itoa(s.MemoryMB) + "m",
		"SPARK_EXECUTOR_CORES=" + strconv.Itoa(s.Cores),
	}
	return ls
}

// logURL is the worker UI's log page for query, up to "logType=": through
// the master's reverse proxy when spark.ui.reverseProxy is on.
func (w *Worker) logURL(query string) string {
	if w.cfg.reverseProxyURL != "" {
		return w.cfg.reverseProxyURL + w.id + "/logPage/?" + query + "&logType="
	}
	return fmt.Sprintf("http://%s:%d/logPage/?%s&logType=", w.cfg.publicAddr, w.cfg.uiPort, query)
}
