package recovery

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// ErrClosed: the ZooKeeper client was closed.
var ErrClosed = errors.New("recovery: ZooKeeper recovery closed")

// DefaultZooKeeperDir is spark.deploy.zookeeper.dir's default.
const DefaultZooKeeperDir = "/spark"

const (
	statusNode   = "master_status"
	electionNode = "leader_election"
	// latchName ends the name of an election znode, as Curator's
	// LeaderLatch names them: _c_<id>-latch-<sequence>.
	latchName = "latch-"
)

var openACL = zk.WorldACL(zk.PermAll)

// ZooKeeper is the ZOOKEEPER recovery mode on one ZooKeeper session: the
// persistence engine (persistent znodes <dir>/master_status/<key>) and
// leader election (Elect, a leader latch on <dir>/leader_election).
//
// The client reconnects by itself. Engine calls that fail because the
// connection is down are retried once the session is back (at most 3
// times, within the session timeout).
type ZooKeeper struct {
	conn      *zk.Conn
	events    <-chan zk.Event
	dir       string // with the connect string's chroot
	status    string // <dir>/master_status
	election  string // <dir>/leader_election
	timeout   time.Duration
	log       *slog.Logger
	done      chan struct{} // closed by Close
	lostCalls atomic.Uint64 // calls failed by a connection loss (for tests)

	mu      sync.Mutex
	sess    session
	changed chan struct{} // closed and replaced whenever sess changes
	agents  map[*latch]struct{}
	closed  bool

	closeOnce sync.Once
}

// session is what the agents need to know of the connection.
type session struct {
	up       bool      // a session is established
	lostAt   time.Time // since when it is not (zero while up)
	expiries uint64    // sessions expired by the server so far
}

// NewZooKeeper connects to url (spark.deploy.zookeeper.url: a comma
// separated host[:port] list, optionally followed by a chroot path) and
// makes sure the persistent znodes <dir>/master_status and
// <dir>/leader_election exist, creating their parents. dir is
// spark.deploy.zookeeper.dir; "" means DefaultZooKeeperDir.
// sessionTimeout is the session timeout asked of the server; it also
// bounds the wait for the first session and the retries of engine calls.
// A nil logger means slog.Default().
func NewZooKeeper(url, dir string, sessionTimeout time.Duration, logger *slog.Logger) (*ZooKeeper, error) {
	return newZooKeeper(url, dir, sessionTimeout, logger, nil)
}

// newZooKeeper is NewZooKeeper with the dialer of the client's
// connections (nil: the default one).
func newZooKeeper(url, dir string, sessionTimeout time.Duration, logger *slog.Logger, dialer zk.Dialer) (*ZooKeeper, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if sessionTimeout <= 0 {
		return nil, fmt.Errorf("recovery: ZooKeeper session timeout %v is not positive", sessionTimeout)
	}
	servers, chroot, err := parseConnectString(url)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = DefaultZooKeeperDir
	}
	dir = path.Clean("/" + chroot + "/" + dir)
	z := &ZooKeeper{
		dir:      dir,
		status:   joinZNode(dir, statusNode),
		election: joinZNode(dir, electionNode),
		timeout:  sessionTimeout,
		log:      logger,
		done:     make(chan struct{}),
		sess:     session{lostAt: time.Now()},
		changed:  make(chan struct{}),
		agents:   make(map[*latch]struct{}),
	}
	if dialer == nil {
		dialer = net.DialTimeout
	}
	z.conn, z.events, err = zk.Connect(servers, sessionTimeout,
		zk.WithLogger(zkLogger{logger}),
		zk.WithLogInfo(false),
		zk.WithEventCallback(z.onEvent),
		zk.WithDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("recovery: ZooKeeper %s: %w", url, err)
	}
	deadline := time.Now().Add(sessionTimeout)
	if !z.awaitSession(deadline, nil) {
		z.Close()
		return nil, fmt.Errorf("recovery: no ZooKeeper session with %s within %v", url, sessionTimeout)
	}
	for _, p := range []string{z.status, z.election} {
		if err := z.do(nil, func() error { return z.mkdirAll(p) }); err != nil {
			z.Close()
			return nil, fmt.Errorf("recovery: ZooKeeper %s: create %s: %w", url, p, err)
		}
	}
	return z, nil
}

// parseConnectString splits "h1:p1,h2:p2/chroot" into servers and chroot.
func parseConnectString(url string) ([]string, string, error) {
	s := strings.TrimSpace(url)
	chroot := ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s, chroot = s[:i], s[i:]
	}
	var servers []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			servers = append(servers, h)
		}
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("recovery: ZooKeeper connect string %q names no server", url)
	}
	return servers, chroot, nil
}

func joinZNode(parent, child string) string {
	if parent == "/" {
		return "/" + child
	}
	return parent + "/" + child
}

// Dir returns the root znode, chroot included.
func (z *ZooKeeper) Dir() string { return z.dir }

// onEvent follows the session from the client's goroutines; it must not
// block, and it never calls the client.
func (z *ZooKeeper) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	s := z.sess
	switch ev.State {
	case zk.StateHasSession:
		s.up, s.lostAt = true, time.Time{}
	case zk.StateExpired:
		s.expiries++
		fallthrough
	case zk.StateDisconnected, zk.StateConnecting, zk.StateAuthFailed:
		if s.up || s.lostAt.IsZero() {
			s.lostAt = time.Now()
		}
		s.up = false
	default: // StateConnected: a TCP connection, no session yet
		return
	}
	if s != z.sess {
		z.sess = s
		close(z.changed)
		z.changed = make(chan struct{})
	}
}

// snapshot returns the session and a channel closed at its next change.
func (z *ZooKeeper) snapshot() (session, <-chan struct{}) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.sess, z.changed
}

// awaitSession waits until a session is up; false at the deadline, on
// Close or when cancel closes.
func (z *ZooKeeper) awaitSession(deadline time.Time, cancel <-chan struct{}) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		s, changed := z.snapshot()
		if s.up {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			return false
		case <-z.done:
			return false
		case <-cancel:
			return false
		}
	}
}

// connectionLost tells the errors that a new connection may cure.
func connectionLost(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrClosing)
}

// maxRetries bounds the retries of one call after connection losses, as
// Spark's Curator client does (3): a request the server answers by
// dropping the connection (one over its jute.maxbuffer) is not retried
// for long.
const maxRetries = 3

// do runs op, running it again after a connection loss once the session
// is back: at most maxRetries times and within the session timeout.
func (z *ZooKeeper) do(cancel <-chan struct{}, op func() error) error {
	deadline := time.Now().Add(z.timeout)
	for try := 0; ; try++ {
		_, changed := z.snapshot()
		err := op()
		if err == nil || !connectionLost(err) {
			return err
		}
		z.lostCalls.Add(1)
		if try == maxRetries {
			return err
		}
		// The client reports the loss before failing the call; should it
		// not have yet, wait for it rather than spin.
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-t.C:
		case <-z.done:
		case <-cancel:
		}
		t.Stop()
		if !z.awaitSession(deadline, cancel) {
			return err
		}
	}
}

// mkdirAll creates the persistent znode p and its missing parents.
func (z *ZooKeeper) mkdirAll(p string) error {
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		sub := p[:i]
		ok, _, err := z.conn.Exists(sub)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if _, err := z.conn.Create(sub, nil, zk.FlagPersistent, openACL); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

func (z *ZooKeeper) isClosed() bool {
	select {
	case <-z.done:
		return true
	default:
		return false
	}
}

// Persist creates the persistent znode <dir>/master_status/<key>; an
// existing one is an error wrapping ErrExists.
func (z *ZooKeeper) Persist(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if z.isClosed() {
		return ErrClosed
	}
	p := joinZNode(z.status, key)
	retried := false
	err := z.do(nil, func() error {
		_, err := z.conn.Create(p, value, zk.FlagPersistent, openACL)
		if errors.Is(err, zk.ErrNodeExists) && retried {
			// The first try may have created it before the connection
			// went: then it holds value.
			if b, _, gerr := z.conn.Get(p); gerr == nil && string(b) == string(value) {
				return nil
			}
		}
		retried = retried || connectionLost(err)
		return err
	})
	if errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("%w: %s", ErrExists, p)
	}
	if err != nil {
		return fmt.Errorf("recovery: persist %s: %w", p, err)
	}
	return nil
}

// Unpersist deletes <dir>/master_status/<key>; a missing znode is fine.
func (z *ZooKeeper) Unpersist(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if z.isClosed() {
		return ErrClosed
	}
	p := joinZNode(z.status, key)
	err := z.do(nil, func() error { return z.conn.Delete(p, -1) })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("recovery: unpersist %s: %w", p, err)
	}
	return nil
}

// Read returns the data of every child of <dir>/master_status whose name
// starts with prefix.
func (z *ZooKeeper) Read(prefix string) (map[string][]byte, error) {
	if z.isClosed() {
		return nil, ErrClosed
	}
	var names []string
	err := z.do(nil, func() (err error) {
		names, _, err = z.conn.Children(z.status)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recovery: read %s: %w", z.status, err)
	}
	out := make(map[string][]byte)
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		p := joinZNode(z.status, name)
		var b []byte
		err := z.do(nil, func() (err error) {
			b, _, err = z.conn.Get(p)
			return err
		})
		if errors.Is(err, zk.ErrNoNode) {
			continue // unpersisted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("recovery: read %s: %w", p, err)
		}
		out[name] = b
	}
	return out, nil
}

// Close stops the agents still running (without callbacks and without
// deleting their znodes one by one: ending the session removes them),
// ends the session and waits, for at most the session timeout, for the
// client's goroutines to finish. It is idempotent.
func (z *ZooKeeper) Close() error {
	z.closeOnce.Do(func() {
		z.mu.Lock()
		z.closed = true
		agents := make([]*latch, 0, len(z.agents))
		for a := range z.agents {
			agents = append(agents, a)
		}
		z.mu.Unlock()

		for _, a := range agents {
			a.signal(false)
		}
		close(z.done)
		z.conn.Close() // fails calls in flight: the agents get out
		for _, a := range agents {
			<-a.done
		}

		// The client closes its event channel when its last goroutine ends.
		t := time.NewTimer(z.timeout)
		defer t.Stop()
		for {
			select {
			case _, ok := <-z.events:
				if ok {
					continue
				}
			case <-t.C:
				z.log.Warn("recovery: ZooKeeper client still shutting down", "timeout", z.timeout)
			}
			return
		}
	})
	return nil
}

// Elect enters the leader election on <dir>/leader_election. The agent
// holds an ephemeral sequential znode there; the lowest sequence leads.
// l.ElectedLeader is called when this candidate becomes the leader and
// l.RevokedLeadership when it stops being it: its znode went (the session
// expired) or the connection to ZooKeeper was lost, since the server may
// then expire the session and elect another candidate before this client
// could know (as Curator's standard policy, which Spark's master uses).
// Back in the session with its znode still lowest, the agent leads again. Callbacks come one at a time from the agent's goroutine;
// they must not call Stop. Stop deletes the znode and ends the agent
// without a callback (as Curator's LeaderLatch closes silently).
func (z *ZooKeeper) Elect(l Leadership) (Agent, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	a := &latch{
		z:      z,
		l:      l,
		prefix: "_c_" + hex.EncodeToString(id[:]) + "-" + latchName,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	z.mu.Lock()
	if z.closed {
		z.mu.Unlock()
		return nil, ErrClosed
	}
	z.agents[a] = struct{}{}
	z.mu.Unlock()
	go a.run()
	return a, nil
}

// latch is one candidate of the election.
type latch struct {
	z      *ZooKeeper
	l      Leadership
	prefix string // of this candidate's znode names: _c_<id>-latch-

	once     sync.Once
	stop     chan struct{}
	deleteOn bool // delete the znode on the way out; set before stop closes
	done     chan struct{}

	mu    sync.Mutex
	state latchState // for tests
}

// latchState is where the agent is, for tests: parked means waiting for
// news, with the fields below up to date.
type latchState struct {
	parked  bool
	leader  bool
	node    string // own znode name
	watched string // znode name waited on (own while leading)
}

func (a *latch) signal(deleteNode bool) {
	a.once.Do(func() {
		a.deleteOn = deleteNode
		close(a.stop)
	})
}

// Stop deletes the agent's znode, ends its goroutine and waits for it.
// No callback is called during or after Stop.
func (a *latch) Stop() error {
	a.signal(true)
	<-a.done
	a.z.mu.Lock()
	delete(a.z.agents, a)
	a.z.mu.Unlock()
	return nil
}

func (a *latch) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *latch) setState(s latchState) {
	a.mu.Lock()
	a.state = s
	a.mu.Unlock()
}

func (a *latch) getState() latchState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// candidate is a znode of the election.
type candidate struct {
	name string
	seq  uint64
}

func bySequence(a, b candidate) int {
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// sequence parses the counter ZooKeeper appends to sequential names.
func sequence(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || !strings.HasSuffix(name[:i+1], latchName) {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func (a *latch) run() {
	z := a.z
	var (
		node    string // own znode name, "" when there is none
		epoch   uint64 // sess.expiries when node was made or found
		leader  bool
		watch   <-chan zk.Event // pending watch on watched
		watched string
		backoff = minBackoff
	)
	defer close(a.done)
	defer func() {
		if node != "" && a.deleteOn {
			p := joinZNode(z.election, node)
			if err := z.do(z.done, func() error { return z.conn.Delete(p, -1) }); err != nil && !errors.Is(err, zk.ErrNoNode) {
				z.log.Warn("recovery: could not delete the election znode; it goes with the session", "znode", p, "err", err)
			}
		}
	}()
	setLeader := func(v bool) {
		if v == leader {
			return
		}
		leader = v
		if v {
			z.log.Info("recovery: elected leader", "znode", joinZNode(z.election, node))
			a.l.ElectedLeader()
		} else {
			z.log.Warn("recovery: leadership revoked", "znode", joinZNode(z.election, node))
			a.l.RevokedLeadership()
		}
	}
	// park waits for a change; false when stopping.
	park := func(changed <-chan struct{}, timer <-chan time.Time) bool {
		a.setState(latchState{parked: true, leader: leader, node: node, watched: watched})
		defer a.setState(latchState{leader: leader, node: node, watched: watched})
		select {
		case <-a.stop:
			return false
		case <-changed:
		case <-timer:
		case <-watch:
			watch, watched = nil, ""
		}
		return true
	}
	// retry parks for a back-off after a failed call.
	retry := func(what string, err error, changed <-chan struct{}) bool {
		if a.stopped() {
			return false
		}
		z.log.Debug("recovery: leader election", "step", what, "err", err, "retry", backoff)
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, maxBackoff)
		return park(changed, t.C)
	}

	for !a.stopped() {
		s, changed := z.snapshot()
		if node != "" && s.expiries != epoch {
			// The server ended the session that held node: it is gone.
			node, watch, watched = "", nil, ""
			setLeader(false)
			continue
		}
		if !s.up {
			if leader {
				// By the time the client notices a lost connection, up to
				// two thirds of the session may have passed at the server,
				// which can expire it and elect another candidate any
				// moment: stop leading now (Curator's standard policy).
				setLeader(false)
				continue
			}
			if !park(changed, nil) {
				return
			}
			continue
		}

		children, _, err := z.conn.Children(z.election)
		if err != nil {
			if errors.Is(err, zk.ErrNoNode) {
				err = z.mkdirAll(z.election)
			}
			if !retry("list candidates", err, changed) {
				return
			}
			continue
		}
		var all []candidate
		var mine []candidate
		for _, c := range children {
			seq, ok := sequence(c)
			if !ok {
				continue
			}
			all = append(all, candidate{c, seq})
			if strings.HasPrefix(c, a.prefix) {
				mine = append(mine, candidate{c, seq})
			}
		}
		slices.SortFunc(all, bySequence)
		slices.SortFunc(mine, bySequence)

		if node == "" && len(mine) > 0 {
			// Made by a create whose answer was lost.
			node, epoch = mine[0].name, s.expiries
		}
		for _, c := range mine {
			if c.name != node {
				// A leftover of this candidate: it would only queue it behind itself.
				if err := z.conn.Delete(joinZNode(z.election, c.name), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
					z.log.Debug("recovery: delete leftover election znode", "znode", c.name, "err", err)
				}
			}
		}
		if node == "" {
			p, err := z.conn.Create(joinZNode(z.election, a.prefix), nil, zk.FlagEphemeralSequential, openACL)
			if err != nil {
				if !retry("create candidate znode", err, changed) {
					return
				}
				continue
			}
			node, epoch = path.Base(p), s.expiries
			continue
		}

		idx := -1
		for i, c := range all {
			if c.name == node {
				idx = i
				break
			}
		}
		if idx < 0 {
			// Deleted under us (session expiry not seen yet, or by hand).
			node, watch, watched = "", nil, ""
			setLeader(false)
			continue
		}
		target := node
		if idx > 0 {
			target = all[idx-1].name
		}
		setLeader(idx == 0)

		if watch == nil || watched != target {
			ok, _, ch, err := z.conn.ExistsW(joinZNode(z.election, target))
			if err != nil {
				if !retry("watch "+target, err, changed) {
					return
				}
				continue
			}
			if !ok {
				continue // gone already: look again
			}
			watch, watched = ch, target
		}
		backoff = minBackoff
		if !park(changed, nil) {
			return
		}
	}
}

// zkLogger passes the client's messages (errors only: info is off) on.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Warn("recovery: zookeeper client: " + fmt.Sprintf(format, args...))
}
