//go:build linux

package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// waitLimit bounds the waits: it turns a hang into a failure, never
// decides an outcome.
const waitLimit = testutil.WaitLimit

var listening = regexp.MustCompile(`listening on (\S+)`)

// startListener runs the listen helper on h, port 7000, and waits until it
// listens.
func startListener(t *testing.T, h *Host) string {
	t.Helper()
	addr := h.HostPort(7000)
	p, err := h.Start("listener", []string{self(t)}, helperEnvFor("listen", addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitOutput(listening, waitLimit); err != nil {
		t.Fatal(err)
	}
	return addr
}

// dialFrom runs the dial helper on h against addr: nil when it connected
// and exchanged a line.
func dialFrom(t *testing.T, h *Host, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	out, err := h.Exec(ctx, []string{self(t)}, helperEnvFor("dial", addr))
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TestConnectCutHeal: two hosts reach each other over TCP (and the test
// process reaches them); with one host's link cut neither works, and after
// healing both work again.
func TestConnectCutHeal(t *testing.T) {
	n := New(t, Options{Hosts: 2})
	h0, h1 := n.Host(0), n.Host(1)
	if h0.IP == h1.IP || !strings.HasPrefix(h0.IP, "10.213.") {
		t.Fatalf("host addresses %s and %s: want two distinct 10.213.x.y", h0.IP, h1.IP)
	}
	addr := startListener(t, h1)
	if err := dialFrom(t, h0, addr); err != nil {
		t.Fatalf("host0 → host1 on a healthy net: %v", err)
	}
	if err := dialHere(addr, time.Second); err != nil {
		t.Fatalf("test process → host1 on a healthy net: %v", err)
	}

	if err := h1.Cut(); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, h0, addr); err == nil {
		t.Fatal("host0 reached host1 through a cut link")
	}
	if err := dialHere(addr, 500*time.Millisecond); err == nil {
		t.Fatal("the test process reached host1 through a cut link")
	}

	if err := h1.Heal(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitLimit, "host0 → host1 after healing", func() (bool, string) {
		err := dialFrom(t, h0, addr)
		return err == nil, fmt.Sprint(err)
	})
	if err := dialHere(addr, time.Second); err != nil {
		t.Errorf("test process → host1 after healing: %v", err)
	}
}

// dialHere connects from the test process and exchanges a line.
func dialHere(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "echo\nhi\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "hi\n" {
		return fmt.Errorf("echo answered %q", line)
	}
	return nil
}

// TestHostsHaveTheirOwnLoopback: 127.0.0.1 in a host is the host's own,
// not the test process's.
func TestHostsHaveTheirOwnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := New(t, Options{Hosts: 1})
	if err := dialFrom(t, n.Host(0), l.Addr().String()); err == nil {
		t.Fatalf("a host reached the test process's loopback listener %s", l.Addr())
	}
	// Its own loopback is up: a listener there is reachable from inside.
	h := n.Host(0)
	p, err := h.Start("loopback-listener", []string{self(t)}, helperEnvFor("listen", "127.0.0.1:7001"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitOutput(listening, waitLimit); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, h, "127.0.0.1:7001"); err != nil {
		t.Errorf("a host cannot reach its own loopback: %v", err)
	}
}

// TestTeardownLeavesNothing: Close kills every process in the namespaces
// (also one that left its parent's process group), and removes the
// namespaces, the links and the bridge; a second Close is a no-op.
func TestTeardownLeavesNothing(t *testing.T) {
	n := New(t, Options{Hosts: 2, Impairable: []int{1}})
	var pids []int
	for _, h := range n.Hosts() {
		p, err := h.Start("spawner", []string{self(t)}, helperEnvFor("spawn", ""))
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.WaitOutput(regexp.MustCompile(`child (\d+)`), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		child, _ := strconv.Atoi(m[1])
		pids = append(pids, p.Pid(), child)
	}
	if left := n.Leftovers(); len(left) != 2+2+1 { // namespaces, host links, bridge
		t.Fatalf("before Close, the net lists %v; want 2 namespaces, 2 links and the bridge", left)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if left := n.Leftovers(); len(left) != 0 {
		t.Errorf("after Close: %v", left)
	}
	for _, ns := range listNamespaces() {
		if strings.HasPrefix(ns, n.names.namespacePrefix()) {
			t.Errorf("namespace %s still listed", ns)
		}
	}
	links := listLinks()
	for _, l := range []string{n.names.bridge(), n.names.hostLink(0), n.names.hostLink(1), n.names.tapInside(1)} {
		if slices.Contains(links, l) {
			t.Errorf("link %s still exists", l)
		}
	}
	for _, pid := range pids {
		if !testutil.ProcessGone(pid) {
			t.Errorf("process %d survived the teardown", pid)
		}
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.Host(0).Start("late", []string{self(t)}, helperEnvFor("sleep", "")); err == nil {
		t.Error("Start on a closed net succeeded")
	}
}

// TestKill9: Kill9 kills a process and waits for it; its exit shows a
// signal, not a code.
func TestKill9(t *testing.T) {
	n := New(t, Options{Hosts: 1})
	p, err := n.Host(0).Start("sleeper", []string{self(t)}, helperEnvFor("sleep", ""))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatalf("sleeper exited at once: %s\n%s", p.State(), p.Output())
	}
	if err := p.Kill9(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || p.ExitCode() != -1 || !strings.Contains(p.State(), "killed") {
		t.Errorf("after Kill9: exited=%v code=%d state=%q", p.Exited(), p.ExitCode(), p.State())
	}
	if !testutil.ProcessGone(p.Pid()) {
		t.Errorf("pid %d still runs", p.Pid())
	}
	if _, err := p.Wait(time.Second); err != nil {
		t.Errorf("Wait after Kill9: %v", err)
	}
}

// TestImpairment: a wired host's link delays every frame (a round trip
// takes at least twice the delay), drops them all at loss 1, holds a bulk
// transfer to the rate, and still carries TCP through random loss.
func TestImpairment(t *testing.T) {
	n := New(t, Options{Hosts: 2, Impairable: []int{1}, Seed: 42})
	h := n.Host(1)
	if err := n.Host(0).Impair(Impairment{Delay: time.Millisecond}); err == nil {
		t.Error("Impair on a veth host succeeded")
	}
	if err := h.Impair(Impairment{Loss: 1.5}); err == nil {
		t.Error("Impair with loss 1.5 succeeded")
	}
	addr := startListener(t, h)
	if err := dialFrom(t, n.Host(0), addr); err != nil {
		t.Fatalf("host0 → wired host1, unimpaired: %v", err)
	}

	t.Run("delay", func(t *testing.T) {
		const delay = 40 * time.Millisecond
		c := dialEcho(t, addr)
		if err := h.Impair(Impairment{Delay: delay, Jitter: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		defer h.Impair(Impairment{})
		r := bufio.NewReader(c)
		for i := range 5 {
			start := time.Now()
			if _, err := fmt.Fprintf(c, "ping %d\n", i); err != nil {
				t.Fatal(err)
			}
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			// Each direction holds the frames for at least delay: no
			// round trip can be shorter than 2*delay.
			if rtt := time.Since(start); rtt < 2*delay {
				t.Errorf("round trip %d took %v through a link delaying %v each way", i, rtt, delay)
			}
		}
	})

	t.Run("loss", func(t *testing.T) {
		if err := h.Impair(Impairment{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		before := h.WireStats().Lost
		if err := dialHere(addr, 500*time.Millisecond); err == nil {
			t.Error("connected through a link that drops every frame")
		}
		if h.WireStats().Lost == before {
			t.Error("the wire counted no lost frame")
		}
		if err := h.Impair(Impairment{}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitLimit, "a connection once loss is off", func() (bool, string) {
			err := dialHere(addr, time.Second)
			return err == nil, fmt.Sprint(err)
		})
	})

	t.Run("rate", func(t *testing.T) {
		const rate, size = 4_000_000, 256 << 10 // 4 Mbit/s, 256 KiB
		if err := h.Impair(Impairment{Rate: rate}); err != nil {
			t.Fatal(err)
		}
		defer h.Impair(Impairment{})
		elapsed := sink(t, addr, size)
		// Frames carry headers too: the transfer cannot beat the payload's
		// bits at the rate (less one frame in flight at the start).
		floor := time.Duration(int64(size-1500) * 8 * int64(time.Second) / rate)
		if elapsed < floor {
			t.Errorf("%d bytes through a %d bit/s link in %v, less than %v", size, rate, elapsed, floor)
		}
	})

	t.Run("lossy transfer", func(t *testing.T) {
		if err := h.Impair(Impairment{Delay: 2 * time.Millisecond, Loss: 0.05}); err != nil {
			t.Fatal(err)
		}
		defer h.Impair(Impairment{})
		before := h.WireStats().Lost
		sink(t, addr, 512<<10)
		if h.WireStats().Lost == before {
			t.Error("no frame was lost in a 512 KiB transfer at 5% loss")
		}
	})
}

// dialEcho connects from the test process in echo mode.
func dialEcho(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, "echo\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// sink sends size bytes to the listener and waits for its count; it
// returns how long that took.
func sink(t *testing.T, addr string, size int) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	start := time.Now()
	if _, err := fmt.Fprintf(c, "sink %d\n", size); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != fmt.Sprintf("got %d\n", size) {
		t.Fatalf("sink answered %q, %v", line, err)
	}
	return time.Since(start)
}

// TestSweepStale: what a dead process left behind (a namespace and a
// bridge named with its pid) goes at the next New; a live process's net
// stays.
func TestSweepStale(t *testing.T) {
	Require(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if pidAlive(dead.Process.Pid) {
		t.Skipf("pid %d was reused at once", dead.Process.Pid)
	}
	stale := names{pid: dead.Process.Pid, seq: 7}
	t.Cleanup(func() {
		_, _ = ip("link", "del", stale.bridge())
		_, _ = ip("netns", "del", stale.namespace(0))
	})
	if out, err := ip("netns", "add", stale.namespace(0)); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := ip("link", "add", "name", stale.bridge(), "type", "bridge"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	live := New(t, Options{Hosts: 1})
	if slices.Contains(listNamespaces(), stale.namespace(0)) || slices.Contains(listLinks(), stale.bridge()) {
		t.Errorf("New left the dead process's %s and %s", stale.namespace(0), stale.bridge())
	}
	sweepStale()
	if left := live.Leftovers(); len(left) != 3 {
		t.Errorf("the sweep touched a live process's net: it lists %v, want its namespace, its link and its bridge", left)
	}
}

// TestRequiredEnv: EMBER_REQUIRE_NETNS turns skips into failures for any
// value but the false ones.
func TestRequiredEnv(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "1": true, "true": true, "yes": true} {
		t.Setenv(RequireEnv, v)
		if got := Required(); got != want {
			t.Errorf("%s=%q: Required() = %v, want %v", RequireEnv, v, got, want)
		}
	}
}
