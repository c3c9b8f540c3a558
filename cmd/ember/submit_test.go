package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// runCmd runs bin args (within 2 minutes) and returns its exit code and
// combined output.
func runCmd(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("%s %q: %v\n%s", bin, args, err, out.String())
	return -1, ""
}

var driverIDRe = regexp.MustCompile(`Driver successfully submitted as (\S+)`)

// TestSubmit builds ember and submitapp, starts an in-process master and two
// workers, and exercises "ember submit" in both deploy modes.
func TestSubmit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ember")
	appBin := filepath.Join(dir, "submitapp")
	buildEmber(t, dir)
	for _, b := range [][]string{{appBin, "./testdata/submitapp"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conf := sparkconf.New().Set("spark.worker.ember.registrationIntervalScale", "0.05")
	lc, err := startLocalCluster(2, 2, 2048, dir, conf, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	if _, err := lc.waitAlive(2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	master := lc.master.MasterURL()

	t.Run("ClientPi", func(t *testing.T) {
		// pi learns the master from SPARK_MASTER and reports to the
		// launcher: the handle goes CONNECTED → SUBMITTED → RUNNING →
		// FINISHED and learns the app id.
		code, out := runCmd(t, bin, "submit", "--master", master, "--verbose", bin, "example", "pi", "--slices", "2")
		if code != 0 || !strings.Contains(out, "Pi is roughly") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		last := -1
		for _, st := range []string{"CONNECTED", "SUBMITTED", "RUNNING", "FINISHED"} {
			i := strings.Index(out, "application state: "+st)
			if i < 0 || i < last {
				t.Fatalf("state %s missing or out of order in:\n%s", st, out)
			}
			last = i
		}
		if !strings.Contains(out, "application id: app-") {
			t.Errorf("no application id reported:\n%s", out)
		}
	})

	t.Run("ClientEnvAndExitCode", func(t *testing.T) {
		code, out := runCmd(t, bin, "submit", "--master", master, "--name", "tiny", "--executor-memory", "512m",
			"--conf", "spark.executor.memory=2g", appBin, "exit", "7")
		if code != 7 {
			t.Fatalf("exit %d, want 7:\n%s", code, out)
		}
		for _, want := range []string{"SPARK_MASTER=" + master, "spark.app.name=tiny", "spark.executor.memory=512m",
			"launcher port set=true", "args=exit 7"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the output:\n%s", want, out)
			}
		}
	})

	submitCluster := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out := runCmd(t, bin, append([]string{"submit", "--master", master, "--deploy-mode", "cluster",
			"--driver-memory", "256m", "--name", "clustered", appBin}, args...)...)
		m := driverIDRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("submit: exit %d:\n%s", code, out)
		}
		return m[1]
	}
	waitState := func(t *testing.T, id, state string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, out := runCmd(t, bin, "submit", "--master", master, "--status", id)
			if code == 0 && strings.Contains(out, "State of "+id+" is "+state) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("driver %s not %s: exit %d:\n%s", id, state, code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("ClusterFinished", func(t *testing.T) {
		id := submitCluster(t, "hello", "world")
		waitState(t, id, "FINISHED")
		outs, _ := filepath.Glob(filepath.Join(dir, "worker*", id, "stdout"))
		if len(outs) != 1 {
			t.Fatalf("driver stdout files: %v", outs)
		}
		b, _ := os.ReadFile(outs[0])
		for _, want := range []string{"SPARK_MASTER=" + master, "spark.app.name=clustered", "args=hello world"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("no %q in the driver's stdout:\n%s", want, b)
			}
		} // The worker ran its copy of the program, in the driver's dir.
		if want := "program=" + filepath.Join(filepath.Dir(outs[0]), "submitapp") + "\n"; !strings.Contains(string(b), want) {
			t.Errorf("no %q in the driver's stdout (the original path run?):\n%s", want, b)
		}
	})

	t.Run("ClusterFromURL", func(t *testing.T) {
		// A program at an http:// URL: the worker downloads it and runs
		// the download; it exists nowhere else on the worker's host.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/apps/urlapp" {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, appBin)
		}))
		defer srv.Close()
		code, out := runCmd(t, bin, "submit", "--master", master, "--deploy-mode", "cluster", "--driver-memory", "256m",
			srv.URL+"/apps/urlapp", "from", "url")
		m := driverIDRe.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("submit: exit %d:\n%s", code, out)
		}
		id := m[1]
		waitState(t, id, "FINISHED")
		outs, _ := filepath.Glob(filepath.Join(dir, "worker*", id, "stdout"))
		if len(outs) != 1 {
			t.Fatalf("driver stdout files: %v", outs)
		}
		b, _ := os.ReadFile(outs[0])
		for _, want := range []string{"spark.app.name=urlapp", "args=from url",
			"program=" + filepath.Join(filepath.Dir(outs[0]), "urlapp") + "\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("no %q in the driver's stdout:\n%s", want, b)
			}
		}
		// A URL is refused in client mode.
		if code, out := runCmd(t, bin, "submit", "--master", master, srv.URL+"/apps/urlapp"); code != 2 || !strings.Contains(out, "--deploy-mode cluster") {
			t.Errorf("client mode with a URL: exit %d:\n%s", code, out)
		}
	})

	t.Run("ClusterKill", func(t *testing.T) {
		id := submitCluster(t, "sleep")
		out := waitState(t, id, "RUNNING")
		if !strings.Contains(out, "Driver running on ") {
			t.Errorf("no worker in the status:\n%s", out)
		}
		code, out := runCmd(t, bin, "submit", "--master", master, "--kill", id)
		if code != 0 || !strings.Contains(out, "Kill request for "+id+" submitted") {
			t.Fatalf("kill: exit %d:\n%s", code, out)
		}
		waitState(t, id, "KILLED")
		// A second kill: the driver is done.
		code, out = runCmd(t, bin, "submit", "--master", master, "--kill", id)
		if code == 0 || !strings.Contains(out, "has already finished or does not exist") {
			t.Fatalf("second kill: exit %d:\n%s", code, out)
		}
	})

	t.Run("UnknownDriver", func(t *testing.T) {
		code, out := runCmd(t, bin, "submit", "--master", master, "--kill", "driver-nope")
		if code == 0 || !strings.Contains(out, "Driver driver-nope has already finished or does not exist") {
			t.Fatalf("kill: exit %d:\n%s", code, out)
		}
		code, out = runCmd(t, bin, "submit", "--master", master, "--status", "driver-nope")
		if code != 1 || !strings.Contains(out, "does not know driver driver-nope") {
			t.Fatalf("status: exit %d:\n%s", code, out)
		}
	})

	t.Run("UnknownMaster", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "spark://" + ln.Addr().String()
		ln.Close()
		start := time.Now()
		code, out := runCmd(t, bin, "submit", "--master", closed, "--deploy-mode", "cluster", appBin)
		if code == 0 || !strings.Contains(out, "no master could be reached at "+closed) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		code, out = runCmd(t, bin, "submit", "--master", closed, "--status", "driver-x")
		if code == 0 || !strings.Contains(out, "no master could be reached") {
			t.Fatalf("status: exit %d:\n%s", code, out)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("SilentMaster", func(t *testing.T) {
		// A listener that accepts and never answers: the ask times out.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		start := time.Now()
		code, out := runCmd(t, bin, "submit", "--master", "spark://"+ln.Addr().String(),
			"--conf", "spark.rpc.askTimeout=2s", "--status", "driver-x")
		if code == 0 || !strings.Contains(out, "no master could be reached") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v with a 2s timeout", d)
		}
	})
}

func TestSubmitUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--master", "spark://127.0.0.1:7077"},
		{"/bin/true"},
		{"--master", "http://x:1", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--deploy-mode", "yarn", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--nope", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--executor-cores", "0", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--executor-memory", "lots", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--conf", "nokey", "/bin/true"},
		{"--master", "spark://127.0.0.1:7077", "--kill", "d", "--status", "d"},
		{"--master", "spark://127.0.0.1:7077", "--kill", "d", "/bin/true"},
	} {
		var out bytes.Buffer
		if code := submit(args, &out, &out); code != 2 || !strings.Contains(out.String(), "usage: ember submit") {
			t.Errorf("submit(%q) = %d, want 2 with usage:\n%s", args, code, out.String())
		}
	}
}
