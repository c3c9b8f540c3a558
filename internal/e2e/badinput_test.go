//go:build linux

package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestBadInput: the daemons refuse bad arguments with a clear message and
// a non-zero exit, move off a taken port as Spark does, and a worker
// whose master is unreachable keeps retrying.
func TestBadInput(t *testing.T) {
	requireE2E(t)

	t.Run("master port not a number", func(t *testing.T) {
		c := newCluster(t)
		p := c.start("master", nil, emberBin, "master", "--host", "127.0.0.1", "--port", "notanumber")
		if code := p.exitCode(t); code == 0 {
			t.Fatalf("ember master --port notanumber exited 0:\n%s", p.output())
		}
		if out := p.output(); !strings.Contains(out, `invalid value "notanumber" for flag -port`) {
			t.Errorf("ember master --port notanumber does not say what is wrong:\n%s", out)
		}
	})

	t.Run("worker bad master URL", func(t *testing.T) {
		for _, tc := range []struct{ arg, named string }{
			{"http://127.0.0.1:7077", "http://127.0.0.1:7077"},
			{"spark://127.0.0.1", "spark://127.0.0.1"},
			{"spark://127.0.0.1:notaport", "spark://127.0.0.1:notaport"},
			{"spark://:7077", "spark://:7077"},
			{"spark://127.0.0.1:7077,127.0.0.1", "spark://127.0.0.1"}, // the bad one of the list
		} {
			t.Run(tc.arg, func(t *testing.T) {
				c := newCluster(t)
				p := c.start("worker", nil, emberBin, "worker", "--host", "127.0.0.1", "--webui-port", "0",
					"--work-dir", c.mkdir("work"), tc.arg)
				if code := p.exitCode(t); code == 0 {
					t.Fatalf("ember worker %s exited 0:\n%s", tc.arg, p.output())
				}
				out := p.output()
				if !strings.Contains(out, "invalid master URL") || !strings.Contains(out, strconv.Quote(tc.named)) {
					t.Errorf("ember worker %s: the error does not name the URL %q:\n%s", tc.arg, tc.named, out)
				}
			})
		}
	})

	t.Run("worker without master URL", func(t *testing.T) {
		c := newCluster(t)
		p := c.start("worker", nil, emberBin, "worker", "--host", "127.0.0.1", "--webui-port", "0")
		if code := p.exitCode(t); code == 0 {
			t.Fatalf("ember worker without a master exited 0:\n%s", p.output())
		}
		if out := p.output(); !strings.Contains(out, "master URL") {
			t.Errorf("ember worker without a master does not say it needs one:\n%s", out)
		}
	})

	// Spark's Utils.startServiceOnPort: a taken RPC port makes the master
	// try the next ports (spark.port.maxRetries, 16). Ember does the same:
	// the second master binds a later port and runs.
	t.Run("master RPC port in use", func(t *testing.T) {
		c := newCluster(t)
		m1 := c.startMaster("master1", masterOpts{})
		m2 := c.startMaster("master2", masterOpts{port: m1.port})
		if m2.port == m1.port {
			t.Fatalf("two masters on port %d", m1.port)
		}
		retried := false
		for k := 1; k <= 16; k++ {
			retried = retried || m2.port == ((m1.port+k-1024)%(65536-1024))+1024
		}
		if !retried {
			t.Errorf("second master on port %d; want one of the 16 ports after %d", m2.port, m1.port)
		}
		st := m2.waitState(t, "ALIVE", func(st deploy.MasterStateResponse) bool { return st.Status == deploy.StateAlive })
		if want := fmt.Sprintf("spark://127.0.0.1:%d", m2.port); st.URL != want {
			t.Errorf("second master's url %q, want %q", st.URL, want)
		}
		// Both serve: a worker registers with each.
		for _, m := range []*master{m1, m2} {
			w := c.startWorker("worker-"+strconv.Itoa(m.port), m.url, workerOpts{})
			m.waitState(t, "its worker", func(st deploy.MasterStateResponse) bool {
				return workerState(st, w.id) == deploy.WorkerAlive && st.AliveWorkers == 1
			})
		}
	})

	// The web UI port is not retried (Spark's Jetty would try the next
	// ports): a master whose UI port is taken exits with a clear message.
	t.Run("master web UI port in use", func(t *testing.T) {
		c := newCluster(t)
		m1 := c.startMaster("master1", masterOpts{})
		p := c.start("master2", nil, emberBin, "master", "--host", "127.0.0.1", "--port", strconv.Itoa(testutil.FreePort(t)),
			"--webui-port", strconv.Itoa(m1.uiPort))
		if code := p.exitCode(t); code == 0 {
			t.Fatalf("second master on a taken web UI port exited 0:\n%s", p.output())
		}
		if out := p.output(); !strings.Contains(out, fmt.Sprintf("web UI on port %d", m1.uiPort)) || !strings.Contains(out, "address already in use") {
			t.Errorf("second master on a taken web UI port: unclear error:\n%s", out)
		}
	})

	t.Run("worker with unreachable master keeps retrying", func(t *testing.T) {
		c := newCluster(t)
		nobody := testutil.FreePort(t) // nothing listens there
		w := c.startWorker("worker", fmt.Sprintf("spark://127.0.0.1:%d", nobody), workerOpts{
			// Retry as often as the test needs: Spark gives up after 16.
			conf: []string{"spark.worker.maxRegistrationRetries=1000"}})
		// Past the 6 initial retries, into the prolonged ones.
		testutil.Eventually(t, waitLimit, "8 registration retries", func() (bool, string) {
			if w.exited() {
				t.Fatalf("the worker exited (%v) while retrying:\n%s", w.cmd.ProcessState, w.output())
			}
			n := w.countOutput(`msg="Retrying connection to master"`)
			return n >= 8, fmt.Sprintf("%d retries", n)
		})
		if w.exited() {
			t.Fatalf("the worker exited (%v):\n%s", w.cmd.ProcessState, w.output())
		}
		ws, err := w.state()
		if err != nil || ws.MasterURL != "" {
			t.Errorf("worker /json while unregistered: masterurl %q (%v), want none", ws.MasterURL, err)
		}
	})

	// Spark's worker exits 1 once spark.worker.maxRegistrationRetries are
	// used up.
	t.Run("worker gives up after the last retry", func(t *testing.T) {
		c := newCluster(t)
		nobody := testutil.FreePort(t)
		w := c.startWorker("worker", fmt.Sprintf("spark://127.0.0.1:%d", nobody), workerOpts{
			conf: []string{"spark.worker.initialRegistrationRetries=1", "spark.worker.maxRegistrationRetries=2"}})
		if code := w.exitCode(t); code != 1 {
			t.Errorf("worker exit code %d, want 1:\n%s", code, w.output())
		}
		if !regexp.MustCompile(`All masters are unresponsive! Giving up`).MatchString(w.output()) {
			t.Errorf("the worker does not say why it exits:\n%s", w.output())
		}
	})
}
