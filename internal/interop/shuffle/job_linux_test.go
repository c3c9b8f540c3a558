//go:build linux

package shuffle_test

import (
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

// TestSparkJobOnEmberShuffleService: a real Spark application runs a
// shuffle with Ember's service as its external shuffle service: Spark's
// local-cluster mode starts two executor JVMs, each registers with Ember's
// service (RegisterExecutor from a real BlockManager), writes its map
// outputs, and the reducers fetch the other executor's blocks through the
// service; the counts come out right.
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

	port := testutil.FreePort(t)
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf("EPOLL"), Host: localhost, Port: port,
		DBDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })

	const rows = 100_000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := testutil.SparkJavaCommand(ctx, java, sparkHome, classes, "ember.interop.shuffle.ShuffleJob",
		itoa(port), itoa(rows), t.TempDir())
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
	out, err := cmd.Output()
	if cmd.Process != nil {
		// Whatever outlived the application (nothing, when Spark stopped
		// cleanly) goes with the group.
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			t.Logf("killing the job's process group: %v", kerr)
		}
	}
	if err != nil || !strings.HasPrefix(string(out), "@@ok") {
		t.Fatalf("the Spark job: %v\nstdout: %s\nstderr (tail):\n%s", err, out, tail(stderr.String(), 8000))
	}
	got := strings.Fields(strings.TrimPrefix(strings.TrimSpace(string(out)), "@@ok"))
	var want []string
	for k := 0; k < 7; k++ {
		n := 0
		for i := k; i < rows; i += 7 {
			n++
		}
		want = append(want, itoa(k)+"="+itoa(n))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("counts %v, want %v", got, want)
	}
	if n := svc.RegisteredExecutors(); n != 2 {
		t.Errorf("%d executors registered with Ember's service, want 2", n)
	}
	if n := svc.Metrics().BlocksServed.Load(); n == 0 {
		t.Errorf("no block was fetched through Ember's service")
	} else {
		t.Logf("Ember's service served %d blocks (%d bytes) to Spark's executors", n, svc.Metrics().BytesServed.Load())
	}
}
