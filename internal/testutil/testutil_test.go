package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 3)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("FreePorts = %v: want distinct positive ports", ports)
		}
		seen[p] = true
		if !PortFree(p) {
			t.Errorf("port %d from FreePorts is not free", p)
		}
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if PortFree(ports[0]) {
		t.Errorf("PortFree(%d) = true while it is listened on", ports[0])
	}
}

func TestProcessHelpers(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	marker := fmt.Sprintf("TESTUTIL_MARKER=%d-%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), marker)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() { killGroup(cmd.Process); <-done }()

	Eventually(t, WaitLimit, "the child in /proc", func() (bool, string) {
		ps := ProcessesWithEnv(marker)
		return len(ps) == 1 && ps[0].PID == cmd.Process.Pid, fmt.Sprint(ps)
	})
	if ps := ProcessesInGroup(cmd.Process.Pid); len(ps) != 1 || ps[0].PID != cmd.Process.Pid {
		t.Errorf("ProcessesInGroup(%d) = %v, want the child alone", cmd.Process.Pid, ps)
	}
	if ProcessGone(cmd.Process.Pid) {
		t.Fatal("ProcessGone is true for a running child")
	}
	killGroup(cmd.Process)
	<-done
	if !ProcessGone(cmd.Process.Pid) {
		t.Error("ProcessGone is false for a killed and reaped child")
	}
	if ps := ProcessesWithEnv(marker); len(ps) != 0 {
		t.Errorf("ProcessesWithEnv after the kill = %v", ps)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if got := Poll(WaitLimit, func() (bool, string) { n++; return n >= 3, "" }); got != "" {
		t.Errorf("Poll = %q, want success", got)
	}
	if got := Poll(0, func() (bool, string) { return false, "still no" }); got != "still no" {
		t.Errorf("Poll timing out = %q, want the last report", got)
	}
}

// TestStartZooKeeper starts a real server (or skips without one).
func TestStartZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM; skipped under -short")
	}
	addr := StartZooKeeper(t)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("StartZooKeeper gave %q: %v", addr, err)
	}
	c.Close()

	zk := StartZooKeeperServer(t, ZooKeeperOptions{TickTime: 500 * time.Millisecond, MaxSessionTimeout: 5 * time.Second})
	if !zk.Serving() {
		t.Fatalf("server at %s does not serve: %s", zk.Addr, zk.LogTail())
	}
	c, err = net.DialTimeout("tcp", zk.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	zk.Kill()
	zk.Kill() // idempotent
	if zk.Serving() {
		t.Error("server still serves after Kill")
	}
}
