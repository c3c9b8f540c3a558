package worker

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/rpcenv"
)

// submitDriver submits a cluster-mode driver and returns its id.
func submitDriver(t *testing.T, d *appDriver, desc deploy.DriverDescription) string {
	t.Helper()
	r, ok := d.ask(t, deploy.RequestSubmitDriver{Desc: desc}).(deploy.SubmitDriverResponse)
	if !ok || !r.Success || r.DriverID == nil {
		t.Fatalf("submit: %+v", r)
	}
	return *r.DriverID
}

// completedDriver waits until the master lists the driver as completed.
func completedDriver(t *testing.T, m *master.Master, id string) deploy.DriverInfoJSON {
	t.Helper()
	var out deploy.DriverInfoJSON
	waitFor(t, "driver "+id+" to complete at the master", func() bool {
		st, err := m.MasterState()
		if err != nil {
			return false
		}
		for _, d := range st.CompletedDrivers {
			if d.ID == id {
				out = d
				return true
			}
		}
		return false
	})
	return out
}

func driverDesc(env map[string]string, jar string, supervise bool) deploy.DriverDescription {
	return deploy.DriverDescription{JarURL: jar, MemoryMB: 64, Cores: 1, Supervise: supervise,
		Command: deploy.Command{MainClass: fakeExec,
			Arguments: []string{"--jar", "{{USER_JAR}}", "--worker", "{{WORKER_URL}}"}, Environment: env}}
}

// A supervised driver that fails once is relaunched and ends FINISHED.
func TestDriverSupervisedRelaunch(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, conf: []string{KeyDriverBackoffScale, "0.01"}})
	aliveWorker(t, m, w)
	c := newClient(t, m)
	tmp := t.TempDir()
	jar := filepath.Join(tmp, "app.jar")
	if err := os.WriteFile(jar, []byte("jar bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(tmp, "marker")
	id := submitDriver(t, c, driverDesc(map[string]string{"FAKE_MODE": "fail-once", "FAKE_MARKER": marker}, "file://"+jar, true))
	if d := completedDriver(t, m, id); d.State != deploy.DriverFinished {
		t.Fatalf("driver at the master: %+v", d)
	}
	dir := filepath.Join(w.WorkDir(), id)
	local := filepath.Join(dir, "app.jar")
	if b, err := os.ReadFile(local); err != nil || string(b) != "jar bytes" {
		t.Fatalf("user jar in the driver dir: %q %v", b, err)
	}
	stdout, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	if n := strings.Count(string(stdout), "ready\n"); n != 2 {
		t.Fatalf("%d runs in stdout, want 2:\n%s", n, stdout)
	}
	out := output(t, filepath.Join(dir, "stdout"))
	if out["arg[1]"] != local || out["arg[3]"] != fmt.Sprintf("spark://Worker@127.0.0.1:%d", w.Address().Port) || out["cwd"] != dir {
		t.Fatalf("driver args: %v", out)
	}
	stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if n := strings.Count(string(stderr), "Launch Command: \""+fakeExec+"\""); n != 2 {
		t.Fatalf("%d launch headers in stderr, want 2:\n%s", n, stderr)
	}
	var st deploy.WorkerStateResponse
	waitFor(t, "the driver to be finished at the worker", func() bool {
		st = workerState(t, w)
		return len(st.FinishedDrivers) == 1
	})
	if fd := st.FinishedDrivers[0]; fd.ID != id || fd.State != deploy.DriverFinished || len(st.Drivers) != 0 ||
		st.CoresUsed != 0 || st.MemoryUsed != 0 {
		t.Fatalf("worker state: %+v", st)
	}
}

func TestKillDriver(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	c := newClient(t, m)
	id := submitDriver(t, c, driverDesc(map[string]string{"FAKE_MODE": "sleep", "FAKE_SPAWN_CHILD": "1"}, "", true))
	out := output(t, filepath.Join(w.WorkDir(), id, "stdout"))
	pid, child := atoi(t, out["pid"]), atoi(t, out["child"])
	st := workerState(t, w)
	if len(st.Drivers) != 1 || st.Drivers[0].ID != id || st.Drivers[0].State != deploy.DriverRunning || st.CoresUsed != 1 || st.MemoryUsed != 64 {
		t.Fatalf("running driver: %+v", st)
	}
	if r, ok := c.ask(t, deploy.RequestKillDriver{DriverID: id}).(deploy.KillDriverResponse); !ok || !r.Success {
		t.Fatalf("kill: %+v", r)
	}
	if d := completedDriver(t, m, id); d.State != deploy.DriverKilled {
		t.Fatalf("driver at the master: %+v", d)
	}
	waitGone(t, pid)
	waitGone(t, child)
}

func TestDriverFinalStates(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	c := newClient(t, m)
	failed := submitDriver(t, c, driverDesc(map[string]string{"FAKE_MODE": "exit", "FAKE_EXIT_CODE": "2"}, "", false))
	badJar := submitDriver(t, c, driverDesc(nil, "ftp://example.com/app.jar", false))
	missingJar := submitDriver(t, c, driverDesc(nil, filepath.Join(t.TempDir(), "none.jar"), false))
	if d := completedDriver(t, m, failed); d.State != deploy.DriverFailed {
		t.Fatalf("failing driver: %+v", d)
	}
	for _, id := range []string{badJar, missingJar} {
		if d := completedDriver(t, m, id); d.State != deploy.DriverError {
			t.Fatalf("driver %s: %+v", id, d)
		}
		v := c.ask(t, deploy.RequestDriverStatus{DriverID: id}).(deploy.DriverStatusResponse)
		if !v.Found || v.Exception == nil || *v.Exception == "" {
			t.Fatalf("driver status %s: %+v", id, v)
		}
	}
}

// The user jar can come from an HTTP server or another env's file server.
func TestDriverJarDownloads(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}})
	aliveWorker(t, m, w)
	c := newClient(t, m)

	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dl/http.jar" {
			http.NotFound(rw, r)
			return
		}
		_, _ = rw.Write([]byte("from http"))
	}))
	t.Cleanup(srv.Close)

	files, err := rpcenv.Create(rpcenv.Config{Name: "files", BindHost: "127.0.0.1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(files.Shutdown)
	src := filepath.Join(t.TempDir(), "rpc.jar")
	if err := os.WriteFile(src, []byte("from rpc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sparkURL, err := files.AddJar(src)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct{ url, name, content string }{
		"http":  {srv.URL + "/dl/http.jar", "http.jar", "from http"},
		"spark": {sparkURL, "rpc.jar", "from rpc"},
	}
	for name, tc := range cases {
		id := submitDriver(t, c, driverDesc(map[string]string{"FAKE_MODE": "exit"}, tc.url, false))
		if d := completedDriver(t, m, id); d.State != deploy.DriverFinished {
			t.Fatalf("%s: driver %+v", name, d)
		}
		local := filepath.Join(w.WorkDir(), id, tc.name)
		if b, err := os.ReadFile(local); err != nil || string(b) != tc.content {
			t.Fatalf("%s: jar %q %v", name, b, err)
		}
		if out := output(t, filepath.Join(w.WorkDir(), id, "stdout")); out["arg[1]"] != local {
			t.Fatalf("%s: {{USER_JAR}} = %q", name, out["arg[1]"])
		}
	}
}
