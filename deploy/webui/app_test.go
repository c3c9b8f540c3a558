package webui

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// detailMaster is a fakeMaster that also reports applications' executors
// (an ApplicationSource).
type detailMaster struct {
	*fakeMaster
	details map[string]deploy.ApplicationDetail
	err     error
}

func (d *detailMaster) ApplicationDetail(id string) (deploy.ApplicationDetail, error) {
	if d.err != nil {
		return deploy.ApplicationDetail{}, d.err
	}
	a, ok := d.details[id]
	if !ok {
		return a, errors.New("no such application")
	}
	return a, nil
}

const runningApp = "app-20240101000000-0000"

func intp(n int) *int { return &n }

// appDetails are the running app of clusterState with two live executors
// on worker1 and one failed on worker2 (whose UI address is hostile), and
// the completed app, its executor KILLED.
func appDetails() map[string]deploy.ApplicationDetail {
	st := clusterState()
	on := func(id int, worker string, port int, ui string, state deploy.ExecutorState) deploy.ExecutorSummary {
		return deploy.ExecutorSummary{ID: id, WorkerID: worker, WorkerHost: "10.0.0." + strconv.Itoa(port-40000), WorkerPort: port,
			WorkerWebUI: ui, Cores: 2, Memory: 1024, State: state}
	}
	return map[string]deploy.ApplicationDetail{
		runningApp: {
			ApplicationInfoJSON: st.ActiveApps[0], CoresRequested: intp(8), AppUIURL: "http://driver.example:4040",
			Executors: []deploy.ExecutorSummary{
				on(1, worker1, 40001, "http://10.0.0.1:8081/", deploy.ExecutorLaunching),
				on(0, worker1, 40001, "http://10.0.0.1:8081", deploy.ExecutorRunning),
			},
			RemovedExecutors: []deploy.ExecutorSummary{on(2, worker2, 40002, "javascript:alert(1)", deploy.ExecutorFailed)},
		},
		st.CompletedApps[0].ID: {
			ApplicationInfoJSON: st.CompletedApps[0], AppUIURL: "http://driver.example:4041",
			Executors: []deploy.ExecutorSummary{on(0, worker2, 40002, "", deploy.ExecutorKilled)},
		},
	}
}

// table is the HTML of the table with the given id ("" when absent).
func table(body, id string) string {
	_, rest, ok := strings.Cut(body, `<table id="`+id+`">`)
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "</table>")
	return t
}

func TestAppPage(t *testing.T) {
	h := NewMasterHandler(&detailMaster{fakeMaster: &fakeMaster{st: clusterState()}, details: appDetails()}, Options{KillEnabled: true})
	rec := get(t, h, "/app/?appId="+runningApp)
	wantCode(t, rec, http.StatusOK)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"<title>Application: Spark Pi &lt;script&gt;alert(1)&lt;/script&gt;</title>",
		`<a href="../">` + runningApp + `</a>`,
		`id="app-id">` + runningApp + `<`,
		`id="app-name">Spark Pi &lt;script&gt;alert(1)&lt;/script&gt;<`,
		`id="app-user">alice<`,
		`id="app-cores">8 (4 granted)<`,
		`id="app-memory">1024.0 MiB<`,
		`id="app-submitted">` + msTime(1700000000000) + `<`,
		`id="app-state">RUNNING<`,
		`id="app-duration">13 min<`,
		`<a href="http://driver.example:4040" id="app-driver">`,
		"gpu: 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("app page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("app page has an unescaped <script>")
	}

	live := table(body, "executors")
	if n := strings.Count(live, "<tr>") - 1; n != 2 { // minus the header row
		t.Errorf("%d live executor rows, want 2:\n%s", n, live)
	}
	for _, want := range []string{
		`<a href="http://10.0.0.1:8081">` + worker1 + `</a>`,
		`href="http://10.0.0.1:8081/logPage/?appId=` + runningApp + `&amp;executorId=0&amp;logType=stdout"`,
		`href="http://10.0.0.1:8081/logPage/?appId=` + runningApp + `&amp;executorId=1&amp;logType=stderr"`,
		"RUNNING", "LAUNCHING", "1024.0 MiB",
	} {
		if !strings.Contains(live, want) {
			t.Errorf("executors table lacks %q", want)
		}
	}
	// By id: executor 0 first.
	if i0, i1 := strings.Index(live, "executorId=0"), strings.Index(live, "executorId=1"); i0 < 0 || i1 < i0 {
		t.Errorf("executors out of order:\n%s", live)
	}
	removed := table(body, "removed-executors")
	if n := strings.Count(removed, "<tr>") - 1; n != 1 || !strings.Contains(removed, "FAILED") || !strings.Contains(removed, worker2) {
		t.Errorf("removed executors:\n%s", removed)
	}
	// A hostile worker UI address is not a live link.
	if strings.Contains(body, "javascript:") || !strings.Contains(removed, "#ZgotmplZ") {
		t.Errorf("hostile worker UI address rendered as:\n%s", removed)
	}

	// The path without the slash, and a completed app: its executors are
	// removed ones, and its driver UI is no longer linked.
	done := clusterState().CompletedApps[0].ID
	body = get(t, h, "/app?appId="+done).Body.String()
	if table(body, "executors") != "" || !strings.Contains(body, "No live executors.") ||
		!strings.Contains(table(body, "removed-executors"), "KILLED") || strings.Contains(body, `id="app-driver"`) ||
		!strings.Contains(body, "http://driver.example:4041 (ended)") || !strings.Contains(body, `id="app-cores">Unlimited (2 granted)<`) {
		t.Errorf("completed app page:\n%s", body)
	}
	if strings.Contains(table(body, "removed-executors"), "logPage") {
		t.Error("an executor without a worker UI has log links")
	}

	// Unknown and missing ids.
	wantCode(t, get(t, h, "/app/?appId=app-nope"), http.StatusNotFound)
	wantCode(t, get(t, h, "/app/"), http.StatusBadRequest)
	wantCode(t, get(t, h, "/app/?appId=%20"), http.StatusBadRequest)
	wantCode(t, do(t, h, http.MethodPost, "/app/?appId="+runningApp, nil), http.StatusMethodNotAllowed)
}

func TestAppPageWithoutDetail(t *testing.T) {
	// A source without executors: the summary from MasterState and a note.
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{})
	rec := get(t, h, "/app/?appId="+runningApp)
	wantCode(t, rec, http.StatusOK)
	body := rec.Body.String()
	if !strings.Contains(body, `id="app-cores">Unlimited (4 granted)<`) || !strings.Contains(body, `id="app-note">This master does not report executors.<`) ||
		table(body, "executors") != "" {
		t.Errorf("page without detail:\n%s", body)
	}
	wantCode(t, get(t, h, "/app/?appId=app-nope"), http.StatusNotFound)

	// A source whose detail fails: the summary and the error.
	h = NewMasterHandler(&detailMaster{fakeMaster: &fakeMaster{st: clusterState()}, err: errors.New("ask timed out")}, Options{})
	body = get(t, h, "/app/?appId="+runningApp).Body.String()
	if !strings.Contains(body, "The executors could not be read: ask timed out") {
		t.Errorf("page after a failed detail:\n%s", body)
	}
	// The state failing too: 503.
	f := &fakeMaster{st: clusterState(), err: errors.New("down")}
	wantCode(t, get(t, NewMasterHandler(f, Options{}), "/app/?appId="+runningApp), http.StatusServiceUnavailable)
}

func TestMasterPageLinksApps(t *testing.T) {
	body := get(t, NewMasterHandler(&fakeMaster{st: clusterState()}, Options{}), "/").Body.String()
	for _, a := range append(clusterState().ActiveApps, clusterState().CompletedApps...) {
		if want := `<a href="app/?appId=` + a.ID + `">` + a.ID + `</a>`; !strings.Contains(body, want) {
			t.Errorf("master page lacks %q", want)
		}
	}
}

func TestKillConfirmation(t *testing.T) {
	st := clusterState()
	hostile := `app-x" onmouseover="alert(1)`
	st.ActiveApps = append(st.ActiveApps, deploy.ApplicationInfoJSON{ID: hostile, Name: "h", State: deploy.AppRunning})
	f := &fakeMaster{st: st}
	h := NewMasterHandler(f, Options{KillEnabled: true})
	rec := get(t, h, "/")
	body := rec.Body.String()
	for _, want := range []string{
		`data-confirm="Are you sure you want to kill application app-20240101000000-0000?"`,
		`data-confirm="Are you sure you want to kill application app-20240101000001-0001?"`,
		`data-confirm="Are you sure you want to kill driver driver-20240101000000-0000?"`,
		`data-confirm="Are you sure you want to kill application app-x&#34; onmouseover=&#34;alert(1)?"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, `" onmouseover="`) {
		t.Error("a hostile id broke out of its attribute")
	}
	// Every kill button asks, with the one handler the CSP allows by hash.
	forms := strings.Count(body, `<form class="kill"`)
	if n := strings.Count(body, `onclick="`+confirmHandler+`"`); forms != 5 || n != forms {
		t.Errorf("%d kill forms, %d confirming buttons; want 5 and 5", forms, n)
	}
	sum := sha256.Sum256([]byte(confirmHandler))
	csp := rec.Header().Get("Content-Security-Policy")
	if want := "script-src 'unsafe-hashes' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}
	if strings.Contains(csp, "'unsafe-inline'") && !strings.Contains(csp, "style-src 'unsafe-inline'") {
		t.Errorf("CSP allows inline scripts: %q", csp)
	}
	// The endpoints stay POST-only.
	for _, p := range []string{"/app/kill?id=" + runningApp, "/driver/kill?id=driver-20240101000000-0000"} {
		wantCode(t, get(t, h, p), http.StatusMethodNotAllowed)
	}
	if apps, drivers := f.kills(); len(apps)+len(drivers) != 0 {
		t.Errorf("GETs killed %v %v", apps, drivers)
	}
}

func TestWorkerPageCoresAndMainClass(t *testing.T) {
	st := workerState()
	st.Drivers[0].MainClass = "/opt/jobs/wordcount"
	body := get(t, NewWorkerHandler(&fakeWorker{st: st}, Options{}), "/").Body.String()
	ex := table(body, "running-executors")
	// The executor's own 2 cores, not its app's spark.cores.max (4).
	if !strings.Contains(ex, `<td class="num">2</td>`) || strings.Contains(ex, `<td class="num">4</td>`) {
		t.Errorf("executor cores:\n%s", ex)
	}
	if d := table(body, "running-drivers"); !strings.Contains(d, `<td class="mono">/opt/jobs/wordcount</td>`) {
		t.Errorf("driver main class:\n%s", d)
	}
}

// ---- Spark's PrometheusServlet ----

// sparkLine is PrometheusServlet's gauge line.
var sparkLine = regexp.MustCompile(`^(metrics_[A-Za-z0-9_]+_)(Number|Value)\{type="gauges"\} (-?[0-9]+)$`)

// sparkGauges parses Spark's lines of a metrics page into name → value
// (Number and Value must agree); other lines are ignored.
func sparkGaugesOf(t *testing.T, body string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "metrics_") {
			continue
		}
		m := sparkLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("malformed Spark line %q", line)
			continue
		}
		v, _ := strconv.ParseInt(m[3], 10, 64)
		if old, ok := out[m[1]]; ok && old != v {
			t.Errorf("%s: Number and Value differ (%d, %d)", m[1], old, v)
		}
		out[m[1]] = v
	}
	return out
}

// javaKey is Spark's key normalization, written apart from the code under
// test: every char outside [a-zA-Z0-9] becomes '_'.
func javaKey(key string) string {
	return "metrics_" + regexp.MustCompile(`[^a-zA-Z0-9]`).ReplaceAllString(key, "_") + "_"
}

func TestSparkMasterPrometheus(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(f, Options{})
	var st deploy.MasterStateResponse
	if err := json.Unmarshal(get(t, h, "/json").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	alive, waiting := 0, 0
	for _, w := range st.Workers {
		if w.State == deploy.WorkerAlive {
			alive++
		}
	}
	for _, a := range st.ActiveApps {
		if a.State == deploy.AppWaiting {
			waiting++
		}
	}
	num := func(name string, v int) string {
		s := strconv.Itoa(v)
		return name + `Number{type="gauges"} ` + s + "\n" + name + `Value{type="gauges"} ` + s + "\n"
	}
	// Spark's order: by key.
	want := num("metrics_master_aliveWorkers_", alive) + num("metrics_master_apps_", len(st.ActiveApps)) +
		num("metrics_master_waitingApps_", waiting) + num("metrics_master_workers_", len(st.Workers))
	for _, p := range []string{"/metrics/master/prometheus", "/metrics/master/prometheus/"} {
		rec := get(t, h, p)
		wantCode(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if got := rec.Body.String(); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", p, got, want)
		}
	}
	if alive != 1 || waiting != 1 || len(st.Workers) != 2 || len(st.ActiveApps) != 2 {
		t.Fatalf("fixture changed: alive %d waiting %d", alive, waiting)
	}

	// Applications: the active ones, runtime and granted cores as /json has them.
	apps := sparkGaugesOf(t, get(t, h, "/metrics/applications/prometheus").Body.String())
	if len(apps) != 2*len(st.ActiveApps) {
		t.Errorf("application gauges %v, want 2 per active app", apps)
	}
	for _, a := range st.ActiveApps {
		src := "application." + a.Name + "." + strconv.FormatInt(a.StartTime, 10) + "."
		if got, ok := apps[javaKey(src+"runtime_ms")]; !ok || got != a.Duration {
			t.Errorf("%s runtime_ms = %d (%v), want %d", a.ID, got, ok, a.Duration)
		}
		if got, ok := apps[javaKey(src+"cores")]; !ok || got != int64(a.Cores) {
			t.Errorf("%s cores = %d (%v), want %d", a.ID, got, ok, a.Cores)
		}
	}
	if _, ok := apps["metrics_application_Spark_Pi__script_alert_1___script__1700000000000_cores_"]; !ok {
		t.Errorf("the running app's name is not normalized as Spark does: %v", apps)
	}

	// /metrics/prometheus: Ember's metrics, then Spark's master and
	// application lines, in the text format whatever the client asks.
	rec := do(t, h, http.MethodGet, "/metrics/prometheus", nil,
		"Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"Accept-Encoding", "gzip")
	wantCode(t, rec, http.StatusOK)
	body := rec.Body.String()
	if got := metricValue(t, body, "ember_master_alive_workers"); got != "1" {
		t.Errorf("ember_master_alive_workers = %q", got)
	}
	all := sparkGaugesOf(t, body)
	if all["metrics_master_workers_"] != 2 || all["metrics_master_aliveWorkers_"] != 1 || len(all) != 4+len(apps) {
		t.Errorf("Spark gauges at /metrics/prometheus: %v", all)
	}
	checkExposition(t, body)

	// The state unavailable: 503 on Spark's paths, Ember's up gauge 0.
	f.mu.Lock()
	f.err = errors.New("down")
	f.mu.Unlock()
	wantCode(t, get(t, h, "/metrics/master/prometheus"), http.StatusServiceUnavailable)
	wantCode(t, get(t, h, "/metrics/applications/prometheus"), http.StatusServiceUnavailable)
	body = get(t, h, "/metrics/prometheus").Body.String()
	if metricValue(t, body, "ember_master_up") != "0" || strings.Contains(body, "\nmetrics_") {
		t.Errorf("metrics with the state down:\n%s", body)
	}
}

// checkExposition checks every line of a text-format page: comments, or a
// sample "name[{labels}] value", each name's samples together.
func checkExposition(t *testing.T, body string) {
	t.Helper()
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)
	ended := map[string]bool{}
	last := ""
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("malformed line %q", line)
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if name != last {
			if ended[name] {
				t.Errorf("samples of %s are split", name)
			}
			ended[last] = true
			last = name
		}
		if _, err := strconv.ParseFloat(m[3], 64); err != nil {
			t.Errorf("line %q: value: %v", line, err)
		}
	}
}

func TestSparkApplicationGaugeNames(t *testing.T) {
	// Names are normalized per character; of two apps whose names clash,
	// the one registered first is reported (Spark's registry refuses the
	// second); completed apps have no gauges.
	st := deploy.MasterStateResponse{
		ActiveApps: []deploy.ApplicationInfoJSON{
			{ID: "app-2", Name: "a_b", StartTime: 1000, Duration: 20, Cores: 2, State: deploy.AppRunning},
			{ID: "app-1", Name: "a b", StartTime: 1000, Duration: 10, Cores: 1, State: deploy.AppRunning},
			{ID: "app-0", Name: "a.b", StartTime: 999, Duration: 30, Cores: 3, State: deploy.AppRunning},
			{ID: "app-3", Name: "héllo wörld", StartTime: 5, Duration: 7, Cores: 0, State: deploy.AppWaiting},
		},
		CompletedApps: []deploy.ApplicationInfoJSON{{ID: "app-9", Name: "done", StartTime: 1, Duration: 1, State: deploy.AppFinished}},
	}
	got := sparkGaugesOf(t, get(t, NewMasterHandler(&fakeMaster{st: st}, Options{}), "/metrics/applications/prometheus").Body.String())
	want := map[string]int64{
		"metrics_application_a_b_999_runtime_ms_":       30,
		"metrics_application_a_b_999_cores_":            3,
		"metrics_application_a_b_1000_runtime_ms_":      20, // app-2, listed first at the same time
		"metrics_application_a_b_1000_cores_":           2,
		"metrics_application_h_llo_w_rld_5_runtime_ms_": 7,
		"metrics_application_h_llo_w_rld_5_cores_":      0,
	}
	if len(got) != len(want) {
		t.Errorf("gauges %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %d (%v), want %d", k, g, ok, v)
		}
	}
}

func TestSparkWorkerPrometheus(t *testing.T) {
	h := NewWorkerHandler(&fakeWorker{st: workerState()}, Options{})
	var st deploy.WorkerStateResponse
	if err := json.Unmarshal(get(t, h, "/json").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/metrics/prometheus", "/metrics/prometheus/"} {
		rec := get(t, h, p)
		wantCode(t, rec, http.StatusOK)
		body := rec.Body.String()
		// Ember's names keep working.
		if got := metricValue(t, body, "ember_worker_cores_total"); got != "8" {
			t.Errorf("ember_worker_cores_total = %q", got)
		}
		got := sparkGaugesOf(t, body)
		want := map[string]int64{
			"metrics_worker_executors_":  int64(len(st.Executors)),
			"metrics_worker_coresUsed_":  int64(st.CoresUsed),
			"metrics_worker_memUsed_MB_": int64(st.MemoryUsed),
			"metrics_worker_coresFree_":  int64(st.Cores - st.CoresUsed),
			"metrics_worker_memFree_MB_": int64(st.Memory - st.MemoryUsed),
		}
		if len(got) != len(want) {
			t.Errorf("%s: Spark gauges %v, want %v", p, got, want)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %d (%v), want %d", p, k, g, ok, v)
			}
		}
		if got["metrics_worker_coresFree_"] != 6 || got["metrics_worker_memFree_MB_"] != 14336 {
			t.Errorf("fixture: %v", got)
		}
		checkExposition(t, body)
	}
	// The worker has no master or application paths.
	wantCode(t, get(t, h, "/metrics/master/prometheus"), http.StatusNotFound)
}

func TestNewRoutesBehindBasicAuth(t *testing.T) {
	h := NewMasterHandler(&detailMaster{fakeMaster: &fakeMaster{st: clusterState()}, details: appDetails()},
		Options{BasicAuth: &BasicAuth{User: "admin", Password: "s3cret"}})
	for _, p := range []string{"/app/?appId=" + runningApp, "/metrics/master/prometheus", "/metrics/applications/prometheus"} {
		wantCode(t, get(t, h, p), http.StatusUnauthorized)
		wantCode(t, do(t, h, http.MethodGet, p, nil, "Authorization", basic("admin", "s3cret")), http.StatusOK)
	}
}
