package webui

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// status GETs url and returns its status code ("" error when it failed).
func status(c *http.Client, u string) (int, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitClosed reads from c until the server closes it; it fails if our own
// (generous) deadline fires first: the server never cut the connection.
func waitClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testutil.WaitLimit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a stalled connection open (read %q)", b)
	}
	return string(b)
}

// TestSlowClientsAreCut: a client that stalls in its headers or its body
// is disconnected by the server's timeouts, and a legitimate client is
// served meanwhile and after.
func TestSlowClientsAreCut(t *testing.T) {
	testutil.CheckLeaks(t)
	fm := &fakeMaster{st: clusterState()}
	cfg := ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}
	srv, err := ListenConfig("127.0.0.1", 0, NewMasterHandler(fm, Options{KillEnabled: true}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hc := &http.Client{Timeout: testutil.WaitLimit, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	addr := srv.Addr().String()

	slowBody, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowBody.Close()
	fmt.Fprintf(slowBody, "POST /app/kill HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nid=", addr)
	slowHeaders, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowHeaders.Close()
	fmt.Fprintf(slowHeaders, "GET /json HTTP/1.1\r\nHost: %s\r\nX-Slow: ", addr)

	if code, err := status(hc, srv.URL()+"/json"); err != nil || code != http.StatusOK {
		t.Fatalf("legitimate client while two stall: %d %v", code, err)
	}
	got := waitClosed(t, slowBody)
	if strings.Contains(got, "302") {
		t.Fatalf("a request with a truncated body was acted on: %q", got)
	}
	waitClosed(t, slowHeaders)
	if apps, _ := fm.kills(); len(apps) != 0 {
		t.Fatalf("kills from stalled requests: %v", apps)
	}
	if code, err := status(hc, srv.URL()+"/json"); err != nil || code != http.StatusOK {
		t.Fatalf("legitimate client after: %d %v", code, err)
	}
}

// TestServerDefaultsHaveTimeouts: Listen sets every timeout.
func TestServerDefaultsHaveTimeouts(t *testing.T) {
	testutil.CheckLeaks(t)
	srv, err := Listen("127.0.0.1", 0, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := srv.srv
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v read %v write %v idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}

// bigLog makes an executor log of n bytes (sparse) in a work dir.
func bigLog(t *testing.T, n int64) string {
	t.Helper()
	dir := t.TempDir()
	exec := filepath.Join(dir, "app-1", "0")
	if err := os.MkdirAll(exec, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(exec, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("<first line & more>\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir
}

// discardWriter is a ResponseWriter that counts and drops the body.
type discardWriter struct {
	h    http.Header
	n    int64
	code int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.n += int64(len(p))
	return len(p), nil
}
func (d *discardWriter) WriteHeader(code int) { d.code = code }

// TestLogIsStreamed: a 16 MiB log request, raw and as a page, is served
// whole without holding the range in memory (the bytes allocated stay a
// small fraction of the bytes served), and byteLength is capped.
func TestLogIsStreamed(t *testing.T) {
	const size = 64 << 20
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: bigLog(t, size)}, Options{})
	for _, path := range []string{"/log", "/logPage/"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, path+"?appId=app-1&executorId=0&logType=stdout&offset=0&byteLength="+fmt.Sprint(int64(size)), nil)
			w := &discardWriter{h: http.Header{}}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.ServeHTTP(w, req)
			runtime.ReadMemStats(&after)
			if w.code != http.StatusOK {
				t.Fatalf("status %d", w.code)
			}
			if w.n < maxLogBytes || w.n > maxLogBytes*6+1<<20 { // the page escapes NULs as 3-byte U+FFFD
				t.Fatalf("served %d bytes for byteLength capped at %d", w.n, maxLogBytes)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc > 4<<20 {
				t.Fatalf("%d bytes allocated to serve %d: the range was built in memory", alloc, w.n)
			}
			t.Logf("%d bytes allocated to serve %d", alloc, w.n)
		})
	}
}

// TestLogPageEscapesStreamedText: the streamed page still escapes the log.
func TestLogPageEscapesStreamedText(t *testing.T) {
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: bigLog(t, 20)}, Options{})
	rec := get(t, h, "/logPage/?appId=app-1&executorId=0&logType=stdout")
	wantCode(t, rec, http.StatusOK)
	body := rec.Body.String()
	if !strings.Contains(body, "&lt;first line &amp; more&gt;") || strings.Contains(body, "<first line") {
		t.Fatalf("log text not escaped in the page:\n%s", body)
	}
	if strings.Contains(body, logToken) {
		t.Fatal("the placeholder leaked into the page")
	}
	raw := get(t, h, "/log?appId=app-1&executorId=0&logType=stdout")
	if !strings.HasPrefix(raw.Body.String(), "==== Bytes 0-20 of 20 of ") || !strings.Contains(raw.Body.String(), "<first line & more>") {
		t.Fatalf("raw log: %q", raw.Body.String())
	}
}

// TestLogRequestsAreLimited: readers that do not read hold their slots;
// past MaxLogRequests others get 503 at once, and once the readers go
// a legitimate request is served.
func TestLogRequestsAreLimited(t *testing.T) {
	testutil.CheckLeaks(t)
	const slots = 2
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: bigLog(t, 64<<20)}, Options{MaxLogRequests: slots})
	srv, err := Listen("127.0.0.1", 0, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hc := &http.Client{Timeout: testutil.WaitLimit, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	addr := srv.Addr().String()
	var hogs []net.Conn
	defer func() {
		for _, c := range hogs {
			c.Close()
		}
	}()
	for i := 0; i < slots; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, c)
		// 16 MiB that this client never reads: the server's writes block.
		fmt.Fprintf(c, "GET /log?appId=app-1&executorId=0&logType=stdout&offset=0&byteLength=16777216 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		// Wait until its answer started: the slot is taken.
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			t.Fatalf("hog %d: %q %v", i, line, err)
		}
	}
	small := srv.URL() + "/log?appId=app-1&executorId=0&logType=stdout&byteLength=10"
	if code, err := status(hc, small); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("log request past the limit: %d %v, want 503", code, err)
	}
	if code, err := status(hc, srv.URL()+"/json"); err != nil || code != http.StatusOK {
		t.Fatalf("/json while the log slots are taken: %d %v", code, err)
	}
	for _, c := range hogs {
		c.Close()
	}
	hogs = nil
	testutil.Eventually(t, testutil.WaitLimit, "a log slot to free", func() (bool, string) {
		code, err := status(hc, small)
		return err == nil && code == http.StatusOK, fmt.Sprint(code, err)
	})
}

// TestKillNeedsSecret: with spark.authenticate on, the kill endpoints ask
// for the secret; with basic auth on, its credentials; the status pages
// stay readable.
func TestKillNeedsSecret(t *testing.T) {
	appID := clusterState().ActiveApps[0].ID
	form := url.Values{"id": {appID}}
	t.Run("spark.authenticate", func(t *testing.T) {
		fm := &fakeMaster{st: clusterState()}
		h := NewMasterHandler(fm, Options{KillEnabled: true, KillSecret: "s3cret"})
		wantCode(t, do(t, h, http.MethodPost, "/app/kill", form), http.StatusUnauthorized)
		wrong := do(t, h, http.MethodPost, "/app/kill", form, "Authorization", basic("x", "guess"))
		wantCode(t, wrong, http.StatusUnauthorized)
		wantCode(t, do(t, h, http.MethodPost, "/workers/kill", url.Values{"host": {"h"}}), http.StatusUnauthorized)
		wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"d"}}), http.StatusUnauthorized)
		if apps, drivers := fm.kills(); len(apps)+len(drivers) != 0 {
			t.Fatalf("killed without the secret: %v %v", apps, drivers)
		}
		wantCode(t, do(t, h, http.MethodPost, "/app/kill", form, "Authorization", basic("anyone", "s3cret")), http.StatusFound)
		if apps, _ := fm.kills(); len(apps) != 1 || apps[0] != appID {
			t.Fatalf("kill with the secret: %v", apps)
		}
		wantCode(t, get(t, h, "/json"), http.StatusOK)
	})
	t.Run("basic auth", func(t *testing.T) {
		fm := &fakeMaster{st: clusterState()}
		h := NewMasterHandler(fm, Options{KillEnabled: true, KillSecret: "s3cret", BasicAuth: &BasicAuth{User: "ops", Password: "pw"}})
		wantCode(t, do(t, h, http.MethodPost, "/app/kill", form, "Authorization", basic("anyone", "s3cret")), http.StatusUnauthorized)
		wantCode(t, do(t, h, http.MethodPost, "/app/kill", form, "Authorization", basic("ops", "pw")), http.StatusFound)
	})
	t.Run("oversized form", func(t *testing.T) {
		fm := &fakeMaster{st: clusterState()}
		h := NewMasterHandler(fm, Options{KillEnabled: true})
		big := url.Values{"id": {appID}, "pad": {strings.Repeat("x", maxFormBytes)}}
		wantCode(t, do(t, h, http.MethodPost, "/app/kill", big), http.StatusBadRequest)
		if apps, _ := fm.kills(); len(apps) != 0 {
			t.Fatalf("killed from an oversized form: %v", apps)
		}
	})
}

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}
