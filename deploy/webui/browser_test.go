package webui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ember-rpc/ember/internal/testutil"
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
	f := &fakeMaster{st: st}
	srv, err := Listen("127.0.0.1", 0, NewMasterHandler(&detailMaster{fakeMaster: f, details: appDetails()}, Options{KillEnabled: true}))
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

	browseAppPage(t, bctx, srv.URL())
	confirmKill(t, bctx, f)

	// Close the browser and wait for its process to end.
	bcancel()
	allocCancel()
	if proc != nil {
		if err := proc.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("browser process %d still running after cancel (signal 0: %v)", proc.Pid, err)
		}
	}
}

// browseAppPage follows the running app's link from the master page to
// its application page and checks what the browser renders there.
func browseAppPage(t *testing.T, bctx context.Context, base string) {
	t.Helper()
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#running-apps a[href="app/?appId=`+runningApp+`"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#executors")),
	); err != nil {
		t.Fatalf("following the app link: %v", err)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != base+"/app/?appId="+runningApp {
		t.Errorf("app page at %q", loc)
	}
	name, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#app-name")))
	if err != nil {
		t.Fatal(err)
	}
	if name != "Spark Pi <script>alert(1)</script>" {
		t.Errorf("app name renders as %q", name)
	}
	rows, err := chromedp.Run(bctx, chromedp.Nodes(chromedp.CSSAll("#executors tbody tr")))
	if err != nil {
		t.Fatal(err)
	}
	removed, err := chromedp.Run(bctx, chromedp.Nodes(chromedp.CSSAll("#removed-executors tbody tr")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(removed) != 1 {
		t.Errorf("%d live and %d removed executor rows, want 2 and 1", len(rows), len(removed))
	}
	link, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#executors tbody tr:first-child a[href*=stdout]"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://10.0.0.1:8081/logPage/?appId=" + runningApp + "&executorId=0&logType=stdout"; !link.Exists || link.Value != want {
		t.Errorf("stdout link %+v, want %s", link, want)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#running-apps"))); err != nil {
		t.Fatal(err)
	}
}

// confirmKill clicks the running app's kill button twice, with the
// page's confirm() answering no, then yes, and noting what it was asked:
// the button's handler runs (the CSP allows it by its hash) and asks with
// the button's message; declined, nothing is killed; accepted, the app is
// killed once.
func confirmKill(t *testing.T, bctx context.Context, f *fakeMaster) {
	t.Helper()
	button := chromedp.CSS(`#running-apps button[data-confirm$="` + runningApp + `?"]`)
	want := "Are you sure you want to kill application " + runningApp + "?"
	for i, answer := range []bool{false, true} {
		stub := fmt.Sprintf(`window.emberAsked = []; window.confirm = function (m) { window.emberAsked.push(m); return %v; }; true`, answer)
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](stub)); err != nil {
			t.Fatalf("click %d: stubbing confirm: %v", i, err)
		}
		if err := chromedp.Do(bctx, chromedp.Click(button, chromedp.NodeVisible)); err != nil {
			t.Fatalf("click %d: %v", i, err)
		}
		if answer {
			testutil.Eventually(t, 30*time.Second, "the accepted kill to reach the master", func() (bool, string) {
				apps, _ := f.kills()
				return len(apps) > 0, fmt.Sprint(apps)
			})
			continue
		}
		asked, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.emberAsked`))
		if err != nil {
			t.Fatalf("click %d: reading what confirm was asked: %v", i, err)
		}
		if len(asked) != 1 || asked[0] != want {
			t.Errorf("click %d asked %q, want [%q] (the handler did not run?)", i, asked, want)
		}
	}
	// Wait for the kill's redirect to load the master page (a new
	// document: the stub is gone), then count: the declined click sent
	// nothing.
	testutil.Eventually(t, 30*time.Second, "the redirect to the master page to load", func() (bool, string) {
		done, err := chromedp.Run(bctx, chromedp.Evaluate[bool](
			`document.readyState === "complete" && window.emberAsked === undefined && location.pathname === "/"`))
		return err == nil && done, fmt.Sprint(done, err)
	})
	if apps, drivers := f.kills(); len(apps) != 1 || apps[0] != runningApp || len(drivers) != 0 {
		t.Errorf("killed apps %v drivers %v, want only %s once", apps, drivers, runningApp)
	}
}
