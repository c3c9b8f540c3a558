package netpoll

import (
	"net"

	"github.com/ember-rpc/ember/codec"
)

func newConnReader(conn net.Conn) *codec.BufReader {
	return codec.NewBufReader(conn, codec.DefaultReadBufferSize)
}
