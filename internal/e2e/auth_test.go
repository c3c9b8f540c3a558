//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/examples/pi"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestAuthCluster: a master, a worker and applications all with
// spark.authenticate and one shared secret, over SASL and over the
// AuthEngine (spark.network.crypto.enabled). The secret comes from a
// properties file (the worker of the crypto run gets it from
// _SPARK_AUTH_SECRET instead). Two applications finish with SparkPi's
// exact result: one driven from the test process, whose executors are
// inspected while they run, and one run by `ember submit` as `ember
// example pi`. Throughout, the secret is on no command line and in no log,
// output or web UI JSON; the executors get it in their environment
// (_SPARK_AUTH_SECRET); and an application with a wrong secret fails at
// once, saying that authentication failed.
func TestAuthCluster(t *testing.T) {
	requireE2E(t)
	for _, mode := range []struct {
		name string
		kv   []string
		// workerEnvSecret: the worker's properties file has no secret; it
		// gets it from _SPARK_AUTH_SECRET.
		workerEnvSecret bool
	}{
		{"sasl", nil, false},
		{"aes-ctr", []string{"spark.network.crypto.enabled=true"}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			c := newCluster(t)
			secret := randomSecret(t)
			wrong := randomSecret(t)
			// The properties files live outside the cluster's dir, every
			// file of which is searched for the secret at the end.
			confDir := t.TempDir()
			authKV := append([]string{"spark.authenticate=true"}, mode.kv...)
			props := writeProps(t, confDir, "auth.conf", append(slices.Clip(authKV), "spark.authenticate.secret="+secret)...)
			wrongProps := writeProps(t, confDir, "wrong.conf", append(slices.Clip(authKV), "spark.authenticate.secret="+wrong)...)
			workerProps, workerEnv := props, []string(nil)
			if mode.workerEnvSecret {
				workerProps = writeProps(t, confDir, "worker.conf", authKV...)
				workerEnv = []string{"_SPARK_AUTH_SECRET=" + secret}
			}

			m := startAuthMaster(c, props)
			w := startAuthWorker(c, m.url, workerProps, workerEnv)
			m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool {
				return workerState(st, w.id) == deploy.WorkerAlive
			})

			const nSlices, nSamples = 4, 50000
			want := piEstimate(t, nSlices, nSamples)

			// 1. A driver in this process: its two executors are real
			// `ember executor` processes launched by the worker.
			conf := loadProps(t, props)
			logFile, err := os.Create(c.path("inproc-driver.log"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { logFile.Close() })
			d, err := app.NewDriver(app.DriverConfig{Master: m.url, AppName: "e2e-auth", Host: "127.0.0.1",
				ExecutorProgram: emberBin, CoresPerExecutor: 1, MaxCores: 2, MemoryPerExecutorMB: 64, Conf: conf,
				Logger: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatalf("NewDriver: %v", err)
			}
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					d.Stop()
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := d.WaitExecutors(ctx, 2); err != nil {
				t.Fatalf("executors of the authenticated application: %v", err)
			}
			execs := testutil.Processes(func(p testutil.Proc, env []string) bool {
				return slices.Contains(env, c.marker) && len(p.Cmdline) > 1 && p.Cmdline[1] == "executor"
			})
			if len(execs) != 2 {
				t.Fatalf("executor processes: %v, want 2", execs)
			}
			for _, p := range execs {
				// (c) The secret reached the executor in its environment,
				// and spark.authenticate (with the mode's settings) on its
				// command line.
				env := environ(p.PID)
				if !slices.Contains(env, "_SPARK_AUTH_SECRET="+secret) {
					t.Errorf("executor %s: no _SPARK_AUTH_SECRET with the secret in its environment", p)
				}
				for _, kv := range authKV {
					if !slices.Contains(p.Cmdline, kv) {
						t.Errorf("executor %s: %s is not among its arguments", p, kv)
					}
				}
			}
			// (a) No process of the test has the secret on its command
			// line: master, worker, executors.
			checkCmdlines(t, c, secret)

			got, err := pi.Run(ctx, d, nSlices, nSamples)
			if err != nil {
				t.Fatalf("pi over authenticated connections: %v", err)
			}
			if got != want {
				t.Errorf("pi = %v, want %v", got, want)
			}
			d.Stop()
			stopped = true
			m.waitState(t, "e2e-auth finished and its cores free", func(st deploy.MasterStateResponse) bool {
				return len(st.ActiveApps) == 0 && len(st.CompletedApps) == 1 && st.CoresUsed == 0
			})

			// 2. `ember submit` runs `ember example pi` in client mode with
			// the properties file.
			sub := c.start("submit-pi", nil, emberBin, "submit", "--master", m.url, "--properties-file", props,
				emberBin, "example", "pi", "--slices", strconv.Itoa(nSlices), "--samples", strconv.Itoa(nSamples), "--timeout", "30s")
			if code := sub.exitCode(t); code != 0 {
				t.Fatalf("ember submit of example pi exited %d:\n%s", code, sub.output())
			}
			if line := fmt.Sprintf("Pi is roughly %f\n", want); !strings.Contains(sub.output(), line) {
				t.Errorf("ember example pi did not print %q:\n%s", line, sub.output())
			}
			st := m.waitState(t, "Ember Pi finished", func(st deploy.MasterStateResponse) bool {
				return len(st.ActiveApps) == 0 && len(st.CompletedApps) == 2
			})
			for _, a := range st.CompletedApps {
				if a.State != deploy.AppFinished {
					t.Errorf("application %s (%s) ended %s, want FINISHED", a.ID, a.Name, a.State)
				}
			}

			// 3. (d) The wrong secret: the driver gives up at once (not
			// after the registration retries, nor at its --timeout) and
			// says why; the master registered nothing.
			bad := c.start("submit-wrong-secret", nil, emberBin, "submit", "--master", m.url, "--properties-file", wrongProps,
				emberBin, "example", "pi", "--timeout", "30s")
			if code := bad.exitCode(t); code == 0 {
				t.Fatalf("an application with the wrong secret succeeded:\n%s", bad.output())
			}
			out := bad.output()
			for _, s := range []string{"Authentication with the master at " + m.url + " failed", "spark.authenticate.secret", "Authentication failed."} {
				if !strings.Contains(out, s) {
					t.Errorf("the wrong secret's failure does not say %q:\n%s", s, out)
				}
			}
			if strings.Contains(out, "context deadline exceeded") || strings.Contains(out, "unresponsive") {
				t.Errorf("the wrong secret's failure is a timeout, not the authentication error:\n%s", out)
			}
			m.waitState(t, "nothing registered with the wrong secret", func(st deploy.MasterStateResponse) bool {
				return len(st.ActiveApps) == 0 && len(st.CompletedApps) == 2
			})
			testutil.Eventually(t, waitLimit, "the master to log the refused handshake", func() (bool, string) {
				return strings.Contains(m.output(), "authentication failed"), tail(m.output(), 2000)
			})

			// (b) Neither secret is in any file the processes wrote (their
			// logs and captured output, the work dir's executor stdout and
			// stderr, the test driver's log) nor in the web UIs' JSON.
			for _, s := range []string{secret, wrong} {
				checkFilesLack(t, c.dir, s)
				for _, u := range []string{m.uiURL + "/json", w.uiURL + "/json"} {
					if b := httpBody(t, u); bytes.Contains(b, []byte(s)) {
						t.Errorf("%s shows a secret", u)
					}
				}
			}
			checkCmdlines(t, c, secret)
		})
	}
}

// randomSecret is a secret no log line could contain by chance.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "e2e-secret-" + hex.EncodeToString(b)
}

// writeProps writes key=value settings as a spark-defaults.conf file
// readable by its owner only.
func writeProps(t *testing.T, dir, name string, kv ...string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		fmt.Fprintf(&b, "%s %s\n", k, v)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadProps(t *testing.T, path string) *sparkconf.Conf {
	t.Helper()
	m, err := sparkconf.LoadPropertiesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sparkconf.FromMap(m)
}

// startAuthMaster is startMaster with a properties file (which the
// helper's --conf flags must not carry: they are on the command line).
func startAuthMaster(c *cluster, props string) *master {
	c.t.Helper()
	p := c.start("master", nil, emberBin, "master", "--host", "127.0.0.1", "--port", strconv.Itoa(testutil.FreePort(c.t)),
		"--webui-port", strconv.Itoa(testutil.FreePort(c.t)), "--properties-file", props)
	sm := p.waitOutput(c.t, masterStarted)
	m := &master{proc: p, url: sm[1], uiURL: sm[2]}
	m.port, m.uiPort = portOf(c.t, m.url), portOf(c.t, m.uiURL)
	return m
}

// startAuthWorker is startWorker with a properties file and env.
func startAuthWorker(c *cluster, masterURL, props string, env []string) *worker {
	c.t.Helper()
	uiPort := testutil.FreePort(c.t)
	workDir := c.mkdir("work-worker")
	env = append([]string{"SPARK_LOCAL_DIRS=" + c.mkdir("local-worker")}, env...)
	p := c.start("worker", env, emberBin, "worker", "--host", "127.0.0.1", "--webui-port", strconv.Itoa(uiPort),
		"--cores", "2", "--memory", "512m", "--work-dir", workDir, "--properties-file", props,
		"--conf", "spark.worker.ember.registrationIntervalScale=0.02", masterURL)
	m := p.waitOutput(c.t, workerStarted)
	return &worker{proc: p, id: m[1], uiURL: m[3], workDir: workDir, port: portOf(c.t, "spark://"+m[2])}
}

// piEstimate is what pi.Run computes for slices of samples each (at most
// one 64k chunk per slice, so that each slice is one pi.Sample).
func piEstimate(t *testing.T, slices, samples int) float64 {
	t.Helper()
	if samples > 1<<16 {
		t.Fatalf("piEstimate: %d samples are more than one chunk", samples)
	}
	var hits uint64
	for i := 0; i < slices; i++ {
		hits += pi.Sample(uint64(samples), uint64(i+1)<<32)
	}
	v := 4 * float64(hits) / float64(slices*samples)
	if math.Abs(v-math.Pi) > 0.1 {
		t.Fatalf("piEstimate: %v is no estimate of π", v)
	}
	return v
}

// environ returns a live process's environment (nil if unreadable).
func environ(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// checkCmdlines fails if a live process of the cluster has secret in its
// arguments.
func checkCmdlines(t *testing.T, c *cluster, secret string) {
	t.Helper()
	ps := testutil.ProcessesWithEnv(c.marker)
	if len(ps) < 2 {
		t.Errorf("only %d processes of the cluster found: %v", len(ps), ps)
	}
	for _, p := range ps {
		if strings.Contains(strings.Join(p.Cmdline, "\x00"), secret) {
			t.Errorf("the secret is on the command line of %s", p)
		}
	}
}

// checkFilesLack fails if any regular file under dir contains s.
func checkFilesLack(t *testing.T, dir, s string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s contains a secret", p)
		}
		return nil
	})
	if err != nil {
		t.Errorf("searching %s: %v", dir, err)
	}
	if n < 5 {
		t.Errorf("only %d files under %s: the search looked in the wrong place", n, dir)
	}
}

func httpBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return b
}
