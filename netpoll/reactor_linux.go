package netpoll

import (
	"os"
	"sync"
	"syscall"

	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// reactor is the EPOLL engine: a few poller goroutines, each waiting on
// its own epoll set. A connection is registered one-shot for readability:
// when bytes arrive, its poller starts one reading pass on a fresh
// goroutine and forgets the connection until the pass re-arms it. A
// connection whose pass does not re-arm it (it is over a bound: Netty's
// autoRead=false) is not read at all, and the kernel's buffers push back
// on its peer. A poller itself never reads, writes or waits on a
// connection.
type reactor struct {
	pollers []*poller
	next    atomic.Uint32
	wg      sync.WaitGroup
}

type poller struct {
	epfd int
	// file is epfd handed to Go's runtime poller: the poller goroutine
	// parks there until the epoll set has events, so no OS thread is
	// held in epoll_wait. Closing it ends the poller.
	file *os.File
	rc   syscall.RawConn

	mu    sync.Mutex // guards conns
	conns map[uint64]*Client

	events []unix.EpollEvent
	n      int
	waitFn func(fd uintptr) bool
}

var connIDs atomic.Uint64

func newReactor(n int) (*reactor, error) {
	if n < 1 {
		n = 1
	}
	r := &reactor{}
	for range n {
		p, err := newPoller()
		if err != nil {
			r.close()
			return nil, err
		}
		r.pollers = append(r.pollers, p)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			p.run()
		}()
	}
	return r, nil
}

func newPoller() (*poller, error) {
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
	p := &poller{epfd: epfd, file: f, rc: rc, conns: make(map[uint64]*Client), events: make([]unix.EpollEvent, 128)}
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

// waitStep collects ready events without waiting; returning false parks
// the poller goroutine on the runtime poller until the set has events.
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

func (p *poller) run() {
	for {
		if err := p.rc.Read(p.waitFn); err != nil {
			return // closed
		}
		for i := range p.events[:p.n] {
			id := eventID(&p.events[i])
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				go c.ep.passFn()
			}
		}
	}
}

// resume starts a reading pass of c, which was paused.
func (p *poller) resume(c *Client) { go c.ep.passFn() }

// close stops the pollers and waits for them.
func (r *reactor) close() {
	for _, p := range r.pollers {
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
