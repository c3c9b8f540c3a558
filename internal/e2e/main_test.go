//go:build linux

// Package e2e holds Ember's end-to-end tests: the real ember binary runs
// masters and workers as child processes on loopback sockets, the sbin
// scripts start and stop a cluster, executors are real processes (the
// fakeexec program in testdata), and a real ZooKeeper backs the HA test.
//
// TestMain builds the binaries once. Every test starts its daemons in
// process groups of their own, waits by polling (the masters' /json, log
// files, /proc) under a generous bound and never by fixed sleeps, and
// kills everything in its cleanup, checking that no process it started
// is left. The whole package skips under -short.
//
// EMBER_E2E_RACE=1 builds the daemons with -race (slower; a data race in
// a daemon then shows in its log and fails the test through its exit).
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

var (
	// emberBin and fakeExec are the binaries TestMain built.
	emberBin, fakeExec string
	// moduleRoot is the module's directory (EMBER_HOME of the sbin test).
	moduleRoot string
	// runMarker is an environment entry (KEY=VALUE) set on every process
	// the tests start; TestMain's final sweep looks for it.
	runMarker string
	// skipAll is why every test skips ("" to run).
	skipAll string
)

const runMarkerKey = "EMBER_E2E_RUN"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		skipAll = "end-to-end tests (real processes and sockets) are skipped under -short"
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ember-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	code := 2
	defer func() {
		os.RemoveAll(dir)
		os.Exit(code)
	}()
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return
	}
	runMarker = fmt.Sprintf("%s=%d-%d", runMarkerKey, os.Getpid(), time.Now().UnixNano())
	// Spark's JVMs (drivers, DriverWrapper, executors) pick their
	// advertised address from the interfaces when SPARK_LOCAL_IP is
	// unset; the fault suite's bridges (TEST-NET addresses) may exist in
	// the root namespace while these tests run. Every child inherits
	// loopback.
	if os.Getenv("SPARK_LOCAL_IP") == "" {
		os.Setenv("SPARK_LOCAL_IP", "127.0.0.1")
	}
	code = m.Run()
	// Every test checks its own processes are gone; this catches what
	// escaped a test (and keeps the machine clean when one failed hard).
	if left := testutil.ProcessesWithEnv(runMarker); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: processes left behind by the tests (killing them):\n")
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  %s\n", p)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		code = 1
	}
}

// build compiles ember and fakeexec into dir.
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
	moduleRoot = filepath.Dir(gomod)
	emberBin = filepath.Join(dir, "ember")
	fakeExec = filepath.Join(dir, "fakeexec")
	race := os.Getenv("EMBER_E2E_RACE") == "1"
	for _, b := range []struct{ out, pkg string }{
		{emberBin, "./cmd/ember"},
		{fakeExec, "./internal/e2e/testdata/fakeexec"},
	} {
		args := []string{"build"}
		if race && b.out == emberBin {
			args = append(args, "-race")
		}
		args = append(args, "-o", b.out, b.pkg)
		cmd := exec.Command(goBin, args...)
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// sbin/ember-config.sh rebuilds $EMBER_BIN whenever a .go file of
	// $SPARK_HOME is newer than it. Other edits to the checkout while the
	// tests run must not make the scripts rebuild (or overwrite) the
	// binary under test: date it in the future.
	future := time.Now().Add(365 * 24 * time.Hour)
	return os.Chtimes(emberBin, future, future)
}

// requireE2E skips t under -short.
func requireE2E(t *testing.T) {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
}
