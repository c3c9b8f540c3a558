package webui

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium binary (Debian's package "chromium";
// scripts/chromium.sh installs it), or "".
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserMasterPage renders the master page in headless Chromium and
// checks that both registered workers show in the DOM.
func TestBrowserMasterPage(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("chromium not found (/usr/bin/chromium or chromium-browser); run scripts/chromium.sh to install it")
	}

	st := clusterState() // worker1 ALIVE, worker2 DEAD
	srv, err := Listen("127.0.0.1", 0, NewMasterHandler(&fakeMaster{st: st}, Options{KillEnabled: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, opts...)
	defer allocCancel()
	bctx, bcancel := chromedp.NewContext(allocCtx)
	defer bcancel()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#workers")),
	); err != nil {
		t.Fatalf("loading the master page: %v", err)
	}
	// The browser runs: remember its process to check it is gone at the end.
	var proc *os.Process
	if c := chromedp.FromContext(bctx); c != nil && c.Browser != nil {
		proc = c.Browser.Process()
	}

	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Ember Master at spark://10.0.0.9:7077" {
		t.Errorf("title %q", title)
	}
	// innerText: what is rendered, not just present in the markup.
	workers, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#workers")))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{worker1, worker2} {
		if !strings.Contains(workers, id) {
			t.Errorf("worker %s is not visible; the workers table shows:\n%s", id, workers)
		}
	}
	rows, err := chromedp.Run(bctx, chromedp.Nodes(chromedp.CSSAll("#workers tbody tr")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Errorf("%d worker rows, want 2", len(rows))
	}
	// The alive worker links to its UI.
	link, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#workers a"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if !link.Exists || link.Value != "http://10.0.0.1:8081" {
		t.Errorf("worker link %+v", link)
	}
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#status")))
	if err != nil {
		t.Fatal(err)
	}
	if status != "ALIVE" {
		t.Errorf("status %q", status)
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100 = PNG
	if err != nil {
		t.Fatal(err)
	}
	if len(shot) == 0 || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(shot))
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		t.Fatalf("empty screenshot %v", b)
	}
	path := filepath.Join(t.TempDir(), "master.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot file: %v", err)
	}
	if out := os.Getenv("EMBER_WEBUI_SCREENSHOT"); out != "" {
		_ = os.WriteFile(out, shot, 0o644)
	}

	// Close the browser and wait for its process to end.
	bcancel()
	allocCancel()
	if proc != nil {
		if err := proc.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("browser process %d still running after cancel (signal 0: %v)", proc.Pid, err)
		}
	}
}
