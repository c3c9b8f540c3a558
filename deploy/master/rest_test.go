package master

// REST submission server tests: the protocol on a handler over a State
// (table-driven requests, no sockets), and the server a real Master
// starts.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// restOn is a handler whose asks go straight to h's State, as the
// master's endpoint would route them; asked records every ask.
type restOn struct {
	*restHandler
	h     *harness
	mu    sync.Mutex
	asked []any
}

func newRESTOn(h *harness, env map[string]string) *restOn {
	r := &restOn{h: h}
	r.restHandler = &restHandler{
		masterURL: "spark://10.0.0.1:7077", restPort: 6066,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		sem:    make(chan struct{}, 4), log: slog.New(slog.DiscardHandler),
		ask: func(_ context.Context, msg any) (any, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.asked = append(r.asked, msg)
			switch x := msg.(type) {
			case deploy.RequestSubmitDriver:
				return h.s.RequestSubmitDriver(x.Desc), nil
			case deploy.RequestKillDriver:
				return h.s.RequestKillDriver(x.DriverID), nil
			case deploy.RequestDriverStatus:
				return h.s.RequestDriverStatus(x.DriverID), nil
			case deploy.RequestReadyz:
				return h.s.Status != deploy.StateStandby, nil
			case stateCall:
				return x.fn(h.s), nil
			}
			return nil, fmt.Errorf("unexpected ask %T", msg)
		},
	}
	return r
}

// do sends one request and decodes the JSON answer.
func (r *restOn) do(t *testing.T, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	raw := w.Body.String()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%v): %q", method, path, err, raw)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return w.Code, m, raw
}

// createJSON is a request as spark-submit's RestSubmissionClient sends it,
// with edits.
func createJSON(edit func(m map[string]any)) string {
	m := map[string]any{
		"action":             "CreateSubmissionRequest",
		"appArgs":            []any{"2", "600"},
		"appResource":        "file:/opt/app.jar",
		"clientSparkVersion": "4.1.4",
		"environmentVariables": map[string]any{"SPARK_USER": "alice", "SPARK_LOCAL_IP": "10.9.9.9",
			"SPARK_TOKEN": "{{EMBER_TEST_TOKEN}}"},
		"mainClass": "ember.sparkapp.SparkPi",
		"sparkProperties": map[string]any{
			"spark.app.name":                "EmberJavaSparkPi",
			"spark.master":                  "spark://10.0.0.1:6066",
			"spark.submit.deployMode":       "cluster",
			"spark.driver.memory":           "512m",
			"spark.driver.cores":            "2",
			"spark.driver.supervise":        "true",
			"spark.driver.extraClassPath":   "/a.jar:/b.jar:",
			"spark.driver.extraJavaOptions": "-Dx=1 '-Dy=two words'",
			"spark.jars":                    "file:/opt/app.jar",
		},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func props(edit func(p map[string]any)) func(m map[string]any) {
	return func(m map[string]any) { edit(m["sparkProperties"].(map[string]any)) }
}

const createPath = "/v1/submissions/create"

func TestRESTCreateBuildsSparksDriverDescription(t *testing.T) {
	h := newAlive(t)
	r := newRESTOn(h, map[string]string{"EMBER_TEST_TOKEN": "s3cret"})
	code, m, raw := r.do(t, http.MethodPost, createPath, createJSON(nil))
	if code != http.StatusOK || m["action"] != "CreateSubmissionResponse" || m["success"] != true ||
		m["serverSparkVersion"] != "4.1.4" {
		t.Fatalf("create: %d %s", code, raw)
	}
	id, _ := m["submissionId"].(string)
	if !strings.HasPrefix(id, "driver-") || m["message"] != "Driver successfully submitted as "+id {
		t.Fatalf("create: %s", raw)
	}
	if _, ok := m["unknownFields"]; ok {
		t.Errorf("unknownFields on a request without any: %s", raw)
	}
	d := h.s.drivers[id]
	if d == nil {
		t.Fatalf("no driver %s in the state", id)
	}
	desc := d.Desc
	if desc.JarURL != "file:/opt/app.jar" || desc.MemoryMB != 512 || desc.Cores != 2 || !desc.Supervise {
		t.Errorf("description %+v", desc)
	}
	c := desc.Command
	if c.MainClass != driverWrapperClass ||
		!slices.Equal(c.Arguments, []string{"{{WORKER_URL}}", "{{USER_JAR}}", "ember.sparkapp.SparkPi", "2", "600"}) {
		t.Errorf("command %s %q", c.MainClass, c.Arguments)
	}
	if want := map[string]string{"SPARK_USER": "alice", "SPARK_TOKEN": "s3cret"}; !maps.Equal(c.Environment, want) {
		t.Errorf("environment %v, want %v (SPARK_LOCAL_IP dropped, the placeholder replaced)", c.Environment, want)
	}
	if !slices.Equal(c.ClassPathEntries, []string{"/a.jar", "/b.jar"}) || c.LibraryPathEntries != nil {
		t.Errorf("paths %q %q", c.ClassPathEntries, c.LibraryPathEntries)
	}
	n := len(jvmModuleOptions)
	if len(c.JavaOpts) < n+2 || !slices.Equal(c.JavaOpts[:n], jvmModuleOptions) {
		t.Fatalf("java opts do not start with the module options: %q", c.JavaOpts)
	}
	if tail := c.JavaOpts[len(c.JavaOpts)-2:]; !slices.Equal(tail, []string{"-Dx=1", "-Dy=two words"}) {
		t.Errorf("extra java options last, split: %q", tail)
	}
	sys := c.JavaOpts[n : len(c.JavaOpts)-2]
	for _, want := range []string{"-Dspark.master=spark://10.0.0.1:7077", "-Dspark.app.name=EmberJavaSparkPi", "-Dspark.driver.memory=512m"} {
		if !slices.Contains(sys, want) {
			t.Errorf("no %s among %q", want, sys)
		}
	}
	if !slices.IsSorted(sys) {
		t.Errorf("system properties not in key order: %q", sys)
	}
}

func TestRESTDriverDefaultsAndSparkSubmitName(t *testing.T) {
	req := &createRequest{AppResource: strp("file:/x.py"), MainClass: strp(sparkSubmitClass), HasAppArgs: true,
		AppArgs: []string{"--verbose"}, SparkProperties: map[string]string{"spark.app.name": "py app"}}
	d, err := driverDescription(req, "spark://m:7077", 6066, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if d.MemoryMB != defaultDriverMemoryMB || d.Cores != defaultDriverCores || d.Supervise {
		t.Errorf("defaults: %+v", d)
	}
	want := []string{"{{WORKER_URL}}", "{{USER_JAR}}", sparkSubmitClass, "-c", "spark.app.name=py app", "--verbose"}
	if !slices.Equal(d.Command.Arguments, want) {
		t.Errorf("args %q, want %q", d.Command.Arguments, want)
	}
	if !slices.Contains(d.Command.JavaOpts, "-Dspark.master=spark://m:7077") {
		t.Errorf("no spark.master from the master's URL: %q", d.Command.JavaOpts)
	}
	req.MainClass = nil
	if _, err := driverDescription(req, "spark://m:7077", 6066, nil); err == nil ||
		err.Error() != "org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Main class is missing." {
		t.Errorf("no main class: %v", err)
	}
}

func TestRESTRequests(t *testing.T) {
	huge := createJSON(func(m map[string]any) { m["appArgs"] = []any{strings.Repeat("x", restMaxBody)} })
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		action                   string
		message                  string // a part of the answer's message
	}{
		{"valid", "POST", createPath, createJSON(nil), 200, "CreateSubmissionResponse", "Driver successfully submitted as driver-"},
		{"a second slash segment still creates", "POST", createPath + "/x", createJSON(nil), 200, "CreateSubmissionResponse", "submitted"},
		{"unknown action", "POST", createPath, createJSON(func(m map[string]any) { m["action"] = "LaunchRocketsRequest" }), 400, "ErrorResponse", `Malformed request: unknown action "LaunchRocketsRequest"`},
		{"another message type", "POST", createPath, createJSON(func(m map[string]any) { m["action"] = "KillSubmissionResponse" }), 400, "ErrorResponse", "Received message of unexpected type KillSubmissionResponse."},
		{"no action", "POST", createPath, createJSON(func(m map[string]any) { delete(m, "action") }), 400, "ErrorResponse", "Action field not found"},
		{"malformed JSON", "POST", createPath, `{"action": "CreateSubmissionRequest", `, 400, "ErrorResponse", "Malformed request: not JSON"},
		{"not an object", "POST", createPath, `["CreateSubmissionRequest"]`, 400, "ErrorResponse", "Action field not found"},
		{"trailing data", "POST", createPath, createJSON(nil) + `{}`, 400, "ErrorResponse", "data after the object"},
		{"huge body", "POST", createPath, huge, 413, "ErrorResponse", "over 1048576 bytes"},
		{"no app name (not required in 4.1)", "POST", createPath, createJSON(props(func(p map[string]any) { delete(p, "spark.app.name") })), 200, "CreateSubmissionResponse", "submitted"},
		{"no app resource", "POST", createPath, createJSON(func(m map[string]any) { delete(m, "appResource") }), 400, "ErrorResponse",
			"Malformed request: org.apache.spark.deploy.rest.SubmitRestProtocolException: Validation of message CreateSubmissionRequest failed!\n\tcaused by: 'appResource' is missing in message CreateSubmissionRequest."},
		{"no main class", "POST", createPath, createJSON(func(m map[string]any) { delete(m, "mainClass") }), 400, "ErrorResponse",
			"Malformed request: org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Main class is missing."},
		{"no client version", "POST", createPath, createJSON(func(m map[string]any) { delete(m, "clientSparkVersion") }), 400, "ErrorResponse", "'clientSparkVersion' is missing"},
		{"no properties", "POST", createPath, createJSON(func(m map[string]any) { m["sparkProperties"] = nil }), 400, "ErrorResponse", "No Spark properties set!"},
		{"no app args or environment", "POST", createPath, createJSON(func(m map[string]any) { delete(m, "appArgs"); delete(m, "environmentVariables") }), 200, "CreateSubmissionResponse", "submitted"},
		{"app args not strings", "POST", createPath, createJSON(func(m map[string]any) { m["appArgs"] = []any{map[string]any{}} }), 400, "ErrorResponse", "'appArgs[0]' must be a string"},
		{"bad memory", "POST", createPath, createJSON(props(func(p map[string]any) { p["spark.driver.memory"] = "lots" })), 400, "ErrorResponse", "Property 'spark.driver.memory' expected memory value: actual was 'lots'."},
		{"bad supervise", "POST", createPath, createJSON(props(func(p map[string]any) { p["spark.driver.supervise"] = "yes" })), 400, "ErrorResponse", "expected boolean value"},
		{"fractional cores", "POST", createPath, createJSON(props(func(p map[string]any) { p["spark.driver.cores"] = "1.5" })), 400, "ErrorResponse", "spark.driver.cores"},
		{"a million cores", "POST", createPath, createJSON(props(func(p map[string]any) { p["spark.driver.cores"] = 1000000 })), 400, "ErrorResponse", "driverDescription.cores"},
		{"GET create", "GET", createPath, "", 405, "ErrorResponse", "HTTP method GET is not supported by this URL"},
		{"wrong protocol version", "POST", "/v2/submissions/create", createJSON(nil), 468, "ErrorResponse", "Unknown protocol version 'v2'. Please submit requests through http://[host]:[port]/v1/submissions/..."},
		{"no version", "GET", "/", "", 400, "ErrorResponse", "Missing protocol version."},
		{"no submissions prefix", "GET", "/v1", "", 400, "ErrorResponse", "Missing the /submissions prefix."},
		{"no action in the path", "GET", "/v1/submissions/launch", "", 400, "ErrorResponse", "Missing an action: please specify one of /create, /kill, /killall, /clear, /status, or /readyz."},
		{"kill without id", "POST", "/v1/submissions/kill/", "", 400, "ErrorResponse", "Submission ID is missing in kill request."},
		{"status without id", "GET", "/v1/submissions/status", "", 400, "ErrorResponse", "Submission ID is missing in status request."},
		{"kill unknown", "POST", "/v1/submissions/kill/driver-nope", "", 200, "KillSubmissionResponse", "Driver driver-nope has already finished or does not exist"},
		{"kill an id no driver can have", "POST", "/v1/submissions/kill/" + strings.Repeat("d", 5000), "", 200, "KillSubmissionResponse", "has already finished or does not exist"},
		{"GET kill", "GET", "/v1/submissions/kill/driver-nope", "", 405, "ErrorResponse", "HTTP method GET is not supported"},
		{"POST status", "POST", "/v1/submissions/status/driver-nope", "", 405, "ErrorResponse", "HTTP method POST is not supported"},
		{"readyz", "GET", "/v1/submissions/readyz", "", 200, "ReadyzResponse", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRESTOn(newAlive(t), nil)
			code, m, raw := r.do(t, tc.method, tc.path, tc.body)
			if code != tc.code || m["action"] != tc.action || m["serverSparkVersion"] != "4.1.4" {
				t.Fatalf("got %d %s, want %d %s", code, clipStr(raw), tc.code, tc.action)
			}
			if msg, _ := m["message"].(string); !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not contain %q", clipStr(msg), tc.message)
			}
			if v, ok := m["highestProtocolVersion"]; (tc.code == 468) != ok || (ok && v != "v1") {
				t.Errorf("highestProtocolVersion: %s", clipStr(raw))
			}
			if code != 200 && tc.action == "ErrorResponse" {
				for _, a := range r.asked {
					if _, ok := a.(deploy.RequestSubmitDriver); ok {
						t.Errorf("a refused request reached the master: %T", a)
					}
				}
			}
		})
	}
}

func clipStr(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

func TestRESTUnknownFieldsAndCoercion(t *testing.T) {
	h := newAlive(t)
	r := newRESTOn(h, nil)
	body := createJSON(func(m map[string]any) {
		m["zzz"] = 1
		m["mainClass"] = "ember.Main"
		m["aaa"] = map[string]any{"x": 1}
		m["appArgs"] = []any{7, true}
	})
	code, m, raw := r.do(t, "POST", createPath, body)
	if code != 200 || m["success"] != true {
		t.Fatalf("%d %s", code, raw)
	}
	uf, _ := m["unknownFields"].([]any)
	if len(uf) != 2 || uf[0] != "aaa" || uf[1] != "zzz" { // json.Marshal sorts the keys
		t.Errorf("unknownFields %v", m["unknownFields"])
	}
	if !strings.Contains(raw, `"unknownFields" : [ "aaa", "zzz" ]`) {
		t.Errorf("not written as Jackson writes it:\n%s", raw)
	}
	d := h.s.drivers[m["submissionId"].(string)]
	if got := d.Desc.Command.Arguments[3:]; !slices.Equal(got, []string{"7", "true"}) {
		t.Errorf("scalars as strings: %q", got)
	}
}

func TestRESTMessageIsJacksonShaped(t *testing.T) {
	m := newResponse("SubmissionStatusResponse")
	m.SubmissionID, m.Success, m.DriverState = strp("driver-1"), boolp(true), strp("RUNNING")
	m.WorkerID, m.WorkerHostPort, m.Message = strp("worker-1"), strp("10.0.0.2:4000"), strp("a \"quoted\" <b>\n")
	want := "{\n" +
		`  "action" : "SubmissionStatusResponse",` + "\n" +
		`  "driverState" : "RUNNING",` + "\n" +
		`  "message" : "a \"quoted\" <b>\n",` + "\n" +
		`  "serverSparkVersion" : "4.1.4",` + "\n" +
		`  "submissionId" : "driver-1",` + "\n" +
		`  "success" : true,` + "\n" +
		`  "workerHostPort" : "10.0.0.2:4000",` + "\n" +
		`  "workerId" : "worker-1"` + "\n}"
	if got := string(m.marshal()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A driver's life over the protocol, on a State with a worker: submitted
// and launched (RUNNING on the worker), killed through the worker, killed
// all, cleared.
func TestRESTDriverLifecycle(t *testing.T) {
	h := newAlive(t)
	w := h.addWorker("w1", 8, 8192)
	r := newRESTOn(h, nil)
	submit := func() string {
		t.Helper()
		code, m, raw := r.do(t, "POST", createPath, createJSON(nil))
		if code != 200 || m["success"] != true {
			t.Fatalf("submit: %d %s", code, raw)
		}
		return m["submissionId"].(string)
	}
	id := submit()
	if l := lastOf[deploy.LaunchDriver](t, w); l.DriverID != id {
		t.Fatalf("LaunchDriver %+v", l)
	}
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: deploy.DriverRunning})
	_, st, raw := r.do(t, "GET", "/v1/submissions/status/"+id, "")
	worker := h.s.Worker("w1")
	if st["action"] != "SubmissionStatusResponse" || st["success"] != true || st["driverState"] != "RUNNING" ||
		st["submissionId"] != id || st["workerId"] != "w1" || st["workerHostPort"] != fmt.Sprintf("%s:%d", worker.Host, worker.Port) {
		t.Errorf("status: %s", raw)
	}
	_, k, raw := r.do(t, "POST", "/v1/submissions/kill/"+id, "")
	if k["success"] != true || k["message"] != "Kill request for "+id+" submitted" || k["submissionId"] != id {
		t.Errorf("kill: %s", raw)
	}
	if kd := msgsOf[deploy.KillDriver](w); len(kd) != 1 || kd[0].DriverID != id {
		t.Errorf("KillDriver to the worker: %v", kd)
	}
	h.s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: deploy.DriverKilled})
	if _, st, raw = r.do(t, "GET", "/v1/submissions/status/"+id, ""); st["driverState"] != "KILLED" {
		t.Errorf("status after kill: %s", raw)
	}

	// Kill all: one running (asked of its worker), one waiting (the worker
	// is full: KILLED at once).
	w.reset()
	running := submit()
	full := createJSON(props(func(p map[string]any) { p["spark.driver.cores"] = "16" }))
	_, m, _ := r.do(t, "POST", createPath, full)
	waiting := m["submissionId"].(string)
	_, ka, raw := r.do(t, "POST", "/v1/submissions/killall", "")
	if ka["action"] != "KillAllSubmissionResponse" || ka["success"] != true || ka["message"] != "Kill request for all drivers submitted" {
		t.Errorf("killall: %s", raw)
	}
	if kd := msgsOf[deploy.KillDriver](w); len(kd) != 1 || kd[0].DriverID != running {
		t.Errorf("KillDriver for the running one: %v", kd)
	}
	if st := h.s.RequestDriverStatus(waiting); *st.State != deploy.DriverKilled {
		t.Errorf("waiting driver after killall: %s", *st.State)
	}

	// Clear forgets the completed drivers.
	_, c, raw := r.do(t, "POST", "/v1/submissions/clear", "")
	if c["action"] != "ClearResponse" || c["success"] != true || c["message"] != "" {
		t.Errorf("clear: %s", raw)
	}
	if _, st, raw = r.do(t, "GET", "/v1/submissions/status/"+id, ""); st["success"] != false || st["driverState"] != nil {
		t.Errorf("a cleared driver is still known: %s", raw)
	}
}

func TestRESTStandbyMaster(t *testing.T) {
	r := newRESTOn(newStandby(t), nil)
	code, m, raw := r.do(t, "GET", "/v1/submissions/readyz", "")
	if code != http.StatusServiceUnavailable || m["action"] != "ErrorResponse" || m["message"] != "Master is not ready." {
		t.Errorf("readyz on a standby master: %d %s", code, raw)
	}
	_, m, raw = r.do(t, "POST", createPath, createJSON(nil))
	if m["success"] != false || !strings.Contains(m["message"].(string), "Can only accept driver submissions in ALIVE state") {
		t.Errorf("create on a standby master: %s", raw)
	}
	_, m, raw = r.do(t, "GET", "/v1/submissions/status/driver-1", "")
	if m["success"] != false || !strings.HasPrefix(m["message"].(string), "Exception from the cluster:\nCurrent state is not alive: STANDBY") {
		t.Errorf("status on a standby master: %s", raw)
	}
	_, m, raw = r.do(t, "POST", "/v1/submissions/killall", "")
	if m["success"] != false || !strings.Contains(m["message"].(string), "Can only kill drivers in ALIVE state") {
		t.Errorf("killall on a standby master: %s", raw)
	}
}

func TestRESTAskFailure(t *testing.T) {
	r := newRESTOn(newAlive(t), nil)
	r.restHandler.ask = func(context.Context, any) (any, error) { return nil, errors.New("rpcenv: ask timed out") }
	code, m, raw := r.do(t, "GET", "/v1/submissions/readyz", "")
	if code != 500 || m["action"] != "ErrorResponse" || !strings.Contains(m["message"].(string), "Internal server error: rpcenv: ask timed out") {
		t.Errorf("%d %s", code, raw)
	}
}

func TestRESTConfig(t *testing.T) {
	c, err := restConfigFromSpark(sparkconf.New())
	if err != nil || !c.Enabled || c.Port != 6066 || c.Host != "" || c.MaxThreads != 200 || c.Retries != 16 {
		t.Errorf("defaults (Spark 4.1.4's): %+v %v", c, err)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"spark.master.rest.port", "80", "spark.master.rest.port"},
		{"spark.master.rest.maxThreads", "0", "spark.master.rest.maxThreads"},
		{"spark.master.rest.enabled", "maybe", "spark.master.rest.enabled"},
		{"spark.master.rest.filters", "com.example.AuthFilter", "Ember cannot run the Java servlet filter com.example.AuthFilter"},
		{"spark.master.rest.filters", "org.apache.spark.ui.JWSFilter", "needs spark.org.apache.spark.ui.JWSFilter.param.secretKey"},
	} {
		_, err := restConfigFromSpark(sparkconf.New().Set(tc.key, tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v", tc.key, tc.value, err)
		}
	}
	if _, err := restConfigFromSpark(sparkconf.New().Set("spark.master.rest.enabled", "false").
		Set("spark.master.rest.filters", "x.Filter")); err != nil {
		t.Errorf("filters with the server off: %v", err)
	}
}

// FuzzRESTCreateRequest: any body either builds a driver description
// or is refused with an error, never a panic; what parses writes back as
// JSON.
func FuzzRESTCreateRequest(f *testing.F) {
	f.Add([]byte(createJSON(nil)))
	f.Add([]byte(createJSON(func(m map[string]any) { m["x"] = []any{1, nil} })))
	f.Add([]byte(`{"action":"CreateSubmissionRequest","clientSparkVersion":1,"appResource":true,"appArgs":[],"sparkProperties":{"spark.app.name":"a"},"environmentVariables":{}}`))
	f.Add([]byte(`{"action":"ErrorResponse"}`))
	f.Add([]byte(`{"action":`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseCreateRequest(body)
		if err != nil {
			return
		}
		d, err := driverDescription(req, "spark://m:7077", 6066, func(string) (string, bool) { return "", false })
		if err != nil {
			return
		}
		_ = deploy.Validate(deploy.RequestSubmitDriver{Desc: d})
		resp := newResponse("CreateSubmissionResponse")
		resp.UnknownFields, resp.Message = req.UnknownFields, req.MainClass
		if !json.Valid(resp.marshal()) {
			t.Fatalf("invalid JSON: %s", resp.marshal())
		}
	})
}
