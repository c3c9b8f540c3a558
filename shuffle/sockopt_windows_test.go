package shuffle

import "syscall"

// setSmallRcvBuf gives a socket a 4 KiB receive buffer.
func setSmallRcvBuf(fd uintptr) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}
