package netpoll

import (
	"errors"
	"net"
	"os"
)

// errWouldBlock is what a non-blocking operation returns when the socket
// cannot take (or give) more bytes right now.
var errWouldBlock = errors.New("netpoll: operation would block")

// errWriteTimeout is the cause of closing a connection whose peer did not
// take a byte for the write deadline.
var errWriteTimeout = errors.New("netpoll: peer did not read within the write deadline")

// frameWriter is what the connection's writer sends through: the socket
// itself, or a sealing layer over it. Both calls block until done, with
// the write deadline applying to every wait.
type frameWriter interface {
	writev(bufs [][]byte) error
	sendFile(f *os.File, off, n int64) error
}

// rawConn is the socket under a Client, in either io mode. Reads come
// from the connection's one reading pass at a time, writes from its one
// writer at a time; close may come from anywhere.
type rawConn interface {
	frameWriter
	// read reads into p. With block false it returns errWouldBlock
	// instead of waiting; io.EOF at the end of the stream.
	read(p []byte, block bool) (int, error)
	// nonBlocking reports whether writevNB and sendFileNB are available
	// (plain TCP; TLS is not).
	nonBlocking() bool
	// writevNB writes what the socket takes now; errWouldBlock when it
	// filled before every byte was written.
	writevNB(bufs [][]byte) (int64, error)
	// sendFileNB is writevNB for a file region.
	sendFileNB(f *os.File, off, n int64) (int64, error)
	close() error
	remoteAddr() net.Addr
	localAddr() net.Addr
}

// lowatConn is a rawConn that can ask the kernel to report it readable
// only once n bytes are buffered, or the stream ends (SO_RCVLOWAT; n <= 1
// is the default): the plain socket on unix.
type lowatConn interface {
	rcvLowat(n int)
}

// vecReader is a rawConn that reads into two buffers at once (readv):
// the plain socket on unix.
type vecReader interface {
	// read2 is read into a, then b.
	read2(a, b []byte, block bool) (int, error)
}

// maxIovecs bounds one writev (Linux's IOV_MAX is 1024).
const maxIovecs = 512

// consumeBufs drops the first n bytes of bufs, clearing emptied entries.
func consumeBufs(bufs [][]byte, n int64) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if int64(len(bufs[0])) <= n {
			n -= int64(len(bufs[0]))
			bufs[0] = nil
			bufs = bufs[1:]
			continue
		}
		bufs[0] = bufs[0][n:]
		n = 0
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs[0] = nil
		bufs = bufs[1:]
	}
	return bufs
}

// withFD runs f with the descriptor of tc.
func withFD(tc *net.TCPConn, f func(fd int)) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { f(int(fd)) })
}
