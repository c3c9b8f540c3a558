//go:build linux

package fault

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/netns"
	"github.com/ember-rpc/ember/internal/testutil"
)

// zkMaxSession caps the session timeout the ZooKeeper server grants (the
// masters ask for 30 s): a killed leader's election znode goes this long
// after its death.
const zkMaxSession = 4 * time.Second

// startZooKeeper runs a standalone ZooKeeper server on h (Debian's
// zookeeper package; the test skips without it, or fails with
// EMBER_REQUIRE_ZOOKEEPER) and returns its connect string once it serves.
func (s *scene) startZooKeeper(h *netns.Host) string {
	s.t.Helper()
	java, jar := testutil.RequireZooKeeper(s.t)
	dir := s.mkdir("zookeeper")
	cfg := filepath.Join(dir, "zoo.cfg")
	lines := []string{
		"dataDir=" + filepath.Join(dir, "data"),
		fmt.Sprintf("clientPort=%d", zooKeeperPort),
		"clientPortAddress=" + h.IP,
		"tickTime=500",
		"minSessionTimeout=1000",
		fmt.Sprintf("maxSessionTimeout=%d", zkMaxSession.Milliseconds()),
		"admin.enableServer=false",
		"4lw.commands.whitelist=*",
		"forceSync=no",
	}
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	p := s.start(h, "zookeeper", []string{java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", jar, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg})
	addr := h.HostPort(zooKeeperPort)
	testutil.Eventually(s.t, waitLimit, "ZooKeeper serving on "+addr, func() (bool, string) {
		if p.Exited() {
			s.t.Fatalf("ZooKeeper exited (%s):\n%s", p.State(), tail(p.Output(), 4000))
		}
		return zkServing(addr), tail(p.Output(), 500)
	})
	return addr
}

// zkServing asks the server's srvr four-letter word whether it serves.
func zkServing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: standalone")
}

// TestZooKeeperLeaderKilled: two masters on two hosts elect a leader
// through ZooKeeper (on a third host); two workers on two more hosts and
// an application whose driver runs next to ZooKeeper. With a job running
// (every core busy at the gate) the leader is killed with -9: the standby
// is elected once the dead leader's session expires, recovers the workers
// and the application from ZooKeeper, they re-register with it (the
// driver is told the master changed), no executor is lost, the job
// finishes with the right result, and the application ends FINISHED at
// the new leader.
func TestZooKeeperLeaderKilled(t *testing.T) {
	scenarioZooKeeper(t, newRecord("zookeeper-leader-killed"))
}

func scenarioZooKeeper(t *testing.T, rec *record) {
	requireFault(t)
	testutil.RequireZooKeeper(t)
	s := newScene(t, netns.Options{Hosts: 5})
	zk := s.startZooKeeper(s.net.Host(0))
	conf := []string{
		"spark.deploy.recoveryMode=ZOOKEEPER",
		"spark.deploy.zookeeper.url=" + zk,
		"spark.worker.timeout=" + workerTimeout,
		// Complete the recovery when everyone answered, not on a timeout.
		"spark.deploy.recoveryTimeout=120s",
	}
	m1 := s.startMaster(s.net.Host(1), "master1", conf...)
	m1.waitState(t, "ALIVE (elected first)", func(st deploy.MasterStateResponse) bool { return st.Status == deploy.StateAlive })
	m2 := s.startMaster(s.net.Host(2), "master2", conf...)
	m2.waitState(t, "STANDBY", func(st deploy.MasterStateResponse) bool { return st.Status == deploy.StateStandby })
	leader, standby := m1, m2

	masters := fmt.Sprintf("spark://%s,%s", s.net.Host(1).HostPort(masterPort), s.net.Host(2).HostPort(masterPort))
	// Spark's registration retry intervals (5-15 s): see
	// internal/e2e.TestZooKeeperFailover for why quicker retries race the
	// new leader's recovery.
	var ws []*worker
	for i := 3; i <= 4; i++ {
		ws = append(ws, s.startWorker(s.net.Host(i), fmt.Sprintf("worker%d", i-2), masters, 2,
			"spark.worker.timeout="+workerTimeout))
	}
	leader.waitState(t, "2 ALIVE workers", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 2 })

	j := s.startJob(s.net.Host(0), "job", masters, 4, 2)
	appID := j.appID(t)
	before := j.waitExecutors(t, "2 executors", func(ex []string) bool { return len(ex) == 2 })
	j.waitStarted(t, "2 tasks running", func(st []started) bool { return len(st) == 2 })
	leader.waitState(t, "the app RUNNING with 2 cores", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		return ok && a.State == deploy.AppRunning && a.Cores == 2
	})
	if st, err := standby.state(); err != nil || st.Status != deploy.StateStandby || len(st.Workers) != 0 || len(st.ActiveApps) != 0 {
		t.Fatalf("the standby before the failover: %s (%v); want STANDBY, knowing nothing", st.Summary(), err)
	}
	var pids []int
	for _, e := range before {
		if pid := executorPid(appID, e); pid != 0 {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("executor processes %v for executors %v", pids, before)
	}

	killed := time.Now()
	if err := leader.Kill9(); err != nil {
		t.Fatal(err)
	}
	standby.waitState(t, "elected (RECOVERING or ALIVE)", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateRecovering || st.Status == deploy.StateAlive
	})
	rec.add(t, "detection (kill → standby elected)", time.Since(killed))
	st := standby.waitState(t, "ALIVE with both workers and the app", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.ActiveApps, appID)
		return st.Status == deploy.StateAlive && st.AliveWorkers == 2 && ok && a.State == deploy.AppRunning && a.Cores == 2
	})
	rec.add(t, "failover (kill → new leader ALIVE, workers and app recovered)", time.Since(killed))
	if len(st.Workers) != 2 || len(st.ActiveApps) != 1 || len(st.CompletedApps) != 0 {
		t.Errorf("the new leader: %s; want the 2 workers and the one app, nothing completed", st.Summary())
	}
	for _, w := range ws {
		w.waitState(t, "the new leader as its master", func(st deploy.WorkerStateResponse) bool {
			return st.MasterURL == standby.url && len(executorsOf(st, appID)) == 1
		})
	}
	changed := regexp.MustCompile(`msg="Master has changed" component=appclient master=\S*` + regexp.QuoteMeta(standby.host.HostPort(masterPort)) + `\b`)
	waitOutput(t, j.Proc, changed)
	rec.add(t, "re-registration (kill → workers and driver follow the new leader)", time.Since(killed))
	for _, pid := range pids {
		if testutil.ProcessGone(pid) {
			t.Errorf("executor pid %d died in the failover", pid)
		}
	}

	opened := time.Now()
	j.open(t)
	ran := j.finish(t)
	rec.add(t, "job finish (gate opened → driver exit)", time.Since(opened))
	for idx, r := range ran {
		if !slices.Contains(before, r.exec) || r.attempt != 0 {
			t.Errorf("task %d finished as attempt %d on executor %s; want its first attempt on one of %v", idx, r.attempt, r.exec, before)
		}
	}
	// Once complete, the driver's executor set never changed.
	hist := j.executorHistory()
	first := slices.IndexFunc(hist, func(ex []string) bool { return slices.Equal(ex, before) })
	for _, ex := range hist[max(first, 0):] {
		if !slices.Equal(ex, before) {
			t.Errorf("the driver's executors changed from %v to %v", before, ex)
		}
	}
	// Executors go when the driver stops, after its RESULT; none before.
	out, _, _ := strings.Cut(j.Output(), "\nRESULT ")
	if lost := strings.Count(out, `msg="executor lost"`); lost != 0 {
		t.Errorf("the driver lost %d executors in the failover", lost)
	}
	standby.waitState(t, "the app FINISHED", func(st deploy.MasterStateResponse) bool {
		a, ok := findApp(st.CompletedApps, appID)
		return ok && a.State == deploy.AppFinished && len(st.ActiveApps) == 0
	})
	rec.add(t, "recovery (kill → job done, app FINISHED)", time.Since(killed))
}

// knownBug fails the test on a bug this suite found once (two leaders
// after a partition, fixed in deploy/recovery), so it stays fixed.
func knownBug(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatal("BUG: " + fmt.Sprintf(format, args...))
}

var logTime = regexp.MustCompile(`(?m)^time=(\S+) .*`)

// loggedAt returns the time of the first log line of out containing s.
func loggedAt(out, s string) (time.Time, bool) {
	for _, m := range logTime.FindAllStringSubmatch(out, -1) {
		if strings.Contains(m[0], s) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			return at, err == nil
		}
	}
	return time.Time{}, false
}

// TestZooKeeperLeaderPartitioned: the leading master's host is cut off
// (the process lives on). ZooKeeper expires its session and elects the
// standby; the old leader must have given up its leadership by then
// (Spark's master, through Curator's LeaderLatch, revokes as soon as its
// connection is lost, and exits), so that there are never two ALIVE
// masters. The worker follows the new leader, and after the heal the old
// leader is gone.
func TestZooKeeperLeaderPartitioned(t *testing.T) {
	scenarioZooKeeperPartition(t, newRecord("zookeeper-leader-partitioned"))
}

func scenarioZooKeeperPartition(t *testing.T, rec *record) {
	requireFault(t)
	testutil.RequireZooKeeper(t)
	s := newScene(t, netns.Options{Hosts: 4})
	zk := s.startZooKeeper(s.net.Host(0))
	conf := []string{
		"spark.deploy.recoveryMode=ZOOKEEPER",
		"spark.deploy.zookeeper.url=" + zk,
		"spark.worker.timeout=" + workerTimeout,
		"spark.deploy.recoveryTimeout=120s",
	}
	m1 := s.startMaster(s.net.Host(1), "master1", conf...)
	m1.waitState(t, "ALIVE (elected first)", func(st deploy.MasterStateResponse) bool { return st.Status == deploy.StateAlive })
	m2 := s.startMaster(s.net.Host(2), "master2", conf...)
	m2.waitState(t, "STANDBY", func(st deploy.MasterStateResponse) bool { return st.Status == deploy.StateStandby })
	masters := fmt.Sprintf("spark://%s,%s", s.net.Host(1).HostPort(masterPort), s.net.Host(2).HostPort(masterPort))
	w := s.startWorker(s.net.Host(3), "worker", masters, 2, "spark.worker.timeout="+workerTimeout)
	m1.waitState(t, "the worker ALIVE", func(st deploy.MasterStateResponse) bool { return st.AliveWorkers == 1 })

	cut := time.Now()
	if err := m1.host.Cut(); err != nil {
		t.Fatal(err)
	}
	m2.waitState(t, "elected (RECOVERING or ALIVE)", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateRecovering || st.Status == deploy.StateAlive
	})
	rec.add(t, "detection (cut → standby elected)", time.Since(cut))
	elected, ok := loggedAt(m2.Output(), `msg="I have been elected leader"`)
	if !ok {
		t.Fatalf("master2 leads but its log has no election line:\n%s", tail(m2.Output(), 3000))
	}
	m2.waitState(t, "ALIVE with the worker", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateAlive && st.AliveWorkers == 1
	})
	rec.add(t, "failover (cut → new leader ALIVE with the worker)", time.Since(cut))
	w.waitState(t, "the new leader as its master", func(st deploy.WorkerStateResponse) bool { return st.MasterURL == m2.url })

	// The old leader, cut off, must have revoked its leadership no later
	// than the new one was elected. Its log is a file: readable although
	// its host is cut. Give the line a moment to be written.
	const revokedMsg = `msg="Leadership has been revoked`
	revoked, ok := time.Time{}, false
	_ = testutil.Poll(2*time.Second, func() (bool, string) {
		revoked, ok = loggedAt(m1.Output(), revokedMsg)
		return ok, ""
	})
	split := !ok || revoked.After(elected)

	healed := time.Now()
	if err := m1.host.Heal(); err != nil {
		t.Fatal(err)
	}
	// What the old leader says of itself right after the heal (before it
	// learns its session expired, if it has not yet revoked).
	oldSays := "unreachable"
	_ = testutil.Poll(time.Second, func() (bool, string) {
		st, err := m1.state()
		if err == nil {
			oldSays = string(st.Status)
		}
		return err == nil, ""
	})
	// Back in touch with ZooKeeper, the old leader learns its session
	// expired: it must go (Ember's master exits on revocation).
	testutil.Eventually(t, waitLimit, "the old leader to exit", func() (bool, string) {
		return m1.Exited(), tail(m1.Output(), 300)
	})
	rec.add(t, "old leader gone (heal → exit)", time.Since(healed))
	revoked, _ = loggedAt(m1.Output(), revokedMsg)
	if st := m2.waitState(t, "still ALIVE with the worker", func(st deploy.MasterStateResponse) bool {
		return st.Status == deploy.StateAlive && st.AliveWorkers == 1
	}); len(st.Workers) != 1 {
		t.Errorf("the new leader after the heal: %s", st.Summary())
	}
	if split {
		knownBug(t, "two ALIVE masters: master2 was elected at %s (%v after the cut), but the cut-off master1 "+
			"kept its leadership until %s, %v later (its /json said %s once healed; it revokes once it learns "+
			"its session expired, or after the 30 s session timeout the "+
			"master asks for, counted from when its client noticed the disconnection). deploy/recovery/zookeeper.go, "+
			"latch.run: a disconnected leader revokes only at s.lostAt + z.timeout, z.timeout being the session "+
			"timeout requested (30 s, hard-coded in deploy/master/recovery.go) rather than the one the server "+
			"granted (here %v), and lostAt the moment the client noticed, up to 2/3 of a timeout after the server "+
			"last heard from it; the server expires the session and elects another master first",
			elected.Format(time.StampMilli), elected.Sub(cut).Round(time.Millisecond),
			revoked.Format(time.StampMilli), revoked.Sub(elected).Round(time.Millisecond), oldSays, zkMaxSession)
	}
	rec.add(t, "old leader revoked (cut → revocation logged)", revoked.Sub(cut))
}
