package testutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/sparkjvm"
)

// The Spark helpers find the pinned Apache Spark distribution that
// scripts/spark.sh installs (the pyspark wheel from PyPI, which carries
// jars/, bin/spark-submit and bin/spark-class) and compile the project's own
// Java peer code against its jars. Tests use Spark's own classes as live
// peers through them.
//
// Lookup order: $SPARK_HOME when it holds jars/; then the project-local
// cache .spark/pyspark-<SparkVersion>/pyspark. Without either a test that
// asks for Spark skips, or fails when EMBER_REQUIRE_SPARK=1 (CI).

// SparkVersion is the Spark release the live interop tests are written for
// and scripts/spark.sh installs by default.
const SparkVersion = "4.1.4"

// SparkJavaOptions are the JVM flags Spark 4.1 puts on every JVM it starts
// on Java 17 (sparkjvm.ModuleOptions); the tests' JVM peers get them too.
var SparkJavaOptions = sparkjvm.ModuleOptions

// SparkRequired reports whether a missing Spark must fail the test rather
// than skip it (EMBER_REQUIRE_SPARK=1, set by CI).
func SparkRequired() bool {
	v := os.Getenv("EMBER_REQUIRE_SPARK")
	return v != "" && v != "0"
}

// ProjectRoot is the directory holding the project's go.mod (module
// github.com/ember-rpc/ember), found by walking up from the working
// directory (a test runs in its package). Nested modules (bench/, the
// external-module test data) are walked past.
func ProjectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isEmberModule(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// isEmberModule reports whether a go.mod declares Ember's own module.
func isEmberModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == "github.com/ember-rpc/ember"
		}
	}
	return false
}

// FindSparkHome returns the Spark distribution to use, or why there is none.
func FindSparkHome() (string, error) {
	if h := os.Getenv("SPARK_HOME"); h != "" {
		if st, err := os.Stat(filepath.Join(h, "jars")); err == nil && st.IsDir() {
			return h, nil
		}
		return "", fmt.Errorf("SPARK_HOME=%s has no jars/ directory", h)
	}
	root, err := ProjectRoot()
	if err != nil {
		return "", err
	}
	h := filepath.Join(root, ".spark", "pyspark-"+SparkVersion, "pyspark")
	core := filepath.Join(h, "jars", "spark-core_2.13-"+SparkVersion+".jar")
	if _, err := os.Stat(core); err != nil {
		return "", fmt.Errorf("no Spark %s: SPARK_HOME is unset and %s is missing (run scripts/spark.sh)", SparkVersion, core)
	}
	return h, nil
}

// FindJava returns the java and javac to run Spark with: $JAVA_HOME's when
// set, else the ones on PATH.
func FindJava() (java, javac string, err error) {
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		java, javac = filepath.Join(jh, "bin", "java"), filepath.Join(jh, "bin", "javac")
		if _, e1 := os.Stat(java); e1 == nil {
			if _, e2 := os.Stat(javac); e2 == nil {
				return java, javac, nil
			}
		}
	}
	java, err1 := exec.LookPath("java")
	javac, err2 := exec.LookPath("javac")
	if err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("no JDK: java and javac are not both on PATH")
	}
	return java, javac, nil
}

// RequireSpark returns SPARK_HOME and the java binary, or skips the test
// (fails it under EMBER_REQUIRE_SPARK=1) with the reason. Live Spark tests
// also skip with -short.
func RequireSpark(t testing.TB) (home, java string) {
	t.Helper()
	if testing.Short() {
		t.Skip("live Spark tests skipped in -short mode")
	}
	home, err := FindSparkHome()
	if err == nil {
		java, _, err = FindJava()
	}
	if err != nil {
		if SparkRequired() {
			t.Fatalf("EMBER_REQUIRE_SPARK is set but %v", err)
		}
		t.Skipf("live Spark test skipped: %v", err)
	}
	return home, java
}

// SparkClasspath is the classpath for a JVM that loads Spark: the given
// entries first, then $SPARK_HOME/jars/*.
func SparkClasspath(home string, first ...string) string {
	return strings.Join(append(append([]string{}, first...), filepath.Join(home, "jars", "*")), string(os.PathListSeparator))
}

// CompileJava compiles every .java file under srcDir against Spark's jars
// and returns the directory of classes. The result is cached in the system
// temporary directory under a hash of the sources, the Spark home and the
// javac, so the packages of one `go test ./...` compile a kit once.
func CompileJava(t testing.TB, home, srcDir string) string {
	t.Helper()
	_, javac, err := FindJava()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.Walk(srcDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".java") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("testutil: no Java sources under %s (%v)", srcDir, err)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", home, javac)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s\x00", filepath.Base(f))
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(os.TempDir(), "ember-javac-"+sum)
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		return out
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "ember-javac-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-nowarn", "-encoding", "UTF-8", "-d", tmp, "-cp", SparkClasspath(home)}, files...)
	if b, err := exec.CommandContext(ctx, javac, args...).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("javac %s: %v\n%s", srcDir, err, b)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Another package may have finished the same compile first: either
	// result is the same classes.
	if err := os.Rename(tmp, out); err != nil {
		os.RemoveAll(tmp)
		if _, e := os.Stat(filepath.Join(out, ".done")); e != nil {
			t.Fatalf("testutil: caching compiled classes: %v", err)
		}
	}
	return out
}

// SparkJavaCommand builds (does not start) a JVM running main from the
// compiled classes with Spark's jars on the classpath and Spark's Java 17
// module options.
func SparkJavaCommand(ctx context.Context, java, home, classes, main string, args ...string) *exec.Cmd {
	argv := append([]string{}, SparkJavaOptions...)
	argv = append(argv, "-Xss4m", "-cp", SparkClasspath(home, classes), main)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, java, argv...)
	cmd.Env = append(os.Environ(), "SPARK_HOME="+home)
	cmd.SysProcAttr = childProcAttr()
	return cmd
}
