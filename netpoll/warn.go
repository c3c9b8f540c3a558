package netpoll

import "github.com/ember-rpc/ember/internal/ratelog"

// warnKeys bounds the peers (times messages) a context's warning limiter
// tracks; past it new peers share one line per interval (ratelog).
const warnKeys = 4096

// warn logs a per-connection warning through the context's limiter: a
// peer that triggers the same warning over and over (a flood of bad
// frames, a stream of connections closed for the same reason) costs one
// line per minute, and the next line that passes carries "suppressed"=n.
// The key is the peer's host with the message, so different warnings
// about one peer, and one warning about different peers, each get their
// line.
func (c *Client) warn(msg string, args ...any) {
	if c.ctx == nil || c.ctx.warn == nil || c.log == nil {
		return // a stand-in connection of a test
	}
	c.ctx.warn.Warn(c.log, ratelog.PeerKey(c.remote)+"\x00"+msg, msg, args...)
}
