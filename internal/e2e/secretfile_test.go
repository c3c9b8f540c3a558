package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// TestSparkSubmitSecretFile: one secret file from `ember secret` secures
// the cluster. The master and worker read it (spark.authenticate.secret.file
// in their properties), `ember submit` runs example pi with the same
// properties, and Spark 4.1's own spark-submit runs a job with the
// properties file `ember secret --spark-submit-conf` wrote from the same
// file; its executors get the secret the worker derived from the file.
// Spark's spark-submit given only spark.authenticate.secret.file fails
// against a standalone master (Spark reads secret files only on
// Kubernetes), which is why --spark-submit-conf exists.
func TestSparkSubmitSecretFile(t *testing.T) {
	home, _ := testutil.RequireSpark(t)
	c := newCluster(t)
	confDir := c.mkdir("conf")
	secretPath := filepath.Join(confDir, "spark-auth-secret")
	submitConf := filepath.Join(confDir, "spark-submit-auth.conf")
	gen := c.start("ember-secret", nil, emberBin, "secret", "--out", secretPath, "--spark-submit-conf", submitConf)
	if code := gen.exitCode(t); code != 0 {
		t.Fatalf("ember secret exited %d:\n%s", code, gen.output())
	}
	if !strings.Contains(gen.output(), "spark.authenticate.secret.file  "+secretPath) {
		t.Fatalf("ember secret did not print the spark-defaults line:\n%s", gen.output())
	}
	raw, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	secret := base64.StdEncoding.EncodeToString(raw) // what Ember and Spark derive from the file

	props := writeProps(t, confDir, "spark-defaults.conf", "spark.authenticate=true", "spark.authenticate.secret.file="+secretPath)
	m := startAuthMaster(c, props)
	w := startAuthWorker(c, m.url, props, []string{"SPARK_HOME=" + home, quickJVM})
	m.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool {
		return workerState(st, w.id) == deploy.WorkerAlive
	})
	if !strings.Contains(m.output(), "security: authenticated mode") {
		t.Errorf("the master did not log its mode:\n%s", tail(m.output(), 3000))
	}

	// ember submit with the same properties.
	sub := c.start("submit-pi", nil, emberBin, "submit", "--master", m.url, "--properties-file", props,
		emberBin, "example", "pi", "--slices", "2", "--samples", "1000", "--timeout", "60s")
	if code := sub.exitCode(t); code != 0 {
		t.Fatalf("ember submit with the secret file exited %d:\n%s", code, sub.output())
	}
	if !strings.Contains(sub.output(), "Pi is roughly") {
		t.Errorf("ember example pi printed no estimate:\n%s", sub.output())
	}

	sc := &sparkCluster{cluster: c, home: home, m: m, w: w}
	jar := sparkApp2Jar(t, home, c.dir)

	// Spark's spark-submit with only the file: Spark refuses it against a
	// standalone master before it connects.
	fileOnly := sc.submitTo(m.url, "spark-submit-file-only", []string{"spark.authenticate=true", "spark.authenticate.secret.file=" + secretPath},
		"--class", "ember.sparkapp2.RegisterOnly", jar, "0")
	if code := waitExit(t, fileOnly); code == 0 || !strings.Contains(fileOnly.output(), "spark.authenticate.secret") {
		t.Errorf("spark-submit with only spark.authenticate.secret.file exited %d; want a failure naming spark.authenticate.secret:\n%s",
			code, tail(fileOnly.output(), 4000))
	}

	// Spark's spark-submit with the properties ember secret wrote.
	g := gate{dir: c.mkdir("gate")}
	p := sc.submitTo(m.url, "spark-submit-secret-file", nil,
		"--properties-file", submitConf, "--load-spark-defaults",
		"--class", "ember.sparkapp2.GatedPi", jar, g.dir, "2")
	start := g.waitStarts(t, p, 1)[0]
	if !slices.Contains(environ(start.pid), "_SPARK_AUTH_SECRET="+secret) {
		t.Errorf("executor %s (pid %d) lacks the file's secret in its environment", start.execID, start.pid)
	}
	checkCmdlines(t, c, secret)
	g.open(t)
	checkAppRun(t, p, m, w, "EmberGatedPi", piLine, m.proc)
	t.Logf("secret file %s: master, worker, ember submit and spark-submit (%s) all authenticated with it", secretPath,
		strconv.Quote("--properties-file "+filepath.Base(submitConf)+" --load-spark-defaults"))
}
