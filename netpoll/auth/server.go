package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth/digest"
	"go.uber.org/atomic"
)

// ErrUnauthenticated is the error of every request other than the
// handshake that arrives before authentication succeeds.
var ErrUnauthenticated = errors.New("unauthenticated request: the connection has not authenticated (spark.authenticate)")

// ErrAuthFailed is what a peer hears when its handshake fails; the reason
// stays in the server's log.
var ErrAuthFailed = errors.New("Authentication failed.")

// ServerBootstrap makes every accepted connection authenticate before any
// request reaches the real handler: Spark's AuthServerBootstrap (and its
// SASL fallback) as a netpoll.ServerBootstrap.
type ServerBootstrap struct {
	conf    *Conf
	secrets Secrets
	log     *slog.Logger
}

// NewServerBootstrap returns the bootstrap for conf. secrets may be nil for
// conf's single secret.
func NewServerBootstrap(conf *Conf, secrets Secrets, log *slog.Logger) (*ServerBootstrap, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	if !conf.Enabled {
		return nil, errors.New("auth: server bootstrap with spark.authenticate=false")
	}
	if secrets == nil {
		secrets = SingleSecret(conf.Secret)
	}
	if log == nil {
		log = slog.Default()
	}
	return &ServerBootstrap{conf: conf, secrets: secrets, log: log}, nil
}

// DoBootstrap implements netpoll.ServerBootstrap.
func (b *ServerBootstrap) DoBootstrap(s *netpoll.Setup, h netpoll.RpcHandler) netpoll.RpcHandler {
	g := &gate{b: b, s: s, c: s.Client(), next: h, sasl: !b.conf.CryptoEnabled}
	s.RequireAuthentication() // frames are capped until the handshake succeeds
	if t := b.conf.HandshakeTimeout; t > 0 {
		g.timer = time.AfterFunc(t, g.deadline)
	}
	return g
}

// gate is the handler of one connection until (and after) it
// authenticates.
type gate struct {
	b    *ServerBootstrap
	s    *netpoll.Setup // what only a bootstrap may do: authenticate, encrypt, close
	c    *netpoll.Client
	next netpoll.RpcHandler

	authed atomic.Bool
	timer  *time.Timer

	// Handshake state, touched only by Receive (the reading goroutine).
	sasl bool // the SASL protocol was chosen (configured, or fallback)
	dsrv *digest.Server
	// refusedOnce: one non-SASL first message was answered with a failure
	// without closing (the AuthEngine client's fallback).
	refusedOnce bool
}

func (g *gate) deadline() {
	if g.authed.Load() {
		return
	}
	g.b.log.Warn("closing connection: authentication did not finish in time",
		"remote", g.c.RemoteAddr(), "timeout", g.b.conf.HandshakeTimeout,
		"key", "spark.network.ember.authHandshakeTimeout")
	g.s.CloseAfterWrites(fmt.Errorf("auth: no authentication within %s", g.b.conf.HandshakeTimeout))
}

func (g *gate) stopTimer() {
	if g.timer != nil {
		g.timer.Stop()
	}
}

func (g *gate) Receive(c *netpoll.Client, msg []byte, reply *netpoll.Responder) {
	if g.authed.Load() {
		g.next.Receive(c, msg, reply)
		return
	}
	if !g.sasl {
		am, err := DecodeAuthMessage(msg)
		if err != nil {
			if errors.Is(err, ErrNotAuthMessage) && g.b.conf.SaslFallback {
				g.b.log.Debug("first auth message is not an AuthEngine challenge; falling back to SASL", "remote", c.RemoteAddr())
				g.sasl = true
			} else {
				g.fail(c, reply, fmt.Errorf("unknown challenge message: %w", err))
				return
			}
		} else {
			g.engine(c, am, reply)
			return
		}
	}
	g.saslStep(c, msg, reply)
}

// engine answers an AuthEngine challenge and switches on the session
// cipher (AES-CTR or AES-GCM).
func (g *gate) engine(c *netpoll.Client, ch *AuthMessage, reply *netpoll.Responder) {
	secret, ok := g.b.secrets.SecretKey(ch.AppID)
	if !ok {
		g.fail(c, reply, fmt.Errorf("trying to authenticate non-registered app %q", ch.AppID))
		return
	}
	e, err := NewEngine(ch.AppID, secret, g.b.conf.EngineVersion)
	if err != nil {
		g.fail(c, reply, err)
		return
	}
	resp, err := e.Respond(ch)
	if err != nil {
		g.fail(c, reply, err)
		return
	}
	seal, open, err := SessionLayer(g.b.conf.Cipher, e.Keys(), false)
	if err != nil {
		g.fail(c, reply, err)
		return
	}
	reply.Reply(resp.Encode())
	if err := g.s.EnableEncryption(seal, open); err != nil {
		g.fail(c, nil, err)
		return
	}
	g.succeed(c, ch.AppID, "AuthEngine")
}

// saslStep runs one DIGEST-MD5 step.
func (g *gate) saslStep(c *netpoll.Client, msg []byte, reply *netpoll.Responder) {
	sm, err := DecodeSaslMessage(msg)
	if err != nil {
		if errors.Is(err, ErrNotSaslMessage) && g.dsrv == nil && !g.refusedOnce {
			// Likely an AuthEngine client: like Spark, answer with a
			// failure but keep the connection, so it can fall back to SASL
			// (once; the handshake deadline still applies).
			g.refusedOnce = true
			g.b.log.Debug("first auth message is not a SASL message; refusing it", "remote", c.RemoteAddr())
			reply.Fail(ErrAuthFailed)
			return
		}
		g.fail(c, reply, err)
		return
	}
	if g.dsrv == nil {
		secret, ok := g.b.secrets.SecretKey(sm.AppID)
		if !ok {
			g.fail(c, reply, fmt.Errorf("trying to authenticate non-registered app %q", sm.AppID))
			return
		}
		// Spark sets the client id on the first SASL message.
		g.s.SetClientID(sm.AppID)
		password := saslPassword(secret)
		qops := []string{qopAuthConf, qopAuth}
		if g.b.conf.ServerAlwaysEncrypt {
			qops = []string{qopAuthConf}
		}
		g.dsrv = digest.NewServer("default", qops, func(string) (string, bool) { return password, true })
	}
	if sm.AppID != c.ClientID() {
		g.fail(c, reply, fmt.Errorf("SASL app id changed from %q to %q during the handshake", c.ClientID(), sm.AppID))
		return
	}
	out, err := g.dsrv.Evaluate(sm.Token)
	if err != nil {
		g.fail(c, reply, err)
		return
	}
	if !g.dsrv.Complete() {
		reply.Reply(out)
		return
	}
	if g.dsrv.QOP() == qopAuthConf {
		layer, err := g.dsrv.SecurityLayer()
		if err != nil {
			g.fail(c, reply, err)
			return
		}
		reply.Reply(out)
		seal, open := SaslLayer(layer, g.b.conf.MaxEncryptedBlock)
		if err := g.s.EnableEncryption(seal, open); err != nil {
			g.fail(c, nil, err)
			return
		}
		g.succeed(c, sm.AppID, "SASL auth-conf")
		return
	}
	reply.Reply(out)
	g.succeed(c, sm.AppID, "SASL")
}

func (g *gate) succeed(c *netpoll.Client, appID, how string) {
	g.s.SetClientID(appID)
	g.s.SetAuthenticated()
	g.authed.Store(true)
	g.stopTimer()
	g.b.log.Debug("connection authenticated", "remote", c.RemoteAddr(), "app", appID, "protocol", how)
}

// fail answers the handshake with a bare failure, logs the reason and
// closes the connection once the answer is out.
func (g *gate) fail(c *netpoll.Client, reply *netpoll.Responder, reason error) {
	g.b.log.Warn("authentication failed; closing connection", "remote", c.RemoteAddr(), "reason", reason)
	g.stopTimer()
	if reply != nil {
		reply.Fail(ErrAuthFailed)
	}
	g.s.CloseAfterWrites(fmt.Errorf("auth: %w", reason))
}

func (g *gate) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	if g.authed.Load() {
		g.next.ReceiveOneWay(c, msg)
		return
	}
	g.b.log.Warn("dropping one-way message from an unauthenticated connection", "remote", c.RemoteAddr(), "bytes", len(msg))
}

func (g *gate) StreamManager() netpoll.StreamManager {
	sm := g.next.StreamManager()
	if sm == nil {
		return nil
	}
	if g.authed.Load() {
		return sm
	}
	return gatedStreams{g: g, next: sm}
}

// gatedStreams refuses chunks and streams until the connection is
// authenticated (Spark leaves this to the stream manager's owner check;
// Ember closes the gap).
type gatedStreams struct {
	g    *gate
	next netpoll.StreamManager
}

func (s gatedStreams) GetChunk(streamID int64, chunkIndex int32) (codec.ManagedBuffer, error) {
	if !s.g.authed.Load() {
		return nil, ErrUnauthenticated
	}
	return s.next.GetChunk(streamID, chunkIndex)
}

func (s gatedStreams) OpenStream(streamID string) (codec.ManagedBuffer, error) {
	if !s.g.authed.Load() {
		return nil, ErrUnauthenticated
	}
	return s.next.OpenStream(streamID)
}

func (s gatedStreams) ConnectionTerminated(c *netpoll.Client) { s.next.ConnectionTerminated(c) }

// ReceiveStream implements netpoll.StreamReceiver.
func (g *gate) ReceiveStream(c *netpoll.Client, meta []byte) (netpoll.StreamSink, error) {
	if !g.authed.Load() {
		return nil, errors.New("unauthenticated call to receiveStream()")
	}
	recv, ok := g.next.(netpoll.StreamReceiver)
	if !ok {
		return nil, errors.New("this endpoint does not accept uploaded streams")
	}
	return recv.ReceiveStream(c, meta)
}

// ReceiveMergedBlockMeta implements netpoll.MergedBlockMetaHandler.
func (g *gate) ReceiveMergedBlockMeta(c *netpoll.Client, req netpoll.MergedBlockMetaRequest) (int32, codec.ManagedBuffer, error) {
	if !g.authed.Load() {
		return 0, nil, ErrUnauthenticated
	}
	h, ok := g.next.(netpoll.MergedBlockMetaHandler)
	if !ok {
		return 0, nil, errors.New("merged block meta requests are not supported here")
	}
	return h.ReceiveMergedBlockMeta(c, req)
}

// ChannelActive implements netpoll.ChannelObserver.
func (g *gate) ChannelActive(c *netpoll.Client) {
	if obs, ok := g.next.(netpoll.ChannelObserver); ok {
		obs.ChannelActive(c)
	}
}

// ChannelInactive implements netpoll.ChannelObserver.
func (g *gate) ChannelInactive(c *netpoll.Client) {
	g.stopTimer()
	if obs, ok := g.next.(netpoll.ChannelObserver); ok {
		obs.ChannelInactive(c)
	}
}

// ExceptionCaught implements netpoll.ChannelObserver.
func (g *gate) ExceptionCaught(err error, c *netpoll.Client) {
	if g.authed.Load() && c.Encrypted() {
		g.b.log.Warn("closing encrypted connection on error (if its frames are malformed, the peer may use "+
			"another spark.network.crypto.authEngineVersion, or the bytes were tampered with)",
			"remote", c.RemoteAddr(), "err", err)
	}
	if obs, ok := g.next.(netpoll.ChannelObserver); ok {
		obs.ExceptionCaught(err, c)
	}
}

// Unwrap returns the handler behind the gate.
func (g *gate) Unwrap() netpoll.RpcHandler { return g.next }
