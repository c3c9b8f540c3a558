package netpoll

import (
	"os"
	"sync"
	"syscall"

	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// reactor is the EPOLL engine: a few pollers, each with its own epoll
// set. A connection is registered one-shot for readability; when bytes
// arrive, one reading pass runs and the connection is forgotten until the
// pass re-arms it. A connection whose pass does not re-arm it (it is over
// a bound: Netty's autoRead=false) is not read at all, and the kernel's
// buffers push back on its peer.
//
// A poller's goroutines take turns (leader/followers): the one holding the
// polling role waits on the epoll set; when connections are ready it hands
// each but the first to an idle goroutine of the poller (a new one when
// none is idle), hands the polling role on the same way, and then runs the
// first connection's pass itself. So the common case, one ready connection,
// costs no goroutine hop before the bytes are read, and whatever a pass
// runs (handlers, callbacks) never holds up polling: the goroutine that
// runs it no longer polls. A goroutine that finishes its work parks as
// idle, up to maxIdleWorkers per poller; past that it exits.
type reactor struct {
	pollers []*poller
	next    atomic.Uint32
	wg      sync.WaitGroup // every goroutine of every poller
}

// maxIdleWorkers bounds the parked goroutines a poller keeps for reuse.
const maxIdleWorkers = 8

type poller struct {
	r    *reactor
	epfd int
	// file is epfd handed to Go's runtime poller: the polling goroutine
	// parks there until the epoll set has events, so no OS thread is
	// held in epoll_wait. Closing it ends the polling role.
	file *os.File
	rc   syscall.RawConn

	mu     sync.Mutex // guards the following
	conns  map[uint64]*Client
	idle   []*pollWorker // parked goroutines, most recent last
	closed bool

	// Owned by the goroutine that holds the polling role.
	events []unix.EpollEvent
	n      int
	waitFn func(fd uintptr) bool
	batch  []*Client
}

// pollWorker is one goroutine of a poller, parked on task while idle. A
// nil task is the polling role; a Client is one reading pass of it.
type pollWorker struct {
	task chan *Client
}

var connIDs atomic.Uint64

func newReactor(n int) (*reactor, error) {
	if n < 1 {
		n = 1
	}
	r := &reactor{}
	for range n {
		p, err := newPoller(r)
		if err != nil {
			r.close()
			return nil, err
		}
		r.pollers = append(r.pollers, p)
		p.handOff(nil) // the first goroutine takes the polling role
	}
	return r, nil
}

func newPoller(r *reactor) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	const batch = 128
	p := &poller{r: r, epfd: epfd, file: f, rc: rc, conns: make(map[uint64]*Client),
		events: make([]unix.EpollEvent, batch), batch: make([]*Client, 0, batch)}
	p.waitFn = p.waitStep
	return p, nil
}

// The event's 8 data bytes hold a connection id.
func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const armEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// epollConn is a connection's registration with its poller.
type epollConn struct {
	id     uint64
	armEv  unix.EpollEvent  // the one-shot registration
	armFn  func(fd uintptr) // re-arms (bound once)
	passFn func()           // c.epollPass (bound once)
}

// register adds c, armed. c.raw must be a *sock.
func (r *reactor) register(c *Client) error {
	p := r.pollers[int(r.next.Inc())%len(r.pollers)]
	id := connIDs.Inc()
	c.poller, c.ep.id = p, id
	c.ep.armEv.Events = armEvents
	setEventID(&c.ep.armEv, id)
	c.ep.passFn = c.epollPass
	c.ep.armFn = func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &c.ep.armEv) }
	p.mu.Lock() // also orders the fields above before the poller's use
	p.conns[id] = c
	p.mu.Unlock()
	s := c.raw.(*sock)
	var err error
	cerr := s.control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &c.ep.armEv)
	})
	if cerr != nil || err != nil {
		p.forget(c)
		if err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return cerr
	}
	return nil
}

// arm asks for the next readability event of c. It runs under the
// socket's reference (Control), so it never touches a descriptor number
// after the socket was closed; and the epoll set outlives every socket
// registered with it (a Context closes its connections before its
// reactor).
func (p *poller) arm(c *Client) { _ = c.raw.(*sock).control(c.ep.armFn) }

// forget drops a closed connection (its descriptor left the epoll set
// when it was closed).
func (p *poller) forget(c *Client) {
	p.mu.Lock()
	delete(p.conns, c.ep.id)
	p.mu.Unlock()
}

// resume runs a reading pass of c, which was paused.
func (p *poller) resume(c *Client) { p.handOff(c) }

// handOff gives c's reading pass (nil: the polling role) to an idle
// goroutine of the poller, or to a new one. After close a pass still runs,
// on an untracked goroutine (its connection is closed: it only tears down).
func (p *poller) handOff(c *Client) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.task <- c // buffered: never waits
		return
	}
	if p.closed {
		p.mu.Unlock()
		if c != nil {
			go c.ep.passFn()
		}
		return
	}
	p.r.wg.Add(1) // under mu, before close's Wait
	p.mu.Unlock()
	go p.work(&pollWorker{task: make(chan *Client, 1)}, c)
}

// work is one goroutine of the poller: it runs its task, then parks as
// idle for the next one.
func (p *poller) work(w *pollWorker, c *Client) {
	defer p.r.wg.Done()
	for {
		if c == nil {
			c = p.poll()
			if c == nil {
				return // closed
			}
			continue // run the pass poll kept for itself
		}
		c.ep.passFn()
		p.mu.Lock()
		if p.closed || len(p.idle) >= maxIdleWorkers {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		var ok bool
		if c, ok = <-w.task; !ok {
			return // closed while idle
		}
	}
}

// poll holds the polling role: it waits until connections are ready,
// hands all but the first to other goroutines, hands the polling role on,
// and returns the first for the caller to run. It returns nil once the
// poller is closed.
func (p *poller) poll() *Client {
	for {
		if err := p.rc.Read(p.waitFn); err != nil {
			return nil // closed
		}
		batch := p.batch[:0]
		p.mu.Lock() // once per batch
		for i := range p.events[:p.n] {
			if c := p.conns[eventID(&p.events[i])]; c != nil {
				batch = append(batch, c)
			}
		}
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		first := batch[0]
		for _, c := range batch[1:] {
			p.handOff(c)
		}
		clear(batch)
		p.handOff(nil) // the next poller may reuse events and batch now
		return first
	}
}

// waitStep collects ready events without waiting; returning false parks
// the polling goroutine on the runtime poller until the set has events.
func (p *poller) waitStep(fd uintptr) bool {
	for {
		n, err := unix.EpollWait(int(fd), p.events, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			p.n = 0
			return err != nil
		}
		p.n = n
		return true
	}
}

// close stops the pollers and waits for their goroutines: the polling
// one ends when its epoll file closes, idle ones when their task channel
// closes, busy ones after their pass.
func (r *reactor) close() {
	for _, p := range r.pollers {
		p.mu.Lock()
		p.closed = true
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, w := range idle {
			close(w.task)
		}
		p.file.Close()
	}
	r.wg.Wait()
}

// epollPass is one reading pass of an EPOLL connection, started by its
// poller (or by a resume). At most one runs at a time.
func (c *Client) epollPass() {
	c.rmu.Lock()
	if c.passRunning {
		c.passAgain = true
		c.rmu.Unlock()
		return
	}
	c.passRunning = true
	c.rmu.Unlock()
	for {
		res := passEnded
		if !c.closed.Load() {
			res = c.readPass(false)
		}
		c.rmu.Lock()
		if c.passAgain && res != passEnded && !c.closed.Load() {
			c.passAgain = false
			c.rmu.Unlock()
			continue
		}
		c.passAgain = false
		c.passRunning = false
		closed := c.closed.Load()
		c.rmu.Unlock()
		switch {
		case closed || res == passEnded:
			c.readerClosed(ErrClosed)
		case res == passMore:
			c.poller.arm(c)
		}
		return
	}
}
