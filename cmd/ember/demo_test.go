package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// builtEmber is this package's ember, built once per test run (in a
// directory TestMain removes).
var builtEmber struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtEmber.dir != "" {
		os.RemoveAll(builtEmber.dir)
	}
	os.Exit(code)
}

// buildEmber puts the ember binary (built once) at dir/ember.
func buildEmber(t *testing.T, dir string) string {
	t.Helper()
	b := &builtEmber
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "ember-bin-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "ember")
		b.out, b.err = exec.Command("go", "build", "-o", b.bin, ".").CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build: %v\n%s", b.err, b.out)
	}
	bin := filepath.Join(dir, "ember")
	if err := os.Link(b.bin, bin); err != nil {
		data, err := os.ReadFile(b.bin)
		if err == nil {
			err = os.WriteFile(bin, data, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

var verifiedRE = regexp.MustCompile(`sorted (\d+) records \(([\d.]+) MB\) in \S+: ([\d.]+) MB/s .* verified`)

// TestExampleSort runs "ember example sort" against an in-process master
// and two workers with shuffle services: the driver is the child process,
// the executors are ember too.
func TestExampleSort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	dir := t.TempDir()
	bin := buildEmber(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lc, rules, err := startSortCluster(2, 2, 2048, dir, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	if _, err := lc.waitAlive(2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "example", "sort", "--master", lc.master.MasterURL(), "--size", "8m",
		"--maps", "4", "--reduces", "3", "--worker-shuffle-ports", dirPortsFlag(rules))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ember example sort: %v\n%s", err, out)
	}
	m := verifiedRE.FindSubmatch(out)
	if m == nil || string(m[1]) != "83886" {
		t.Fatalf("no verified summary of 83886 records in the output:\n%s", out)
	}
	t.Logf("%s", out)
	// Every byte went through the workers' shuffle services.
	var served int64
	for _, w := range lc.workers {
		served += w.ShuffleService().Metrics().BytesServed.Load()
	}
	if served != 83886*100 {
		t.Fatalf("the shuffle services served %d bytes, want %d", served, 83886*100)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64m": 64 << 20, "1g": 1 << 30, "8M": 8 << 20, "100": 100, "16MB": 16 << 20, "2k": 2048} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1m", "0", "1q"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
	if r, err := parseDirPorts("/a=1,/b/c=2"); err != nil || len(r) != 2 || r[1].Dir != "/b/c" || r[1].Port != 2 {
		t.Errorf("parseDirPorts: %v %v", r, err)
	}
	if _, err := parseDirPorts("/a"); err == nil {
		t.Error("parseDirPorts without a port: no error")
	}
}

// TestDemo runs "ember demo --size 16m" as a child process: it starts its
// own cluster, sorts, prints a verified summary and exits 0.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	bin := buildEmber(t, t.TempDir())
	// --secure: every connection (RPC envs, executors, shuffle fetches)
	// authenticated and AES-CTR encrypted.
	for _, extra := range [][]string{nil, {"--secure"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"demo", "--size", "16m"}, extra...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ember demo %v: %v\n%s", extra, err, out)
		}
		for _, re := range []*regexp.Regexp{verifiedRE, regexp.MustCompile(`time to first task: \S+`),
			regexp.MustCompile(`web UI: http://127\.0\.0\.1:\d+`), regexp.MustCompile(`sorted 167772 records`)} {
			if !re.Match(out) {
				t.Fatalf("%s not in the output of demo %v:\n%s", re, extra, out)
			}
		}
		if secure := strings.Contains(string(out), "AES-CTR encrypted"); secure != (extra != nil) {
			t.Fatalf("demo %v: security line present = %t:\n%s", extra, secure, out)
		}
		t.Logf("%s", out)
	}
}

// TestDemoInterrupt: SIGINT during the sort ends the demo with a non-zero
// exit, after shutting down (no executor left behind).
func TestDemoInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ember and runs processes")
	}
	bin := buildEmber(t, t.TempDir())
	cmd := exec.Command(bin, "demo", "--size", "4g", "--maps", "400")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var outMu sync.Mutex
	var out strings.Builder
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			outMu.Lock()
			out.WriteString(sc.Text() + "\n")
			outMu.Unlock()
			if strings.HasPrefix(sc.Text(), "time to first task") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no task finished")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		pw.Close()
		outMu.Lock()
		defer outMu.Unlock()
		if err == nil {
			t.Fatalf("exit 0 after SIGINT:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "interrupted") {
			t.Fatalf("no interruption reported:\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("demo did not exit within 60s of SIGINT")
	}
}
