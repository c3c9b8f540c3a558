package netpoll

import (
	"net"
	"os"
	"syscall"

	"go.uber.org/atomic"
)

// sock is a plain TCP connection on Windows: blocking reads and writes
// through Go's net package (the runtime's I/O completion port). It offers
// no non-blocking path, so every read is the reading goroutine's (NIO)
// and every write the writer goroutine's; EPOLL is refused.
type sock struct {
	conn *net.TCPConn
	rc   syscall.RawConn
	// progress is the nanotime of the last write that moved bytes (the
	// owning Client's, read by its idle check).
	progress *atomic.Int64
}

func newSock(conn *net.TCPConn) (*sock, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &sock{conn: conn, rc: rc, progress: new(atomic.Int64)}, nil
}

func (s *sock) nonBlocking() bool                                { return false }
func (s *sock) writevNB([][]byte) (int64, error)                 { return 0, errWouldBlock }
func (s *sock) sendFileNB(*os.File, int64, int64) (int64, error) { return 0, errWouldBlock }
func (s *sock) close() error                                     { return s.conn.Close() }
func (s *sock) remoteAddr() net.Addr                             { return s.conn.RemoteAddr() }
func (s *sock) localAddr() net.Addr                              { return s.conn.LocalAddr() }
func (s *sock) control(f func(uintptr)) error                    { return s.rc.Control(f) }

// read waits only when block is set; otherwise there is nothing to read
// without waiting.
func (s *sock) read(p []byte, block bool) (int, error) {
	if !block {
		return 0, errWouldBlock
	}
	n, err := s.conn.Read(p)
	if n > 0 && err != nil {
		return n, nil // the error comes again with the next read
	}
	return n, err
}

// writev writes every byte of bufs. No deadline is armed per write: the
// connection's idle check closes a writer that made no progress for the
// write deadline.
func (s *sock) writev(bufs [][]byte) error {
	for _, b := range bufs {
		for len(b) > 0 {
			n, err := s.conn.Write(b)
			if n > 0 {
				s.progress.Store(nanotime())
				b = b[n:]
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sendFile copies a file region to the socket in pieces.
func (s *sock) sendFile(f *os.File, off, n int64) error {
	return copyFileChunks(f, off, n, 256<<10, s.writev)
}

// setSockopts applies the configured buffer sizes and keep-alive to fd.
func setSockopts(fd int, conf *Conf, keepAlive bool) {
	if fd < 0 {
		return
	}
	h := syscall.Handle(fd)
	if conf.ReceiveBuffer > 0 {
		_ = syscall.SetsockoptInt(h, syscall.SOL_SOCKET, syscall.SO_RCVBUF, conf.ReceiveBuffer)
	}
	if conf.SendBuffer > 0 {
		_ = syscall.SetsockoptInt(h, syscall.SOL_SOCKET, syscall.SO_SNDBUF, conf.SendBuffer)
	}
	if keepAlive {
		_ = syscall.SetsockoptInt(h, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	}
	_ = syscall.SetsockoptInt(h, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
}

// setMore does nothing here: file regions are copied by the writer.
func (s *sock) setMore(bool) {}
