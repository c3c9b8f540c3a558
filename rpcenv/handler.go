package rpcenv

import (
	"errors"
	"fmt"
	"github.com/ember-rpc/ember/internal/ratelog"
	"sync"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
)

// peerAddrs are a listening peer's addresses as its connection's first
// message gives them: where it listens, and how it named this env.
type peerAddrs struct{ listen, used Address }

// rpcHandler is the transport handler of an env (Spark's NettyRpcHandler):
// it decodes RequestMessages, posts them to the dispatcher, and turns
// connection events into OnConnected / OnDisconnected / OnNetworkError for
// every endpoint, for both the socket address and the remote env's
// listening address.
type rpcHandler struct {
	env *Env

	mu sync.Mutex // guards remoteAddrs and dialled
	// remoteAddrs is, per connection from a listening env, the address
	// it listens on and the one its first message named this env by
	// (AddressUsedOver).
	remoteAddrs map[string]peerAddrs
	// dialled holds the connections this env opened that were announced
	// with RemoteProcessConnected (see outboundActive).
	dialled map[*netpoll.Client]struct{}
}

func (h *rpcHandler) StreamManager() netpoll.StreamManager { return h.env.files }

// Receive handles an ask.
func (h *rpcHandler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	req, err := h.decode(c, msg)
	if err != nil {
		if errors.Is(err, ErrJavaContent) {
			h.env.logJavaErrOnce(err, c.RemoteAddr())
		}
		r.Fail(err)
		return
	}
	cc := &remoteCallContext{env: h.env, r: r, sender: req.sender, java: req.java, conn: c}
	if err := h.env.post(req.receiver.Name, inboxMsg{kind: kindRPC, sender: req.sender, content: req.content, cc: cc}); err != nil {
		r.Fail(err) // a transport-level RpcFailure, as Spark sends for dispatcher errors
	}
}

// ReceiveOneWay handles a send.
func (h *rpcHandler) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	req, err := h.decode(c, msg)
	if err != nil {
		if errors.Is(err, ErrJavaContent) {
			h.env.logJavaErrOnce(err, c.RemoteAddr())
			return
		}
		h.env.warnPeer(c.RemoteAddr(), "dropping undecodable one-way message", "remote", c.RemoteAddr(), "err", err)
		return
	}
	if err := h.env.post(req.receiver.Name, inboxMsg{kind: kindOneWay, sender: req.sender, content: req.content, conn: c}); err != nil {
		h.env.warnPeer(c.RemoteAddr(), "dropping one-way message", "to", req.receiver.Name, "remote", c.RemoteAddr(), "err", err)
	}
}

// decode reads a RequestMessage; a message from a client-mode env (no
// sender) gets the socket's address as its sender, and the first message
// from a listening env announces its address to every endpoint.
func (h *rpcHandler) decode(c *netpoll.Client, msg []byte) (requestMessage, error) {
	req, rest, err := decodeRequestHeader(msg)
	if err != nil {
		return req, err
	}
	if isJavaContent(rest) {
		// A JVM peer: refs in the content are bound as they are read.
		if req.content, err = h.env.decodeJava(rest, c); err != nil {
			return req, err
		}
		req.java = true
	} else {
		content, hasRefs, err := decodeContent(rest)
		if err != nil {
			return req, err
		}
		if hasRefs {
			h.env.bindRefs(refValue(content), c)
		}
		req.content = content
	}
	clientKey := c.RemoteAddr()
	if req.sender.IsZero() {
		req.sender = parseAddr(clientKey)
		return req, nil
	}
	h.mu.Lock()
	_, seen := h.remoteAddrs[clientKey]
	if !seen {
		h.remoteAddrs[clientKey] = peerAddrs{listen: req.sender, used: req.receiver.Addr}
	}
	h.mu.Unlock()
	if !seen {
		h.env.postToAll(inboxMsg{kind: kindConnected, sender: req.sender})
	}
	return req, nil
}

// ChannelActive posts RemoteProcessConnected for the socket address.
func (h *rpcHandler) ChannelActive(c *netpoll.Client) {
	h.env.postToAll(inboxMsg{kind: kindConnected, sender: parseAddr(c.RemoteAddr())})
}

// outboundActive is ChannelActive for a connection this env dialled: the
// transport calls ChannelActive only on the accepting side, while in Spark
// the client's channel runs the same handler (RpcEnvSuite "network events
// in client RpcEnv"). Each connection is announced once, and never after
// ChannelInactive: posting under h.mu, which ChannelInactive takes before
// its own events, keeps Connected before Disconnected.
func (h *rpcHandler) outboundActive(c *netpoll.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, done := h.dialled[c]; done || !c.IsActive() {
		return
	}
	if h.dialled == nil {
		h.dialled = make(map[*netpoll.Client]struct{})
	}
	h.dialled[c] = struct{}{}
	h.env.postToAll(inboxMsg{kind: kindConnected, sender: parseAddr(c.RemoteAddr())})
}

// ChannelInactive removes the outbox of the address and posts
// RemoteProcessDisconnected for the socket address and, if known, the
// remote env's listening address.
func (h *rpcHandler) ChannelInactive(c *netpoll.Client) {
	addr := parseAddr(c.RemoteAddr())
	h.mu.Lock()
	if _, known := h.dialled[c]; c.Outgoing() && !known {
		// A dialled connection that never reached its outbox (its
		// authentication failed, say): the connecting outbox reports
		// that failure itself.
		h.mu.Unlock()
		return
	}
	delete(h.dialled, c)
	pa, ok := h.remoteAddrs[c.RemoteAddr()]
	listen := pa.listen
	delete(h.remoteAddrs, c.RemoteAddr())
	h.mu.Unlock()
	h.env.removeOutbox(addr, nil)
	h.env.postToAll(inboxMsg{kind: kindDisconnected, sender: addr})
	if ok {
		h.env.removeOutbox(listen, nil)
		h.env.postToAll(inboxMsg{kind: kindDisconnected, sender: listen})
	}
	h.env.postToAll(inboxMsg{kind: kindConnClosed, sender: addr, conn: c})
}

// ExceptionCaught posts RemoteProcessConnectionError for both addresses.
func (h *rpcHandler) ExceptionCaught(err error, c *netpoll.Client) {
	h.env.postToAll(inboxMsg{kind: kindNetworkError, sender: parseAddr(c.RemoteAddr()), err: err})
	h.mu.Lock()
	pa, ok := h.remoteAddrs[c.RemoteAddr()]
	h.mu.Unlock()
	if ok {
		h.env.postToAll(inboxMsg{kind: kindNetworkError, sender: pa.listen, err: err})
	}
}

// remoteCallContext answers a remote ask with an RpcResponse: the reply's
// encoding, or a remoteFailure value for endpoint failures.
type remoteCallContext struct {
	env    *Env
	r      *netpoll.Responder
	sender Address
	java   bool // the ask was Java: so is the reply
	conn   *netpoll.Client
}

func (cc *remoteCallContext) Reply(v any) {
	mb := codec.GetPooledBytes()
	bb := mb.Buf()
	var err error
	if cc.java {
		bb.B, err = cc.env.appendJavaContent(bb.B, v)
	} else {
		err = appendContentTo(&bb.B, v)
	}
	if err != nil {
		mb.Release()
		cc.SendFailure(fmt.Errorf("rpcenv: cannot encode reply: %w", err))
		return
	}
	cc.r.ReplyBuffer(mb)
}

func (cc *remoteCallContext) SendFailure(err error) {
	if cc.java {
		// A JVM asker gets the transport's RpcFailure (a string): Ember
		// never writes a Throwable.
		if err == nil {
			err = errors.New("unknown error")
		}
		cc.r.Fail(err)
		return
	}
	mb := codec.GetPooledBytes()
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	_ = appendContentTo(&mb.Buf().B, remoteFailure{Message: msg})
	cc.r.ReplyBuffer(mb)
}

func (cc *remoteCallContext) SenderAddress() Address { return cc.sender }

// Conn is the connection the ask arrived over (ConnOf).
func (cc *remoteCallContext) Conn() Conn { return Conn{cc.conn} }

// warnPeer logs a per-peer warning through the env's limiter (e.warnings,
// under its own key): a peer repeating the same
// bad message costs one line per minute, with a count of the rest.
func (e *Env) warnPeer(remote, msg string, args ...any) {
	e.warnings.Warn(e.log, ratelog.PeerKey(remote)+"\x00"+msg, msg, args...)
}
