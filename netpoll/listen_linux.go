package netpoll

import (
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listen opens a TCP listener with SO_REUSEADDR and, when backlog > 0, that
// listen backlog (Go's net.Listen always uses the system maximum).
func listen(host string, port int, backlog int) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if backlog <= 0 {
		return net.Listen("tcp", addr)
	}
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip4 := tcpAddr.IP.To4(); ip4 != nil || tcpAddr.IP == nil {
		a := &unix.SockaddrInet4{Port: tcpAddr.Port}
		if ip4 != nil {
			copy(a.Addr[:], ip4)
		}
		sa = a
	} else {
		family = unix.AF_INET6
		a := &unix.SockaddrInet6{Port: tcpAddr.Port}
		copy(a.Addr[:], tcpAddr.IP.To16())
		sa = a
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr, Err: os.NewSyscallError("bind", err)}
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	return net.FileListener(f)
}
