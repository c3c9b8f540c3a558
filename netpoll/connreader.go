package netpoll

import (
	"github.com/ember-rpc/ember/codec"
)

// newConnReader returns the BufReader the NIO read loop decodes from: it
// reads through c.cr, under which an encryption layer can later be slid
// (EnableEncryption).
func (c *Client) newConnReader() *codec.BufReader {
	return codec.NewBufReader(c.cr, codec.DefaultReadBufferSize)
}
