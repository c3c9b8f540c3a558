//go:build linux

package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestSbinSecuredByEmberSecret: one command secures an sbin cluster.
// `ember secret` writes the secret file and prints the spark-defaults
// lines; with those lines appended to conf/spark-defaults.conf,
// sbin/start-all.sh starts a master and a worker that log "authenticated
// mode" and register with each other, the secret on no command line; a
// peer without the secret is refused.
func TestSbinSecuredByEmberSecret(t *testing.T) {
	c := newCluster(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the sbin scripts need bash")
	}
	s := c.sbinEnv()
	secretPath := filepath.Join(s.confDir, "spark-auth-secret")
	gen := c.start("ember-secret", s.env, emberBin, "secret")
	if code := gen.exitCode(t); code != 0 {
		t.Fatalf("ember secret exited %d:\n%s", code, gen.output())
	}
	// SPARK_CONF_DIR is set: the default path is there.
	raw, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatalf("ember secret with SPARK_CONF_DIR set did not write %s: %v\n%s", secretPath, err, gen.output())
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(gen.output()))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "spark.authenticate") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("ember secret printed %d spark-defaults lines, want 2:\n%s", len(lines), gen.output())
	}
	f, err := os.OpenFile(filepath.Join(s.confDir, "spark-defaults.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	m := &master{uiURL: fmt.Sprintf("http://127.0.0.1:%d", s.masterUI), url: fmt.Sprintf("spark://127.0.0.1:%d", s.masterPort)}
	t.Cleanup(func() { c.script(s, "stop-all.sh") })
	if code, out := c.script(s, "start-all.sh"); code != 0 {
		t.Fatalf("start-all.sh exited %d:\n%s\n%s", code, out, daemonLogs(s))
	}
	testutil.Eventually(t, waitLimit, "the master's /json to show 1 ALIVE worker", func() (bool, string) {
		st, err := m.state()
		if err != nil {
			return false, err.Error() + "\n" + daemonLogs(s)
		}
		return st.AliveWorkers == 1 && st.Status == deploy.StateAlive, st.Summary() + "\n" + daemonLogs(s)
	})
	logs := daemonLogs(s)
	if n := strings.Count(logs, "security: authenticated mode"); n < 2 {
		t.Errorf("%d daemons logged authenticated mode, want the master and the worker:\n%s", n, logs)
	}
	checkCmdlines(t, c, base64.StdEncoding.EncodeToString(raw))

	// A peer without the secret: an ember submit of example pi with no
	// properties file cannot register.
	bad := c.start("submit-no-secret", []string{"SPARK_CONF_DIR=" + c.mkdir("empty-conf")}, emberBin, "submit", "--master", m.url,
		emberBin, "example", "pi", "--slices", "1", "--samples", "10", "--timeout", "20s")
	if code := bad.exitCode(t); code == 0 {
		t.Errorf("a driver without the secret ran on the secured cluster:\n%s", bad.output())
	}
	if st, err := m.state(); err != nil || len(st.ActiveApps)+len(st.CompletedApps) != 0 {
		t.Errorf("an app without the secret reached the master: %v %v", st.Summary(), err)
	}
}
