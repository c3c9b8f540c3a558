//go:build unix && !linux

package netpoll

import "os"

// msgMore is 0: off Linux a file region is copied by the writer, and
// frames are written with writev alone.
const msgMore = 0

// sendfileCopyChunk is the piece size of the portable file copy.
const sendfileCopyChunk = 256 << 10

// sendFileNB never writes off Linux: a file region always goes through
// the connection's writer goroutine (sendFile).
func (s *sock) sendFileNB(*os.File, int64, int64) (int64, error) { return 0, errWouldBlock }

// sendFile copies a file region to the socket in pieces (read, then
// write): the portable fallback for Linux's sendfile(2).
func (s *sock) sendFile(f *os.File, off, n int64) error {
	return copyFileChunks(f, off, n, sendfileCopyChunk, s.writev)
}
