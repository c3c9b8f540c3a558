package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
)

// zkTick and zkMaxSession are the ZooKeeper server's tickTime and
// maxSessionTimeout: every client's session (Ember's master asks 30 s,
// Spark's Curator 60 s) is capped at zkMaxSession, so a dead leader's
// session, and with it its leadership, ends within it for both systems.
const (
	zkTick       = time.Second
	zkMaxSession = 6 * time.Second
)

// startZooKeeper runs Debian's ZooKeeper server on a free loopback port
// and waits until it serves; it returns host:port.
func (e *env) startZooKeeper() (string, error) {
	java, jar, missing := testutil.FindZooKeeper()
	if len(missing) > 0 {
		return "", fmt.Errorf("no ZooKeeper: %s", strings.Join(missing, ", "))
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := e.mkdir("zookeeper")
	cfg := filepath.Join(dir, "zoo.cfg")
	lines := []string{"dataDir=" + filepath.Join(dir, "data"), fmt.Sprintf("clientPort=%d", port),
		"clientPortAddress=127.0.0.1", "admin.enableServer=false", "forceSync=no",
		fmt.Sprintf("tickTime=%d", zkTick.Milliseconds()), fmt.Sprintf("maxSessionTimeout=%d", zkMaxSession.Milliseconds())}
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", err
	}
	z, err := e.start("zookeeper", nil, java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", jar,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg)
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(startLimit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, nil
		}
		select {
		case <-z.done:
			return "", fmt.Errorf("ZooKeeper exited:\n%s", z.tail(20))
		case <-time.After(100 * time.Millisecond): // polling a port
		}
	}
	return "", fmt.Errorf("ZooKeeper did not serve %s within %v", addr, startLimit)
}

// recoveryRun is one failover's figures, from the kill.
type recoveryRun struct {
	elected time.Duration // the standby's /json first says other than STANDBY (it leads)
	alive   time.Duration // the standby's /json says ALIVE
	full    time.Duration // ALIVE with every worker ALIVE and the app RUNNING
}

// runRecovery: two masters of sys under ZooKeeper, nWorkers workers, one
// lingering SparkPi; kill -9 the leader and time the standby's takeover.
func (e *env) runRecovery(sys system, zk string, nWorkers, rep int) (r recoveryRun, err error) {
	tag := fmt.Sprintf("%s-ha-%d", sys, rep)
	conf := []string{"spark.deploy.recoveryMode=ZOOKEEPER", "spark.deploy.zookeeper.url=" + zk,
		"spark.deploy.zookeeper.dir=/bench-" + tag}
	var started []*child
	defer func() {
		for _, c := range started {
			c.kill()
		}
	}()
	m1, err := e.startMaster(sys, tag+"-master1", conf)
	if err != nil {
		return r, err
	}
	started = append(started, m1.child)
	if _, _, err = m1.waitState("ALIVE", 200*time.Millisecond, startLimit, func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateAlive
	}); err != nil {
		return r, err
	}
	m2, err := e.startMaster(sys, tag+"-master2", conf)
	if err != nil {
		return r, err
	}
	started = append(started, m2.child)
	if _, _, err = m2.waitState("STANDBY", 200*time.Millisecond, startLimit, func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateStandby
	}); err != nil {
		return r, err
	}
	masters := fmt.Sprintf("spark://127.0.0.1:%d,127.0.0.1:%d", m1.port, m2.port)
	for i := range nWorkers {
		w, err := e.startWorker(sys, fmt.Sprintf("%s-worker%d", tag, i), masters, 1, "1g", nil)
		if err != nil {
			return r, err
		}
		started = append(started, w.child)
	}
	if _, _, err = m1.waitState("workers ALIVE", 200*time.Millisecond, startLimit, func(st deploy.MasterStateResponse) bool {
		return aliveWorkers(st) == nWorkers
	}); err != nil {
		return r, err
	}
	// The live app: SparkPi that lingers after its job, holding one
	// executor per worker (at most 2).
	cores := min(nWorkers, 2)
	p, _, err := e.submitPi(tag+"-app", masters, false, []string{"spark.executor.cores=1", fmt.Sprintf("spark.cores.max=%d", cores)}, "2", "600")
	if err != nil {
		return r, err
	}
	started = append(started, p)
	if _, err = p.waitLine("Lingering", runLimit); err != nil {
		return r, err
	}
	st, _, err := m1.waitState("the app RUNNING", 200*time.Millisecond, time.Minute, func(st deploy.MasterStateResponse) bool {
		return len(st.ActiveApps) == 1 && st.ActiveApps[0].State == deploy.AppRunning
	})
	if err != nil {
		return r, err
	}
	appID := st.ActiveApps[0].ID

	t0 := time.Now()
	_ = syscall.Kill(-m1.pid(), syscall.SIGKILL)
	var electedAt, aliveAt time.Time
	_, fullAt, err := m2.waitState("ALIVE with the workers and the app", pollEvery, 3*time.Minute, func(st deploy.MasterStateResponse) bool {
		if st.Status != deploy.StateStandby && st.Status != "" && electedAt.IsZero() {
			electedAt = time.Now()
		}
		if st.Status == deploy.StateAlive && aliveAt.IsZero() {
			aliveAt = time.Now()
		}
		running := false
		for _, a := range st.ActiveApps {
			running = running || (a.ID == appID && a.State == deploy.AppRunning)
		}
		return st.Status == deploy.StateAlive && aliveWorkers(st) == nWorkers && running
	})
	if err != nil {
		return r, err
	}
	return recoveryRun{elected: electedAt.Sub(t0), alive: aliveAt.Sub(t0), full: fullAt.Sub(t0)}, nil
}

// javac compiles every .java under srcDir into a new dir under e.dir.
func (e *env) javac(srcDir, name string) (string, error) {
	_, javac, err := testutil.FindJava()
	if err != nil {
		return "", err
	}
	var files []string
	err = filepath.Walk(srcDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".java") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no Java sources under %s (%v)", srcDir, err)
	}
	out := e.mkdir(name)
	args := append([]string{"-nowarn", "-encoding", "UTF-8", "-d", out, "-cp", testutil.SparkClasspath(e.sparkHome)}, files...)
	if b, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("javac %s: %v\n%s", srcDir, err, b)
	}
	return out, nil
}
