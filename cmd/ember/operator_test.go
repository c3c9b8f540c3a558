package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLoadConfPrecedence: the properties file, then the -Dspark.* options
// of the role's option variables (SPARK_DAEMON_JAVA_OPTS first, then the
// role's own, the later winning), then --conf.
func TestLoadConfPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "spark-defaults.conf")
	if err := os.WriteFile(file, []byte("spark.deploy.recoveryMode NONE\nspark.worker.timeout 60\nspark.a fromfile\nnot.spark x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SPARK_CONF_DIR":         dir,
		"SPARK_DAEMON_JAVA_OPTS": `-Xmx1g -Dspark.deploy.recoveryMode=ZOOKEEPER -Dspark.deploy.zookeeper.url="zk1:2181, zk2:2181" -Dspark.worker.timeout=30`,
		"SPARK_MASTER_OPTS":      `-Dspark.worker.timeout=45 '-Dspark.master.ui.title=My Master'`,
		"SPARK_WORKER_OPTS":      `-Dspark.worker.cleanup.enabled=true`,
	}
	getenv := func(k string) string { return env[k] }
	noExe := func() (string, error) { return "", errors.New("none") }
	for _, c := range []struct {
		role      string
		overrides []string
		want      map[string]string
	}{
		{"master", []string{"spark.a=fromflag"}, map[string]string{
			"spark.deploy.recoveryMode": "ZOOKEEPER", "spark.deploy.zookeeper.url": "zk1:2181, zk2:2181",
			"spark.worker.timeout": "45", "spark.master.ui.title": "My Master", "spark.a": "fromflag"}},
		{"worker", nil, map[string]string{
			"spark.deploy.recoveryMode": "ZOOKEEPER", "spark.deploy.zookeeper.url": "zk1:2181, zk2:2181",
			"spark.worker.timeout": "30", "spark.worker.cleanup.enabled": "true", "spark.a": "fromfile"}},
		{"submit", nil, map[string]string{ // no daemon options
			"spark.deploy.recoveryMode": "NONE", "spark.worker.timeout": "60", "spark.a": "fromfile"}},
	} {
		lc, err := loadConfEnv(c.role, "", c.overrides, getenv, noExe)
		if err != nil {
			t.Fatalf("%s: %v", c.role, err)
		}
		if got := lc.conf.All(); !reflect.DeepEqual(got, c.want) || lc.file != file {
			t.Errorf("%s: conf %v from %q, want %v from %q", c.role, got, lc.file, c.want, file)
		}
	}
	env["SPARK_WORKER_OPTS"] = `-Dspark.worker.timeout="30`
	if _, err := loadConfEnv("worker", "", nil, getenv, noExe); err == nil || !strings.Contains(err.Error(), "SPARK_WORKER_OPTS") {
		t.Fatalf("unbalanced quote: err %v, want one naming SPARK_WORKER_OPTS", err)
	}
}

// TestConfDirFromBinary: without SPARK_CONF_DIR the conf dir is ../conf
// from the binary, through symbolic links, even with SPARK_HOME set;
// $SPARK_HOME/conf only when the binary has no conf dir beside it.
func TestConfDirFromBinary(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{"bin", "conf", "elsewhere"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(home, "bin", "ember")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(home, "elsewhere", "ember")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	for _, exe := range []string{bin, link} {
		if got := confDir(none, func() (string, error) { return exe, nil }); got != filepath.Join(home, "conf") {
			t.Errorf("confDir for %s = %q, want %s/conf", exe, got, home)
		}
	}
	// SPARK_HOME is Spark's distribution: Ember's own conf dir wins over
	// its conf dir, which serves only a binary with no conf dir beside it.
	env := map[string]string{"SPARK_HOME": "/opt/spark"}
	if got := confDir(func(k string) string { return env[k] }, func() (string, error) { return bin, nil }); got != filepath.Join(home, "conf") {
		t.Errorf("with SPARK_HOME and a conf dir next to the binary: %q, want %s/conf", got, home)
	}
	lone := filepath.Join(t.TempDir(), "ember") // its parent's parent has no conf dir
	if err := os.WriteFile(lone, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := confDir(func(k string) string { return env[k] }, func() (string, error) { return lone, nil }); got != "/opt/spark/conf" {
		t.Errorf("with SPARK_HOME and no conf dir next to the binary: %q, want /opt/spark/conf", got)
	}
	env["SPARK_CONF_DIR"] = "/etc/ember"
	if got := confDir(func(k string) string { return env[k] }, func() (string, error) { return bin, nil }); got != "/etc/ember" {
		t.Errorf("with SPARK_CONF_DIR: %q", got)
	}
	if err := os.Remove(filepath.Join(home, "conf")); err != nil {
		t.Fatal(err)
	}
	if got := confDir(none, func() (string, error) { return bin, nil }); got != "" {
		t.Errorf("no conf dir next to the binary: %q", got)
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]string{"all": "DEBUG", "TRACE": "DEBUG", "debug": "DEBUG", "Info": "INFO",
		"WARN": "WARN", "error": "ERROR", "FATAL": "ERROR", "off": "OFF"} {
		l, err := parseLogLevel(in)
		if err != nil || levelName(l) != want {
			t.Errorf("parseLogLevel(%q) = %s, %v; want %s", in, levelName(l), err, want)
		}
	}
	if _, err := parseLogLevel("verbose"); err == nil {
		t.Error("parseLogLevel(verbose): no error")
	}
	d := &daemonLog{level: new(slog.LevelVar)}
	for _, c := range []struct {
		delta int
		want  string
	}{{-1, "DEBUG"}, {-1, "DEBUG"}, {1, "INFO"}, {1, "WARN"}, {1, "ERROR"}, {1, "OFF"}, {1, "OFF"}, {-1, "ERROR"}} {
		if got := levelName(d.step(c.delta)); got != c.want {
			t.Fatalf("step(%d) = %s, want %s", c.delta, got, c.want)
		}
	}
}

// opsBinary builds ember as <dir>/bin/ember, the layout of a distribution.
func opsBinary(t *testing.T) (home, bin string) {
	t.Helper()
	home = t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	return home, buildEmber(t, filepath.Join(home, "bin"))
}

// cleanEnv is the environment without the variables that would point the
// binary at another conf dir or options.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "SPARK_HOME", "EMBER_HOME", "SPARK_CONF_DIR", "SPARK_DAEMON_JAVA_OPTS", "SPARK_MASTER_OPTS", "SPARK_WORKER_OPTS",
			"SPARK_SHUFFLE_OPTS", "SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME", "SPARK_PUBLIC_DNS", "SPARK_MASTER_HOST",
			"SPARK_MASTER_PORT", "SPARK_MASTER_WEBUI_PORT", "SPARK_MASTER":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func runEnv(t *testing.T, env []string, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return 0, string(out)
}

// TestOperatorCommandLine runs a built ember laid out as bin/ember next to
// conf/: every command's --help exits 0; spark-defaults.conf is found
// from the binary's location; unknown keys are warned about once.
func TestOperatorCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs it")
	}
	home, bin := opsBinary(t)
	env := cleanEnv()

	t.Run("Help", func(t *testing.T) {
		for _, args := range [][]string{{"help"}, {"--help"}, {"selfcheck", "--help"}, {"shuffle-service", "--help"},
			{"master", "--help"}, {"worker", "--help"}, {"executor", "--help"}, {"example", "--help"},
			{"example", "pi", "--help"}, {"example", "sort", "--help"}, {"demo", "--help"}, {"demo", "-h"},
			{"submit", "--help"}, {"submit", "-h"}} {
			code, out := runEnv(t, env, bin, args...)
			if code != 0 || !strings.Contains(strings.ToLower(out), "usage") {
				t.Errorf("ember %v: exit %d, want 0 with a usage:\n%s", args, code, out)
			}
			if strings.Contains(out, "flag: help requested") {
				t.Errorf("ember %v printed flag's help error:\n%s", args, out)
			}
		}
		if code, _ := runEnv(t, env, bin, "demo", "--no-such-flag"); code == 0 {
			t.Error("a bad flag exits 0")
		}
	})

	t.Run("ConfNextToBinary", func(t *testing.T) {
		// Without a conf dir there is no master to talk to.
		if code, out := runEnv(t, env, bin, "submit", "--status", "driver-x"); code != 2 || !strings.Contains(out, "--master is required") {
			t.Fatalf("no conf: exit %d:\n%s", code, out)
		}
		if err := os.Mkdir(filepath.Join(home, "conf"), 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(home, "conf", "spark-defaults.conf")
		conf := "spark.master spark://127.0.0.1:1\nspark.worker.cleanup.enable true\nspark.executor.memory 2g\nspark.rpc.askTimeout 2s\n"
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runEnv(t, env, bin, "submit", "--verbose", "--conf", "spark.worker.cleanup.enable=false", "--status", "driver-x")
		if code != 1 || !strings.Contains(out, "using properties file "+file) || !strings.Contains(out, "spark://127.0.0.1:1") {
			t.Fatalf("conf next to the binary: exit %d:\n%s", code, out)
		}
		if n := strings.Count(out, "unknown configuration key spark.worker.cleanup.enable"); n != 1 {
			t.Fatalf("the unknown key was reported %d times, want once:\n%s", n, out)
		}
		if strings.Contains(out, "spark.executor.memory") {
			t.Fatalf("an application key was reported:\n%s", out)
		}
	})
}

// TestMasterEnvironment starts "ember master" with Spark's environment:
// SPARK_LOCAL_IP (the bind address, no --host given), SPARK_PUBLIC_DNS
// (the advertised UI URL), SPARK_MASTER_OPTS' -Dspark.log.level=WARN (so
// no INFO line), then SIGUSR1 (INFO again) and SIGUSR2.
func TestMasterEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs it")
	}
	_, bin := opsBinary(t)
	cmd := exec.Command(bin, "master", "--port", "0", "--webui-port", "0")
	cmd.Env = cleanEnv("SPARK_LOCAL_IP=127.0.0.1", "SPARK_PUBLIC_DNS=ember-public.invalid",
		`SPARK_MASTER_OPTS=-Dspark.log.level=WARN "-Dspark.master.ui.title=x y"`, "SPARK_DAEMON_JAVA_OPTS=-Dspark.deploy.recoverMode=NONE")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		pw.Close()
	})
	var mu sync.Mutex
	var errText strings.Builder
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			errText.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("master printed nothing")
	}
	first := sc.Text()
	m := regexp.MustCompile(`^Master at spark://127\.0\.0\.1:\d+, web UI at http://ember-public\.invalid:(\d+)$`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("master's first line %q: want spark://127.0.0.1 and the public UI host", first)
	}
	// The UI is bound to SPARK_LOCAL_IP.
	resp, err := http.Get("http://127.0.0.1:" + m[1] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitLine := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no %q on stderr:\n%s", want, errText.String())
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitLine("log level is now INFO")
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitLine("log level is now WARN")
	mu.Lock()
	text := errText.String()
	mu.Unlock()
	if strings.Contains(text, `msg="master started"`) {
		t.Errorf("an INFO line at level WARN (SPARK_MASTER_OPTS ignored?):\n%s", text)
	}
	if !strings.Contains(text, "unknown configuration key") || !strings.Contains(text, "spark.deploy.recoverMode") {
		t.Errorf("the misspelt key of SPARK_DAEMON_JAVA_OPTS was not reported:\n%s", text)
	}
}

// TestWorkerSparkHome: `ember worker` says at start which Spark its JVM
// executors and drivers will run from, and where that came from:
// --spark-home, else spark.worker.ember.sparkHome, else $SPARK_HOME;
// with none it warns that only Go programs can run.
func TestWorkerSparkHome(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs it")
	}
	_, bin := opsBinary(t)
	spark := t.TempDir()
	if err := os.Mkdir(filepath.Join(spark, "jars"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir() // a SPARK_HOME the flag and the key win over
	if err := os.Mkdir(filepath.Join(other, "jars"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"flag", []string{"--spark-home", spark}, []string{"SPARK_HOME=" + other},
			`msg="JVM executors and drivers will run from this Spark" .*sparkHome=` + spark + ` from="the worker's options"`},
		{"key", []string{"--conf", "spark.worker.ember.sparkHome=" + spark}, []string{"SPARK_HOME=" + other},
			`msg="JVM executors and drivers will run from this Spark" .*sparkHome=` + spark + ` from=spark.worker.ember.sparkHome`},
		{"SPARK_HOME", nil, []string{"SPARK_HOME=" + spark},
			`msg="JVM executors and drivers will run from this Spark" .*sparkHome=` + spark + ` from=SPARK_HOME`},
		{"none", nil, nil, `level=WARN msg="No Spark distribution for JVM applications.*spark.worker.ember.sparkHome`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"worker", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
				"--work-dir", t.TempDir(), "--conf", "spark.worker.cleanup.enabled=false"}, c.args...)
			cmd := exec.Command(bin, append(args, "spark://127.0.0.1:1")...)
			cmd.Env = cleanEnv(c.env...)
			cmd.Dir = t.TempDir() // no jars/ here: the "none" case's Spark home
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			re := regexp.MustCompile(c.want)
			found := make(chan bool, 1)
			var text strings.Builder
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					text.WriteString(sc.Text() + "\n")
					if re.MatchString(sc.Text()) {
						found <- true
						return
					}
				}
				found <- false
			}()
			select {
			case ok := <-found:
				if !ok {
					t.Fatalf("the worker exited without a line matching %q:\n%s", c.want, text.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no line matching %q within 30s (a bound, not a timing check)", c.want)
			}
		})
	}
}
