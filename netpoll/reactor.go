package netpoll

import (
	"os"
	"sync"

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
	wake int // an eventfd that ends wait

	mu    sync.Mutex // guards conns
	conns map[uint64]*Client
	stop  atomic.Bool
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
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, 0)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &poller{epfd: epfd, wake: wake, conns: make(map[uint64]*Client)}, nil
}

// The event's 8 data bytes hold a connection id (0 is the wake fd).
func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const armEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// register adds c, armed. c.raw must be a *sock.
func (r *reactor) register(c *Client) error {
	p := r.pollers[int(r.next.Inc())%len(r.pollers)]
	id := connIDs.Inc()
	c.poller, c.pollID = p, id
	p.mu.Lock()
	p.conns[id] = c
	p.mu.Unlock()
	s := c.raw.(*sock)
	var err error
	cerr := s.control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: armEvents}
		setEventID(&ev, id)
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		p.forget(id)
		if err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return cerr
	}
	return nil
}

// arm asks for the next readability event of c. It runs under the
// descriptor's reference (Control), so it can never touch a number the
// descriptor was closed and reused under.
func (p *poller) arm(c *Client) {
	s := c.raw.(*sock)
	_ = s.control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: armEvents}
		setEventID(&ev, c.pollID)
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
}

// forget drops a closed connection (its descriptor left the epoll set
// when it was closed).
func (p *poller) forget(id uint64) {
	p.mu.Lock()
	delete(p.conns, id)
	p.mu.Unlock()
}

func (p *poller) run() {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == 0 {
				if p.stop.Load() {
					unix.Close(p.epfd)
					unix.Close(p.wake)
					return
				}
				continue
			}
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				go c.epollPass()
			}
		}
	}
}

// close stops the pollers and waits for them.
func (r *reactor) close() {
	for _, p := range r.pollers {
		p.stop.Store(true)
		var one = [8]byte{1}
		_, _ = unix.Write(p.wake, one[:])
	}
	r.wg.Wait()
}
