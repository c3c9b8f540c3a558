package netpoll

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// msgMore is the send flag that holds a segment back for the bytes that
// follow (see sock.wmore).
const msgMore = unix.MSG_MORE

// maxSendfileChunk bounds one sendfile call, like Go's own loop.
const maxSendfileChunk = 4 << 20

// sendFileNB is writevNB for a file region: sendfile(2), never waiting.
func (s *sock) sendFileNB(f *os.File, off, n int64) (int64, error) {
	s.sfIn, s.sfOff, s.sfLeft, s.sfN, s.sfErr = int(f.Fd()), off, n, 0, nil
	if s.sendFn == nil {
		s.sendFn = s.sendStep
	}
	err := s.rc.Write(s.sendFn)
	if err != nil {
		return s.sfN, err
	}
	return s.sfN, s.sfErr
}

func (s *sock) sendStep(fd uintptr) bool {
	for s.sfLeft > 0 {
		chunk := min(s.sfLeft, maxSendfileChunk)
		k, err := unix.Sendfile(int(fd), s.sfIn, &s.sfOff, int(chunk))
		if k > 0 {
			s.sfLeft -= int64(k)
			s.sfN += int64(k)
			s.progress.Store(nanotime())
		}
		switch {
		case err == unix.EAGAIN:
			if s.wblock && s.sfN == 0 {
				return false
			}
			s.sfErr = errWouldBlock
			return true
		case err == unix.EINTR:
		case err != nil:
			s.sfErr = os.NewSyscallError("sendfile", err)
			return true
		case k == 0:
			s.sfErr = io.ErrUnexpectedEOF // the file is shorter than the region
			return true
		}
	}
	return true
}

// sendFile sends a whole file region (the writer's slow path).
func (s *sock) sendFile(f *os.File, off, n int64) error {
	k, err := s.sendFileNB(f, off, n)
	if err != errWouldBlock {
		return err
	}
	off, n = off+k, n-k
	return s.blockingWrite(func() (int64, error) {
		k, err := s.sendFileNB(f, off, n)
		off, n = off+k, n-k
		return k, err
	})
}
