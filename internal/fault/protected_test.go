package fault

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
)

// protectedOn overrides the children's default (env: protected mode off).
const protectedOn = "spark.ember.protectedMode=true"

// refusalInLog is the refusal text as a refused Ember worker logs it.
var refusalInLog = regexp.MustCompile(`Ember master at \S+ is in protected mode: spark\.authenticate is off.*spark\.ember\.protectedMode=false`)

// TestProtectedModeAcrossHosts: a master on host 1 and a worker on host 2.
// Without spark.authenticate, in protected mode (the default), the master
// refuses the worker and the worker's log says which keys to set; a Spark
// 4.1 transport client from a third address gets the same text in its
// exception. With spark.authenticate and a secret file written by `ember
// secret`, or with spark.ember.protectedMode=false, the worker registers.
func TestProtectedModeAcrossHosts(t *testing.T) {
	t.Run("protected", func(t *testing.T) {
		s := newScene(t, netns.Options{Hosts: 2})
		m := s.startMaster(s.net.Host(0), "master", protectedOn)
		w := s.startWorker(s.net.Host(1), "worker", m.url, 1, protectedOn)
		waitOutput(t, w.Proc, refusalInLog)
		if !strings.Contains(m.Output(), "protected mode: refusing a peer that is not on this host") {
			t.Fatalf("the master did not log the refusal; its output ends:\n%s", tail(m.Output(), 4000))
		}
		if !strings.Contains(m.Output(), "security: protected mode") {
			t.Fatalf("the master did not log its mode at start; its output ends:\n%s", tail(m.Output(), 4000))
		}
		if st, err := m.state(); err != nil || len(st.Workers) != 0 {
			t.Fatalf("master state %+v (err %v): a refused worker is registered", st.Workers, err)
		}

		// The REST submission server (on by default, port 6066) and the web
		// UI's kill endpoint refuse a client on another host (the test
		// process, on the bridge) with the keys.
		restURL := "http://" + net.JoinHostPort(s.net.Host(0).IP, "6066") + "/v1/submissions/create"
		resp, err := httpClient.Post(restURL, "application/json", strings.NewReader(`{"action":"CreateSubmissionRequest"}`))
		if err != nil {
			t.Fatalf("REST server: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "protected mode") ||
			!strings.Contains(string(body), "spark.ember.protectedMode=false") {
			t.Fatalf("REST create from another host: %d %s; want 403 naming the keys", resp.StatusCode, body)
		}
		resp, err = httpClient.PostForm(m.uiURL+"/app/kill", url.Values{"id": {"app-x"}, "terminate": {"true"}})
		if err != nil {
			t.Fatalf("web UI: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "protected mode") {
			t.Fatalf("web UI kill from another host: %d %s; want 403", resp.StatusCode, body)
		}
		page, err := httpClient.Get(m.uiURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(page.Body)
		page.Body.Close()
		if !strings.Contains(string(body), `id="security-warning"`) || !strings.Contains(string(body), "Protected mode") {
			t.Fatalf("the master's page has no protected-mode banner:\n%.3000s", body)
		}

		// A Spark JVM peer on the bridge (the test process: neither
		// loopback nor the master's own address).
		home, java := testutil.RequireSpark(t)
		classes := testutil.CompileJava(t, home, filepath.Join("testdata", "refusedclient"))
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.fault.RefusedClient",
			s.net.Host(0).IP, strconv.Itoa(masterPort))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("Spark client: %v\n%s", err, out)
		}
		for _, want := range []string{"FAILED", "Ember master at " + s.net.Host(0).IP + ":" + strconv.Itoa(masterPort) + " is in protected mode",
			"spark.authenticate=true", "spark.authenticate.secret.file", "spark.ember.protectedMode=false"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("the Spark client's exception lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("authenticated", func(t *testing.T) {
		s := newScene(t, netns.Options{Hosts: 2})
		secret := filepath.Join(s.dir, "conf", "spark-auth-secret")
		if out, err := exec.Command(emberBin, "secret", "--out", secret).CombinedOutput(); err != nil {
			t.Fatalf("ember secret: %v\n%s", err, out)
		}
		conf := []string{protectedOn, "spark.authenticate=true", "spark.authenticate.secret.file=" + secret}
		m := s.startMaster(s.net.Host(0), "master", conf...)
		s.startWorker(s.net.Host(1), "worker", m.url, 1, conf...)
		m.waitState(t, "the worker registered", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })
		if !strings.Contains(m.Output(), "security: authenticated mode") {
			t.Fatalf("the master did not log its mode; its output ends:\n%s", tail(m.Output(), 4000))
		}
	})

	t.Run("protectedModeOff", func(t *testing.T) {
		s := newScene(t, netns.Options{Hosts: 2})
		m := s.startMaster(s.net.Host(0), "master", "spark.ember.protectedMode=false")
		s.startWorker(s.net.Host(1), "worker", m.url, 1, "spark.ember.protectedMode=false")
		m.waitState(t, "the worker registered", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })
		if !strings.Contains(m.Output(), "security: open mode") {
			t.Fatalf("the master did not warn of open mode; its output ends:\n%s", tail(m.Output(), 4000))
		}
	})
}
