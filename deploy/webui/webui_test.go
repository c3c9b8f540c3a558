package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ember-rpc/ember/deploy"
)

// ---- fakes ----

type fakeMaster struct {
	mu            sync.Mutex
	st            deploy.MasterStateResponse
	err           error
	notReady      bool
	killedApps    []string
	killedDrivers []string
}

func (f *fakeMaster) MasterState() (deploy.MasterStateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.err
}

func (f *fakeMaster) Utilization() (deploy.ClusterUtilization, error) {
	st, err := f.MasterState()
	return ComputeUtilization(st), err
}

func (f *fakeMaster) KillApplication(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.st.ActiveApps {
		if a.ID == id {
			f.killedApps = append(f.killedApps, id)
			return nil
		}
	}
	return fmt.Errorf("application %s: %w", id, ErrNotFound)
}

func (f *fakeMaster) KillDriver(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.st.ActiveDrivers {
		if d.ID == id {
			f.killedDrivers = append(f.killedDrivers, id)
			return nil
		}
	}
	return fmt.Errorf("driver %s: %w", id, ErrNotFound)
}

func (f *fakeMaster) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.notReady
}

func (f *fakeMaster) kills() (apps, drivers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.killedApps), slices.Clone(f.killedDrivers)
}

// decommissioningMaster also serves POST /workers/kill.
type decommissioningMaster struct {
	*fakeMaster
	allowed bool
	got     [][]string
}

func (d *decommissioningMaster) DecommissionHosts(hosts []string) (int, error) {
	d.got = append(d.got, hosts)
	if !d.allowed {
		return 0, ErrDecommissionNotAllowed
	}
	n := 0
	for _, w := range d.st.Workers {
		if slices.Contains(hosts, w.Host) {
			n++
		}
	}
	return n, nil
}

const (
	worker1 = "worker-20240101000000-10.0.0.1-40001"
	worker2 = "worker-20240101000001-10.0.0.2-40002"
)

func gpus(addrs ...string) map[string]deploy.ResourceInformation {
	return map[string]deploy.ResourceInformation{"gpu": {Name: "gpu", Addresses: addrs}}
}

// clusterState is a master with an alive and a dead worker, a running and
// a waiting application, a finished one, and drivers.
func clusterState() deploy.MasterStateResponse {
	return deploy.MasterStateResponse{
		URL: "spark://10.0.0.9:7077",
		Workers: []deploy.WorkerInfoJSON{
			{
				ID: worker2, Host: "10.0.0.2", Port: 40002, WebUIAddress: "http://10.0.0.2:8081",
				Cores: 4, CoresUsed: 0, CoresFree: 4, Memory: 4096, MemoryUsed: 0, MemoryFree: 4096,
				State: deploy.WorkerDead, LastHeartbeat: 1700000000000,
			},
			{
				ID: worker1, Host: "10.0.0.1", Port: 40001, WebUIAddress: "http://10.0.0.1:8081",
				Cores: 8, CoresUsed: 6, CoresFree: 2, Memory: 16384, MemoryUsed: 4096, MemoryFree: 12288,
				Resources: gpus("0", "1"), ResourcesUsed: gpus("0"), ResourcesFree: gpus("1"),
				State: deploy.WorkerAlive, LastHeartbeat: 1700000001000,
			},
		},
		AliveWorkers:  1,
		Cores:         8,
		CoresUsed:     6,
		Memory:        16384,
		MemoryUsed:    4096,
		Resources:     []map[string]deploy.ResourceInformation{gpus("0", "1")},
		ResourcesUsed: []map[string]deploy.ResourceInformation{gpus("0")},
		ActiveApps: []deploy.ApplicationInfoJSON{
			{
				ID: "app-20240101000000-0000", StartTime: 1700000000000, Name: "Spark Pi <script>alert(1)</script>",
				Cores: 4, User: "alice", MemoryPerExecutor: 1024, MemoryPerSlave: 1024,
				ResourcesPerExecutor: []deploy.ResourceAmount{{Name: "gpu", Amount: 1}},
				ResourcesPerSlave:    []deploy.ResourceAmount{{Name: "gpu", Amount: 1}},
				SubmitDate:           "Tue Nov 14 22:13:20 UTC 2023", State: deploy.AppRunning, Duration: 754000,
			},
			{
				ID: "app-20240101000001-0001", StartTime: 1700000100000, Name: "waiting app",
				Cores: 0, User: "bob", MemoryPerExecutor: 2048, MemoryPerSlave: 2048,
				SubmitDate: "Tue Nov 14 22:15:00 UTC 2023", State: deploy.AppWaiting, Duration: 1000,
			},
		},
		CompletedApps: []deploy.ApplicationInfoJSON{
			{
				ID: "app-20231231000000-0099", StartTime: 1690000000000, Name: "old job",
				Cores: 2, User: "carol", MemoryPerExecutor: 512, MemoryPerSlave: 512,
				SubmitDate: "Sat Jul 22 04:26:40 UTC 2023", State: deploy.AppFinished, Duration: 90000,
			},
		},
		ActiveDrivers: []deploy.DriverInfoJSON{
			{ID: "driver-20240101000000-0000", StartTime: "1700000000000", State: deploy.DriverRunning,
				Cores: 1, Memory: 1024, SubmitDate: "Tue Nov 14 22:13:20 UTC 2023", Worker: worker1, MainClass: "org.example.Main"},
			{ID: "driver-20240101000001-0001", StartTime: "1700000050000", State: deploy.DriverSubmitted,
				Cores: 1, Memory: 1024, SubmitDate: "Tue Nov 14 22:14:10 UTC 2023", Worker: "None", MainClass: "org.example.Other"},
		},
		CompletedDrivers: []deploy.DriverInfoJSON{
			{ID: "driver-20231231000000-0042", StartTime: "1690000000000", State: deploy.DriverFinished,
				Cores: 1, Memory: 512, SubmitDate: "Sat Jul 22 04:26:40 UTC 2023", Worker: worker2, MainClass: "org.example.Done"},
		},
		Status: deploy.StateAlive,
		Host:   "10.0.0.9",
		Port:   7077,
	}
}

// ---- helpers ----

func do(t *testing.T, h http.Handler, method, target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodGet, target, nil)
}

func wantCode(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body:\n%s", rec.Code, code, rec.Body.String())
	}
}

// keys lists an object's keys in document order.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var out []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func object(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return m
}

func firstOf(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	var l []json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil || len(l) == 0 {
		t.Fatalf("not a non-empty list: %s", raw)
	}
	return l[0]
}

func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return b.String()
}

func wantKeys(t *testing.T, what string, raw []byte, want ...string) {
	t.Helper()
	if got := keys(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys:\n got %v\nwant %v", what, got, want)
	}
}

// ---- master JSON (JsonProtocolSuite) ----

var (
	masterKeys = []string{"url", "workers", "aliveworkers", "cores", "coresused", "memory", "memoryused",
		"resources", "resourcesused", "activeapps", "completedapps", "activedrivers", "completeddrivers", "status"}
	workerInfoKeys = []string{"id", "host", "port", "webuiaddress", "cores", "coresused", "coresfree",
		"memory", "memoryused", "memoryfree", "resources", "resourcesused", "resourcesfree", "state", "lastheartbeat"}
	appInfoKeys = []string{"id", "starttime", "name", "cores", "user", "memoryperexecutor", "memoryperslave",
		"resourcesperexecutor", "resourcesperslave", "submitdate", "state", "duration"}
	driverInfoKeys = []string{"id", "starttime", "state", "cores", "memory", "resources", "submitdate", "worker", "mainclass"}
	utilKeys       = []string{"waitingDrivers", "cores", "coresused", "coresutilization", "memory", "memoryused", "memoryutilization"}
)

func TestMasterJSON(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{})
	for _, path := range []string{"/json", "/json/"} {
		rec := get(t, h, path)
		wantCode(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s Content-Type %q", path, ct)
		}
		raw := rec.Body.Bytes()
		wantKeys(t, "master state", raw, masterKeys...)
		m := object(t, raw)
		wantKeys(t, "worker", firstOf(t, m["workers"]), workerInfoKeys...)
		wantKeys(t, "app", firstOf(t, m["activeapps"]), appInfoKeys...)
		wantKeys(t, "completed app", firstOf(t, m["completedapps"]), appInfoKeys...)
		wantKeys(t, "driver", firstOf(t, m["activedrivers"]), driverInfoKeys...)
		wantKeys(t, "completed driver", firstOf(t, m["completeddrivers"]), driverInfoKeys...)

		for k, want := range map[string]string{
			"url":           `"spark://10.0.0.9:7077"`,
			"aliveworkers":  `1`,
			"cores":         `8`,
			"coresused":     `6`,
			"memory":        `16384`,
			"memoryused":    `4096`,
			"status":        `"ALIVE"`,
			"resources":     `[{"gpu":{"name":"gpu","addresses":["0","1"]}}]`,
			"resourcesused": `[{"gpu":{"name":"gpu","addresses":["0"]}}]`,
		} {
			if got := compact(t, m[k]); got != want {
				t.Errorf("%s %s = %s, want %s", path, k, got, want)
			}
		}
		// The alive worker, field by field (Spark's writeWorkerInfo).
		var ws []json.RawMessage
		_ = json.Unmarshal(m["workers"], &ws)
		wantW := `{"id":"` + worker1 + `","host":"10.0.0.1","port":40001,"webuiaddress":"http://10.0.0.1:8081",` +
			`"cores":8,"coresused":6,"coresfree":2,"memory":16384,"memoryused":4096,"memoryfree":12288,` +
			`"resources":{"gpu":{"name":"gpu","addresses":["0","1"]}},"resourcesused":{"gpu":{"name":"gpu","addresses":["0"]}},` +
			`"resourcesfree":{"gpu":{"name":"gpu","addresses":["1"]}},"state":"ALIVE","lastheartbeat":1700000001000}`
		if got := compact(t, ws[1]); got != wantW {
			t.Errorf("worker JSON\n got %s\nwant %s", got, wantW)
		}
		wantApp := `{"id":"app-20240101000000-0000","starttime":1700000000000,"name":"Spark Pi <script>alert(1)</script>",` +
			`"cores":4,"user":"alice","memoryperexecutor":1024,"memoryperslave":1024,` +
			`"resourcesperexecutor":[{"name":"gpu","amount":1}],"resourcesperslave":[{"name":"gpu","amount":1}],` +
			`"submitdate":"Tue Nov 14 22:13:20 UTC 2023","state":"RUNNING","duration":754000}`
		if got := compact(t, firstOf(t, m["activeapps"])); got != wantApp {
			t.Errorf("app JSON\n got %s\nwant %s", got, wantApp)
		}
		wantDriver := `{"id":"driver-20240101000000-0000","starttime":"1700000000000","state":"RUNNING","cores":1,` +
			`"memory":1024,"resources":{},"submitdate":"Tue Nov 14 22:13:20 UTC 2023","worker":"` + worker1 + `",` +
			`"mainclass":"org.example.Main"}`
		if got := compact(t, firstOf(t, m["activedrivers"])); got != wantDriver {
			t.Errorf("driver JSON\n got %s\nwant %s", got, wantDriver)
		}
	}
}

func TestMasterJSONEmptyListsAreNotNull(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: deploy.MasterStateResponse{URL: "spark://h:7077", Status: deploy.StateStandby}}, Options{})
	rec := get(t, h, "/json")
	wantCode(t, rec, http.StatusOK)
	want := `{"url":"spark://h:7077","workers":[],"aliveworkers":0,"cores":0,"coresused":0,"memory":0,"memoryused":0,` +
		`"resources":[],"resourcesused":[],"activeapps":[],"completedapps":[],"activedrivers":[],"completeddrivers":[],"status":"STANDBY"}`
	if got := compact(t, rec.Body.Bytes()); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

func TestNormalizeDoesNotModifySource(t *testing.T) {
	st := clusterState()
	st.Workers[0].Resources = nil
	st.ActiveApps[1].ResourcesPerExecutor = nil
	_ = normalizeMaster(st)
	if st.Workers[0].Resources != nil || st.ActiveApps[1].ResourcesPerExecutor != nil {
		t.Fatal("normalizeMaster changed the source's snapshot")
	}
}

func TestMasterJSONField(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{})
	full := object(t, get(t, h, "/json").Body.Bytes())
	if !reflect.DeepEqual(MasterFields, masterKeys) {
		t.Fatalf("MasterFields %v", MasterFields)
	}
	for _, field := range masterKeys {
		rec := get(t, h, "/json/"+field)
		wantCode(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("/json/%s Content-Type %q", field, ct)
		}
		raw := rec.Body.Bytes()
		wantKeys(t, "/json/"+field, raw, field)
		if got, want := compact(t, object(t, raw)[field]), compact(t, full[field]); got != want {
			t.Errorf("/json/%s = %s, want %s", field, got, want)
		}
	}
	for _, field := range []string{"bogus", "URL", "clusterUtilization"} {
		rec := get(t, h, "/json/"+field)
		wantCode(t, rec, http.StatusOK)
		if got, want := compact(t, rec.Body.Bytes()), `{"`+field+`":""}`; got != want {
			t.Errorf("/json/%s = %s, want %s", field, got, want)
		}
	}
	// Deeper paths are not fields.
	wantCode(t, get(t, h, "/json/workers/0"), http.StatusNotFound)
}

func TestClusterUtilization(t *testing.T) {
	t.Run("zero workers", func(t *testing.T) {
		h := NewMasterHandler(&fakeMaster{st: deploy.MasterStateResponse{Status: deploy.StateAlive}}, Options{})
		rec := get(t, h, "/json/clusterutilization")
		wantCode(t, rec, http.StatusOK)
		wantKeys(t, "utilization", rec.Body.Bytes(), utilKeys...)
		want := `{"waitingDrivers":0,"cores":0,"coresused":0,"coresutilization":100,"memory":0,"memoryused":0,"memoryutilization":100}`
		if got := compact(t, rec.Body.Bytes()); got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{})
		rec := get(t, h, "/json/clusterutilization")
		wantCode(t, rec, http.StatusOK)
		// Only the alive worker counts: 6/8 cores, 4096/16384 MB; one
		// SUBMITTED driver.
		want := `{"waitingDrivers":1,"cores":8,"coresused":6,"coresutilization":75,"memory":16384,"memoryused":4096,"memoryutilization":25}`
		if got := compact(t, rec.Body.Bytes()); got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
	t.Run("integer division", func(t *testing.T) {
		u := ComputeUtilization(deploy.MasterStateResponse{Workers: []deploy.WorkerInfoJSON{
			{State: deploy.WorkerAlive, Cores: 3, CoresUsed: 2, Memory: 3, MemoryUsed: 1},
		}})
		if u.CoresUtilization != 66 || u.MemoryUtilization != 33 {
			t.Errorf("%+v", u)
		}
	})
}

func TestSourceErrors(t *testing.T) {
	f := &fakeMaster{err: errors.New("master unreachable")}
	h := NewMasterHandler(f, Options{})
	for _, p := range []string{"/", "/json", "/json/workers", "/json/clusterutilization"} {
		wantCode(t, get(t, h, p), http.StatusServiceUnavailable)
	}
	rec := get(t, h, "/metrics/prometheus")
	wantCode(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "ember_master_up 0") {
		t.Errorf("metrics without state:\n%s", rec.Body.String())
	}
	w := NewWorkerHandler(&fakeWorker{err: errors.New("boom")}, Options{})
	wantCode(t, get(t, w, "/json"), http.StatusServiceUnavailable)
	wantCode(t, get(t, w, "/"), http.StatusServiceUnavailable)
}

// ---- kill endpoints (MasterWebUISuite) ----

func TestKillApplication(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(f, Options{KillEnabled: true})

	rec := do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000000-0000"}, "terminate": {"true"}})
	wantCode(t, rec, http.StatusFound)
	if loc := rec.Header().Get("Location"); loc != "/" {
		t.Errorf("Location %q", loc)
	}
	if apps, _ := f.kills(); !reflect.DeepEqual(apps, []string{"app-20240101000000-0000"}) {
		t.Errorf("killed %v", apps)
	}

	// terminate=false only redirects (Spark's handleKillRequest).
	wantCode(t, do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000001-0001"}, "terminate": {"false"}}), http.StatusFound)
	if apps, _ := f.kills(); len(apps) != 1 {
		t.Errorf("terminate=false killed: %v", apps)
	}

	// Unknown id: an error page, nothing killed, id escaped.
	rec = do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-<b>nope</b>"}, "terminate": {"true"}})
	wantCode(t, rec, http.StatusNotFound)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if body := rec.Body.String(); strings.Contains(body, "<b>nope") || !strings.Contains(body, "app-&lt;b&gt;nope&lt;/b&gt;") {
		t.Errorf("error page does not show the escaped id:\n%s", body)
	}

	wantCode(t, do(t, h, http.MethodPost, "/app/kill", url.Values{"terminate": {"true"}}), http.StatusBadRequest)
	wantCode(t, do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"x"}, "terminate": {"maybe"}}), http.StatusBadRequest)
	wantCode(t, get(t, h, "/app/kill"), http.StatusMethodNotAllowed)

	// A cross-site browser form post is refused.
	rec = do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000001-0001"}, "terminate": {"true"}},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantCode(t, rec, http.StatusForbidden)
	if apps, _ := f.kills(); len(apps) != 1 {
		t.Errorf("cross-site post killed: %v", apps)
	}
	// A same-origin one (the UI's own form) is fine.
	wantCode(t, do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000001-0001"}, "terminate": {"true"}},
		"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"), http.StatusFound)
}

func TestKillDriver(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(f, Options{KillEnabled: true})
	// terminate is optional for the API; the UI's form sends it.
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"driver-20240101000000-0000"}}), http.StatusFound)
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"driver-20240101000001-0001"}, "terminate": {"true"}}), http.StatusFound)
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"driver-unknown"}, "terminate": {"true"}}), http.StatusNotFound)
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"driver-20240101000000-0000"}, "terminate": {"false"}}), http.StatusFound)
	_, drivers := f.kills()
	if want := []string{"driver-20240101000000-0000", "driver-20240101000001-0001"}; !reflect.DeepEqual(drivers, want) {
		t.Errorf("killed %v, want %v", drivers, want)
	}
	// The id may also come in the query string.
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill?id=driver-20240101000000-0000&terminate=true", nil), http.StatusFound)
}

func TestKillDisabled(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(f, Options{})
	wantCode(t, do(t, h, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000000-0000"}, "terminate": {"true"}}), http.StatusMethodNotAllowed)
	wantCode(t, do(t, h, http.MethodPost, "/driver/kill", url.Values{"id": {"driver-20240101000000-0000"}, "terminate": {"true"}}), http.StatusMethodNotAllowed)
	if apps, drivers := f.kills(); len(apps)+len(drivers) != 0 {
		t.Errorf("killed with kill disabled: %v %v", apps, drivers)
	}
	if body := get(t, h, "/").Body.String(); strings.Contains(body, "app/kill") || strings.Contains(body, "driver/kill") {
		t.Error("page shows kill forms with kill disabled")
	}
}

func TestDecommissionHosts(t *testing.T) {
	// Without a HostDecommissioner: not allowed.
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{})
	wantCode(t, do(t, h, http.MethodPost, "/workers/kill?host=10.0.0.1", nil), http.StatusMethodNotAllowed)

	d := &decommissioningMaster{fakeMaster: &fakeMaster{st: clusterState()}, allowed: true}
	h = NewMasterHandler(d, Options{})
	wantCode(t, do(t, h, http.MethodPost, "/workers/kill?host=10.0.0.1&host=10.0.0.2", nil), http.StatusOK)
	wantCode(t, do(t, h, http.MethodPost, "/workers/kill", url.Values{"host": {"nowhere"}}), http.StatusNotFound)
	if want := [][]string{{"10.0.0.1", "10.0.0.2"}, {"nowhere"}}; !reflect.DeepEqual(d.got, want) {
		t.Errorf("hosts %v, want %v", d.got, want)
	}
	d.allowed = false
	wantCode(t, do(t, h, http.MethodPost, "/workers/kill?host=10.0.0.1", nil), http.StatusMethodNotAllowed)
}

// ---- master page ----

func TestMasterPage(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{KillEnabled: true})
	rec := get(t, h, "/")
	wantCode(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"<title>Ember Master at spark://10.0.0.9:7077</title>",
		`id="workers"`, worker1, worker2,
		`<a href="http://10.0.0.1:8081">` + worker1 + `</a>`, // alive: linked
		"10.0.0.1:40001",
		"ALIVE", "DEAD",
		"8 <span class=\"muted\">(6 used)</span>",
		"16.0 GiB <span class=\"muted\">(4.0 GiB used)</span>",
		`id="running-apps"`, "app-20240101000000-0000", "Spark Pi &lt;script&gt;alert(1)&lt;/script&gt;",
		"1024.0 MiB", "alice", "RUNNING", "WAITING", "13 min",
		`id="completed-apps"`, "old job", "1.5 min",
		`id="running-drivers"`, "driver-20240101000000-0000", "org.example.Main",
		`id="completed-drivers"`, "driver-20231231000000-0042",
		`action="app/kill"`, `name="id" value="app-20240101000000-0000"`, `name="terminate" value="true"`,
		`action="driver/kill"`, `name="id" value="driver-20240101000000-0000"`,
		"gpu in use",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("page has an unescaped <script>")
	}
	if strings.Contains(body, `<a href="http://10.0.0.2:8081">`) {
		t.Error("dead worker is linked")
	}
	// Completed apps get no kill form.
	if strings.Contains(body, `value="app-20231231000000-0099"`) {
		t.Error("completed app has a kill form")
	}

	// HEAD: headers, no body.
	rec = do(t, h, http.MethodHead, "/", nil)
	wantCode(t, rec, http.StatusOK)
	if rec.Body.Len() != 0 {
		t.Error("HEAD has a body")
	}
	wantCode(t, get(t, h, "/nope"), http.StatusNotFound)
	wantCode(t, do(t, h, http.MethodPost, "/", nil), http.StatusMethodNotAllowed)

	// Optional auto refresh, title override.
	h = NewMasterHandler(&fakeMaster{st: clusterState()}, Options{Title: "Prod <cluster>"})
	body = get(t, h, "/?refresh=5").Body.String()
	if !strings.Contains(body, `<meta http-equiv="refresh" content="5">`) || !strings.Contains(body, "<title>Prod &lt;cluster&gt;</title>") {
		t.Errorf("refresh/title missing:\n%s", body[:min(len(body), 600)])
	}
	if strings.Contains(get(t, h, "/").Body.String(), `http-equiv="refresh"`) {
		t.Error("refresh without ?refresh")
	}
}

func TestMasterPageEmpty(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: deploy.MasterStateResponse{URL: "spark://h:7077", Status: deploy.StateStandby}}, Options{})
	body := get(t, h, "/").Body.String()
	for _, want := range []string{"STANDBY", "No workers have registered.", "No running applications.", "No completed drivers."} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// ---- probes, metrics ----

func TestHealthAndReady(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(f, Options{})
	rec := get(t, h, "/healthz")
	wantCode(t, rec, http.StatusOK)
	if rec.Body.String() != "ok" {
		t.Errorf("healthz %q", rec.Body.String())
	}
	wantCode(t, get(t, h, "/readyz"), http.StatusOK)
	f.mu.Lock()
	f.notReady = true
	f.mu.Unlock()
	wantCode(t, get(t, h, "/readyz"), http.StatusServiceUnavailable)
	wantCode(t, get(t, h, "/healthz"), http.StatusOK)

	w := NewWorkerHandler(&fakeWorker{st: workerState()}, Options{})
	wantCode(t, get(t, w, "/healthz"), http.StatusOK)
}

func metricValue(t *testing.T, body, name string) string {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Errorf("metric %s missing", name)
	return ""
}

func TestMasterMetrics(t *testing.T) {
	f := &fakeMaster{st: clusterState()}
	rec := get(t, NewMasterHandler(f, Options{}), "/metrics/prometheus")
	wantCode(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	for name, want := range map[string]string{
		"ember_master_up":                     "1",
		"ember_master_ready":                  "1",
		"ember_master_workers":                "2",
		"ember_master_alive_workers":          "1",
		"ember_master_dead_workers":           "1",
		"ember_master_cores_total":            "8",
		"ember_master_cores_used":             "6",
		"ember_master_memory_total_bytes":     "1.7179869184e+10",
		"ember_master_memory_used_bytes":      "4.294967296e+09",
		"ember_master_apps_active":            "2",
		"ember_master_apps_waiting":           "1",
		"ember_master_apps_completed":         "1",
		"ember_master_drivers_active":         "2",
		"ember_master_drivers_waiting":        "1",
		"ember_master_drivers_completed":      "1",
		`ember_master_status{status="ALIVE"}`: "1",
	} {
		if got := metricValue(t, body, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(body, "# TYPE ember_master_alive_workers gauge") {
		t.Error("alive_workers is not a gauge")
	}
	// The handler's own registry has the Go collector.
	if !strings.Contains(body, "go_goroutines") {
		t.Error("own registry lacks the Go collector")
	}

	// Computed at scrape time: a change shows in the next scrape.
	f.mu.Lock()
	f.st.Workers[0].State = deploy.WorkerAlive
	f.mu.Unlock()
	body = get(t, NewMasterHandler(f, Options{}), "/metrics/prometheus").Body.String()
	if got := metricValue(t, body, "ember_master_alive_workers"); got != "2" {
		t.Errorf("after change alive_workers = %s", got)
	}
}

func TestMetricsOwnRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{Registry: reg})
	// A second handler on the same registry does not panic.
	_ = NewMasterHandler(&fakeMaster{st: clusterState()}, Options{Registry: reg})
	_ = NewWorkerHandler(&fakeWorker{st: workerState()}, Options{Registry: reg})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge() != nil {
			got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"ember_master_alive_workers": 1, "ember_master_cores_total": 8,
		"ember_worker_cores_total": 8, "ember_worker_executors_running": 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if _, ok := got["go_goroutines"]; ok {
		t.Error("a given registry got the Go collector")
	}
	body := get(t, h, "/metrics/prometheus").Body.String()
	if !strings.Contains(body, "ember_worker_cores_total 8") {
		t.Error("handler does not serve the given registry")
	}
}

// ---- basic auth, filter ----

func TestBasicAuth(t *testing.T) {
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{BasicAuth: &BasicAuth{User: "admin", Password: "s3cret"}})
	for _, p := range []string{"/", "/json", "/json/workers", "/metrics/prometheus"} {
		rec := get(t, h, p)
		wantCode(t, rec, http.StatusUnauthorized)
		if wa := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(wa, `Basic realm="ember"`) {
			t.Errorf("%s WWW-Authenticate %q", p, wa)
		}
	}
	try := func(user, pass string) int {
		req := httptest.NewRequest(http.MethodGet, "/json", nil)
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		user, pass string
		code       int
	}{
		{"admin", "s3cret", http.StatusOK},
		{"admin", "wrong", http.StatusUnauthorized},
		{"admin", "s3cret2", http.StatusUnauthorized},
		{"Admin", "s3cret", http.StatusUnauthorized},
		{"", "", http.StatusUnauthorized},
	} {
		if got := try(c.user, c.pass); got != c.code {
			t.Errorf("%q/%q: %d, want %d", c.user, c.pass, got, c.code)
		}
	}
	// Kill needs credentials too.
	f := &fakeMaster{st: clusterState()}
	hk := NewMasterHandler(f, Options{KillEnabled: true, BasicAuth: &BasicAuth{User: "a", Password: "b", Realm: "spark"}})
	rec := do(t, hk, http.MethodPost, "/app/kill", url.Values{"id": {"app-20240101000000-0000"}, "terminate": {"true"}})
	wantCode(t, rec, http.StatusUnauthorized)
	if wa := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(wa, `Basic realm="spark"`) {
		t.Errorf("WWW-Authenticate %q", wa)
	}
	if apps, _ := f.kills(); len(apps) != 0 {
		t.Error("unauthenticated kill went through")
	}
	// Probes stay open.
	wantCode(t, get(t, h, "/healthz"), http.StatusOK)
	wantCode(t, get(t, h, "/readyz"), http.StatusOK)

	w := NewWorkerHandler(&fakeWorker{st: workerState(), dir: t.TempDir()}, Options{BasicAuth: &BasicAuth{User: "u", Password: "p"}})
	wantCode(t, get(t, w, "/log?driverId=d&logType=stdout"), http.StatusUnauthorized)
	wantCode(t, get(t, w, "/json"), http.StatusUnauthorized)
}

func TestFilter(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	filter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.URL.Path)
			mu.Unlock()
			if r.Header.Get("X-Block") != "" {
				http.Error(w, "blocked", http.StatusTeapot)
				return
			}
			w.Header().Set("X-Filtered", "yes")
			next.ServeHTTP(w, r)
		})
	}
	h := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{Filter: filter})
	rec := get(t, h, "/json")
	wantCode(t, rec, http.StatusOK)
	if rec.Header().Get("X-Filtered") != "yes" {
		t.Error("filter did not run")
	}
	wantCode(t, do(t, h, http.MethodGet, "/", nil, "X-Block", "1"), http.StatusTeapot)
	w := NewWorkerHandler(&fakeWorker{st: workerState()}, Options{Filter: filter})
	wantCode(t, get(t, w, "/json"), http.StatusOK)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/json", "/", "/json"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("filter saw %v", seen)
	}
}

// ---- worker ----

type fakeWorker struct {
	st  deploy.WorkerStateResponse
	err error
	dir string
}

func (f *fakeWorker) WorkerState() (deploy.WorkerStateResponse, error) { return f.st, f.err }
func (f *fakeWorker) WorkDir() string                                  { return f.dir }

func workerState() deploy.WorkerStateResponse {
	command := "spark-submit --class org.example.Main"
	return deploy.WorkerStateResponse{
		ID:             worker1,
		MasterURL:      "spark://10.0.0.9:7077",
		MasterWebUIURL: "http://10.0.0.9:8080",
		Cores:          8, CoresUsed: 2, Memory: 16384, MemoryUsed: 2048,
		Resources:     gpus("0", "1"),
		ResourcesUsed: gpus("0"),
		Executors: []deploy.ExecutorRunnerJSON{{
			ID: 3, Memory: 1024, Resources: gpus("0"), AppID: "app-20240101000000-0000",
			AppDesc: deploy.AppDescJSON{
				Name: "Spark Pi", Cores: 4, MemoryPerExecutor: 1024, MemoryPerSlave: 1024,
				ResourcesPerExecutor: []deploy.ResourceAmount{{Name: "gpu", Amount: 1}},
				ResourcesPerSlave:    []deploy.ResourceAmount{{Name: "gpu", Amount: 1}},
				User:                 "alice", Command: command,
			},
			State: deploy.ExecutorRunning, Cores: 2,
		}},
		FinishedExecutors: []deploy.ExecutorRunnerJSON{{
			ID: 1, Memory: 512, AppID: "app-20231231000000-0099",
			AppDesc: deploy.AppDescJSON{Name: "old job", User: "carol"},
			State:   deploy.ExecutorExited,
		}},
		Host: "10.0.0.1", Port: 40001,
		Drivers: []deploy.DriverRunnerJSON{{ID: "driver-20240101000000-0000", State: deploy.DriverRunning,
			Cores: 1, Memory: 1024, MainClass: "org.example.Main"}},
	}
}

var (
	workerStateKeys = []string{"id", "masterurl", "masterwebuiurl", "cores", "coresused", "memory", "memoryused",
		"resources", "resourcesused", "executors", "finishedexecutors"}
	executorKeys = []string{"id", "memory", "resources", "appid", "appdesc"}
	appDescKeys  = []string{"name", "cores", "memoryperexecutor", "resourcesperexecutor", "memoryperslave",
		"resourcesperslave", "user", "command"}
)

func TestWorkerJSON(t *testing.T) {
	h := NewWorkerHandler(&fakeWorker{st: workerState()}, Options{})
	for _, p := range []string{"/json", "/json/"} {
		rec := get(t, h, p)
		wantCode(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		raw := rec.Body.Bytes()
		// Spark's fields first, in order; Ember's additions after.
		got := keys(t, raw)
		if len(got) < len(workerStateKeys) || !reflect.DeepEqual(got[:len(workerStateKeys)], workerStateKeys) {
			t.Errorf("worker keys %v", got)
		}
		m := object(t, raw)
		ex := firstOf(t, m["executors"])
		if got := keys(t, ex); !reflect.DeepEqual(got[:len(executorKeys)], executorKeys) {
			t.Errorf("executor keys %v", got)
		}
		wantKeys(t, "appdesc", object(t, ex)["appdesc"], appDescKeys...)
		wantEx := `{"id":3,"memory":1024,"resources":{"gpu":{"name":"gpu","addresses":["0"]}},"appid":"app-20240101000000-0000",` +
			`"appdesc":{"name":"Spark Pi","cores":4,"memoryperexecutor":1024,"resourcesperexecutor":[{"name":"gpu","amount":1}],` +
			`"memoryperslave":1024,"resourcesperslave":[{"name":"gpu","amount":1}],"user":"alice",` +
			`"command":"spark-submit --class org.example.Main"},"state":"RUNNING","cores":2}`
		if got := compact(t, ex); got != wantEx {
			t.Errorf("executor JSON\n got %s\nwant %s", got, wantEx)
		}
		// nil lists/maps of the finished executor render as [] / {}.
		fin := compact(t, firstOf(t, m["finishedexecutors"]))
		if !strings.Contains(fin, `"resources":{}`) || !strings.Contains(fin, `"resourcesperexecutor":[]`) {
			t.Errorf("finished executor %s", fin)
		}
		for k, want := range map[string]string{"id": `"` + worker1 + `"`, "masterurl": `"spark://10.0.0.9:7077"`,
			"masterwebuiurl": `"http://10.0.0.9:8080"`, "cores": "8", "coresused": "2", "memory": "16384", "memoryused": "2048"} {
			if got := compact(t, m[k]); got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
	}
	// A bare state: Spark's eleven fields, lists and maps never null.
	rec := get(t, NewWorkerHandler(&fakeWorker{st: deploy.WorkerStateResponse{ID: "w"}}, Options{}), "/json")
	want := `{"id":"w","masterurl":"","masterwebuiurl":"","cores":0,"coresused":0,"memory":0,"memoryused":0,` +
		`"resources":{},"resourcesused":{},"executors":[],"finishedexecutors":[]}`
	if got := compact(t, rec.Body.Bytes()); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	wantCode(t, get(t, h, "/json/cores"), http.StatusNotFound)
}

func TestWorkerPage(t *testing.T) {
	h := NewWorkerHandler(&fakeWorker{st: workerState()}, Options{})
	rec := get(t, h, "/")
	wantCode(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		"<title>Ember Worker at 10.0.0.1:40001</title>",
		`id="worker-id">` + worker1,
		`<a href="http://10.0.0.9:8080" id="master-link">spark://10.0.0.9:7077</a>`,
		`id="running-executors"`, "app-20240101000000-0000", "Spark Pi", "alice",
		`href="logPage/?appId=app-20240101000000-0000&amp;executorId=3&amp;logType=stdout"`,
		`href="logPage/?appId=app-20240101000000-0000&amp;executorId=3&amp;logType=stderr"`,
		`id="finished-executors"`, "EXITED", "old job",
		`id="running-drivers"`, "driver-20240101000000-0000",
		`href="logPage/?driverId=driver-20240101000000-0000&amp;logType=stdout"`,
		"No finished drivers.",
		"2 <small>of 8</small>", "2.0 GiB <small>of 16.0 GiB</small>",
		"gpu: [0, 1]",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("worker page lacks %q", want)
		}
	}
	wantCode(t, get(t, h, "/nope"), http.StatusNotFound)
}

func TestWorkerMetrics(t *testing.T) {
	rec := get(t, NewWorkerHandler(&fakeWorker{st: workerState()}, Options{}), "/metrics/prometheus")
	wantCode(t, rec, http.StatusOK)
	body := rec.Body.String()
	for name, want := range map[string]string{
		"ember_worker_up":                 "1",
		"ember_worker_cores_total":        "8",
		"ember_worker_cores_used":         "2",
		"ember_worker_cores_free":         "6",
		"ember_worker_memory_total_bytes": "1.7179869184e+10",
		"ember_worker_memory_used_bytes":  "2.147483648e+09",
		"ember_worker_memory_free_bytes":  "1.5032385536e+10",
		"ember_worker_executors_running":  "1",
		"ember_worker_executors_finished": "1",
		"ember_worker_drivers_running":    "1",
		"ember_worker_drivers_finished":   "0",
	} {
		if got := metricValue(t, body, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// ---- logs ----

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerLogs(t *testing.T) {
	dir := t.TempDir()
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: dir}, Options{})
	app, exec := "app-20240101000000-0000", "3"
	stdout := filepath.Join(dir, app, exec, "stdout")
	writeFile(t, stdout, "hello <b>world</b>\nline two\n")
	writeFile(t, filepath.Join(dir, app, exec, "stderr"), "WARN something\n")
	writeFile(t, filepath.Join(dir, "driver-1", "stdout"), "driver says hi\n")

	rec := get(t, h, "/log?appId="+app+"&executorId="+exec+"&logType=stdout")
	wantCode(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	want := "==== Bytes 0-28 of 28 of " + stdout + " ====\nhello <b>world</b>\nline two\n"
	if rec.Body.String() != want {
		t.Errorf("log\n got %q\nwant %q", rec.Body.String(), want)
	}
	rec = get(t, h, "/log?appId="+app+"&executorId="+exec+"&logType=stdout&offset=6&byteLength=5")
	if !strings.HasSuffix(rec.Body.String(), "====\n<b>wo") || !strings.Contains(rec.Body.String(), "Bytes 6-11 of 28") {
		t.Errorf("offset log %q", rec.Body.String())
	}
	// Offsets are clamped to the log.
	rec = get(t, h, "/log?appId="+app+"&executorId="+exec+"&logType=stdout&offset=1000")
	if !strings.Contains(rec.Body.String(), "Bytes 28-28 of 28") {
		t.Errorf("clamped %q", rec.Body.String())
	}
	rec = get(t, h, "/log?appId="+app+"&executorId="+exec+"&logType=stdout&offset=-5&byteLength=3")
	if !strings.HasSuffix(rec.Body.String(), "====\nhel") {
		t.Errorf("negative offset %q", rec.Body.String())
	}
	rec = get(t, h, "/log?appId="+app+"&executorId="+exec+"&logType=stderr")
	if !strings.HasSuffix(rec.Body.String(), "WARN something\n") {
		t.Errorf("stderr %q", rec.Body.String())
	}
	rec = get(t, h, "/log?driverId=driver-1&logType=stdout")
	wantCode(t, rec, http.StatusOK)
	if !strings.HasSuffix(rec.Body.String(), "====\ndriver says hi\n") {
		t.Errorf("driver log %q", rec.Body.String())
	}
	// A log not written yet is empty, not an error (as Spark).
	rec = get(t, h, "/log?driverId=driver-2&logType=stderr")
	wantCode(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Bytes 0-0 of 0") {
		t.Errorf("missing log %q", rec.Body.String())
	}

	// The HTML page escapes the text.
	for _, p := range []string{"/logPage/", "/logPage"} {
		rec = get(t, h, p+"?appId="+app+"&executorId="+exec+"&logType=stdout")
		wantCode(t, rec, http.StatusOK)
		body := rec.Body.String()
		if !strings.Contains(body, "hello &lt;b&gt;world&lt;/b&gt;") || strings.Contains(body, "<b>world") {
			t.Errorf("%s does not escape the log:\n%s", p, body)
		}
		if !strings.Contains(body, "Showing bytes 0–28 of 28") {
			t.Errorf("%s lacks the range", p)
		}
		if !strings.Contains(body, `href="../log?appId=`+app) {
			t.Errorf("%s lacks the raw link", p)
		}
	}
	body := get(t, h, "/logPage/?driverId=driver-2&logType=stdout").Body.String()
	if !strings.Contains(body, "is empty or does not exist yet") {
		t.Error("empty log page")
	}
}

func TestWorkerLogDefaultTailAndRolledFiles(t *testing.T) {
	dir := t.TempDir()
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: dir}, Options{})
	big := strings.Repeat("a", 50*1024) + strings.Repeat("b", 100*1024)
	writeFile(t, filepath.Join(dir, "d-big", "stdout"), big)
	rec := get(t, h, "/log?driverId=d-big&logType=stdout")
	body := rec.Body.String()
	if !strings.Contains(body, fmt.Sprintf("Bytes %d-%d of %d", 50*1024, 150*1024, 150*1024)) {
		t.Errorf("default range: %q", body[:100])
	}
	if text := body[strings.Index(body, "====\n")+5:]; text != strings.Repeat("b", 100*1024) {
		t.Errorf("default tail is not the last 100 KiB (%d bytes)", len(text))
	}
	// The page links to the earlier part.
	page := get(t, h, "/logPage/?driverId=d-big&logType=stdout").Body.String()
	if !strings.Contains(page, `href="?driverId=d-big&amp;logType=stdout&amp;offset=0"`) {
		t.Errorf("no earlier link:\n%s", page[strings.Index(page, `class="toolbar"`):][:1200])
	}

	// Rolled-over files come first, by name, then the active file.
	d := filepath.Join(dir, "d-rolled")
	writeFile(t, filepath.Join(d, "stdout--2024-01-02"), "two\n")
	writeFile(t, filepath.Join(d, "stdout--2024-01-01"), "one\n")
	writeFile(t, filepath.Join(d, "stdout"), "now\n")
	writeFile(t, filepath.Join(d, "stderr--2024-01-01"), "not stdout\n")
	body = get(t, h, "/log?driverId=d-rolled&logType=stdout").Body.String()
	if !strings.HasSuffix(body, "====\none\ntwo\nnow\n") || !strings.Contains(body, "Bytes 0-12 of 12") {
		t.Errorf("rolled %q", body)
	}
	// A range across files.
	body = get(t, h, "/log?driverId=d-rolled&logType=stdout&offset=2&byteLength=8").Body.String()
	if !strings.HasSuffix(body, "====\ne\ntwo\nno") {
		t.Errorf("across files %q", body)
	}
}

func TestWorkerLogRejectsBadRequests(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "work")
	writeFile(t, filepath.Join(root, "secret", "stdout"), "top secret")
	writeFile(t, filepath.Join(dir, "app-1", "0", "stdout"), "fine")
	h := NewWorkerHandler(&fakeWorker{st: workerState(), dir: dir}, Options{})
	bad := []string{
		"appId=../secret&executorId=x&logType=stdout",
		"appId=..&executorId=secret&logType=stdout",
		"appId=app-1&executorId=../../secret&logType=stdout",
		"appId=app-1&executorId=..&logType=stdout",
		"appId=/etc&executorId=x&logType=stdout",
		"appId=" + url.QueryEscape(filepath.Join(root, "secret")) + "&executorId=x&logType=stdout",
		"appId=a/b&executorId=0&logType=stdout",
		`appId=a\b&executorId=0&logType=stdout`,
		"appId=a%00b&executorId=0&logType=stdout",
		"appId=.&executorId=0&logType=stdout",
		"driverId=../secret&logType=stdout",
		"driverId=..&logType=stdout",
		"driverId=/etc&logType=stdout",
		"driverId=a/../../secret&logType=stdout",
		"appId=app-1&executorId=0&logType=passwd",
		"appId=app-1&executorId=0&logType=../stdout",
		"appId=app-1&executorId=0",
		"appId=app-1&logType=stdout",
		"executorId=0&logType=stdout",
		"appId=app-1&executorId=0&driverId=d&logType=stdout",
		"logType=stdout",
		"appId=app-1&executorId=0&logType=stdout&offset=abc",
		"appId=app-1&executorId=0&logType=stdout&byteLength=-1",
		"appId=app-1&executorId=0&logType=stdout&byteLength=x",
	}
	for _, q := range bad {
		for _, p := range []string{"/log?", "/logPage/?"} {
			rec := get(t, h, p+q)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s%s: %d, want 400", p, q, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "top secret") {
				t.Errorf("%s%s leaked the file", p, q)
			}
		}
	}
	wantCode(t, get(t, h, "/log?appId=app-1&executorId=0&logType=stdout"), http.StatusOK)

	// No work dir: an error, not the process's working directory.
	h = NewWorkerHandler(&fakeWorker{st: workerState()}, Options{})
	wantCode(t, get(t, h, "/log?driverId=d&logType=stdout"), http.StatusInternalServerError)
}

// ---- formatting ----

func TestFormatting(t *testing.T) {
	for mb, want := range map[int]string{0: "0.0 B", 1: "1024.0 KiB", 512: "512.0 MiB", 1024: "1024.0 MiB",
		2048: "2.0 GiB", 16384: "16.0 GiB", 4 << 20: "4.0 TiB"} {
		if got := megabytes(mb); got != want {
			t.Errorf("megabytes(%d) = %q, want %q", mb, got, want)
		}
	}
	for ms, want := range map[int64]string{0: "—", 5: "5 ms", 999: "999 ms", 1000: "1 s", 59000: "59 s",
		90000: "1.5 min", 754000: "13 min", 300000: "5.0 min", 1800000: "30 min", 5400000: "1.5 h"} {
		if got := duration(ms); got != want {
			t.Errorf("duration(%d) = %q, want %q", ms, got, want)
		}
	}
	if got := submitted("not a number", "Mon Jan 01"); got != "Mon Jan 01" {
		t.Errorf("submitted fallback %q", got)
	}
}

// ---- Listen ----

func TestListen(t *testing.T) {
	srv, err := Listen("127.0.0.1", 0, NewMasterHandler(&fakeMaster{st: clusterState()}, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Port() == 0 {
		t.Fatal("port 0")
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", srv.Port()); srv.URL() != want {
		t.Errorf("URL %q, want %q", srv.URL(), want)
	}
	resp, err := http.Get(srv.URL() + "/json/url")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if compact(t, b) != `{"url":"spark://10.0.0.9:7077"}` {
		t.Errorf("/json/url %s", b)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := client.Get(srv.URL() + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}

	// A taken port is an error.
	a, err := Listen("127.0.0.1", 0, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, err := Listen("127.0.0.1", a.Port(), http.NotFoundHandler()); err == nil {
		b.Close()
		t.Error("Listen on a taken port succeeded")
	}

	// The wildcard host gives a usable URL.
	w, err := Listen("", 0, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if want := fmt.Sprintf("http://127.0.0.1:%d", w.Port()); w.URL() != want {
		t.Errorf("wildcard URL %q, want %q", w.URL(), want)
	}
}
