package worker

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/webui"
	"github.com/ember-rpc/ember/rpcenv"
)

func TestRollingConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		kv   []string
		want logRolling
	}{
		{nil, logRolling{maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "time"}, logRolling{interval: 24 * time.Hour, layout: "--2006-01-02", maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "time", "spark.executor.logs.rolling.time.interval", "hourly"},
			logRolling{interval: time.Hour, layout: "--2006-01-02--15", maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "time", "spark.executor.logs.rolling.time.interval", "minutely"},
			logRolling{interval: time.Minute, layout: "--2006-01-02--15-04", maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "time", "spark.executor.logs.rolling.time.interval", "300"},
			logRolling{interval: 5 * time.Minute, layout: "--2006-01-02--15-04-05", maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "time", "spark.executor.logs.rolling.time.interval", "5"},
			logRolling{interval: time.Minute, layout: "--2006-01-02--15-04-05", maxRetained: -1}}, // the minimum
		{[]string{"spark.executor.logs.rolling.strategy", "time", "spark.executor.logs.rolling.time.interval", "weekly"},
			logRolling{maxRetained: -1}}, // a warning, no rolling
		{[]string{"spark.executor.logs.rolling.strategy", "size"}, logRolling{maxSize: 1 << 20, maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "size", "spark.executor.logs.rolling.maxSize", "100",
			"spark.executor.logs.rolling.maxRetainedFiles", "3", "spark.executor.logs.rolling.enableCompression", "true"},
			logRolling{maxSize: minRollingSize, maxRetained: 3, compress: true}},
		{[]string{"spark.executor.logs.rolling.strategy", "size", "spark.executor.logs.rolling.maxSize", "1g"}, logRolling{maxRetained: -1}},
		{[]string{"spark.executor.logs.rolling.strategy", "sometimes"}, logRolling{maxRetained: -1}},
	} {
		got, err := rollingConfig(testConf(c.kv...), log)
		if err != nil || got != c.want {
			t.Errorf("%v: %+v, %v; want %+v", c.kv, got, err, c.want)
		}
	}
	if _, err := rollingConfig(testConf("spark.executor.logs.rolling.maxRetainedFiles", "x"), log); err == nil {
		t.Error("a bad maxRetainedFiles: no error")
	}
}

// fakeClock is a settable time.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestRolling(t *testing.T, cfg logRolling, clock *fakeClock, header string) (*rollingWriter, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdout")
	f, err := openOutput(path, header, true)
	if err != nil {
		t.Fatal(err)
	}
	w := newRollingWriter(cfg, path, f, clock.now, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { w.Close() })
	return w, path
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("write: %d, %v", n, err)
	}
}

// dirFiles maps each file of dir to its content.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func names(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestRollingBySize(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 1, 2, 3, 4, 5, 7_000_000, time.UTC)}
	w, path := newTestRolling(t, logRolling{maxSize: minRollingSize, maxRetained: 2}, clock, "HEADER\n")
	a, b := strings.Repeat("a", 50_000), strings.Repeat("b", 40_000)
	write(t, w, a) // 7 + 50000: no rollover
	if got := names(dirFiles(t, filepath.Dir(path))); len(got) != 1 {
		t.Fatalf("rolled too early: %v", got)
	}
	write(t, w, b) // 50007 + 40000 > 81920: the header and a go aside first
	files := dirFiles(t, filepath.Dir(path))
	if files["stdout--2026-01-02--03-04-05--0007"] != "HEADER\n"+a || files["stdout"] != b {
		t.Fatalf("after the first rollover: %v", names(files))
	}
	// Same millisecond: the next rolled file gets an index.
	write(t, w, a)
	files = dirFiles(t, filepath.Dir(path))
	if files["stdout--2026-01-02--03-04-05--0007--0"] != b || files["stdout"] != a {
		t.Fatalf("after the second rollover: %v", names(files))
	}
	// A third rolled file: only the newest two are kept.
	clock.t = clock.t.Add(time.Second)
	write(t, w, b)
	files = dirFiles(t, filepath.Dir(path))
	want := []string{"stdout", "stdout--2026-01-02--03-04-05--0007--0", "stdout--2026-01-02--03-04-06--0007"}
	if got := names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
	if w.Close() != nil || w.Close() != nil {
		t.Error("Close failed")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("write after Close: no error")
	}
}

func TestRollingByTimeCompressed(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	w, path := newTestRolling(t, logRolling{interval: time.Minute, layout: "--2006-01-02--15-04-05", compress: true,
		maxRetained: -1}, clock, "")
	write(t, w, "one\n")
	clock.t = time.Date(2026, 1, 2, 3, 4, 59, 0, time.UTC)
	write(t, w, "two\n") // still before 03:05:00
	clock.t = time.Date(2026, 1, 2, 3, 5, 1, 0, time.UTC)
	write(t, w, "three\n")
	files := dirFiles(t, filepath.Dir(path))
	gz, ok := files["stdout--2026-01-02--03-05-01.gz"]
	if !ok || files["stdout"] != "three\n" || len(files) != 2 {
		t.Fatalf("files %v", names(files))
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(gz)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != "one\ntwo\n" {
		t.Fatalf("rolled file holds %q, %v", plain, err)
	}
	// The next rollover is due after 03:06:00, not a minute after the last.
	clock.t = time.Date(2026, 1, 2, 3, 5, 59, 0, time.UTC)
	write(t, w, "four\n")
	if len(dirFiles(t, filepath.Dir(path))) != 2 {
		t.Fatal("rolled before the next boundary")
	}
	// The worker UI reads the compressed file back, in order, in ranges.
	root := t.TempDir()
	logDir := filepath.Join(root, "app-z", "0")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range dirFiles(t, filepath.Dir(path)) {
		if err := os.WriteFile(filepath.Join(logDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(webui.NewWorkerHandler(dirSource(root), webui.Options{}))
	t.Cleanup(srv.Close)
	if body := getPage(t, srv.URL+"/log?appId=app-z&executorId=0&logType=stdout"); !strings.HasSuffix(body, "====\none\ntwo\nthree\nfour\n") ||
		!strings.Contains(body, "Bytes 0-19 of 19") {
		t.Errorf("log through the UI: %q", body)
	}
	if body := getPage(t, srv.URL+"/log?appId=app-z&executorId=0&logType=stdout&offset=5&byteLength=6"); !strings.HasSuffix(body, "====\nwo\nthr") {
		t.Errorf("a range across the gzipped file: %q", body)
	}
}

// dirSource is a worker UI source with only a work dir.
type dirSource string

func (d dirSource) WorkerState() (deploy.WorkerStateResponse, error) {
	return deploy.WorkerStateResponse{}, nil
}
func (d dirSource) WorkDir() string { return string(d) }

// An executor under a size policy: its output is copied into rolling
// files, and the web UI's log reads them all, in order.
func TestExecutorLogsRoll(t *testing.T) {
	t.Parallel()
	sh, err := resolveProgram("sh")
	if err != nil {
		t.Skip("no sh")
	}
	f := &fakeMaster{}
	f.answer = func(r deploy.RegisterWorker) any {
		return deploy.RegisteredWorker{Master: f.self, MasterAddress: r.MasterAddress}
	}
	startFakeMaster(t, f)
	w := startWorker(t, workerSpec{masters: []string{f.url()}, conf: []string{"spark.executor.logs.rolling.strategy", "size",
		"spark.executor.logs.rolling.maxSize", "100000"}})
	waitFor(t, "Registered()", w.Registered)
	var ref *rpcenv.Ref
	for _, m := range f.d.messages() {
		if r, ok := m.(deploy.RegisterWorker); ok {
			ref = r.Worker
		}
	}
	// 250 lines of 1000 bytes: 250000 bytes, in 100000-byte files.
	script := `i=0; while [ $i -lt 250 ]; do printf '%0999d\n' $i; i=$((i+1)); done; echo done >&2`
	desc := deploy.ApplicationDescription{Name: "roll", Command: deploy.Command{MainClass: sh, Arguments: []string{"-c", script}}}
	if err := ref.Send(deploy.LaunchExecutor{MasterURL: f.url(), AppID: "app-roll", ExecID: 0, AppDesc: desc, Cores: 1, MemoryMB: 10}); err != nil {
		t.Fatal(err)
	}
	e := finishedExecutor(t, w, "app-roll", 0)
	if e.State != deploy.ExecutorExited || *e.ExitStatus != 0 {
		t.Fatalf("executor %+v", e)
	}
	dir := executorDir(w, "app-roll", 0)
	files := dirFiles(t, dir)
	var rolled []string
	var all strings.Builder
	for _, n := range names(files) {
		if strings.HasPrefix(n, "stdout--") {
			rolled = append(rolled, n)
			all.WriteString(files[n])
		}
	}
	all.WriteString(files["stdout"])
	if len(rolled) < 2 || all.Len() != 250_000 || !strings.HasPrefix(all.String(), strings.Repeat("0", 999)+"\n") ||
		!strings.HasSuffix(all.String(), "249\n") {
		t.Fatalf("rolled %v, %d bytes in all", rolled, all.Len())
	}
	for _, n := range rolled {
		if len(files[n]) > 100_000 {
			t.Errorf("%s has %d bytes, over the 100000 limit", n, len(files[n]))
		}
	}
	if !strings.HasPrefix(files["stderr"], "Spark Executor Command: ") || !strings.HasSuffix(files["stderr"], "done\n") {
		t.Errorf("stderr %q", files["stderr"])
	}
	srv := httptest.NewServer(webui.NewWorkerHandler(w, webui.Options{}))
	t.Cleanup(srv.Close)
	body := getPage(t, srv.URL+"/log?appId=app-roll&executorId=0&logType=stdout&offset=0&byteLength=300000")
	if !strings.HasSuffix(body, all.String()) || !strings.Contains(body, "of 250000 of") {
		t.Errorf("the UI's log does not join the rolled files (%d bytes): %.200s", len(body), body)
	}
}
