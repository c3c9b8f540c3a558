//go:build unix

package netpoll

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"go.uber.org/atomic"

	"golang.org/x/sys/unix"
)

// sock is a plain TCP connection in both io modes. Go's net package owns
// the descriptor (its close waits for operations in progress, so a
// descriptor number is never used after it was reused); every read and
// write here is a non-blocking system call made through the RawConn, and
// waiting, when there is any, is the runtime poller's, under the write
// deadline.
type sock struct {
	conn *net.TCPConn
	rc   syscall.RawConn
	// progress is the nanotime of the last write that moved bytes (the
	// owning Client's, read by its idle check).
	progress *atomic.Int64

	// Read state for readFn (bound once: no closure per read).
	rp     []byte
	rn     int
	rerr   error
	rblock bool
	readFn func(fd uintptr) bool

	// Write state for writeFn.
	wiov    []unix.Iovec
	wbufs   [][]byte
	wn      int64
	werr    error
	writeFn func(fd uintptr) bool

	// sendfile state for sendFn.
	sfIn   int
	sfOff  int64
	sfLeft int64
	sfN    int64
	sfErr  error
	sendFn func(fd uintptr) bool

	wblock bool // writeStep and sendStep may wait (no progress yet)
	// wmore: a file region follows what writeStep writes, so it is sent
	// with MSG_MORE: a frame's header leaves with the first bytes of its
	// file body instead of in a segment (and a wake-up of the peer) of
	// its own.
	wmore bool
	msg   unix.Msghdr // writeStep's sendmsg header (wmore)

	riov    [2]unix.Iovec // read2's buffers
	readvFn func(fd uintptr) bool

	lowat   int // for lowatFn
	lowatFn func(fd uintptr)
}

func newSock(conn *net.TCPConn) (*sock, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &sock{conn: conn, rc: rc, progress: new(atomic.Int64)}
	s.readFn, s.writeFn = s.readStep, s.writeStep
	s.lowatFn = s.lowatStep
	s.readvFn = s.readvStep
	return s, nil
}

func (s *sock) nonBlocking() bool             { return true }
func (s *sock) close() error                  { return s.conn.Close() }
func (s *sock) remoteAddr() net.Addr          { return s.conn.RemoteAddr() }
func (s *sock) localAddr() net.Addr           { return s.conn.LocalAddr() }
func (s *sock) control(f func(uintptr)) error { return s.rc.Control(f) }

// rcvLowat sets SO_RCVLOWAT (the reading side only).
func (s *sock) rcvLowat(n int) {
	s.lowat = max(n, 1)
	_ = s.rc.Control(s.lowatFn)
}

func (s *sock) lowatStep(fd uintptr) {
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, s.lowat)
}

func (s *sock) read(p []byte, block bool) (int, error) {
	s.rp, s.rn, s.rerr, s.rblock = p, 0, nil, block
	err := s.rc.Read(s.readFn)
	n, rerr := s.rn, s.rerr
	s.rp = nil
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// read2 reads into a, then b, with one readv.
func (s *sock) read2(a, b []byte, block bool) (int, error) {
	if len(a) == 0 || len(b) == 0 {
		return s.read(a, block)
	}
	s.riov[0] = unix.Iovec{Base: &a[0]}
	s.riov[0].SetLen(len(a))
	s.riov[1] = unix.Iovec{Base: &b[0]}
	s.riov[1].SetLen(len(b))
	s.rn, s.rerr, s.rblock = 0, nil, block
	err := s.rc.Read(s.readvFn)
	n, rerr := s.rn, s.rerr
	s.riov = [2]unix.Iovec{}
	if err != nil {
		return 0, err
	}
	return n, rerr
}

func (s *sock) readvStep(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&s.riov[0])), 2)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			if s.rblock {
				return false
			}
			s.rerr = errWouldBlock
		case e != 0:
			s.rerr = os.NewSyscallError("readv", e)
		case r == 0:
			s.rerr = io.EOF
		default:
			s.rn = int(r)
		}
		return true
	}
}

// readStep runs under the runtime poller: returning false waits for the
// socket to become readable and calls it again.
func (s *sock) readStep(fd uintptr) bool {
	for {
		n, err := unix.Read(int(fd), s.rp)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if s.rblock {
				return false
			}
			s.rerr = errWouldBlock
		case err != nil:
			s.rerr = os.NewSyscallError("read", err)
		case n == 0:
			s.rerr = io.EOF
		default:
			s.rn = n
		}
		return true
	}
}

func (s *sock) writevNB(bufs [][]byte) (int64, error) {
	s.wbufs, s.wn, s.werr = bufs, 0, nil
	err := s.rc.Write(s.writeFn)
	s.wbufs = nil
	if err != nil {
		return s.wn, err
	}
	return s.wn, s.werr
}

// writeStep writes as much of wbufs as the socket takes, never waiting.
// It does not change wbufs: the caller consumes the bytes written.
func (s *sock) writeStep(fd uintptr) bool {
	bufs := s.wbufs
	for i := 0; i < len(bufs); {
		iov := s.wiov[:0]
		var want int64
		j := i
		for ; j < len(bufs) && len(iov) < maxIovecs; j++ {
			b := bufs[j]
			if len(b) == 0 {
				continue
			}
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			want += int64(len(b))
		}
		s.wiov = iov
		if len(iov) == 0 {
			break
		}
		var r uintptr
		var e syscall.Errno
		if msgMore != 0 && s.wmore && j == len(bufs) {
			s.msg.Iov = &iov[0]
			s.msg.SetIovlen(len(iov))
			r, _, e = unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.msg)), msgMore)
			s.msg.Iov = nil
		} else {
			r, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		}
		clear(iov)
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN {
			if s.wblock && s.wn == 0 {
				return false // wait for the socket, then try again
			}
			s.werr = errWouldBlock
			return true
		}
		if e != 0 {
			s.werr = os.NewSyscallError("writev", e)
			return true
		}
		n := int64(r)
		s.wn += n
		if n > 0 {
			s.progress.Store(nanotime())
		}
		if n < want {
			s.werr = errWouldBlock // a short write: the socket is full
			return true
		}
		i = j
	}
	return true
}

// blockingWrite runs op (writevNB or sendFileNB bound to the caller's
// state) until it is done, letting it wait for the socket. It runs on the
// connection's writer only. No deadline is armed per write: the
// connection's idle check closes a writer that made no progress for the
// write deadline (Client.checkIdle), which ends the wait.
func (s *sock) blockingWrite(op func() (int64, error)) error {
	s.wblock = true
	defer func() { s.wblock = false }()
	for {
		_, err := op()
		switch {
		case err == nil:
			return nil
		case err == errWouldBlock:
			continue // progress was made, and more is to write
		default:
			return err
		}
	}
}

// writev writes every byte of bufs (the writer's slow path).
func (s *sock) writev(bufs [][]byte) error {
	// Try without a deadline first: most writes never wait.
	n, err := s.writevNB(bufs)
	if err != errWouldBlock {
		return err
	}
	bufs = consumeBufs(bufs, n)
	return s.blockingWrite(func() (int64, error) {
		n, err := s.writevNB(bufs)
		bufs = consumeBufs(bufs, n)
		return n, err
	})
}

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

// setMore says whether a file region follows what the writer writes next
// (wmore).
func (s *sock) setMore(on bool) { s.wmore = on }
