package netpoll

import (
	"os"
	"sync"
	"syscall"

	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// reactor is the EPOLL engine: a few pollers, each with its own epoll
// set. A connection is registered edge-triggered for readability; each
// arrival of bytes runs one reading pass (or, while one runs, makes it
// read again), which reads until the socket is drained. A paused
// connection (over a bound: Netty's autoRead=false) is not read at all
// until resumed, and the kernel's buffers push back on its peer.
//
// Each poller is one goroutine that never leaves its wait on the epoll
// set: when connections are ready it collects them (one epoll_wait per
// wake-up, one lock of the connection table per batch) and hands each
// pass to a parked goroutine of the poller, or a new one when none is
// idle. So the poller never reads, writes or waits on a connection, and
// never runs handler code; a goroutine that finishes a pass parks as idle,
// up to maxIdleWorkers per poller, and past that exits.
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
	// file is epfd handed to Go's runtime poller: the poller goroutine
	// parks there until the epoll set has events, so no OS thread is
	// held in epoll_wait. Closing it ends the poller.
	file *os.File
	rc   syscall.RawConn

	mu     sync.Mutex // guards the following
	conns  map[uint64]*Client
	idle   []*pollWorker // parked goroutines, most recent last
	closed bool

	// Owned by the poller goroutine.
	events     []unix.EpollEvent
	batch      []*Client
	dispatchFn func(fd uintptr) bool
}

// pollWorker is one pass-running goroutine of a poller, parked on task
// while idle.
type pollWorker struct {
	task chan *Client
}

// epollAvailable: io mode EPOLL can be used here.
const epollAvailable = true

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
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			_ = p.rc.Read(p.dispatchFn) // returns once the epoll file is closed
		}()
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
	p.dispatchFn = p.dispatchStep
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

// armEvents registers a connection edge-triggered: every arrival of bytes
// (or the peer's end) queues one event, and nothing is re-armed after a
// pass. A pass ends only when the socket is drained (EAGAIN, or a read
// shorter than asked for), so bytes that arrive later raise a new edge.
const armEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// epollConn is a connection's registration with its poller.
type epollConn struct {
	id uint64
	// hup is set once an event reports the peer's end (or an error): a
	// read shorter than asked for no longer proves the socket drained,
	// since no new edge will come for an end already seen.
	hup atomic.Bool
}

// register adds c, armed. c.raw must be a *sock.
func (r *reactor) register(c *Client) error {
	p := r.pollers[int(r.next.Inc())%len(r.pollers)]
	id := connIDs.Inc()
	c.rmu.Lock() // shutdown and teardown read c.poller under rmu
	c.poller, c.ep.id = p, id
	c.rmu.Unlock()
	ev := unix.EpollEvent{Events: armEvents}
	setEventID(&ev, id)
	p.mu.Lock() // also orders the fields above before the poller's use
	p.conns[id] = c
	p.mu.Unlock()
	s := c.raw.(*sock)
	var err error
	cerr := s.control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
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

// forget drops a closed connection (its descriptor left the epoll set
// when it was closed).
func (p *poller) forget(c *Client) {
	p.mu.Lock()
	delete(p.conns, c.ep.id)
	p.mu.Unlock()
}

// resume runs a reading pass of c, which was paused.
func (p *poller) resume(c *Client) {
	if c.claimPass() {
		p.handOff(c)
	}
}

// handOff gives c's claimed reading pass to an idle goroutine of the
// poller, or to a new one. After close a pass still runs, on an untracked
// goroutine (its connection is closed: it only tears down).
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
		go c.runPass()
		return
	}
	p.r.wg.Add(1) // under mu, before close's Wait
	p.mu.Unlock()
	go p.work(&pollWorker{task: make(chan *Client, 1)}, c)
}

// work is a pass-running goroutine of the poller: it runs its pass, then
// parks as idle for the next one.
func (p *poller) work(w *pollWorker, c *Client) {
	defer p.r.wg.Done()
	for {
		c.runPass()
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

// dispatchStep runs under the runtime poller, within one endless
// RawConn.Read of the epoll file: it collects the ready connections
// without waiting and hands their passes on, then returns false to park
// until the set has events again. Staying inside the one Read keeps the
// readiness an event raised while this step ran (the runtime poller
// resets it only when a Read begins), so no epoll_wait is spent only to
// find the set empty.
func (p *poller) dispatchStep(fd uintptr) bool {
	for {
		n, err := unix.EpollWait(int(fd), p.events, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return true // the epoll file is unusable: end the poller
		}
		if n == 0 {
			return false
		}
		batch := p.batch[:0]
		p.mu.Lock() // once per batch
		for i := range p.events[:n] {
			ev := &p.events[i]
			if c := p.conns[eventID(ev)]; c != nil {
				if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					c.ep.hup.Store(true)
				}
				batch = append(batch, c)
			}
		}
		p.mu.Unlock()
		// Only connections with no pass running and not paused need one
		// (claimPass takes Client.rmu briefly; it never waits on I/O).
		for _, c := range batch {
			if c.claimPass() {
				p.handOff(c)
			}
		}
		clear(batch)
		if n < len(p.events) {
			return false
		}
		// A full batch may have left ready connections in the set;
		// edge-triggered, they raise no new edge, so collect them now.
	}
}

// close stops the pollers and waits for their goroutines: the poller
// ends when its epoll file closes, idle ones when their task channel
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

// peerEnded reports whether an event reported the peer's end.
func (c *Client) peerEnded() bool { return c.ep.hup.Load() }

// claimPass reports whether the caller must run a reading pass of c
// (runPass), and if so marks one running. With a pass running already it
// makes that pass read again; a paused connection is not read until
// resumed (its peer's bytes stay in the kernel).
func (c *Client) claimPass() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.passRunning || c.paused {
		c.passAgain = c.passRunning
		return false
	}
	c.passRunning = true
	return true
}

// runPass is the reading pass of an EPOLL connection claimed by
// claimPass. At most one runs at a time; an event during it makes it read
// again.
func (c *Client) runPass() {
	for {
		res := passEnded
		if !c.closed.Load() {
			res = c.readPass(false)
		}
		c.rmu.Lock()
		if c.passAgain && res != passEnded && !c.paused && !c.closed.Load() {
			c.passAgain = false
			c.rmu.Unlock()
			continue
		}
		c.passAgain = false
		c.passRunning = false
		closed := c.closed.Load()
		c.rmu.Unlock()
		if closed || res == passEnded {
			c.readerClosed(ErrClosed)
		}
		return
	}
}
