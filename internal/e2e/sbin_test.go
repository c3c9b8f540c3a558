//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// sbinEnv is the environment of the sbin scripts for a one-host cluster
// on loopback ports, every file in the test's dir.
type sbinEnv struct {
	confDir, pidDir, logDir, workDir string
	ident                            string
	masterPort, masterUI, workerUI   int
	env                              []string
}

func (c *cluster) sbinEnv() *sbinEnv {
	t := c.t
	ports := testutil.FreePorts(t, 3)
	s := &sbinEnv{confDir: c.mkdir("conf"), pidDir: c.mkdir("pids"), logDir: c.mkdir("logs"), workDir: c.mkdir("work"),
		ident: fmt.Sprintf("e2e%d", os.Getpid()), masterPort: ports[0], masterUI: ports[1], workerUI: ports[2]}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(s.confDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("workers", "# the one worker host\nlocalhost\n")
	write("spark-defaults.conf", strings.Join([]string{
		"# read by the master and the worker through SPARK_CONF_DIR",
		"spark.worker.timeout                          10",
		"spark.worker.ember.registrationIntervalScale  0.02",
		"spark.worker.ember.executorKillGrace          5s",
		"",
	}, "\n"))
	s.env = []string{
		// No SPARK_HOME: the scripts find Ember's home from their own
		// path, and the worker runs no JVM application here.
		"EMBER_BIN=" + emberBin,
		"SPARK_CONF_DIR=" + s.confDir,
		"SPARK_PID_DIR=" + s.pidDir,
		"SPARK_LOG_DIR=" + s.logDir,
		"SPARK_IDENT_STRING=" + s.ident,
		"SPARK_MASTER_HOST=127.0.0.1",
		"SPARK_MASTER_PORT=" + strconv.Itoa(s.masterPort),
		"SPARK_MASTER_WEBUI_PORT=" + strconv.Itoa(s.masterUI),
		"SPARK_WORKER_WEBUI_PORT=" + strconv.Itoa(s.workerUI),
		"SPARK_WORKER_CORES=1",
		"SPARK_WORKER_MEMORY=256m",
		"SPARK_WORKER_DIR=" + s.workDir,
		"SPARK_LOCAL_DIRS=" + c.mkdir("local"),
	}
	return s
}

func (s *sbinEnv) pidFile(command string) string {
	return filepath.Join(s.pidDir, fmt.Sprintf("ember-%s-%s-1.pid", s.ident, command))
}

// script runs an sbin script to its end and returns its exit code and
// output.
func (c *cluster) script(s *sbinEnv, name string, args ...string) (int, string) {
	c.t.Helper()
	p := c.start(name, s.env, append([]string{"bash", filepath.Join(moduleRoot, "sbin", name)}, args...)...)
	code := p.exitCode(c.t)
	return code, p.output()
}

// TestSbinStartStopAll: sbin/start-all.sh starts a master and a worker
// (the workers file says localhost, reached without ssh);
// ember-daemon.sh status sees them; sbin/stop-all.sh stops both, removes
// the pid files, and leaves no process behind.
func TestSbinStartStopAll(t *testing.T) {
	c := newCluster(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the sbin scripts need bash")
	}
	s := c.sbinEnv()
	m := &master{uiURL: fmt.Sprintf("http://127.0.0.1:%d", s.masterUI), url: fmt.Sprintf("spark://127.0.0.1:%d", s.masterPort)}

	code, out := c.script(s, "start-all.sh")
	if code != 0 {
		t.Fatalf("start-all.sh exited %d:\n%s\n%s", code, out, daemonLogs(s))
	}
	// The daemons are not children of the test: wait on the master's UI.
	var st deploy.MasterStateResponse
	testutil.Eventually(t, waitLimit, "the master's /json to show 1 ALIVE worker", func() (bool, string) {
		var err error
		if st, err = m.state(); err != nil {
			return false, err.Error() + "\n" + daemonLogs(s)
		}
		return st.AliveWorkers == 1 && st.Status == deploy.StateAlive, st.Summary() + "\n" + daemonLogs(s)
	})
	if st.URL != m.url {
		t.Errorf("master url %q, want %q", st.URL, m.url)
	}
	if w := st.Workers[0]; w.Cores != 1 || w.Memory != 256 || w.WebUIAddress == "" || !strings.HasSuffix(w.WebUIAddress, ":"+strconv.Itoa(s.workerUI)) {
		t.Errorf("worker %+v: want 1 core, 256 MB, web UI on port %d (SPARK_WORKER_*)", w, s.workerUI)
	}
	var ws deploy.WorkerStateResponse
	if err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/json", s.workerUI), &ws); err != nil || ws.MasterURL != m.url {
		t.Errorf("worker /json: masterurl %q (%v), want %q", ws.MasterURL, err, m.url)
	}

	pids := map[string]int{}
	for _, cmd := range []string{"master", "worker"} {
		b, err := os.ReadFile(s.pidFile(cmd))
		if err != nil {
			t.Fatalf("%s pid file: %v\n%s", cmd, err, daemonLogs(s))
		}
		pids[cmd] = atoi(t, strings.TrimSpace(string(b)))
		if args := cmdline(pids[cmd]); len(args) < 2 || args[0] != emberBin || args[1] != cmd {
			t.Errorf("pid %d of %s's pid file runs %q, want %s %s", pids[cmd], cmd, args, emberBin, cmd)
		}
		if code, out := c.script(s, "ember-daemon.sh", "status", cmd, "1"); code != 0 || !strings.Contains(out, "is running") {
			t.Errorf("ember-daemon.sh status %s: exit %d, %q; want 0, running", cmd, code, out)
		}
	}
	for _, f := range []string{"master", "worker"} {
		log := filepath.Join(s.logDir, fmt.Sprintf("ember-%s-%s-1-%s.out", s.ident, f, hostname(t)))
		if _, err := os.Stat(log); err != nil {
			t.Errorf("no %s log: %v", f, err)
		}
	}
	// A second start refuses while the daemon runs.
	if code, out := c.script(s, "start-master.sh"); code == 0 || !strings.Contains(out, "Stop it first") {
		t.Errorf("start-master.sh while the master runs: exit %d, %q; want a refusal", code, out)
	}

	code, out = c.script(s, "stop-all.sh")
	if code != 0 {
		t.Errorf("stop-all.sh exited %d:\n%s", code, out)
	}
	for cmd, pid := range pids {
		if _, err := os.Stat(s.pidFile(cmd)); !os.IsNotExist(err) {
			t.Errorf("%s pid file still there after stop-all.sh (%v)", cmd, err)
		}
		testutil.Eventually(t, waitLimit, fmt.Sprintf("the %s (pid %d) to be gone", cmd, pid), func() (bool, string) {
			return testutil.ProcessGone(pid), fmt.Sprint(cmdline(pid))
		})
		if code, out := c.script(s, "ember-daemon.sh", "status", cmd, "1"); code != 2 {
			t.Errorf("ember-daemon.sh status %s after stop-all.sh: exit %d, %q; want 2 (not running)", cmd, code, out)
		}
	}
	if ps := testutil.ProcessesWithEnv(c.marker); len(ps) != 0 {
		t.Errorf("processes left after stop-all.sh: %v", ps)
	}
	for _, p := range []int{s.masterPort, s.masterUI, s.workerUI} {
		if !testutil.PortFree(p) {
			t.Errorf("port %d still in use after stop-all.sh", p)
		}
	}
	logs := daemonLogs(s)
	if !strings.Contains(logs, "master shutting down") || !strings.Contains(logs, "worker shutting down") {
		t.Errorf("the daemons did not shut down cleanly on SIGTERM:\n%s", logs)
	}
	if !strings.Contains(logs, "No Spark distribution for JVM applications") || !strings.Contains(logs, "spark.worker.ember.sparkHome") {
		t.Errorf("the worker, without SPARK_HOME, did not say it cannot run JVM applications:\n%s", logs)
	}
}

func hostname(t *testing.T) string {
	out, err := exec.Command("hostname").Output()
	if err != nil {
		t.Fatalf("hostname: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// daemonLogs returns the daemons' logs, for failure messages.
func daemonLogs(s *sbinEnv) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(s.logDir, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "---- %s:\n%s\n", filepath.Base(f), tail(string(data), 3000))
	}
	return b.String()
}
