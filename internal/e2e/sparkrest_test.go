//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// infoLog4j2 logs INFO to stderr. spark-submit --status and --kill set
// up logging as a shell does (WARN unless a logger has a level of its
// own): the REST client's logger gets INFO, to show what it received.
const infoLog4j2 = `rootLogger.level = info
logger.rest.name = org.apache.spark.deploy.rest.RestSubmissionClient
logger.rest.level = info
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
`

var restSubmitted = regexp.MustCompile(`Submission successfully created as (driver-\d+-\d+)`)

// Cluster mode over Spark's REST submission protocol: Ember's master
// serves it (spark.master.rest.enabled is true by default in Spark 4.1.4;
// the port here is a free one); spark-submit with the client's
// spark.master.rest.enabled=true creates the submission there and polls
// its status; `spark-submit --status` and `--kill`, which only speak REST
// in Spark 4, see the driver RUNNING, kill it (KILLED in /json) and then
// see it KILLED.
func TestSparkSubmitREST(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	restPort := testutil.FreePort(t)
	m := c.startMaster("master", masterOpts{conf: []string{"spark.master.rest.port=" + strconv.Itoa(restPort)}})
	// The REST server drops the client's SPARK_LOCAL_IP (as Spark's does):
	// the driver binds what the worker's environment says, loopback here.
	w := c.startWorker("worker", m.url, workerOpts{cores: 2, memory: "2g", env: []string{"SPARK_HOME=" + home, "SPARK_LOCAL_IP=127.0.0.1"}})
	m.waitState(t, "the worker to register", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	sc := &sparkCluster{cluster: c, home: home, m: m, w: w}
	restURL := fmt.Sprintf("spark://127.0.0.1:%d", restPort)

	// The server answers readyz as Spark's does.
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/submissions/readyz", restPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ready map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &ready) != nil || ready["action"] != "ReadyzResponse" || ready["success"] != true {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}

	// Each run gets a conf dir with infoLog4j2.
	sparkSubmit := func(name string, args ...string) *proc {
		argv := append([]string{filepath.Join(home, "bin", "spark-submit"), "--master", restURL}, args...)
		conf := sc.mkdir("conf-" + name)
		if err := os.WriteFile(filepath.Join(conf, "log4j2.properties"), []byte(infoLog4j2), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{"SPARK_HOME=" + home, "SPARK_LOCAL_IP=127.0.0.1", "SPARK_CONF_DIR=" + conf}
		p := sc.start(name, env, argv...)
		if code := waitExit(t, p); code != 0 {
			t.Fatalf("%s exited %d:\n%s", name, code, tail(p.output(), 8000))
		}
		return p
	}

	jar := buildAppJar(t, home, sc.dir)
	p := sparkSubmit("spark-submit-rest", "--deploy-mode", "cluster", "--conf", "spark.master.rest.enabled=true",
		"--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
		"--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.memory=512m",
		"--class", "ember.sparkapp.SparkPi", jar, "2", "600")
	out := p.output()
	if !strings.Contains(out, "Running Spark using the REST application submission protocol") {
		t.Errorf("spark-submit did not use REST:\n%s", tail(out, 4000))
	}
	sm := restSubmitted.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("no submission id in spark-submit's output:\n%s", tail(out, 4000))
	}
	id := sm[1]
	st := m.waitState(t, "the driver on the worker", func(st deploy.MasterStateResponse) bool {
		for _, d := range st.ActiveDrivers {
			if d.ID == id && d.State == deploy.DriverRunning {
				return true
			}
		}
		return false
	})
	for _, d := range st.ActiveDrivers {
		if d.ID == id && (d.Memory != 512 || d.Cores != 1) {
			t.Errorf("driver %s: %d MB, %d cores; want 512 (spark.driver.memory) and 1", id, d.Memory, d.Cores)
		}
	}
	stdout := filepath.Join(w.workDir, id, "stdout")
	testutil.Eventually(t, submitLimit, "the driver to compute pi", func() (bool, string) {
		b, _ := os.ReadFile(stdout)
		return strings.Contains(string(b), "Lingering"), string(b)
	})
	if b, _ := os.ReadFile(stdout); !regexp.MustCompile(`Pi is roughly 3\.1`).Match(b) {
		t.Errorf("driver stdout: %s", b)
	}

	status := sparkSubmit("spark-submit-status", "--status", id)
	if so := status.output(); !strings.Contains(so, "Server responded with SubmissionStatusResponse") ||
		!strings.Contains(so, `"driverState" : "RUNNING"`) || !strings.Contains(so, `"workerId" : "`+w.id+`"`) {
		t.Errorf("spark-submit --status on a running driver:\n%s", tail(so, 4000))
	}

	kill := sparkSubmit("spark-submit-kill", "--kill", id)
	if ko := kill.output(); !strings.Contains(ko, id+" is killed successfully.") || !strings.Contains(ko, "Server responded with KillSubmissionResponse") ||
		!strings.Contains(ko, `"message" : "Kill request for `+id+` submitted"`) || !strings.Contains(ko, `"success" : true`) {
		t.Errorf("spark-submit --kill:\n%s", tail(ko, 4000))
	}
	m.waitState(t, "the driver KILLED and its app FINISHED", func(st deploy.MasterStateResponse) bool {
		killed, finished := false, false
		for _, d := range st.CompletedDrivers {
			killed = killed || (d.ID == id && d.State == deploy.DriverKilled)
		}
		for _, a := range st.CompletedApps {
			finished = finished || (a.Name == "EmberJavaSparkPi" && a.State == deploy.AppFinished)
		}
		return killed && finished
	})
	after := sparkSubmit("spark-submit-status-killed", "--status", id)
	if so := after.output(); !strings.Contains(so, `"driverState" : "KILLED"`) {
		t.Errorf("spark-submit --status on a killed driver:\n%s", tail(so, 4000))
	}

	driverStderr, _ := os.ReadFile(filepath.Join(w.workDir, id, "stderr"))
	for name, l := range map[string]string{"spark-submit": out, "driver stderr": string(driverStderr), "status": status.output(),
		"kill": kill.output(), "master": m.output(), "worker": w.output()} {
		if mm := sparkLogProblems.FindString(l); mm != "" {
			t.Errorf("%s log has %s:\n%s", name, mm, tail(l, 6000))
		}
	}
}

// restExchange is one request and the answer to it.
type restExchange struct {
	code        int
	contentType string
	body        string
}

func restDo(t *testing.T, method, url, body string) restExchange {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return restExchange{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
}

// Ember's REST server answers byte for byte as Spark 4.1.4's master does,
// both without workers: the same requests to a real Spark master (a JVM
// from $SPARK_HOME) and to Ember's, the same codes, content types and
// bodies (a submission's driver id aside; a refused creation's message,
// which holds a Java stack trace in Spark's, compared by its first line).
func TestRESTAnswersLikeSparksMaster(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	emberREST := testutil.FreePort(t)
	c.startMaster("ember-master", masterOpts{conf: []string{"spark.master.rest.port=" + strconv.Itoa(emberREST)}})
	ports := testutil.FreePorts(t, 3)
	sparkREST := ports[2]
	c.start("spark-master", []string{"SPARK_HOME=" + home, "SPARK_LOCAL_IP=127.0.0.1", "SPARK_CONF_DIR=" + c.mkdir("spark-conf"),
		"SPARK_MASTER_OPTS=-Dspark.master.rest.enabled=true -Dspark.master.rest.port=" + strconv.Itoa(sparkREST)},
		filepath.Join(home, "bin", "spark-class"), "org.apache.spark.deploy.master.Master",
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]), "--webui-port", strconv.Itoa(ports[1]))
	spark := fmt.Sprintf("http://127.0.0.1:%d", sparkREST)
	ember := fmt.Sprintf("http://127.0.0.1:%d", emberREST)
	testutil.Eventually(t, submitLimit, "Spark's master to be ready", func() (bool, string) {
		req, _ := http.NewRequest("GET", spark+"/v1/submissions/readyz", nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})

	create := func(edit func(p map[string]any)) string {
		p := map[string]any{"spark.app.name": "EmberRestProbe", "spark.master": "spark://127.0.0.1:7077",
			"spark.submit.deployMode": "cluster", "spark.driver.memory": "512m"}
		if edit != nil {
			edit(p)
		}
		b, _ := json.Marshal(map[string]any{"action": "CreateSubmissionRequest", "appArgs": []string{"1"},
			"appResource": "file:/nonexistent/app.jar", "clientSparkVersion": "4.1.4", "environmentVariables": map[string]string{},
			"mainClass": "ember.Probe", "sparkProperties": p, "extraField": 1})
		return string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		firstLine          bool // compare messages up to the first newline
	}{
		{"GET", "/", "", false},
		{"GET", "/v1", "", false},
		{"POST", "/v1/submissions/launch", "", false},
		{"POST", "/v2/submissions/create", "", false},
		{"GET", "/v1/submissions/readyz", "", false},
		{"POST", "/v1/submissions/kill/driver-20000101000000-0042", "", false},
		{"POST", "/v1/submissions/kill/", "", false},
		{"GET", "/v1/submissions/status/driver-20000101000000-0042", "", false},
		{"GET", "/v1/submissions/status", "", false},
		{"POST", "/v1/submissions/killall", "", false},
		{"POST", "/v1/submissions/clear", "", false},
		{"POST", "/v1/submissions/create", `{"action":"KillSubmissionResponse","serverSparkVersion":"4.1.4","submissionId":"x","success":true}`, false},
		{"POST", "/v1/submissions/create", create(func(p map[string]any) { p["spark.driver.memory"] = "lots" }), true},
		{"POST", "/v1/submissions/create", create(func(p map[string]any) { delete(p, "spark.app.name") }), false},
		{"POST", "/v1/submissions/create", create(nil), false},
	} {
		want := restDo(t, tc.method, spark+tc.path, tc.body)
		got := restDo(t, tc.method, ember+tc.path, tc.body)
		if tc.path == "/v1/submissions/create" && want.code == 200 {
			// Each master numbers its own drivers.
			ids := regexp.MustCompile(`driver-\d{14}-\d{4}`)
			want.body, got.body = ids.ReplaceAllString(want.body, "driver-ID"), ids.ReplaceAllString(got.body, "driver-ID")
		}
		if tc.firstLine {
			cut := func(s string) string {
				var m map[string]any
				_ = json.Unmarshal([]byte(s), &m)
				msg, _ := m["message"].(string)
				line, _, _ := strings.Cut(msg, "\n")
				return fmt.Sprint(m["action"], "|", m["serverSparkVersion"], "|", line)
			}
			want.body, got.body = cut(want.body), cut(got.body)
		}
		if got.code != want.code || got.contentType != want.contentType || got.body != want.body {
			t.Errorf("%s %s:\nSpark's master: %d %q\n%s\nEmber's master: %d %q\n%s", tc.method, tc.path,
				want.code, want.contentType, want.body, got.code, got.contentType, got.body)
		}
	}
}
