//go:build linux

package recovery

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"
)

// zkSession is the session timeout of the tests' clients: the least a
// server with tickTime=2000 grants (2 ticks), so expiry tests stay short.
const zkSession = 4 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// checkLeaks fails t if goroutines started during t outlive it. Call it
// first: its cleanup then runs after all others.
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func openZK(t *testing.T, url, dir string) *ZooKeeper {
	t.Helper()
	z, err := NewZooKeeper(url, dir, zkSession, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}

func elect(t *testing.T, z *ZooKeeper, l Leadership) *latch {
	t.Helper()
	a, err := z.Elect(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	return a.(*latch)
}

// rawZK is a plain client to look at the server's tree.
func rawZK(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, zkSession, zk.WithLogger(zkLogger{quiet}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		for range events { // until the client's goroutine is done
		}
	})
	return c
}

func TestZooKeeperEngine(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)
	n := 0
	testEngine(t, func(t *testing.T) store {
		n++
		dir := fmt.Sprintf("/ember-test/store-%d", n)
		return func(t *testing.T) Engine { return openZK(t, srv.Addr, dir) }
	})
}

func TestZooKeeperZnodes(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)
	raw := rawZK(t, srv.Addr)

	get := func(p string) string {
		t.Helper()
		b, _, err := raw.Get(p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		return string(b)
	}

	t.Run("DefaultDir", func(t *testing.T) {
		z := openZK(t, srv.Addr, "")
		if z.Dir() != "/spark" {
			t.Fatalf("Dir() = %q, want /spark", z.Dir())
		}
		if err := z.Persist("app_1", []byte("a")); err != nil {
			t.Fatal(err)
		}
		if got := get("/spark/master_status/app_1"); got != "a" {
			t.Fatalf("znode data %q", got)
		}
		if ok, _, err := raw.Exists("/spark/leader_election"); err != nil || !ok {
			t.Fatalf("/spark/leader_election: %v, %v", ok, err)
		}
		// Persistent: it outlives the session that wrote it.
		z.Close()
		if got := get("/spark/master_status/app_1"); got != "a" {
			t.Fatalf("znode data after Close %q", got)
		}
	})

	t.Run("NestedDirAndChroot", func(t *testing.T) {
		z := openZK(t, " "+srv.Addr+" /chroot", "/deep/er/dir/")
		if z.Dir() != "/chroot/deep/er/dir" {
			t.Fatalf("Dir() = %q", z.Dir())
		}
		if err := z.Persist("worker_1", []byte("w")); err != nil {
			t.Fatal(err)
		}
		if got := get("/chroot/deep/er/dir/master_status/worker_1"); got != "w" {
			t.Fatalf("znode data %q", got)
		}
	})

	t.Run("PersistExistingNamesZnode", func(t *testing.T) {
		z := openZK(t, srv.Addr, "/exists")
		if _, err := raw.Create("/exists/master_status/driver_1", []byte("other"), zk.FlagPersistent, openACL); err != nil {
			t.Fatal(err)
		}
		err := z.Persist("driver_1", []byte("mine"))
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "/exists/master_status/driver_1") {
			t.Fatalf("Persist = %v, want ErrExists naming the znode", err)
		}
	})

	t.Run("ReadSkipsOtherPrefixes", func(t *testing.T) {
		z := openZK(t, srv.Addr, "/prefixes")
		for _, k := range []string{"app_1", "application", "xapp_1"} {
			if err := z.Persist(k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := z.Read("app_")
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, "app_", got, map[string][]byte{"app_1": []byte("app_1")})
	})

	t.Run("Closed", func(t *testing.T) {
		z := openZK(t, srv.Addr, "/closed")
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := z.Persist("app_1", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Persist after Close = %v", err)
		}
		if _, err := z.Read(""); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close = %v", err)
		}
		if err := z.Unpersist("app_1"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Unpersist after Close = %v", err)
		}
		if _, err := z.Elect(newRecorder()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Elect after Close = %v", err)
		}
	})
}

func TestZooKeeperNoServer(t *testing.T) {
	checkLeaks(t)
	port, err := freeLoopbackPort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewZooKeeper(fmt.Sprintf("127.0.0.1:%d", port), "", time.Second, quiet)
	if err == nil {
		t.Fatal("NewZooKeeper without a server succeeded")
	}
	for _, url := range []string{"", " , ", "/chroot"} {
		if _, err := NewZooKeeper(url, "", time.Second, quiet); err == nil {
			t.Errorf("NewZooKeeper(%q) succeeded", url)
		}
	}
}

// parkedAs tells whether a waits for news as leader (watching its own
// znode) or as the follower of the znode named after.
func parkedAs(a *latch, leader bool, after string) bool {
	s := a.getState()
	if !s.parked || s.leader != leader || s.node == "" {
		return false
	}
	if leader {
		return s.watched == s.node
	}
	return s.watched == after
}

// settle waits until exactly one of as leads and the others queue behind
// it in a chain, and returns them in queue order.
func settle(t *testing.T, as ...*latch) []*latch {
	t.Helper()
	var order []*latch
	waitFor(t, "settled election", func() bool {
		order = order[:0]
		byWatched := map[string]*latch{}
		for _, a := range as {
			s := a.getState()
			if !s.parked || s.node == "" {
				return false
			}
			if s.leader {
				if len(order) > 0 || s.watched != s.node {
					return false
				}
				order = append(order, a)
			} else {
				byWatched[s.watched] = a
			}
		}
		if len(order) != 1 {
			return false
		}
		for len(order) < len(as) {
			next, ok := byWatched[order[len(order)-1].getState().node]
			if !ok {
				return false
			}
			order = append(order, next)
		}
		// Consistent only if no one moved meanwhile.
		for i, a := range order {
			after := ""
			if i > 0 {
				after = order[i-1].getState().node
			}
			if !parkedAs(a, i == 0, after) {
				return false
			}
		}
		return true
	})
	return order
}

func TestZooKeeperElection(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)

	t.Run("OneLeaderThenFailover", func(t *testing.T) {
		z1, z2 := openZK(t, srv.Addr, "/failover"), openZK(t, srv.Addr, "/failover")
		recs := map[*latch]*recorder{}
		r1, r2 := newRecorder(), newRecorder()
		a1, a2 := elect(t, z1, r1), elect(t, z2, r2)
		recs[a1], recs[a2] = r1, r2

		order := settle(t, a1, a2)
		leader, follower := order[0], order[1]
		recs[leader].next(t, "elected")
		recs[leader].none(t)
		recs[follower].none(t) // exactly one ElectedLeader

		if err := leader.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := leader.Stop(); err != nil { // idempotent
			t.Fatal(err)
		}
		recs[leader].none(t) // stopping is silent
		recs[follower].next(t, "elected")
		settle(t, follower)
		recs[follower].none(t)
	})

	t.Run("FollowerLeavesQueue", func(t *testing.T) {
		var as []*latch
		recs := map[*latch]*recorder{}
		for range 3 {
			r := newRecorder()
			a := elect(t, openZK(t, srv.Addr, "/queue"), r)
			as = append(as, a)
			recs[a] = r
		}
		order := settle(t, as...)
		first, middle, last := order[0], order[1], order[2]
		recs[first].next(t, "elected")

		// The last one now queues behind the first; nobody's role changes.
		if err := middle.Stop(); err != nil {
			t.Fatal(err)
		}
		settle(t, first, last)
		for _, a := range order {
			recs[a].none(t)
		}

		if err := first.Stop(); err != nil {
			t.Fatal(err)
		}
		recs[last].next(t, "elected")
		settle(t, last)
		recs[first].none(t)
		recs[last].none(t)
	})

	t.Run("LeaderConnectionClosed", func(t *testing.T) {
		z1, z2 := openZK(t, srv.Addr, "/closing"), openZK(t, srv.Addr, "/closing")
		zs := map[*latch]*ZooKeeper{}
		recs := map[*latch]*recorder{}
		r1, r2 := newRecorder(), newRecorder()
		a1, a2 := elect(t, z1, r1), elect(t, z2, r2)
		zs[a1], zs[a2] = z1, z2
		recs[a1], recs[a2] = r1, r2

		order := settle(t, a1, a2)
		leader, follower := order[0], order[1]
		recs[leader].next(t, "elected")

		// Closing the session removes the ephemeral znode at once.
		if err := zs[leader].Close(); err != nil {
			t.Fatal(err)
		}
		recs[leader].none(t) // Close stops the agent silently
		recs[follower].next(t, "elected")
		settle(t, follower)
		if err := leader.Stop(); err != nil { // after Close: a no-op
			t.Fatal(err)
		}
	})

	t.Run("ZnodeDeletedByHand", func(t *testing.T) {
		// The leader's znode deleted by hand: it loses leadership, queues
		// again, and leads again as the only candidate.
		z := openZK(t, srv.Addr, "/byhand")
		r := newRecorder()
		a := elect(t, z, r)
		settle(t, a)
		r.next(t, "elected")
		old := a.getState().node
		raw := rawZK(t, srv.Addr)
		if err := raw.Delete("/byhand/leader_election/"+old, -1); err != nil {
			t.Fatal(err)
		}
		r.next(t, "revoked")
		r.next(t, "elected")
		settle(t, a)
		if a.getState().node == old {
			t.Fatal("agent kept its deleted znode")
		}
		r.none(t)
	})
}

func TestZooKeeperServerGone(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)
	z1, z2 := openZK(t, srv.Addr, "/gone"), openZK(t, srv.Addr, "/gone")
	recs := map[*latch]*recorder{}
	zs := map[*latch]*ZooKeeper{}
	r1, r2 := newRecorder(), newRecorder()
	a1, a2 := elect(t, z1, r1), elect(t, z2, r2)
	recs[a1], recs[a2] = r1, r2
	zs[a1], zs[a2] = z1, z2
	order := settle(t, a1, a2)
	leader, follower := order[0], order[1]
	recs[leader].next(t, "elected")

	// Without a server the leader cannot know whether its session lives:
	// once the connection has been down for the session timeout, it
	// gives the leadership up.
	srv.Kill()
	recs[leader].next(t, "revoked")

	for _, a := range order {
		zs[a].Close()
	}
	recs[leader].none(t)
	recs[follower].none(t)
}

// cutDialer dials the server until cut; cutting closes the connections
// it made, so the client loses the server while the server keeps the
// session until it expires.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cutDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("test: network cut")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) setCut(cut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = cut
	if cut {
		for _, c := range d.conns {
			c.Close()
		}
		d.conns = nil
	}
}

func TestZooKeeperSessionExpiry(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)
	d := &cutDialer{}
	zA, err := newZooKeeper(srv.Addr, "/expiry", zkSession, quiet, d.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zA.Close() })
	rA, rB := newRecorder(), newRecorder()
	aA := elect(t, zA, rA)
	settle(t, aA)
	rA.next(t, "elected")
	zB := openZK(t, srv.Addr, "/expiry")
	aB := elect(t, zB, rB)
	settle(t, aA, aB)
	oldNode := aA.getState().node

	// A loses the server. The server expires A's session and deletes its
	// znode: B leads. A, cut off, gives up leadership on its own.
	d.setCut(true)
	rB.next(t, "elected")
	rA.next(t, "revoked")

	// Back on the network, A learns that its session expired, gets a new
	// one and queues behind B with a new znode.
	d.setCut(false)
	waitFor(t, "A's expiry seen", func() bool {
		s, _ := zA.snapshot()
		return s.up && s.expiries == 1
	})
	order := settle(t, aA, aB)
	if order[0] != aB {
		t.Fatal("A leads again after its session expired")
	}
	if aA.getState().node == oldNode {
		t.Fatal("A kept the znode of its expired session")
	}
	rA.none(t)
	rB.none(t)
}

func TestZooKeeperEngineRetriesAcrossReconnect(t *testing.T) {
	checkLeaks(t)
	srv := startZooKeeper(t)
	d := &cutDialer{}
	z, err := newZooKeeper(srv.Addr, "/retry", zkSession, quiet, d.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })

	d.setCut(true)
	waitFor(t, "lost connection", func() bool {
		s, _ := z.snapshot()
		return !s.up
	})
	done := make(chan error, 1)
	go func() { done <- z.Persist("app_1", []byte("a")) }()
	// The call fails while the server is unreachable and waits for a
	// session; let it have one.
	waitFor(t, "a call waiting for the session", func() bool {
		return z.lostCalls.Load() > 0
	})
	d.setCut(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Persist across a reconnect: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Persist did not return")
	}
	got, err := z.Read("app_")
	if err != nil {
		t.Fatal(err)
	}
	assertRead(t, "app_", got, map[string][]byte{"app_1": []byte("a")})
}
