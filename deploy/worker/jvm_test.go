package worker

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/webui"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
)

// jvmWorker is a worker registered with a fake master, whose Spark home is
// the real Spark's, and whose Worker ref the test uses as the master would.
type jvmWorker struct {
	w       *Worker
	f       *fakeMaster
	ref     *rpcenv.Ref
	home    string
	classes string
}

func startJVMWorker(t *testing.T) *jvmWorker {
	t.Helper()
	home, _ := testutil.RequireSpark(t)
	classes := testutil.CompileJava(t, home, "testdata/jvm")
	f := &fakeMaster{}
	f.answer = func(r deploy.RegisterWorker) any {
		return deploy.RegisteredWorker{Master: f.self, MasterAddress: r.MasterAddress}
	}
	startFakeMaster(t, f)
	w := startWorker(t, workerSpec{masters: []string{f.url()}, cores: 4, memory: 4096,
		conf:   []string{KeyExecutorKillGrace, "20s"},
		mutate: func(o *Options) { o.SparkHome = home }})
	waitFor(t, "Registered()", w.Registered)
	var ref *rpcenv.Ref
	for _, m := range f.d.messages() {
		if r, ok := m.(deploy.RegisterWorker); ok {
			ref = r.Worker
		}
	}
	return &jvmWorker{w: w, f: f, ref: ref, home: home, classes: classes}
}

// launch sends LaunchExecutor as the active master.
func (j *jvmWorker) launch(t *testing.T, appID string, execID, memMB int, cmd deploy.Command) {
	t.Helper()
	desc := deploy.ApplicationDescription{Name: "jvm-app", MemoryPerExecutorMB: memMB, User: "tester", Command: cmd}
	if err := j.ref.Send(deploy.LaunchExecutor{MasterURL: j.f.url(), AppID: appID, ExecID: execID, AppDesc: desc,
		Cores: 1, MemoryMB: memMB}); err != nil {
		t.Fatal(err)
	}
}

// state waits for the master to be told executor execID reached st.
func (j *jvmWorker) state(t *testing.T, execID int, st deploy.ExecutorState) deploy.ExecutorStateChanged {
	t.Helper()
	var out deploy.ExecutorStateChanged
	waitFor(t, fmt.Sprintf("executor %d %s at the master", execID, st), func() bool {
		for _, m := range j.f.d.messages() {
			if s, ok := m.(deploy.ExecutorStateChanged); ok && s.ExecID == execID && s.State == st {
				out = s
				return true
			}
		}
		return false
	})
	return out
}

// expectedJava is the java the worker must pick: $JAVA_HOME/bin/java, else
// java from PATH.
func expectedJava(t *testing.T) string {
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		return filepath.Join(jh, "bin", "java")
	}
	p, err := exec.LookPath("java")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A JVM executor through the worker's whole launch path (LaunchExecutor →
// Core → runner → command building → process): the exact command line in
// stderr's header, what the JVM saw (classpath with Spark's jars, env,
// arguments, heap limit, cwd, javaOpts with placeholders, no secret), the
// exit code, and the web UI's log pages.
func TestJVMExecutorLaunch(t *testing.T) {
	t.Parallel()
	j := startJVMWorker(t)
	opts := append([]string{"-Dprobe.opt={{APP_ID}}/{{EXECUTOR_ID}}", "-Dspark.authenticate.secret=leak"}, testutil.SparkJavaOptions...)
	cmd := deploy.Command{MainClass: "ember.probe.Probe",
		Arguments:        []string{"exit", "3", "{{EXECUTOR_ID}}", "{{APP_ID}}", "{{WORKER_URL}}", "{{CORES}}", "{{HOSTNAME}}", "{{RESOURCE_PROFILE_ID}}"},
		Environment:      map[string]string{"SPARK_USER": "alice"},
		ClassPathEntries: []string{j.classes},
		JavaOpts:         opts}
	j.launch(t, "app-jvm", 0, 300, cmd)
	j.state(t, 0, deploy.ExecutorRunning)
	ex := j.state(t, 0, deploy.ExecutorExited)
	if ex.ExitStatus == nil || *ex.ExitStatus != 3 || ex.Message == nil || *ex.Message != "Command exited with code 3" {
		t.Fatalf("EXITED %+v", ex)
	}

	dir := executorDir(j.w, "app-jvm", 0)
	out := output(t, filepath.Join(dir, "stdout"))
	workerURL := fmt.Sprintf("spark://Worker@127.0.0.1:%d", j.w.Address().Port)

	// The command line, exactly.
	cp := []string{j.classes + "/"}
	if fi, err := os.Stat(filepath.Join(j.home, "conf")); err == nil && fi.IsDir() {
		cp = append(cp, filepath.Join(j.home, "conf")+"/")
	} else {
		cp = append(cp, filepath.Join(j.home, "conf"))
	}
	slf4j, _ := filepath.Glob(filepath.Join(j.home, "jars", "slf4j-api-*"))
	cp = append(cp, slf4j...)
	cp = append(cp, filepath.Join(j.home, "jars", "*"))
	for _, k := range []string{"HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_DIST_CLASSPATH"} {
		if v := os.Getenv(k); v != "" {
			cp = append(cp, v) // (not set where this test runs; kept for honesty)
		}
	}
	argv := []string{expectedJava(t), "-cp", strings.Join(cp, ":"), "-Xmx300M", "-Dprobe.opt=app-jvm/0"}
	argv = append(argv, testutil.SparkJavaOptions...)
	argv = append(argv, "ember.probe.Probe", "exit", "3", "0", "app-jvm", workerURL, "1", "127.0.0.1", "0")
	header := `Spark Executor Command: "` + strings.Join(argv, `" "`) + `"` + "\n" + strings.Repeat("=", 40) + "\n\n"
	b, err := os.ReadFile(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	stderr := string(b)
	if !strings.HasPrefix(stderr, header) {
		t.Errorf("stderr starts\n%q\nwant\n%q", stderr[:min(len(stderr), len(header)+200)], header)
	}
	if !strings.Contains(stderr, "probe stderr line\n") {
		t.Errorf("the JVM's stderr is not in the file:\n%s", stderr)
	}
	if strings.Contains(stderr, "leak") {
		t.Error("the auth secret reached the command line")
	}

	// What the JVM saw.
	seen := strings.Split(out["classpath"], ":")
	if len(seen) < 4 || seen[0] != j.classes+"/" || seen[1] != cp[1] || (len(slf4j) > 0 && seen[2] != slf4j[0]) {
		t.Errorf("the JVM's classpath starts %q", seen[:min(len(seen), 4)])
	}
	jars, _ := filepath.Glob(filepath.Join(j.home, "jars", "*.jar"))
	have := map[string]bool{}
	for _, e := range seen {
		have[e] = true
	}
	for _, jar := range jars {
		if !have[jar] {
			t.Errorf("the JVM's classpath lacks %s", jar)
			break
		}
	}
	localDirs := out["env.SPARK_EXECUTOR_DIRS"]
	if fi, err := os.Stat(localDirs); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || !strings.Contains(localDirs, "executor-") {
		t.Errorf("SPARK_EXECUTOR_DIRS=%q: %v %v", localDirs, fi, err)
	}
	cwd, _ := filepath.EvalSymlinks(dir)
	for k, want := range map[string]string{
		"env.SPARK_HOME":                 j.home,
		"env.SPARK_LAUNCH_WITH_SCALA":    "0",
		"env.SPARK_LOG_URL_STDOUT":       "http://127.0.0.1:8081/logPage/?appId=app-jvm&executorId=0&logType=stdout",
		"env.SPARK_LOG_URL_STDERR":       "http://127.0.0.1:8081/logPage/?appId=app-jvm&executorId=0&logType=stderr",
		"env.SPARK_USER":                 "alice",
		"env._SPARK_AUTH_SECRET":         "<unset>",
		"env.SPARK_EXECUTOR_CORES":       "<unset>",
		"args":                           "exit|3|0|app-jvm|" + workerURL + "|1|127.0.0.1|0",
		"cwd":                            cwd,
		"prop.probe.opt":                 "app-jvm/0",
		"prop.spark.authenticate.secret": "null",
		"sparkOnClasspath":               "true",
	} {
		if out[k] != want {
			t.Errorf("%s = %q, want %q", k, out[k], want)
		}
	}
	if mb := atoi(t, out["maxMemoryMB"]); mb <= 0 || mb > 300 {
		t.Errorf("maxMemory %d MB with -Xmx300M", mb)
	}

	// The web UI lists it, and its log links serve the files.
	srv := httptest.NewServer(webui.NewWorkerHandler(j.w, webui.Options{}))
	t.Cleanup(srv.Close)
	page := getPage(t, srv.URL+"/")
	link := regexp.MustCompile(`href="(logPage/\?appId=app-jvm&amp;executorId=0&amp;logType=(stdout|stderr))"`).FindAllStringSubmatch(page, -1)
	if len(link) != 2 {
		t.Fatalf("worker page has %d log links of the JVM executor, want 2", len(link))
	}
	for _, l := range link {
		body := getPage(t, srv.URL+"/"+html.UnescapeString(l[1]))
		want := "sparkOnClasspath=true"
		if l[2] == "stderr" {
			want = "Spark Executor Command: " + html.EscapeString(`"`+expectedJava(t)+`"`)
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s page lacks %q", l[2], want)
		}
	}
}

func getPage(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// KillExecutor stops a JVM executor: SIGTERM, which the JVM obeys with
// exit code 143, reported KILLED.
func TestJVMExecutorKill(t *testing.T) {
	t.Parallel()
	j := startJVMWorker(t)
	j.launch(t, "app-kill", 0, 128, deploy.Command{MainClass: "ember.probe.Probe", Arguments: []string{"hang"},
		ClassPathEntries: []string{j.classes}})
	j.state(t, 0, deploy.ExecutorRunning)
	pid := atoi(t, output(t, filepath.Join(executorDir(j.w, "app-kill", 0), "stdout"))["pid"])
	t.Cleanup(func() {
		if !processGone(pid) {
			_ = exec.Command("kill", "-9", fmt.Sprint(pid)).Run()
		}
	})
	if err := j.ref.Send(deploy.KillExecutor{MasterURL: j.f.url(), AppID: "app-kill", ExecID: 0}); err != nil {
		t.Fatal(err)
	}
	k := j.state(t, 0, deploy.ExecutorKilled)
	if k.ExitStatus == nil || *k.ExitStatus != 143 {
		t.Fatalf("KILLED %+v, want exit status 143", k)
	}
	waitGone(t, pid)
	if st := workerState(t, j.w); len(st.Executors) != 0 || st.CoresUsed != 0 || st.MemoryUsed != 0 {
		t.Fatalf("worker still holds the executor: %+v", st)
	}
}

// Spark's own CoarseGrainedExecutorBackend, launched as a Spark driver's
// Command names it, refuses bad arguments with its usage and exit code 1.
func TestJVMRealExecutorBackendBadArgs(t *testing.T) {
	t.Parallel()
	j := startJVMWorker(t)
	j.launch(t, "app-real", 0, 256, deploy.Command{MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend",
		Arguments: []string{"--bogus", "--executor-id", "{{EXECUTOR_ID}}"}, JavaOpts: testutil.SparkJavaOptions})
	ex := j.state(t, 0, deploy.ExecutorExited)
	if ex.ExitStatus == nil || *ex.ExitStatus != 1 {
		t.Fatalf("EXITED %+v, want exit status 1", ex)
	}
	b, err := os.ReadFile(filepath.Join(executorDir(j.w, "app-real", 0), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Spark Executor Command: ", "Unrecognized options: --bogus --executor-id 0",
		"Usage: org.apache.spark.executor.CoarseGrainedExecutorBackend [options]", "--worker-url <workerUrl>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stderr lacks %q:\n%s", want, b)
		}
	}
}

// A cluster-mode driver JVM (the probe standing in for DriverWrapper): the
// user jar copied into the driver dir and passed as {{USER_JAR}}, the
// worker URL, the driver's memory, FINISHED on exit 0, and the UI's links.
func TestJVMDriverLaunch(t *testing.T) {
	t.Parallel()
	j := startJVMWorker(t)
	jar := filepath.Join(t.TempDir(), "user-app.jar")
	if err := os.WriteFile(jar, []byte("not really a jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	desc := deploy.DriverDescription{JarURL: "file://" + jar, MemoryMB: 200, Cores: 1, Command: deploy.Command{
		MainClass: "ember.probe.Probe", Arguments: []string{"exit", "0", "{{WORKER_URL}}", "{{USER_JAR}}"},
		ClassPathEntries: []string{j.classes}, JavaOpts: []string{"-Dprobe.opt=driver"}}}
	if err := j.ref.Send(deploy.LaunchDriver{DriverID: "driver-jvm-1", Desc: desc}); err != nil {
		t.Fatal(err)
	}
	var final deploy.DriverStateChanged
	waitFor(t, "DriverStateChanged at the master", func() bool {
		for _, m := range j.f.d.messages() {
			if s, ok := m.(deploy.DriverStateChanged); ok && s.DriverID == "driver-jvm-1" {
				final = s
				return true
			}
		}
		return false
	})
	if final.State != deploy.DriverFinished || final.Exception != nil {
		t.Fatalf("driver ended %+v", final)
	}
	dir := filepath.Join(j.w.WorkDir(), "driver-jvm-1")
	out := output(t, filepath.Join(dir, "stdout"))
	workerURL := fmt.Sprintf("spark://Worker@127.0.0.1:%d", j.w.Address().Port)
	if want := "exit|0|" + workerURL + "|" + filepath.Join(dir, "user-app.jar"); out["args"] != want {
		t.Errorf("args %q, want %q", out["args"], want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "user-app.jar")); err != nil || string(b) != "not really a jar" {
		t.Errorf("user jar in the driver dir: %q %v", b, err)
	}
	if out["env.SPARK_HOME"] != j.home || out["prop.probe.opt"] != "driver" || out["sparkOnClasspath"] != "true" ||
		out["env.SPARK_EXECUTOR_DIRS"] != "<unset>" {
		t.Errorf("driver saw %v", out)
	}
	if mb := atoi(t, out["maxMemoryMB"]); mb <= 0 || mb > 200 {
		t.Errorf("maxMemory %d MB with -Xmx200M", mb)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if !strings.HasPrefix(string(b), `Launch Command: "`+expectedJava(t)+`" "-cp" "`+j.classes+"/:") ||
		!strings.Contains(string(b), `"-Xmx200M" "-Dprobe.opt=driver" "ember.probe.Probe"`) {
		t.Errorf("driver stderr:\n%s", b)
	}
	srv := httptest.NewServer(webui.NewWorkerHandler(j.w, webui.Options{}))
	t.Cleanup(srv.Close)
	if page := getPage(t, srv.URL+"/"); !strings.Contains(page, `href="logPage/?driverId=driver-jvm-1&amp;logType=stdout"`) {
		t.Errorf("worker page lacks the driver's stdout link")
	}
	if body := getPage(t, srv.URL+"/logPage/?driverId=driver-jvm-1&logType=stdout"); !strings.Contains(body, "sparkOnClasspath=true") {
		t.Errorf("driver stdout page lacks the probe's output")
	}
}
