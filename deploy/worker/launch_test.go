package worker

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// fakeHost is a machine for command building: an environment, some
// directories and files.
func fakeHost(environ []string, dirs []string, files map[string]string) hostEnv {
	isDir := map[string]bool{}
	for _, d := range dirs {
		isDir[d] = true
	}
	return hostEnv{
		environ: environ,
		isDir:   func(p string) bool { return isDir[strings.TrimSuffix(p, "/")] },
		readFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
		listDir: func(p string) ([]string, error) {
			var names []string
			for f := range files {
				if filepath.Dir(f) == p {
					names = append(names, filepath.Base(f))
				}
			}
			return names, nil
		},
		lookPath: func(name string) (string, error) {
			if name == "java" {
				return "/usr/bin/java", nil
			}
			return "", errors.New("not found")
		},
	}
}

// javaModuleOptions is JavaModuleOptions.defaultModuleOptions() of Spark
// 4.1.4's launcher jar, which SparkContext puts in front of
// spark.executor.extraJavaOptions.
var javaModuleOptions = []string{"-XX:+IgnoreUnrecognizedVMOptions", "--add-modules=jdk.incubator.vector",
	"--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
	"--add-opens=java.base/java.net=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED", "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
	"--add-opens=java.base/sun.security.action=ALL-UNNAMED", "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
	"--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false",
	"-Dio.netty.tryReflectionSetAccessible=true", "-Dio.netty.allocator.type=pooled",
	"-Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE", "--enable-native-access=ALL-UNNAMED"}

// sparkExecutorCommand is the Command a Spark 4.1 driver's
// StandaloneSchedulerBackend sends (SPARK-APPS.md): CoarseGrainedExecutorBackend
// with placeholders, sc.executorEnvs, spark.executor.extraClassPath and
// extraLibraryPath, and the startup -D options then the extra java options.
func sparkExecutorCommand() deploy.Command {
	opts := []string{"-Dspark.driver.port=39555", "-Dspark.authenticate=true", "-Dspark.authenticate.secret=s3cr3t",
		"-Dspark.ssl.rpc.keyPassword=pw", "-Dspark.network.crypto.enabled=true"}
	opts = append(opts, javaModuleOptions...)
	opts = append(opts, "-Dlog.file=/logs/{{APP_ID}}-{{EXECUTOR_ID}}.log")
	return deploy.Command{MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend",
		Arguments: []string{"--driver-url", "spark://CoarseGrainedScheduler@10.0.0.9:39555", "--executor-id", "{{EXECUTOR_ID}}",
			"--hostname", "{{HOSTNAME}}", "--cores", "{{CORES}}", "--app-id", "{{APP_ID}}", "--worker-url", "{{WORKER_URL}}",
			"--resourceProfileId", "{{RESOURCE_PROFILE_ID}}"},
		Environment:        map[string]string{"SPARK_EXECUTOR_MEMORY": "1024m", "SPARK_USER": "alice"},
		ClassPathEntries:   []string{"/app/classes", "/app/lib/dep.jar"},
		LibraryPathEntries: []string{"/native"},
		JavaOpts:           opts}
}

// testLaunchWorker is a worker as far as command building goes.
func testLaunchWorker(h hostEnv) *Worker {
	return &Worker{host: "10.0.1.1", port: 4040, workerURI: "spark://Worker@10.0.1.1:4040",
		cfg: &config{publicAddr: "10.0.1.1", uiPort: 8081, sparkHome: "/opt/spark", sparkHomeFrom: "SPARK_HOME", authEnabled: true,
			authSecret: "workersecret", hostEnv: h}}
}

var workerEnviron = []string{"PATH=/usr/bin", "HOME=/home/w", "JAVA_HOME=/usr/lib/jvm/java-17", "_SPARK_AUTH_SECRET=inherited",
	"LD_LIBRARY_PATH=/worker/lib", "SPARK_DIST_CLASSPATH=/hadoop/share/*:/hadoop/etc", "SPARK_HOME=/elsewhere"}

func TestExecutorJVMCommand(t *testing.T) {
	h := fakeHost(workerEnviron, []string{"/opt/spark/jars", "/opt/spark/conf", "/app/classes", "/hadoop/etc"},
		map[string]string{
			"/opt/spark/conf/java-opts":             "-XX:+UseG1GC   -Dfoo=\"a b\"\n\n-Dbar='x y'\n",
			"/opt/spark/jars/slf4j-api-2.0.17.jar":  "",
			"/opt/spark/jars/spark-core_2.13.jar":   "",
			"/opt/spark/jars/zz-slf4j-api-fake.jar": "",
		})
	w := testLaunchWorker(h)
	spec := ExecutorSpec{AppID: "app-1", ExecID: 3, RPID: 0, Cores: 2, MemoryMB: 1024, Dir: "/work/app-1/3",
		LocalDirs: []string{"/l1/executor-u1", "/l2/executor-u2"},
		Desc:      deploy.ApplicationDescription{Name: "pi", Command: sparkExecutorCommand()}}
	argv, env, err := buildLaunch(w.executorLaunchSpec(spec, "/work/app-1/3/resource-spark.executor-1.json"), h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/lib/jvm/java-17/bin/java", "-XX:+UseG1GC", "-Dfoo=a b", "-Dbar=x y",
		"-cp", "/app/classes/:/app/lib/dep.jar:/opt/spark/conf/:/opt/spark/jars/slf4j-api-2.0.17.jar:/opt/spark/jars/*:/hadoop/share/*:/hadoop/etc/",
		"-Xmx1024M", "-Dspark.driver.port=39555", "-Dspark.authenticate=true", "-Dspark.network.crypto.enabled=true"}
	want = append(want, javaModuleOptions...)
	want = append(want, "-Dlog.file=/logs/app-1-3.log", "org.apache.spark.executor.CoarseGrainedExecutorBackend",
		"--driver-url", "spark://CoarseGrainedScheduler@10.0.0.9:39555", "--executor-id", "3", "--hostname", "10.0.1.1",
		"--cores", "2", "--app-id", "app-1", "--worker-url", "spark://Worker@10.0.1.1:4040", "--resourceProfileId", "0",
		"--resourcesFile", "/work/app-1/3/resource-spark.executor-1.json")
	if !reflect.DeepEqual(argv, want) {
		t.Errorf("argv\n%q\nwant\n%q", argv, want)
	}
	wantEnv := []string{"PATH=/usr/bin", "HOME=/home/w", "JAVA_HOME=/usr/lib/jvm/java-17",
		"LD_LIBRARY_PATH=/native:/worker/lib", "SPARK_DIST_CLASSPATH=/hadoop/share/*:/hadoop/etc", "SPARK_HOME=/opt/spark",
		"SPARK_EXECUTOR_MEMORY=1024m", "SPARK_USER=alice", "_SPARK_AUTH_SECRET=workersecret",
		"SPARK_EXECUTOR_DIRS=/l1/executor-u1:/l2/executor-u2", "SPARK_LAUNCH_WITH_SCALA=0",
		"SPARK_LOG_URL_STDERR=http://10.0.1.1:8081/logPage/?appId=app-1&executorId=3&logType=stderr",
		"SPARK_LOG_URL_STDOUT=http://10.0.1.1:8081/logPage/?appId=app-1&executorId=3&logType=stdout"}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("env\n%q\nwant\n%q", env, wantEnv)
	}
	for _, a := range argv {
		if strings.Contains(a, "s3cr3t") || strings.Contains(a, "keyPassword") {
			t.Errorf("a secret reached the command line: %q", a)
		}
	}
}

func TestExecutorLogURLsBehindReverseProxy(t *testing.T) {
	h := fakeHost(nil, []string{"/opt/spark/jars"}, nil)
	w := testLaunchWorker(h)
	w.id = "worker-20260101000000-10.0.1.1-4040"
	w.cfg.reverseProxyURL = "https://gateway.example/spark/proxy/"
	spec := ExecutorSpec{AppID: "app-1", ExecID: 2, MemoryMB: 1, Desc: deploy.ApplicationDescription{
		Command: deploy.Command{MainClass: "org.example.Main"}}}
	_, env, err := buildLaunch(w.executorLaunchSpec(spec, ""), h)
	if err != nil {
		t.Fatal(err)
	}
	want := "SPARK_LOG_URL_STDOUT=https://gateway.example/spark/proxy/worker-20260101000000-10.0.1.1-4040/logPage/?appId=app-1&executorId=2&logType=stdout"
	found := false
	for _, kv := range env {
		found = found || kv == want
	}
	if !found {
		t.Errorf("env %q lacks %q", env, want)
	}
}

func TestExecutorJVMCommandVariants(t *testing.T) {
	cmd := deploy.Command{MainClass: "org.example.Main", Arguments: []string{"{{APP_ID}}x"}}
	spec := ExecutorSpec{AppID: "app-2", ExecID: 0, Cores: 1, MemoryMB: 512, Dir: "/w", Desc: deploy.ApplicationDescription{Command: cmd}}
	t.Run("the Command's JAVA_HOME and SPARK_CONF_DIR win; no java-opts file", func(t *testing.T) {
		h := fakeHost(workerEnviron, []string{"/opt/spark/jars", "/etc/spark"}, map[string]string{"/opt/spark/conf/java-opts": "-Dignored=1"})
		s := spec
		s.Desc.Command.Environment = map[string]string{"JAVA_HOME": "/jdk21", "SPARK_CONF_DIR": "/etc/spark",
			"SPARK_DIST_CLASSPATH": ""}
		argv, _, err := buildLaunch(testLaunchWorker(h).executorLaunchSpec(s, ""), h)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/jdk21/bin/java", "-cp", "/etc/spark/:/opt/spark/jars/*:/hadoop/share/*:/hadoop/etc",
			"-Xmx512M", "org.example.Main", "{{APP_ID}}x"}
		if !reflect.DeepEqual(argv, want) {
			t.Errorf("argv %q\nwant %q", argv, want)
		}
	})
	t.Run("no JAVA_HOME: java from PATH", func(t *testing.T) {
		h := fakeHost([]string{"PATH=/usr/bin"}, []string{"/opt/spark/jars"}, nil)
		argv, env, err := buildLaunch(testLaunchWorker(h).executorLaunchSpec(spec, ""), h)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/usr/bin/java", "-cp", "/opt/spark/conf:/opt/spark/jars/*", "-Xmx512M", "org.example.Main", "{{APP_ID}}x"}
		if !reflect.DeepEqual(argv, want) {
			t.Errorf("argv %q\nwant %q", argv, want)
		}
		for _, kv := range env {
			if strings.HasPrefix(kv, "SPARK_EXECUTOR_CORES=") {
				t.Errorf("Ember's program-only variable in a JVM's env: %s", kv)
			}
		}
	})
	t.Run("no Spark jars: a clear error", func(t *testing.T) {
		h := fakeHost([]string{"JAVA_HOME=/jdk"}, nil, nil)
		_, _, err := buildLaunch(testLaunchWorker(h).executorLaunchSpec(spec, ""), h)
		if err == nil || !strings.Contains(err.Error(), "no Spark distribution") || !strings.Contains(err.Error(), "/opt/spark (from SPARK_HOME)") ||
			!strings.Contains(err.Error(), "SPARK_HOME") || !strings.Contains(err.Error(), KeySparkHome) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a bad java-opts line: a clear error", func(t *testing.T) {
		h := fakeHost([]string{"JAVA_HOME=/jdk"}, []string{"/opt/spark/jars"}, map[string]string{"/opt/spark/conf/java-opts": `-Dx="open`})
		_, _, err := buildLaunch(testLaunchWorker(h).executorLaunchSpec(spec, ""), h)
		if err == nil || !strings.Contains(err.Error(), "java-opts") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestExecutorProgramCommand(t *testing.T) {
	// Ember's Go executors: a program path, no JVM, plus Ember's two
	// variables; the Command's environment still wins over the worker's.
	h := fakeHost(workerEnviron, nil, nil)
	cmd := sparkExecutorCommand()
	cmd.MainClass = "/opt/ember/bin/ember-executor"
	cmd.Environment = map[string]string{"SPARK_USER": "bob", "HOME": "/home/bob"}
	cmd.LibraryPathEntries = nil
	spec := ExecutorSpec{AppID: "app-1", ExecID: 0, Cores: 4, MemoryMB: 256, Dir: "/w", LocalDirs: []string{"/l"},
		Desc: deploy.ApplicationDescription{Command: cmd}}
	argv, env, err := buildLaunch(testLaunchWorker(h).executorLaunchSpec(spec, ""), h)
	if err != nil {
		t.Fatal(err)
	}
	if argv[0] != "/opt/ember/bin/ember-executor" || argv[1] != "-Dspark.driver.port=39555" ||
		argv[len(argv)-1] != "0" || argv[len(argv)-2] != "--resourceProfileId" {
		t.Errorf("argv %q", argv)
	}
	wantEnv := []string{"PATH=/usr/bin", "HOME=/home/bob", "JAVA_HOME=/usr/lib/jvm/java-17", "LD_LIBRARY_PATH=/worker/lib",
		"SPARK_DIST_CLASSPATH=/hadoop/share/*:/hadoop/etc", "SPARK_HOME=/elsewhere", "SPARK_USER=bob",
		"_SPARK_AUTH_SECRET=workersecret", "SPARK_EXECUTOR_MEMORY=256m", "SPARK_EXECUTOR_CORES=4",
		"SPARK_EXECUTOR_DIRS=/l", "SPARK_LAUNCH_WITH_SCALA=0",
		"SPARK_LOG_URL_STDERR=http://10.0.1.1:8081/logPage/?appId=app-1&executorId=0&logType=stderr",
		"SPARK_LOG_URL_STDOUT=http://10.0.1.1:8081/logPage/?appId=app-1&executorId=0&logType=stdout"}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("env\n%q\nwant\n%q", env, wantEnv)
	}
}

func TestDriverJVMCommand(t *testing.T) {
	// spark-submit --deploy-mode cluster: DriverWrapper with the worker URL,
	// the fetched jar, the user's class; the driver's memory; its resources
	// file as -Dspark.driver.resourcesFile.
	h := fakeHost([]string{"JAVA_HOME=/jdk", "PATH=/usr/bin"}, []string{"/opt/spark/jars"}, nil)
	w := testLaunchWorker(h)
	w.cfg.authEnabled = false
	dir := t.TempDir()
	d := &driverRunner{w: w, spec: DriverSpec{ID: "driver-1", Dir: dir, Resources: gpus("0", "1"),
		Desc: deploy.DriverDescription{MemoryMB: 2048, Cores: 1, Command: deploy.Command{
			MainClass: "org.apache.spark.deploy.worker.DriverWrapper",
			Arguments: []string{"{{WORKER_URL}}", "{{USER_JAR}}", "com.example.Main", "in.txt"},
			JavaOpts:  []string{"-Dspark.master=spark://10.0.0.1:7077", "-Dspark.submit.deployMode=cluster", "-Dspark.authenticate.secret=x"}}}}}
	argv, env, err := d.command(filepath.Join(dir, "app.jar"))
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "resource-spark.driver-*.json"))
	if len(matches) != 1 {
		t.Fatalf("resources files %v", matches)
	}
	want := []string{"/jdk/bin/java", "-cp", "/opt/spark/conf:/opt/spark/jars/*", "-Xmx2048M",
		"-Dspark.master=spark://10.0.0.1:7077", "-Dspark.submit.deployMode=cluster", "-Dspark.driver.resourcesFile=" + matches[0],
		"org.apache.spark.deploy.worker.DriverWrapper", "spark://Worker@10.0.1.1:4040", filepath.Join(dir, "app.jar"),
		"com.example.Main", "in.txt"}
	if !reflect.DeepEqual(argv, want) {
		t.Errorf("argv\n%q\nwant\n%q", argv, want)
	}
	if want := []string{"JAVA_HOME=/jdk", "PATH=/usr/bin", "SPARK_HOME=/opt/spark"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `[{"id":{"componentName":"spark.driver","resourceName":"gpu"},"addresses":["0","1"]}]` {
		t.Errorf("resources file %s", got)
	}
	var parsed []resourceAllocation
	if err := json.Unmarshal(b, &parsed); err != nil || len(parsed) != 1 {
		t.Errorf("resources file does not parse back: %v", err)
	}
}

func TestIsJavaMain(t *testing.T) {
	for name, want := range map[string]bool{
		"org.apache.spark.executor.CoarseGrainedExecutorBackend": true,
		"org.apache.spark.deploy.worker.DriverWrapper":           true,
		"com.example.Outer$Inner":                                true,
		"ember-executor":                                         false,
		"/opt/ember/bin/ember-executor":                          false,
		"./bin/run.sh":                                           false,
		"run.sh":                                                 false,
		"Main":                                                   false, // no package: a program named Main
		"org/apache/Main":                                        false,
		"":                                                       false,
	} {
		if got := isJavaMain(name); got != want {
			t.Errorf("isJavaMain(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseOptionString(t *testing.T) {
	for in, want := range map[string][]string{
		"":                            nil,
		"   ":                         nil,
		"-Xss4m -Da=b":                {"-Xss4m", "-Da=b"},
		`-Dx="a b" -Dy='c d'`:         {"-Dx=a b", "-Dy=c d"},
		`-Dx=a\ b`:                    {"-Dx=a b"},
		`-Dx="q\"uote" '\n'`:          {`-Dx=q"uote`, `\n`},
		"\t-Da=1\t\t-Db=2 ":           {"-Da=1", "-Db=2"},
		`""`:                          {""},
		`-Dp="it's" -Dq='say "hi"'`:   {"-Dp=it's", `-Dq=say "hi"`},
		`-javaagent:/a.jar=opt1,opt2`: {"-javaagent:/a.jar=opt1,opt2"},
	} {
		got, err := parseOptionString(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseOptionString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`} {
		if _, err := parseOptionString(bad); err == nil {
			t.Errorf("parseOptionString(%q): no error", bad)
		}
	}
}

func FuzzParseOptionString(f *testing.F) {
	for _, s := range []string{"-Xss4m -Da=b", `-Dx="a b" -Dy='c d'`, `a\ b`, `"open`, `''`, "\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := parseOptionString(s)
		if err != nil {
			return
		}
		// Quoting every option back gives the same options.
		var b strings.Builder
		for _, o := range opts {
			b.WriteString(`'` + strings.ReplaceAll(o, `'`, `'"'"'`) + `' `)
		}
		again, err := parseOptionString(b.String())
		if err != nil || !reflect.DeepEqual(again, opts) {
			t.Fatalf("%q → %q → %q → %q, %v", s, opts, b.String(), again, err)
		}
	})
}
