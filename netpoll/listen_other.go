//go:build !linux

package netpoll

import (
	"net"
	"strconv"
)

// listen opens a TCP listener. Off Linux the backlog is the system's
// default (Go's net.Listen): spark.<module>.io.backLog applies on Linux
// only.
func listen(host string, port int, _ int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}
