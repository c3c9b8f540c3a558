package master

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// objectKeys returns the keys of a JSON object, in document order.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func checkKeys(t *testing.T, what string, raw json.RawMessage, want ...string) {
	t.Helper()
	if got := objectKeys(t, raw); !slices.Equal(got, want) {
		t.Errorf("%s keys:\n got %v\nwant %v", what, got, want)
	}
}

// javaDate is java.util.Date.toString: EEE MMM dd HH:mm:ss zzz yyyy.
func javaDate(tm time.Time) string { return tm.Format("Mon Jan 02 15:04:05 MST 2006") }

var (
	masterStateKeys = []string{"url", "workers", "aliveworkers", "cores", "coresused", "memory", "memoryused",
		"resources", "resourcesused", "activeapps", "completedapps", "activedrivers", "completeddrivers", "status"}
	workerInfoKeys = []string{"id", "host", "port", "webuiaddress", "cores", "coresused", "coresfree", "memory",
		"memoryused", "memoryfree", "resources", "resourcesused", "resourcesfree", "state", "lastheartbeat"}
	appInfoKeys = []string{"id", "starttime", "name", "cores", "user", "memoryperexecutor", "memoryperslave",
		"resourcesperexecutor", "resourcesperslave", "submitdate", "state", "duration"}
	driverInfoKeys   = []string{"id", "starttime", "state", "cores", "memory", "resources", "submitdate", "worker", "mainclass"}
	utilizationKeys  = []string{"waitingDrivers", "cores", "coresused", "coresutilization", "memory", "memoryused", "memoryutilization"}
	emptyMasterState = `{"url":"` + testMasterURL + `","workers":[],"aliveworkers":0,"cores":0,"coresused":0,"memory":0,"memoryused":0,` +
		`"resources":[],"resourcesused":[],"activeapps":[],"completedapps":[],"activedrivers":[],"completeddrivers":[],"status":"ALIVE"}`
)

type masterJSON struct {
	Workers          []json.RawMessage `json:"workers"`
	ActiveApps       []json.RawMessage `json:"activeapps"`
	CompletedApps    []json.RawMessage `json:"completedapps"`
	ActiveDrivers    []json.RawMessage `json:"activedrivers"`
	CompletedDrivers []json.RawMessage `json:"completeddrivers"`
}

func decodeObj(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMasterStateJSON(t *testing.T) {
	h := newAlive(t, func(c *Config) { c.SpreadOutDrivers = false })
	dead := h.addWorker("w3", 16, 16384)
	h.s.Disconnected(dead.addr.Addr)
	h.addWorker("w1", 8, 8192)
	h.addWorker("w2", 4, 2048)
	runningID, _ := h.addApp(appDesc(1024, maxCores(6), func(d *deploy.ApplicationDescription) { d.Name = "JsonProtocolSuite" }))
	driverID := h.submit(driverDesc(1, 512, false))
	h.fx.advance(90 * time.Second)
	doneID, _ := h.addApp(appDesc(256, maxCores(1)))
	h.fx.advance(30 * time.Second)
	h.s.UnregisterApplication(doneID)
	waitingID := h.submit(driverDesc(64, 512, false)) // too big: waits
	killedID := h.submit(driverDesc(64, 512, false))
	h.s.RequestKillDriver(killedID)
	h.fx.advance(10 * time.Second)

	raw, err := json.Marshal(h.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "master state", raw, masterStateKeys...)
	top := decodeObj(t, raw)
	wantTop := map[string]any{"url": testMasterURL, "aliveworkers": 2.0, "cores": 12.0, "coresused": 7.0,
		"memory": 10240.0, "memoryused": 2*1024.0 + 512, "status": "ALIVE"}
	for k, v := range wantTop {
		if top[k] != v {
			t.Errorf("%s = %v, want %v (sums over ALIVE workers only)", k, top[k], v)
		}
	}
	if r := top["resources"].([]any); len(r) != 2 {
		t.Errorf("resources %v, want one map per alive worker", r)
	}

	var m masterJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Workers) != 3 || len(m.ActiveApps) != 1 || len(m.CompletedApps) != 1 || len(m.ActiveDrivers) != 2 || len(m.CompletedDrivers) != 1 {
		t.Fatalf("counts: %d workers, %d/%d apps, %d/%d drivers", len(m.Workers), len(m.ActiveApps), len(m.CompletedApps), len(m.ActiveDrivers), len(m.CompletedDrivers))
	}

	// WorkerInfo.
	for _, w := range m.Workers {
		checkKeys(t, "worker", w, workerInfoKeys...)
	}
	w1 := decodeObj(t, m.Workers[0])
	host1 := h.s.Worker("w1").Host
	wantW1 := map[string]any{"id": "w1", "host": host1, "port": float64(h.s.Worker("w1").Port), "webuiaddress": "http://" + host1 + ":8081",
		"cores": 8.0, "coresused": 4.0, "coresfree": 4.0, "memory": 8192.0, "memoryused": 1024.0 + 512, "memoryfree": 8192.0 - 1024 - 512,
		"state": "ALIVE", "lastheartbeat": float64(t0.UnixMilli())}
	for k, v := range wantW1 {
		if w1[k] != v {
			t.Errorf("worker w1 %s = %v, want %v", k, w1[k], v)
		}
	}
	for _, k := range []string{"resources", "resourcesused", "resourcesfree"} {
		if r, ok := w1[k].(map[string]any); !ok || len(r) != 0 {
			t.Errorf("worker %s = %v, want {}", k, w1[k])
		}
	}
	if w3 := decodeObj(t, m.Workers[2]); w3["id"] != "w3" || w3["state"] != "DEAD" {
		t.Errorf("dead worker %v", w3)
	}

	// ApplicationInfo.
	checkKeys(t, "active app", m.ActiveApps[0], appInfoKeys...)
	checkKeys(t, "completed app", m.CompletedApps[0], appInfoKeys...)
	app := decodeObj(t, m.ActiveApps[0])
	wantApp := map[string]any{"id": runningID, "starttime": float64(t0.UnixMilli()), "name": "JsonProtocolSuite", "cores": 6.0,
		"user": "tester", "memoryperexecutor": 1024.0, "memoryperslave": 1024.0, "submitdate": javaDate(t0),
		"state": "RUNNING", "duration": float64((130 * time.Second).Milliseconds())}
	for k, v := range wantApp {
		if app[k] != v {
			t.Errorf("app %s = %v, want %v", k, app[k], v)
		}
	}
	for _, k := range []string{"resourcesperexecutor", "resourcesperslave"} {
		if r, ok := app[k].([]any); !ok || len(r) != 0 {
			t.Errorf("app %s = %v, want []", k, app[k])
		}
	}
	done := decodeObj(t, m.CompletedApps[0])
	// A finished app keeps the cores it had (Spark's coresGranted).
	if done["id"] != doneID || done["state"] != "FINISHED" || done["duration"] != 30000.0 || done["cores"] != 1.0 || done["submitdate"] != javaDate(t0.Add(90*time.Second)) {
		t.Errorf("completed app %v, want FINISHED after 30000 ms with 1 core", done)
	}

	// DriverInfo.
	for _, d := range append(m.ActiveDrivers, m.CompletedDrivers...) {
		checkKeys(t, "driver", d, driverInfoKeys...)
	}
	byID := map[string]map[string]any{}
	for _, d := range append(m.ActiveDrivers, m.CompletedDrivers...) {
		o := decodeObj(t, d)
		byID[o["id"].(string)] = o
	}
	running := byID[driverID]
	wantDriver := map[string]any{"starttime": strconv.FormatInt(t0.UnixMilli(), 10), "state": "RUNNING", "cores": 1.0, "memory": 512.0,
		"submitdate": javaDate(t0), "worker": "w1", "mainclass": "com.example.Main"}
	for k, v := range wantDriver {
		if running[k] != v {
			t.Errorf("driver %s = %v (%T), want %v", k, running[k], running[k], v)
		}
	}
	if r, ok := running["resources"].(map[string]any); !ok || len(r) != 0 {
		t.Errorf("driver resources %v, want {}", running["resources"])
	}
	if w := byID[waitingID]; w["worker"] != "None" || w["state"] != "SUBMITTED" {
		t.Errorf("waiting driver %v, want worker None, SUBMITTED", w)
	}
	if k := byID[killedID]; k["state"] != "KILLED" {
		t.Errorf("killed driver %v", k)
	}
}

func TestEmptyMasterStateJSON(t *testing.T) {
	h := newAlive(t)
	raw, err := json.Marshal(h.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != emptyMasterState {
		t.Errorf("empty master state:\n got %s\nwant %s", raw, emptyMasterState)
	}
}

func TestClusterUtilization(t *testing.T) {
	t.Run("zero workers", func(t *testing.T) {
		h := newAlive(t)
		h.submit(driverDesc(1, 512, false))
		raw, err := json.Marshal(h.s.Utilization())
		if err != nil {
			t.Fatal(err)
		}
		checkKeys(t, "utilization", raw, utilizationKeys...)
		want := `{"waitingDrivers":1,"cores":0,"coresused":0,"coresutilization":100,"memory":0,"memoryused":0,"memoryutilization":100}`
		if string(raw) != want {
			t.Errorf("utilization\n got %s\nwant %s", raw, want)
		}
	})
	t.Run("alive workers only", func(t *testing.T) {
		h := newAlive(t)
		dead := h.addWorker("w0", 100, 100000)
		h.s.Disconnected(dead.addr.Addr)
		h.addWorker("w1", 12, 10240)
		h.addApp(appDesc(2048, maxCores(7)))
		h.submit(driverDesc(64, 512, false)) // waits
		got := h.s.Utilization()
		want := deploy.ClusterUtilization{WaitingDrivers: 1, Cores: 12, CoresUsed: 7, CoresUtilization: 58,
			Memory: 10240, MemoryUsed: 2048, MemoryUtilization: 20}
		if got != want {
			t.Errorf("utilization %+v, want %+v", got, want)
		}
	})
}

func TestDriverMainClassJSON(t *testing.T) {
	// mainclass is command.arguments(2) (DriverWrapper's user class); a
	// command with fewer arguments shows its main class.
	h := newAlive(t)
	d := driverDesc(1, 512, false)
	d.Command.Arguments = []string{"only-one"}
	id := h.submit(d)
	if got, _ := h.activeDriver(id); got.MainClass != d.Command.MainClass {
		t.Errorf("mainclass %q, want %q", got.MainClass, d.Command.MainClass)
	}
}
