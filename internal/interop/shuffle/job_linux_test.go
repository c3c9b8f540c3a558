//go:build linux

package shuffle_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// TestSparkJobOnEmberShuffleService: real Spark applications run a shuffle
// with Ember's service as their external shuffle service: Spark's
// local-cluster mode starts two executor JVMs, each registers with Ember's
// service (RegisterExecutor from a real BlockManager) and writes its map
// outputs; the reducers read the other executor's outputs from the dirs
// the service names (GetLocalDirsForExecutors, readHostLocalDisk) in one
// application and fetch them through the service in the next, then in a
// third authenticated to the service (spark.authenticate, AuthEngine); the
// counts come out right every time.
func TestSparkJobOnEmberShuffleService(t *testing.T) {
	testutil.CheckLeaks(t)
	home, java := testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "shuffle"))
	// Spark's launcher builds executor command lines from SPARK_HOME: it
	// wants a RELEASE file there (else it looks for a source build), which
	// the pyspark wheel lacks. A home of links to the wheel's dirs has one.
	sparkHome := t.TempDir()
	for _, d := range []string{"jars", "bin"} {
		if err := os.Symlink(filepath.Join(home, d), filepath.Join(sparkHome, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sparkHome, "RELEASE"), []byte("Spark "+testutil.SparkVersion+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// One service without authentication (EPOLL), one with (NIO).
	authConf := securities()[1].conf // AuthEngine
	start := func(mode string, kv ...string) (*shuffle.Service, int) {
		port := testutil.FreePort(t)
		svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode, kv...), Host: localhost, Port: port,
			DBDir: t.TempDir(), Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc, port
	}
	svc, port := start("EPOLL")
	asvc, aport := start("NIO", authConf...)

	const rows = 100_000
	var want []string
	for k := 0; k < 7; k++ {
		n := 0
		for i := k; i < rows; i += 7 {
			n++
		}
		want = append(want, itoa(k)+"="+itoa(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Three applications: the first reads the other executor's outputs
	// from its dirs, as named by Ember's service; the second fetches them
	// through the service; the third too, authenticated (AuthEngine) to
	// the service that wants it.
	cmd := testutil.SparkJavaCommand(ctx, java, sparkHome, classes, "ember.interop.shuffle.ShuffleJob",
		itoa(rows), t.TempDir(), itoa(port)+":true", itoa(port)+":false", itoa(aport)+":false:"+secret)
	// SPARK_SCALA_VERSION spares the launcher its look for a source build;
	// every JVM of the job (the executors inherit the environment) starts
	// with the client compiler only and the serial collector, which halves
	// the run on a loaded two-core machine.
	cmd.Env = append(cmd.Env, "SPARK_HOME="+sparkHome, "SPARK_SCALA_VERSION=2.13", "SPARK_LOCAL_IP=127.0.0.1",
		"JAVA_TOOL_OPTIONS="+strings.TrimSpace(os.Getenv("JAVA_TOOL_OPTIONS")+" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"))
	// The executors are the JVM's children, in its process group: a
	// timeout kills them all.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	stderr := &testutil.LogBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever outlived the applications (nothing, when Spark stopped
		// cleanly) goes with the group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Logf("killing the job's process group: %v", err)
		}
	})
	sc := bufio.NewScanner(stdout)
	var served []int64 // blocks the plain service served after each application
	apps := []string{"readHostLocalDisk", "fetch through the service", "authenticated fetch"}
	for _, app := range apps {
		if !sc.Scan() {
			break
		}
		line := sc.Text()
		if !strings.HasPrefix(line, "@@ok") {
			t.Errorf("application %q: %s", app, line)
		} else if got := strings.Fields(strings.TrimPrefix(line, "@@ok")); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("application %q: counts %v, want %v", app, got, want)
		}
		served = append(served, svc.Metrics().BlocksServed.Load())
	}
	for sc.Scan() { // drain
	}
	if err := cmd.Wait(); err != nil || len(served) != len(apps) {
		t.Fatalf("the Spark job: %v (%d of %d applications answered)\nstderr (tail):\n%s", err, len(served), len(apps), tail(stderr.String(), 8000))
	}
	if n := svc.RegisteredExecutors(); n != 4 {
		t.Errorf("%d executors registered with Ember's service, want 4 (two per application)", n)
	}
	if served[0] != 0 {
		t.Errorf("reading host-local disk, the executors still fetched %d blocks through the service", served[0])
	}
	if n := served[1] - served[0]; n == 0 {
		t.Errorf("no block was fetched through Ember's service")
	} else {
		t.Logf("Ember's service served %d blocks (%d bytes) to Spark's executors", n, svc.Metrics().BytesServed.Load())
	}
	if n := asvc.RegisteredExecutors(); n != 2 {
		t.Errorf("%d executors registered with Ember's authenticating service, want 2", n)
	}
	if n := asvc.Metrics().BlocksServed.Load(); n == 0 {
		t.Errorf("no block was fetched through Ember's authenticating service")
	}
}
