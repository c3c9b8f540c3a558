//go:build unix

package shuffle

import "syscall"

// setSmallRcvBuf gives a socket a 4 KiB receive buffer.
func setSmallRcvBuf(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}
