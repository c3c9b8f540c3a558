package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// ReactorGoroutines are the process-wide goroutines of cloudwego/netpoll
// (its pollers and handler pool), which outlive any one test by design.
var ReactorGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
	goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
}

// MainWithProgram is a TestMain body: it builds the Go program in pkgDir
// (relative to the test's package, e.g. "./testdata/fakeexec") into a
// temporary directory, stores its path in *bin, runs the tests, removes
// the build, and fails the run if goroutines other than the reactor's
// are left over.
func MainWithProgram(m *testing.M, pkgDir string, bin *string) {
	dir, err := os.MkdirTemp("", "ember-testprog-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	*bin = filepath.Join(dir, filepath.Base(pkgDir))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(goBin, "build", "-o", *bin, pkgDir)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkgDir, err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(ReactorGoroutines...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
