package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestExamplePi builds ember, starts an in-process master and two workers,
// and runs "ember example pi" against them: the driver is the child
// process, its executors are ember too, started by the workers.
func TestExamplePi(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	dir := t.TempDir()
	bin := buildEmber(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conf := sparkconf.New().Set("spark.worker.ember.registrationIntervalScale", "0.05")
	lc, err := startLocalCluster(2, 1, 1024, dir, conf, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	if _, err := lc.waitAlive(2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "example", "pi", "--master", lc.master.MasterURL(), "--slices", "4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ember example pi: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Pi is roughly (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no estimate in the output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	if math.Abs(v-math.Pi) > 0.1 {
		t.Fatalf("estimate %f is not within 0.1 of π:\n%s", v, out)
	}
	// The app finished at the master.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := lc.master.MasterState()
		if err == nil && len(st.ActiveApps) == 0 && len(st.CompletedApps) == 1 && st.CompletedApps[0].Name == "Ember Pi" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app not completed at the master: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExampleUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"pi"}, {"pi", "--master", "spark://h:1", "extra"}} {
		if err := runExample(args); err == nil {
			t.Errorf("runExample(%q): no error", args)
		}
	}
	if err := runExecutor([]string{"--cores", "1"}); err == nil {
		t.Error("runExecutor without a driver URL: no error")
	}
}
