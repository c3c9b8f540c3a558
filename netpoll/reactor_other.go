//go:build !linux

package netpoll

import "errors"

// errNoEpoll refuses io mode EPOLL where there is no epoll.
var errNoEpoll = errors.New("netpoll: io mode EPOLL needs Linux's epoll; set spark.<module>.io.mode=NIO on this platform")

// epollAvailable: io mode EPOLL can be used here (it is Linux-only).
const epollAvailable = false

// reactor is the EPOLL engine, which exists on Linux only
// (reactor_linux.go); here every use is refused with errNoEpoll.
type reactor struct{}

type poller struct{}

type epollConn struct{}

func newReactor(int) (*reactor, error)  { return nil, errNoEpoll }
func (*reactor) register(*Client) error { return errNoEpoll }
func (*reactor) close()                 {}
func (*poller) forget(*Client)          {}
func (*poller) resume(*Client)          {}

// peerEnded is false: there are no EPOLL connections here.
func (c *Client) peerEnded() bool { return false }
