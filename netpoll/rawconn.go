package netpoll

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	cwnetpoll "github.com/cloudwego/netpoll"
	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// frameWriter is what a Client's flusher writes frames through: the
// rawConn itself, or a sealing layer over it.
type frameWriter interface {
	writev(bufs [][]byte) error
	sendFile(f *os.File, off, n int64) error
}

// rawConn is the I/O engine under a Client: EPOLL (cloudwego/netpoll) or
// NIO (Go's net). Writes come only from the Client's current flusher, one
// at a time; close may come from anywhere.
type rawConn interface {
	// writev writes every buffer, in order, before returning.
	writev(bufs [][]byte) error
	// sendFile writes n bytes of f from off with sendfile(2).
	sendFile(f *os.File, off, n int64) error
	close() error
	remoteAddr() net.Addr
	localAddr() net.Addr
}

// maxSendfileChunk bounds one sendfile call, like Go's own loop.
const maxSendfileChunk = 4 << 20

// epollConn runs on a cloudwego/netpoll connection.
type epollConn struct {
	conn cwnetpoll.Connection
	fd   int // the connection's fd, for socket options

	// mu is held by each writev and by onClosed, which marks the
	// connection dead. netpoll frees a connection's buffers in a close
	// callback of its own, which runs after ours: a write during or after
	// that would use freed memory. mu also guards sendFD and sending.
	mu      sync.Mutex
	dead    bool
	sending bool // a sendfile is running on sendFD
	// sendFD is a dup of fd made on first use. sendfile runs on it so that
	// a close by the reactor can never leave us writing to a reused fd
	// number; the socket lives until both are closed.
	sendFD int
	pfd    [1]unix.PollFd

	// flushing is set while a write waits for the socket: the context's
	// watchdog then checks how much the reactor has buffered from the peer.
	flushing atomic.Bool

	// raddr and laddr are set for accepted connections (netpoll does not
	// know the addresses of a connection made from a raw fd).
	raddr, laddr net.Addr
}

func newEpollConn(conn cwnetpoll.Connection) *epollConn {
	c := &epollConn{conn: conn, fd: -1, sendFD: -1}
	if fc, ok := conn.(interface{ Fd() int }); ok {
		c.fd = fc.Fd()
	}
	_ = conn.AddCloseCallback(c.onClosed)
	return c
}

// onClosed is a close callback. Callbacks run newest first, so it runs
// before netpoll's own, which frees the buffers: it waits for a writev in
// progress (netpoll wakes a blocked Flush before running callbacks) and
// turns later writes away. sendFD is closed here, or by a sendfile still
// running on it when that ends.
func (c *epollConn) onClosed(cwnetpoll.Connection) error {
	c.mu.Lock()
	c.dead = true
	if !c.sending && c.sendFD >= 0 {
		unix.Close(c.sendFD)
		c.sendFD = -1
	}
	c.mu.Unlock()
	return nil
}

func (c *epollConn) writev(bufs [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return ErrClosed
	}
	return c.writevLocked(bufs)
}

func (c *epollConn) writevLocked(bufs [][]byte) error {
	w := c.conn.Writer()
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if _, err := w.WriteBinary(b); err != nil {
			return err
		}
	}
	c.flushing.Store(true)
	err := w.Flush()
	c.flushing.Store(false)
	return err
}

func (c *epollConn) sendFile(f *os.File, off, n int64) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.sendFD < 0 {
		if c.fd < 0 {
			defer c.mu.Unlock()
			return c.copyFile(f, off, n)
		}
		fd, err := unix.Dup(c.fd)
		if err != nil {
			c.mu.Unlock()
			return os.NewSyscallError("dup", err)
		}
		c.sendFD = fd
	}
	sfd := c.sendFD
	c.sending = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sending = false
		if c.dead && c.sendFD >= 0 {
			unix.Close(c.sendFD)
			c.sendFD = -1
		}
		c.mu.Unlock()
	}()
	in := int(f.Fd())
	for n > 0 {
		chunk := n
		if chunk > maxSendfileChunk {
			chunk = maxSendfileChunk
		}
		k, err := unix.Sendfile(sfd, in, &off, int(chunk))
		if k > 0 {
			n -= int64(k)
		}
		switch {
		case err == unix.EAGAIN:
			if err := c.waitWritable(sfd); err != nil {
				return err
			}
		case err == unix.EINTR:
		case err != nil:
			return os.NewSyscallError("sendfile", err)
		case k == 0:
			return io.ErrUnexpectedEOF // the file is shorter than the segment
		}
	}
	return nil
}

// waitWritable blocks this goroutine's thread (never a poller) until the
// socket can take more bytes.
func (c *epollConn) waitWritable(fd int) error {
	c.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	for {
		_, err := unix.Poll(c.pfd[:], 1000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		if c.pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return syscall.EPIPE
		}
		if c.pfd[0].Revents&unix.POLLOUT != 0 {
			return nil
		}
		if !c.conn.IsActive() {
			return ErrClosed
		}
	}
}

// copyFile is the fallback when no fd is available.
func (c *epollConn) copyFile(f *os.File, off, n int64) error {
	return copyFileChunks(f, off, n, 256<<10, c.writevLocked)
}

// close closes the connection; sendFD goes in onClosed, once no write is
// using it.
func (c *epollConn) close() error { return c.conn.Close() }

func (c *epollConn) remoteAddr() net.Addr {
	if c.raddr != nil {
		return c.raddr
	}
	return c.conn.RemoteAddr()
}

func (c *epollConn) localAddr() net.Addr {
	if c.laddr != nil {
		return c.laddr
	}
	return c.conn.LocalAddr()
}

// nioConn runs on Go's net package.
type nioConn struct {
	conn  *net.TCPConn
	rc    syscall.RawConn
	bufs  net.Buffers // scratch for writev; keeps its backing array
	wbufs net.Buffers // the view WriteTo consumes

	// sendfile state, used by sendfileStep (bound once, so no closure is
	// allocated per file segment).
	sfIn     int
	sfOff    int64
	sfLeft   int64
	sfErr    error
	sendStep func(fd uintptr) bool
}

func newNioConn(conn *net.TCPConn) (*nioConn, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &nioConn{conn: conn, rc: rc}
	c.sendStep = c.sendfileStep
	return c, nil
}

func (c *nioConn) writev(bufs [][]byte) error {
	// WriteTo consumes the slice it is given: hand it a copy of the
	// header so the backing array is kept for the next write.
	c.bufs = append(c.bufs[:0], bufs...)
	c.wbufs = c.bufs
	_, err := c.wbufs.WriteTo(c.conn)
	c.wbufs = nil
	clear(c.bufs)
	c.bufs = c.bufs[:0]
	return err
}

func (c *nioConn) sendFile(f *os.File, off, n int64) error {
	c.sfIn, c.sfOff, c.sfLeft, c.sfErr = int(f.Fd()), off, n, nil
	if err := c.rc.Write(c.sendStep); err != nil {
		return err
	}
	return c.sfErr
}

// sendfileStep runs under the runtime poller: returning false waits for
// the socket to become writable and calls it again.
func (c *nioConn) sendfileStep(fd uintptr) bool {
	for c.sfLeft > 0 {
		chunk := c.sfLeft
		if chunk > maxSendfileChunk {
			chunk = maxSendfileChunk
		}
		k, err := unix.Sendfile(int(fd), c.sfIn, &c.sfOff, int(chunk))
		if k > 0 {
			c.sfLeft -= int64(k)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
		case err != nil:
			c.sfErr = os.NewSyscallError("sendfile", err)
			return true
		case k == 0:
			c.sfErr = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}

func (c *nioConn) close() error         { return c.conn.Close() }
func (c *nioConn) remoteAddr() net.Addr { return c.conn.RemoteAddr() }
func (c *nioConn) localAddr() net.Addr  { return c.conn.LocalAddr() }

// setSockopts applies the configured buffer sizes and keep-alive to fd.
func setSockopts(fd int, conf *Conf, keepAlive bool) {
	if fd < 0 {
		return
	}
	if conf.ReceiveBuffer > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, conf.ReceiveBuffer)
	}
	if conf.SendBuffer > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, conf.SendBuffer)
	}
	if keepAlive {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}
