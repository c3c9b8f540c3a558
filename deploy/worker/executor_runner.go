package worker

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ember-rpc/ember/deploy"
	"go.uber.org/atomic"
)

// executorRunner runs one executor process (Spark's ExecutorRunner). Its
// goroutine launches the command and reports every state change to the
// worker's endpoint; the fields marked loop-owned are only touched there.
type executorRunner struct {
	w         *Worker
	appID     string
	execID    int
	rpID      int
	desc      deploy.ApplicationDescription
	cores     int
	memoryMB  int
	dir       string   // workDir/<appId>/<execId>
	localDirs []string // the app's executor-<uuid> dirs

	// Loop-owned.
	state      deploy.ExecutorState
	message    *string
	exitStatus *int

	killCh   chan struct{} // closed by kill
	killOnce sync.Once
	pid      atomic.Int64 // 0 until the process started (logs, tests)
}

// executorStateFromRunner is what a runner tells the worker's endpoint.
type executorStateFromRunner struct {
	r   *executorRunner
	msg deploy.ExecutorStateChanged
}

func (r *executorRunner) fullID() string { return r.appID + "/" + strconv.Itoa(r.execID) }

// kill asks the runner to stop its process; it does not wait.
func (r *executorRunner) kill() { r.killOnce.Do(func() { close(r.killCh) }) }

func (r *executorRunner) report(st deploy.ExecutorState, msg *string, exit *int) {
	_ = r.w.self.Send(executorStateFromRunner{r: r, msg: deploy.ExecutorStateChanged{
		AppID: r.appID, ExecID: r.execID, State: st, Message: msg, ExitStatus: exit}})
}

// run is the runner's goroutine (Spark's fetchAndRunExecutor).
func (r *executorRunner) run() {
	select {
	case <-r.killCh:
		r.report(deploy.ExecutorKilled, nil, nil)
		return
	default:
	}
	p, err := r.start()
	if err != nil {
		r.w.log.Error("Error running executor", "executor", r.fullID(), "err", err)
		r.report(deploy.ExecutorFailed, ptr("Error running executor: "+err.Error()), nil)
		return
	}
	r.pid.Store(int64(p.pid()))
	r.report(deploy.ExecutorRunning, nil, nil)
	select {
	case <-p.done:
		r.report(deploy.ExecutorExited, ptr(fmt.Sprintf("Command exited with code %d", p.exit)), ptr(p.exit))
	case <-r.killCh:
		r.w.log.Info("Killing process!", "executor", r.fullID(), "pid", p.pid())
		code := p.terminate(r.w.cfg.executorKillGrace)
		r.report(deploy.ExecutorKilled, nil, ptr(code))
	}
}

// start builds the command, writes the stderr header and starts the
// process.
func (r *executorRunner) start() (*process, error) {
	c := r.w.cfg
	argv, env, err := r.command()
	if err != nil {
		return nil, err
	}
	header := commandHeader("Spark Executor Command", c.redact, argv)
	r.w.log.Info("Launch command", "executor", r.fullID(), "command", quoteCommand(redactArgs(c.redact, argv)))
	stdout, err := openOutput(filepath.Join(r.dir, "stdout"), "", false)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := openOutput(filepath.Join(r.dir, "stderr"), header, true)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	return startProcess(procSpec{argv: argv, env: env, dir: r.dir, stdout: stdout, stderr: stderr}, &r.w.runners)
}

// command is the executor's argv and environment: the program
// (Command.MainClass), the javaOpts (with {{APP_ID}} and {{EXECUTOR_ID}}
// replaced and any auth secret dropped), then the arguments with the exact
// placeholders replaced.
func (r *executorRunner) command() (argv, env []string, err error) {
	w, c := r.w, r.w.cfg
	prog, err := resolveProgram(r.desc.Command.MainClass)
	if err != nil {
		return nil, nil, err
	}
	execID := strconv.Itoa(r.execID)
	argv = append(argv, prog)
	argv = append(argv, filterJavaOpts(r.desc.Command.JavaOpts, func(s string) string {
		s = strings.ReplaceAll(s, "{{APP_ID}}", r.appID)
		return strings.ReplaceAll(s, "{{EXECUTOR_ID}}", execID)
	})...)
	for _, a := range r.desc.Command.Arguments {
		switch a {
		case "{{WORKER_URL}}":
			a = w.workerURI
		case "{{EXECUTOR_ID}}":
			a = execID
		case "{{HOSTNAME}}":
			a = w.host
		case "{{CORES}}":
			a = strconv.Itoa(r.cores)
		case "{{APP_ID}}":
			a = r.appID
		case "{{RESOURCE_PROFILE_ID}}":
			a = strconv.Itoa(r.rpID)
		}
		argv = append(argv, a)
	}
	logURL := fmt.Sprintf("http://%s:%d/logPage/?appId=%s&executorId=%d&logType=", c.publicAddr, c.uiPort, r.appID, r.execID)
	env = childEnv(c, r.desc.Command.Environment,
		"SPARK_EXECUTOR_DIRS="+strings.Join(r.localDirs, string(filepath.ListSeparator)),
		"SPARK_LAUNCH_WITH_SCALA=0",
		"SPARK_LOG_URL_STDERR="+logURL+"stderr",
		"SPARK_LOG_URL_STDOUT="+logURL+"stdout",
		"SPARK_EXECUTOR_MEMORY="+strconv.Itoa(r.memoryMB)+"m",
		"SPARK_EXECUTOR_CORES="+strconv.Itoa(r.cores),
	)
	return argv, env, nil
}

// description is the executor as the worker reports it to the master.
func (r *executorRunner) description() deploy.ExecutorDescription {
	return deploy.ExecutorDescription{AppID: r.appID, ExecID: r.execID, RPID: r.rpID, Cores: r.cores,
		MemoryMB: r.memoryMB, State: r.state}
}

func ptr[T any](v T) *T { return &v }
