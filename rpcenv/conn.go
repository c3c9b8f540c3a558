package rpcenv

import "github.com/ember-rpc/ember/netpoll"

// Conn identifies the transport connection a remote message arrived over.
// Unlike a message's sender address, which the peer writes itself, a Conn
// cannot be forged: two messages have equal Conns exactly when they came
// over the same connection. The zero Conn is a local message's (no
// connection). Conns are comparable and may be map keys; holding one keeps
// only a small record of a closed connection alive.
//
// Endpoints get the Conn of a send through ConnReceiver, of an ask through
// ConnOf, and learn of its closing through ConnClosedHandler. It is the
// same for Ember and JVM peers.
type Conn struct{ c *netpoll.Client }

// IsZero reports whether c is the zero Conn (a local message).
func (c Conn) IsZero() bool { return c.c == nil }

// RemoteAddr is the socket address of the connection's other end, as the
// operating system reports it: for an accepted connection the peer's host
// and ephemeral port, for one this env dialled the address it dialled
// (resolved). Zero for the zero Conn.
func (c Conn) RemoteAddr() Address {
	if c.c == nil {
		return Address{}
	}
	return parseAddr(c.c.RemoteAddr())
}

// Outgoing reports whether this env dialled the connection (so its remote
// address is one this env chose to connect to).
func (c Conn) Outgoing() bool { return c.c != nil && c.c.Outgoing() }

// IsActive reports whether the connection is still open.
func (c Conn) IsActive() bool { return c.c != nil && c.c.IsActive() }

// String describes the connection for logs.
func (c Conn) String() string {
	if c.c == nil {
		return "local"
	}
	if c.c.Outgoing() {
		return "conn(to " + c.c.RemoteAddr() + ")"
	}
	return "conn(from " + c.c.RemoteAddr() + ")"
}

// ConnReceiver is an Endpoint that wants to know which connection each
// remote send arrived over: the inbox calls ReceiveOver instead of Receive
// (with the zero Conn for local sends).
type ConnReceiver interface {
	ReceiveOver(msg any, sender Address, conn Conn) error
}

// ConnClosedHandler is told when a connection that may have carried
// messages to the endpoint closes, after every message that arrived over
// it (each endpoint of the env is told of each connection).
type ConnClosedHandler interface{ OnConnClosed(conn Conn) }

// connCallContext is a CallContext that knows its ask's connection.
type connCallContext interface{ Conn() Conn }

// ConnOf returns the connection an ask arrived over: the zero Conn for a
// local ask (or a CallContext made elsewhere, as tests do).
func ConnOf(cc CallContext) Conn {
	if x, ok := cc.(connCallContext); ok {
		return x.Conn()
	}
	return Conn{}
}

// AddressUsedOver returns the address a listening peer named this env by
// in the first message it sent over c (the receiver address it wrote: the
// host:port it dialled, as it spells it). Replying with a ref at that
// address keeps the peer's later messages on the same connection, where a
// JVM peer would otherwise open another one for each spelling of this
// env's address. Zero when unknown (no message yet, or a client-mode peer).
func (e *Env) AddressUsedOver(c Conn) Address {
	if c.c == nil {
		return Address{}
	}
	h := e.handler
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.remoteAddrs[c.c.RemoteAddr()].used
}
