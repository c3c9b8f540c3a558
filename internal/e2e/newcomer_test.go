//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// installEmber lays out an Ember installation in dir as a user has it:
// bin/ember, sbin/ and the conf/ templates of the checkout.
func installEmber(t *testing.T, dir string) {
	t.Helper()
	copyTo := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(emberBin, filepath.Join(dir, "bin", "ember"), 0o755)
	for _, sub := range []string{"sbin", "conf"} {
		entries, err := os.ReadDir(filepath.Join(moduleRoot, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			// conf/: the templates only, not a developer's own files.
			if e.IsDir() || (sub == "conf" && !strings.HasSuffix(e.Name(), ".template")) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			copyTo(filepath.Join(moduleRoot, sub, e.Name()), filepath.Join(dir, sub, e.Name()), info.Mode().Perm())
		}
	}
}

// TestNewcomerStartAllSparkSubmit is the README's path for a Spark user:
// SPARK_HOME names the Spark distribution (exported, as every Spark user
// has it), Ember is installed elsewhere; the user copies the conf
// templates, puts ports in conf/ember-env.sh, runs Ember's
// sbin/start-all.sh, then Spark's own spark-submit of pi.py against the
// master, and sbin/stop-all.sh. Ember's scripts must run Ember's daemons
// (Spark's distribution has sbin scripts of its own), read Ember's conf,
// write logs and work files in Ember's installation and nothing in
// Spark's, and the worker must launch the executor JVM from SPARK_HOME.
func TestNewcomerStartAllSparkSubmit(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	if _, err := exec.LookPath("python3"); err != nil {
		skipOrFailSpark(t, "PySpark needs python3")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		skipOrFailSpark(t, "the sbin scripts need bash")
	}
	pi := filepath.Join(home, "examples", "src", "main", "python", "pi.py")
	if _, err := os.Stat(pi); err != nil {
		skipOrFailSpark(t, "no pi.py in this Spark: "+err.Error())
	}
	c := newCluster(t)
	ember := c.mkdir("ember-install")
	installEmber(t, ember)

	// The user's configuration: conf/workers and conf/ember-env.sh from
	// the templates, with free loopback ports.
	ports := testutil.FreePorts(t, 3)
	masterPort, uiPort, workerUI := ports[0], ports[1], ports[2]
	logDir, workDir, pidDir := filepath.Join(ember, "logs"), filepath.Join(ember, "work"), c.mkdir("pids")
	settings := fmt.Sprintf(`
SPARK_MASTER_HOST=127.0.0.1
SPARK_MASTER_PORT=%d
SPARK_MASTER_WEBUI_PORT=%d
SPARK_WORKER_WEBUI_PORT=%d
SPARK_LOCAL_IP=127.0.0.1
SPARK_WORKER_CORES=2
SPARK_WORKER_MEMORY=2g
SPARK_PID_DIR=%s
`, masterPort, uiPort, workerUI, pidDir)
	for f, extra := range map[string]string{"workers": "", "ember-env.sh": settings} {
		b, err := os.ReadFile(filepath.Join(ember, "conf", f+".template"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ember, "conf", f), append(b, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	masterURL := fmt.Sprintf("spark://127.0.0.1:%d", masterPort)
	m := &master{uiURL: fmt.Sprintf("http://127.0.0.1:%d", uiPort), url: masterURL}
	logs := func() string { return daemonLogs(&sbinEnv{logDir: logDir}) }

	// The newcomer's shell: SPARK_HOME is Spark's distribution.
	userEnv := []string{"SPARK_HOME=" + home}
	run := func(script string) (int, string) {
		t.Helper()
		p := c.start(script, userEnv, "bash", filepath.Join(ember, "sbin", script))
		return p.exitCode(t), p.output()
	}

	if code, out := run("start-all.sh"); code != 0 {
		t.Fatalf("start-all.sh exited %d:\n%s\n%s", code, out, logs())
	}
	testutil.Eventually(t, waitLimit, "the master's /json to show 1 ALIVE worker", func() (bool, string) {
		st, err := m.state()
		if err != nil {
			return false, err.Error() + "\n" + logs()
		}
		return st.AliveWorkers == 1 && st.Status == deploy.StateAlive, st.Summary() + "\n" + logs()
	})
	pids := map[string]int{}
	for _, cmd := range []string{"master", "worker"} {
		files, _ := filepath.Glob(filepath.Join(pidDir, "ember-*-"+cmd+"-1.pid"))
		if len(files) != 1 {
			t.Fatalf("%s pid files in %s: %v", cmd, pidDir, files)
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		pids[cmd] = atoi(t, strings.TrimSpace(string(b)))
		if args := cmdline(pids[cmd]); len(args) < 2 || args[0] != filepath.Join(ember, "bin", "ember") || args[1] != cmd {
			t.Errorf("the %s runs %q, want the installation's bin/ember %s", cmd, args, cmd)
		}
	}
	if l := logs(); !strings.Contains(l, "JVM executors and drivers will run from this Spark") || !strings.Contains(l, "sparkHome="+home) {
		t.Errorf("the worker did not say it runs JVM applications from %s:\n%s", home, l)
	}

	// Spark's own spark-submit, as the README has it (with the driver on
	// loopback and no driver UI: tests use loopback only).
	p := c.start("spark-submit-pi", append(userEnv, "PYSPARK_PYTHON=python3", "SPARK_LOCAL_IP=127.0.0.1"),
		filepath.Join(home, "bin", "spark-submit"), "--master", masterURL, "--conf", "spark.ui.enabled=false", pi, "10")
	if code := waitExit(t, p); code != 0 {
		t.Fatalf("spark-submit exited %d:\n%s\n%s", code, tail(p.output(), 8000), logs())
	}
	out := p.output()
	if !regexp.MustCompile(`Pi is roughly 3\.1`).MatchString(out) {
		t.Errorf("no pi in spark-submit's output:\n%s", tail(out, 4000))
	}
	var app deploy.ApplicationInfoJSON
	testutil.Eventually(t, waitLimit, "PythonPi FINISHED in the master's /json", func() (bool, string) {
		st, err := m.state()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range st.CompletedApps {
			if a.Name == "PythonPi" && a.State == deploy.AppFinished {
				app = a
				return true, ""
			}
		}
		return false, st.Summary()
	})
	// The executor ran in Ember's work dir, a JVM from Spark's jars;
	// nothing of the app went into Spark's distribution.
	stderr, err := os.ReadFile(filepath.Join(workDir, app.ID, "0", "stderr"))
	if err != nil {
		t.Fatalf("executor stderr in the installation's work dir: %v\n%s", err, logs())
	}
	if !strings.Contains(string(stderr), "CoarseGrainedExecutorBackend") || !strings.Contains(string(stderr), filepath.Join(home, "jars")) {
		t.Errorf("the executor is no JVM on %s/jars:\n%s", home, tail(string(stderr), 4000))
	}
	if _, err := os.Stat(filepath.Join(home, "work", app.ID)); !os.IsNotExist(err) {
		t.Errorf("the app's files went into Spark's distribution (%s/work/%s): %v", home, app.ID, err)
	}
	for name, l := range map[string]string{"spark-submit": out, "executor stderr": string(stderr), "daemons": logs()} {
		if m := sparkLogProblems.FindString(l); m != "" {
			t.Errorf("%s log has %s:\n%s", name, m, tail(l, 6000))
		}
	}

	if code, out := run("stop-all.sh"); code != 0 {
		t.Errorf("stop-all.sh exited %d:\n%s", code, out)
	}
	for cmd, pid := range pids {
		testutil.Eventually(t, waitLimit, fmt.Sprintf("the %s (pid %d) to be gone", cmd, pid), func() (bool, string) {
			return testutil.ProcessGone(pid), fmt.Sprint(cmdline(pid))
		})
	}
	if files, _ := filepath.Glob(filepath.Join(pidDir, "*.pid")); len(files) != 0 {
		t.Errorf("pid files left after stop-all.sh: %v", files)
	}
	for _, port := range []int{masterPort, uiPort, workerUI} {
		if !testutil.PortFree(port) {
			t.Errorf("port %d still in use after stop-all.sh", port)
		}
	}
	if l := logs(); !strings.Contains(l, "master shutting down") || !strings.Contains(l, "worker shutting down") {
		t.Errorf("the daemons did not shut down cleanly on SIGTERM:\n%s", l)
	}
}
