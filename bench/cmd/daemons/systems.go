package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// env is what every phase needs: the binaries and where to put files.
type env struct {
	dir       string // scratch dir: logs, work dirs
	ember     string // the ember binary
	sparkHome string
	java      string
	appJar    string // the SparkPi jar
	fleet     string // classes dir with ember.daemonbench.AppFleet
	n         int    // children started, for log names
	kids      []*child
}

// system is "ember" or "spark".
type system string

const (
	emberSys system = "ember"
	sparkSys system = "spark"
)

func (e *env) start(name string, extraEnv []string, argv ...string) (*child, error) {
	e.n++
	c, err := startChild(name, filepath.Join(e.dir, fmt.Sprintf("%03d-%s.log", e.n, name)), extraEnv, argv...)
	if err == nil {
		e.kids = append(e.kids, c)
	}
	return c, err
}

// killAll kills every child still running.
func (e *env) killAll() {
	for _, c := range e.kids {
		select {
		case <-c.done:
		default:
			c.kill()
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// daemon is a started master or worker.
type daemon struct {
	*child
	port, uiPort int
}

func (d *daemon) uiURL() string { return fmt.Sprintf("http://127.0.0.1:%d", d.uiPort) }

// masterURL is spark://127.0.0.1:port.
func (d *daemon) masterURL() string { return fmt.Sprintf("spark://127.0.0.1:%d", d.port) }

// startMaster starts sys's master with conf (key=value).
func (e *env) startMaster(sys system, name string, conf []string) (*daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ui, err := freePort()
	if err != nil {
		return nil, err
	}
	// Both: no REST server (it would take port 6066 for every master).
	conf = append([]string{"spark.master.rest.enabled=false"}, conf...)
	var c *child
	switch sys {
	case emberSys:
		argv := []string{e.ember, "master", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--webui-port", strconv.Itoa(ui)}
		for _, kv := range conf {
			argv = append(argv, "--conf", kv)
		}
		c, err = e.start(name, nil, argv...)
	case sparkSys:
		c, err = e.start(name, []string{"SPARK_HOME=" + e.sparkHome, "SPARK_LOCAL_IP=127.0.0.1",
			"SPARK_MASTER_OPTS=" + javaProps(conf), "SPARK_CONF_DIR=" + e.mkdir("conf-"+name)},
			filepath.Join(e.sparkHome, "bin", "spark-class"), "org.apache.spark.deploy.master.Master",
			"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--webui-port", strconv.Itoa(ui))
	}
	if err != nil {
		return nil, err
	}
	return &daemon{child: c, port: port, uiPort: ui}, nil
}

// startWorker starts sys's worker for masters (spark://h:p[,h:p]).
func (e *env) startWorker(sys system, name, masters string, cores int, mem string, conf []string) (*daemon, error) {
	ui, err := freePort()
	if err != nil {
		return nil, err
	}
	work := e.mkdir("work-" + name)
	local := e.mkdir("local-" + name)
	common := []string{"SPARK_HOME=" + e.sparkHome, "SPARK_LOCAL_IP=127.0.0.1", "SPARK_LOCAL_DIRS=" + local}
	var c *child
	switch sys {
	case emberSys:
		argv := []string{e.ember, "worker", "--host", "127.0.0.1", "--webui-port", strconv.Itoa(ui),
			"--cores", strconv.Itoa(cores), "--memory", mem, "--work-dir", work}
		for _, kv := range conf {
			argv = append(argv, "--conf", kv)
		}
		c, err = e.start(name, common, append(argv, masters)...)
	case sparkSys:
		c, err = e.start(name, append(common, "SPARK_WORKER_OPTS="+javaProps(conf), "SPARK_CONF_DIR="+e.mkdir("conf-"+name)),
			filepath.Join(e.sparkHome, "bin", "spark-class"), "org.apache.spark.deploy.worker.Worker",
			"--host", "127.0.0.1", "--webui-port", strconv.Itoa(ui), "--cores", strconv.Itoa(cores),
			"--memory", mem, "--work-dir", work, masters)
	}
	if err != nil {
		return nil, err
	}
	return &daemon{child: c, uiPort: ui}, nil
}

// javaProps renders key=value pairs as -Dkey=value.
func javaProps(conf []string) string {
	var p []string
	for _, kv := range conf {
		p = append(p, "-D"+kv)
	}
	return strings.Join(p, " ")
}

func (e *env) mkdir(name string) string {
	p := filepath.Join(e.dir, name)
	_ = os.MkdirAll(p, 0o755)
	return p
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// state fetches a master's /json (Ember's and Spark's have the same shape).
func (d *daemon) state() (deploy.MasterStateResponse, error) {
	var st deploy.MasterStateResponse
	resp, err := httpClient.Get(d.uiURL() + "/json")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s /json: %s", d.name, resp.Status)
	}
	return st, json.Unmarshal(b, &st)
}

// waitState polls the master's /json every interval until cond holds or
// limit passes, and returns the state and when it held.
func (d *daemon) waitState(what string, interval, limit time.Duration, cond func(st deploy.MasterStateResponse) bool) (deploy.MasterStateResponse, time.Time, error) {
	deadline := time.Now().Add(limit)
	var last string
	for {
		st, err := d.state()
		now := time.Now()
		if err == nil && cond(st) {
			return st, now, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %s, %d workers, %d active apps", st.Status, len(st.Workers), len(st.ActiveApps))
		}
		select {
		case <-d.done:
			return st, now, fmt.Errorf("%s exited while waiting for %s:\n%s", d.name, what, d.tail(30))
		default:
		}
		if now.After(deadline) {
			return st, now, fmt.Errorf("%s: no %s within %v (last: %s)", d.name, what, limit, last)
		}
		time.Sleep(interval) // polling an HTTP endpoint: no event to wait on
	}
}

// aliveWorkers counts the ALIVE workers in st.
func aliveWorkers(st deploy.MasterStateResponse) int {
	n := 0
	for _, w := range st.Workers {
		if w.State == deploy.WorkerAlive {
			n++
		}
	}
	return n
}
