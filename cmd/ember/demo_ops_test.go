package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// screen replays terminal output: "\r" returns to the start of the line,
// "\n" starts a new one, other characters overwrite. It returns the lines
// left on the screen, right-trimmed.
func screen(out string) []string {
	var lines [][]rune
	cur, col := []rune{}, 0
	for _, r := range out {
		switch r {
		case '\r':
			col = 0
		case '\n':
			lines = append(lines, cur)
			cur, col = []rune{}, 0
		default:
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
		}
	}
	lines = append(lines, cur)
	var res []string
	for _, l := range lines {
		if s := strings.TrimRight(string(l), " "); s != "" {
			res = append(res, s)
		}
	}
	return res
}

// TestProgressNoStaleLine: on a terminal, the bar drawn before the first
// task finishes is erased, not left above "time to first task"; each
// stage ends with one bar line.
func TestProgressNoStaleLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true, time.Now())
	p.stage("map", 4, 400)
	for i := 1; i <= 4; i++ {
		p.task(i, 4)
	}
	p.stage("reduce", 3, 400)
	for i := 1; i <= 3; i++ {
		p.task(i, 3)
	}
	p.end()
	lines := screen(buf.String())
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "time to first task: ") ||
		!regexp.MustCompile(`^map +\[=+\] 4/4 tasks`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^reduce +\[=+\] 3/3 tasks`).MatchString(lines[2]) {
		t.Fatalf("screen after the run:\n%s\n(raw %q)", strings.Join(lines, "\n"), buf.String())
	}
}

// TestDemoKeepAndCleanup runs "ember demo --keep" with its own TMPDIR: the
// UI stays up after the sort (the application listed as completed) until
// SIGINT, the demo then exits 0, and nothing is left in TMPDIR (the
// executors' shuffle files included).
func TestDemoKeepAndCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	bin := buildEmber(t, t.TempDir())
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "demo", "--size", "8m", "--maps", "4", "--keep")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "SPARK_LOCAL_DIRS="+tmp)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	})
	var mu sync.Mutex
	var out strings.Builder
	kept := make(chan string, 1)
	uiLine := regexp.MustCompile(`^web UI: (http://127\.0\.0\.1:\d+) \(the cluster stays up`)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := uiLine.FindStringSubmatch(sc.Text()); m != nil {
				kept <- m[1]
			}
		}
	}()
	go func() { done <- cmd.Wait(); pw.Close() }()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	var url string
	select {
	case url = <-kept:
	case err := <-done:
		t.Fatalf("demo --keep exited (%v) without keeping the cluster up:\n%s", err, output())
	case <-time.After(150 * time.Second):
		t.Fatalf("no kept-up line:\n%s", output())
	}
	// The UI stays up; the driver's unregistration reaches the master
	// asynchronously, so the app turns up as completed soon after.
	testutil.Eventually(t, 30*time.Second, "the sort listed as completed in the kept-up UI", func() (bool, string) {
		resp, err := http.Get(url + "/json")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var st struct {
			CompletedApps []struct {
				Name string `json:"name"`
			} `json:"completedapps"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, err.Error()
		}
		return len(st.CompletedApps) == 1 && st.CompletedApps[0].Name == "Ember Sort", fmt.Sprintf("%+v", st)
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --keep after Ctrl-C: %v\n%s", err, output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo --keep did not stop on SIGINT:\n%s", output())
	}
	if !verifiedRE.MatchString(output()) {
		t.Fatalf("no verified summary:\n%s", output())
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		var names []string
		filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error { names = append(names, p); return nil })
		t.Fatalf("the demo left %d entries in TMPDIR:\n%s", len(left), strings.Join(names, "\n"))
	}
}

// TestSortWithoutShuffleService: the sort on workers that run no shuffle
// service fails at its first map task, with an error naming
// spark.shuffle.service.enabled, instead of retrying every task.
func TestSortWithoutShuffleService(t *testing.T) {
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
	port := testutil.FreePort(t) // nothing listens there
	out, err := exec.CommandContext(ctx, bin, "example", "sort", "--master", lc.master.MasterURL(), "--size", "1m",
		"--maps", "2", "--reduces", "2", "--shuffle-port", strconv.Itoa(port)).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("sort without shuffle services: %v (ctx %v)\n%s", err, ctx.Err(), out)
	}
	for _, want := range []string{"no external shuffle service at 127.0.0.1:" + strconv.Itoa(port),
		"spark.shuffle.service.enabled=true", "retrying cannot help"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
	// At most one failure per map task (both may run at once), never a retry.
	if n := strings.Count(string(out), "task failed"); n < 1 || n > 2 {
		t.Errorf("%d task failures logged, want 1 or 2:\n%s", n, out)
	}
}
