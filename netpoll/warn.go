package netpoll

import (
	"context"
	"log/slog"

	"github.com/ember-rpc/ember/internal/ratelog"
)

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
func (c *Client) warn(msg string, args ...any) { c.limited(slog.LevelWarn, msg, args...) }

// warnClosed logs the close of a peer that stopped reading (the write
// deadline) through the context's limiter keyed by the connection's full
// address, not its host: the event happens once per connection, and each
// slow consumer closed gets its line naming it and the key (issue #15),
// four non-readers from one host included. What bounds these lines is
// what it costs to cause one: a connection held unread for the whole
// connection timeout, under the connection limit.
func (c *Client) warnClosed(msg string, args ...any) {
	if c.ctx == nil || c.log == nil {
		return
	}
	if c.ctx.warn == nil {
		c.log.Warn(msg, args...)
		return
	}
	c.ctx.warn.Log(c.log, slog.LevelWarn, "conn\x00"+c.remote+"\x00"+msg, msg, args...)
}

// limited is warn at any level (a handler's panic, which a peer may
// provoke with every message, is logged at ERROR through the same limit).
func (c *Client) limited(level slog.Level, msg string, args ...any) {
	if c.ctx == nil || c.log == nil {
		return // a stand-in connection of a test
	}
	c.ctx.logPeer(c.log, level, c.remote, msg, args...)
}

// logPeer logs msg about the peer at remote through the context's
// limiter (see Client.warn).
func (c *Context) logPeer(log *slog.Logger, level slog.Level, remote, msg string, args ...any) {
	if c.warn == nil {
		log.Log(context.Background(), level, msg, args...) // a Context not made by NewContext
		return
	}
	c.warn.Log(log, level, ratelog.PeerKey(remote)+"\x00"+msg, msg, args...)
}
