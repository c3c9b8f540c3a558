package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// WorkerSuite "SPARK-45867: Support / Prevent invalid worker id patterns".
func TestFormatWorkerID(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := []struct{ pattern, want string }{
		{"worker-%s-%s-%d", "worker-20260102030405-host-7078"},
		{"my-worker-%2$s", "my-worker-host"},
		{"w-%[3]d", "w-7078"},
		{"worker-%s", "worker-20260102030405"}, // unused arguments are ignored, as in Java
	}
	for _, c := range good {
		got, err := formatWorkerID(c.pattern, now, "host", 7078)
		if err != nil || got != c.want {
			t.Errorf("formatWorkerID(%q) = %q, %v; want %q", c.pattern, got, err, c.want)
		}
	}
	for _, p := range []string{"worker %s-%s-%d", "worker-%d-%s-%d", "worker-%s-%s-%s-%s", ""} {
		if got, err := formatWorkerID(p, now, "host", 7078); err == nil {
			t.Errorf("formatWorkerID(%q) = %q, want an error", p, got)
		}
	}
	_, err := formatWorkerID("my worker %s", now, "host", 1)
	if err == nil || !strings.Contains(err.Error(), "Whitespace is not allowed") {
		t.Errorf("whitespace pattern: %v", err)
	}
}

// WorkerSuite "test clearing of finishedExecutors / finishedDrivers".
func TestTrimFinished(t *testing.T) {
	var list []int
	for i := 0; i < 30; i++ {
		list = trimFinished(append(list, i), 20)
		if len(list) > 20 {
			t.Fatalf("len %d > 20 after %d", len(list), i)
		}
	}
	// 21 entries → drop max(21/10,1) = 2 oldest, and so on.
	if list[len(list)-1] != 29 {
		t.Fatalf("newest dropped: %v", list)
	}
	for i := 1; i < len(list); i++ {
		if list[i] != list[i-1]+1 {
			t.Fatalf("not the newest in order: %v", list)
		}
	}
	got := trimFinished([]int{1, 2, 3}, 2)
	if len(got) != 2 || got[0] != 2 {
		t.Fatalf("trim 3 to 2 = %v", got)
	}
	if got := trimFinished([]int{1, 2}, 2); len(got) != 2 {
		t.Fatalf("no trim at the limit: %v", got)
	}
	if got := trimFinished([]int{1}, 0); len(got) != 0 {
		t.Fatalf("retained 0: %v", got)
	}
}

func TestRedactionAndHeader(t *testing.T) {
	re := regexp.MustCompile(defaultRedactionPattern)
	argv := []string{"/bin/x", "-Dspark.ssl.keyPassword=pw", "-Dspark.app.name=a", "-Dfoo=mytoken", "arg"}
	h := commandHeader("Spark Executor Command", re, argv)
	want := `Spark Executor Command: "/bin/x" "-Dspark.ssl.keyPassword=*********(redacted)" "-Dspark.app.name=a" ` +
		`"-Dfoo=*********(redacted)" "arg"` + "\n" + strings.Repeat("=", 40) + "\n\n"
	if h != want {
		t.Fatalf("header:\n%q\nwant\n%q", h, want)
	}
	opts := filterJavaOpts([]string{"-Dspark.authenticate.secret=s", "-Dspark.authenticate.secret.file=f", "-Dx={{APP_ID}}"},
		func(s string) string { return strings.ReplaceAll(s, "{{APP_ID}}", "app-1") })
	if len(opts) != 1 || opts[0] != "-Dx=app-1" {
		t.Fatalf("filterJavaOpts = %v", opts)
	}
	cs := commandString(deploy.Command{MainClass: "prog", Arguments: []string{"a", "b"},
		Environment: map[string]string{"B": "2", "A": "1", "MY_SECRET": "x"}, JavaOpts: []string{"-Dp.password=y"}}, re)
	wantCS := "Command(prog,List(a, b),Map(A -> 1, B -> 2, MY_SECRET -> *********(redacted)),List(),List(),List(-Dp.password=*********(redacted)))"
	if cs != wantCS {
		t.Fatalf("commandString = %s\nwant %s", cs, wantCS)
	}
}

func TestConfigValidation(t *testing.T) {
	base := func() Options {
		return Options{Host: "127.0.0.1", WorkDir: t.TempDir(), MasterURLs: []string{"spark://127.0.0.1:7077"}}
	}
	cases := []struct {
		name string
		opts func() Options
		conf []string
		want string
	}{
		{"initial > max retries", base, []string{"spark.worker.initialRegistrationRetries", "7", "spark.worker.maxRegistrationRetries", "6"}, "initialRegistrationRetries"},
		{"no master", func() Options { o := base(); o.MasterURLs = nil; return o }, nil, "no master"},
		{"bad master", func() Options { o := base(); o.MasterURLs = []string{"http://x:1"}; return o }, nil, "invalid master URL"},
		{"bad id pattern", base, []string{"spark.worker.idPattern", "worker %s"}, "Whitespace"},
		{"bad scale", base, []string{KeyRegistrationIntervalScale, "-1"}, KeyRegistrationIntervalScale},
		{"bad timeout", base, []string{"spark.worker.timeout", "abc"}, "spark.worker.timeout"},
		{"negative cores", func() Options { o := base(); o.Cores = -1; return o }, nil, "cores"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts()
			o.Conf = testConf(c.conf...)
			o.Logger = testLogger()
			w, err := Start(o)
			if err == nil {
				w.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	// Defaults.
	c, err := newConfig(Options{MasterURLs: []string{"spark://h:1"}, WorkDir: t.TempDir()}, testConf())
	if err != nil {
		t.Fatal(err)
	}
	if c.cores < 1 || c.memoryMB < 1024 || c.uiPort != deploy.DefaultWorkerUIPort || c.instance != 1 ||
		c.heartbeatInterval() != 15*time.Second || c.initialRetries != 6 || c.maxRetries != 16 ||
		c.executorKillGrace != 10*time.Second || !c.cleanupEnabled || c.cleanupInterval != 1800*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestCleanWorkDir(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(rel string, mtime time.Time) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mk("app-old/0/stdout", old)
	mk("app-running/0/stdout", old)
	mk("app-deep/0/sub/new", time.Now())
	for _, d := range []string{"app-old/0", "app-running/0", "app-deep/0", "app-deep/0/sub"} {
		if err := os.Chtimes(filepath.Join(dir, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	mk("a-file", old)
	removed, err := cleanWorkDir(dir, map[string]bool{"app-running": true}, time.Now().Add(-time.Hour), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "app-old" {
		t.Fatalf("removed %v", removed)
	}
	for _, keep := range []string{"app-running", "app-deep", "a-file"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
}

func TestWorkerResourcesFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "res.json")
	body := `[{"id":{"componentName":"spark.worker","resourceName":"gpu"},"addresses":["0","1"]},` +
		`{"id":{"componentName":"spark.executor","resourceName":"gpu"},"addresses":["9"]},` +
		`{"id":{"componentName":"spark.worker","resourceName":"fpga"},"addresses":["f0"]}]`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := workerResources(testConf("spark.worker.resourcesFile", file, "spark.worker.resource.gpu.amount", "2"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]deploy.ResourceInformation{"gpu": {Name: "gpu", Addresses: []string{"0", "1"}},
		"fpga": {Name: "fpga", Addresses: []string{"f0"}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("resources %+v, want %+v", res, want)
	}
	_, err = workerResources(testConf("spark.worker.resourcesFile", file, "spark.worker.resource.gpu.amount", "3"))
	if err == nil || !strings.Contains(err.Error(), "spark.worker.resource.gpu.amount=3 but spark.worker.resourcesFile lists 2 gpu address(es)") {
		t.Errorf("unmet amount: %v", err)
	}
	if _, err := workerResources(testConf("spark.worker.resource.gpu.amount", "1")); err == nil {
		t.Error("a resource without a file: no error")
	}
	if res, err := workerResources(testConf()); err != nil || res != nil {
		t.Errorf("no resources: %v %v", res, err)
	}
	if err := os.WriteFile(file, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := workerResources(testConf("spark.worker.resourcesFile", file)); err == nil {
		t.Error("a bad file: no error")
	}
}

func FuzzParseResourcesFile(f *testing.F) {
	f.Add([]byte(`[{"id":{"componentName":"spark.worker","resourceName":"gpu"},"addresses":["0","1"]}]`))
	f.Add([]byte(`[{"id":{"componentName":"spark.executor","resourceName":"gpu"},"addresses":[]}]`))
	f.Add([]byte(`[{"id":null}]`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseResourcesFile(b, "spark.worker")
		if err != nil {
			return
		}
		// What is kept is written back and read again unchanged.
		back, err := writeResourcesFile("spark.worker", res, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if back == "" {
			if len(res) != 0 {
				t.Fatalf("nothing written for %v", res)
			}
			return
		}
		data, err := os.ReadFile(back)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseResourcesFile(data, "spark.worker")
		if err != nil || len(again) != len(res) {
			t.Fatalf("%q → %v → %s → %v, %v", b, res, data, again, err)
		}
		for k, v := range res {
			if fmt.Sprint(again[k].Addresses) != fmt.Sprint(v.Addresses) {
				t.Fatalf("%s: %v → %v", k, v.Addresses, again[k].Addresses)
			}
		}
	})
}

// TestSparkHomeOrder: the Spark home of JVM children is Options.SparkHome,
// else spark.worker.ember.sparkHome, else $SPARK_HOME, else the current
// directory; each is made absolute and its source recorded, and
// hasSparkJars tells a Spark distribution from a directory without one.
func TestSparkHomeOrder(t *testing.T) {
	opts := Options{MasterURLs: []string{"spark://h:1"}, WorkDir: t.TempDir()}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, option, key, env string
		want, from             string
	}{
		{"option first", "/opt/a", "/opt/b", "/opt/c", "/opt/a", "the worker's options"},
		{"then the key", "", "/opt/b", "/opt/c", "/opt/b", KeySparkHome},
		{"then SPARK_HOME", "", "", "/opt/c", "/opt/c", "SPARK_HOME"},
		{"then the current directory", "", "", "", cwd, "the current directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SPARK_HOME", c.env)
			o := opts
			o.SparkHome = c.option
			var kv []string
			if c.key != "" {
				kv = []string{KeySparkHome, c.key}
			}
			cfg, err := newConfig(o, testConf(kv...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.sparkHome != c.want || !strings.HasPrefix(cfg.sparkHomeFrom, c.from) {
				t.Errorf("spark home %q from %q, want %q from %q", cfg.sparkHome, cfg.sparkHomeFrom, c.want, c.from)
			}
		})
	}
	home := t.TempDir()
	h := osHostEnv()
	if h.hasSparkJars(home) {
		t.Errorf("%s has no jars/, yet hasSparkJars", home)
	}
	if err := os.Mkdir(filepath.Join(home, "jars"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !h.hasSparkJars(home) {
		t.Errorf("%s has jars/, yet not hasSparkJars", home)
	}
}

// TestDefaultWorkDir: SPARK_WORKER_DIR, else $EMBER_HOME/work, else
// ./work; never under SPARK_HOME, which names Spark's distribution.
func TestDefaultWorkDir(t *testing.T) {
	t.Setenv("SPARK_HOME", "/opt/spark")
	t.Setenv("SPARK_WORKER_DIR", "")
	t.Setenv("EMBER_HOME", "")
	if got := defaultWorkDir(); got != "work" {
		t.Errorf("with only SPARK_HOME: %q, want work", got)
	}
	t.Setenv("EMBER_HOME", "/opt/ember")
	if got := defaultWorkDir(); got != "/opt/ember/work" {
		t.Errorf("with EMBER_HOME: %q, want /opt/ember/work", got)
	}
	t.Setenv("SPARK_WORKER_DIR", "/var/ember/work")
	if got := defaultWorkDir(); got != "/var/ember/work" {
		t.Errorf("with SPARK_WORKER_DIR: %q", got)
	}
}
