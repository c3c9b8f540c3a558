//go:build linux

package fault

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
	"go.uber.org/goleak"
)

var (
	// emberBin and faultBin are the programs TestMain built.
	emberBin, faultBin string
	// skipAll is why every test skips ("" to run); buildErr why every
	// test fails.
	skipAll  string
	buildErr error
)

// TestMain builds ember and faultprog once (without -race, as the
// daemons of internal/e2e; EMBER_FAULT_RACE=1 builds them with it), runs
// the tests, and fails the run if the test process leaks goroutines.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		skipAll = "fault scenarios (real processes in network namespaces) are skipped under -short"
		os.Exit(m.Run())
	}
	if ok, reason := netns.Available(); !ok {
		// The tests skip, or fail when EMBER_REQUIRE_NETNS is set
		// (requireFault calls netns.Require): nothing to build.
		skipAll = reason
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ember-fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		os.Exit(2)
	}
	buildErr = build(dir)
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(testutil.ReactorGoroutines...); err != nil {
			fmt.Fprintf(os.Stderr, "fault: goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// build compiles ember and faultprog into dir.
func build(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not in a module (go env GOMOD = %q)", gomod)
	}
	emberBin = filepath.Join(dir, "ember")
	faultBin = filepath.Join(dir, "faultprog")
	for _, b := range []struct{ out, pkg string }{
		{emberBin, "./cmd/ember"},
		{faultBin, "./internal/fault/testdata/faultprog"},
	} {
		args := []string{"build"}
		if os.Getenv("EMBER_FAULT_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, "-o", b.out, b.pkg)
		cmd := exec.Command(goBin, args...)
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// requireFault skips t under -short or without namespaces (or fails it,
// with EMBER_REQUIRE_NETNS=1), and fails it if the programs did not build.
func requireFault(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip(skipAll)
	}
	netns.Require(t)
	if skipAll != "" {
		t.Skip(skipAll)
	}
	if buildErr != nil {
		t.Fatalf("building the programs: %v", buildErr)
	}
}
