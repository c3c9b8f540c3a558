//go:build linux

package e2e

import (
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// TestWebUIApplicationPageAndMetrics: a master, a worker of 2 cores and an
// application asking for 3. The master's application page lists the
// executor (2 cores) on the worker, linked to the worker's UI, and its
// stdout link serves the executor's stdout; the worker page's Cores column
// shows the executor's 2 (not the app's spark.cores.max of 3); Spark's
// PrometheusServlet lines on both UIs agree with /json, and Ember's own
// names are still served.
func TestWebUIApplicationPageAndMetrics(t *testing.T) {
	c := newCluster(t)
	m := c.startMaster("master", masterOpts{})
	w := c.startWorker("worker", m.url, workerOpts{cores: 2})
	m.waitState(t, "1 ALIVE worker", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })

	marker := "e2e-webui-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(c.dir)
	d := c.newDriver(true, m)
	appID := d.register(appDesc("e2e <ui> app", 3, marker, map[string]string{"FAKEEXEC_PID_DIR": c.mkdir("pids")}))
	d.waitMsg("ExecutorUpdated(0, RUNNING)", func(msg any) bool {
		u, ok := msg.(deploy.ExecutorUpdated)
		return ok && u.ID == 0 && u.State == deploy.ExecutorRunning
	})
	out := execOutput(t, filepath.Join(w.executorDir(appID, 0), "stdout"))
	st := m.waitState(t, "the app RUNNING with 2 cores", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		return ok && a.State == deploy.AppRunning && a.Cores == 2
	})
	workerUI := st.Workers[0].WebUIAddress

	// The application page, linked from the master page.
	if page := string(httpBody(t, m.uiURL+"/")); !strings.Contains(page, `<a href="app/?appId=`+appID+`">`) {
		t.Errorf("the master page does not link to the app page")
	}
	page := string(httpBody(t, m.uiURL+"/app/?appId="+appID))
	for _, want := range []string{
		`id="app-name">e2e &lt;ui&gt; app<`, `id="app-user">e2e<`, `id="app-cores">3 (2 granted)<`,
		`id="app-memory">64.0 MiB<`, `id="app-state">RUNNING<`,
		`<a href="` + workerUI + `">` + w.id + `</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("app page lacks %q", want)
		}
	}
	stdout := regexp.MustCompile(`href="([^"]*logType=stdout)"`).FindStringSubmatch(page)
	if stdout == nil {
		t.Fatalf("app page has no stdout link:\n%s", page)
	}
	logURL := html.UnescapeString(stdout[1])
	if !strings.HasPrefix(logURL, workerUI+"/logPage/?") {
		t.Errorf("stdout link %q is not the worker UI's log page", logURL)
	}
	if log := string(httpBody(t, logURL)); !strings.Contains(log, "pid="+out["pid"]) {
		t.Errorf("the stdout link does not show the executor's stdout (pid=%s):\n%s", out["pid"], tail(log, 2000))
	}

	// The worker page: the executor's cores.
	wpage := string(httpBody(t, w.uiURL+"/"))
	_, rows, _ := strings.Cut(wpage, `<table id="running-executors">`)
	rows, _, _ = strings.Cut(rows, "</table>")
	if !strings.Contains(rows, `<td class="num">2</td>`) || strings.Contains(rows, `<td class="num">3</td>`) {
		t.Errorf("worker page executors:\n%s", rows)
	}

	// Spark's metrics.
	gauge := func(url, name string) float64 { return promMetric(t, url, name+`_Value{type="gauges"}`) }
	sparkMaster := m.uiURL + "/metrics/master/prometheus"
	for name, want := range map[string]int{"workers": len(st.Workers), "aliveWorkers": st.AliveWorkers,
		"apps": len(st.ActiveApps), "waitingApps": 0} {
		if got := gauge(sparkMaster, "metrics_master_"+name); got != float64(want) {
			t.Errorf("metrics_master_%s = %v, want %d", name, got, want)
		}
	}
	a, _ := findApp(st.ActiveApps, appID)
	appKey := "metrics_application_e2e__ui__app_" + strconv.FormatInt(a.StartTime, 10) + "_cores"
	if got := gauge(m.uiURL+"/metrics/applications/prometheus", appKey); got != 2 {
		t.Errorf("%s = %v, want 2", appKey, got)
	}
	if got := gauge(m.uiURL+"/metrics/prometheus", "metrics_master_aliveWorkers"); got != 1 {
		t.Errorf("the master's /metrics/prometheus: aliveWorkers %v", got)
	}
	wm := w.uiURL + "/metrics/prometheus"
	for name, want := range map[string]float64{"executors": 1, "coresUsed": 2, "coresFree": 0, "memUsed_MB": 64, "memFree_MB": 512 - 64} {
		if got := gauge(wm, "metrics_worker_"+name); got != want {
			t.Errorf("metrics_worker_%s = %v, want %v", name, got, want)
		}
	}
	if got := promMetric(t, wm, "ember_worker_cores_used"); got != 2 {
		t.Errorf("ember_worker_cores_used = %v, want 2", got)
	}

	// An unknown app is a 404.
	resp, err := httpClient.Get(m.uiURL + "/app/?appId=app-nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown app: %d", resp.StatusCode)
	}
	d.unregister()
	m.waitState(t, "the app FINISHED", func(st deploy.MasterStateResponse) bool {
		_, ok := findApp(st.CompletedApps, appID)
		return ok
	})
	// A completed app's page: its executor is removed, KILLED.
	page = string(httpBody(t, m.uiURL+"/app/?appId="+appID))
	if _, removed, _ := strings.Cut(page, `<table id="removed-executors">`); !strings.Contains(removed, "KILLED") {
		t.Errorf("completed app page:\n%s", page)
	}
}
