package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/ratelog"
	"go.uber.org/atomic"
)

// ProtectedModeKey turns Ember's protected mode off for a daemon that runs
// without spark.authenticate: with it true (the default) a master, worker
// or shuffle service serves only peers on its own host.
const ProtectedModeKey = "spark.ember.protectedMode"

// Admission is Ember's protected mode, a server bootstrap that decides per
// accepted connection whether its peer is served (Redis's protected mode
// is the model). A daemon that runs without spark.authenticate passes it
// to NewServer, first of its bootstraps.
//
// A local peer is served as if the admission were absent: one whose IP is
// a loopback address, or one that connected from the very address it
// dialled (a process on this host that used the host's own address, as an
// executor does to reach its worker; a remote host cannot complete a TCP
// handshake from an address of ours).
//
// Any other peer is refused, but not silently: its first request is
// answered with a failure of its kind (RpcFailure for an RPC or an upload,
// ChunkFetchFailure for a chunk, StreamFailure for a stream) whose text
// names the daemon, its address, and exactly which keys to set; then the
// connection is closed once that answer is written. A one-way message has
// no request to answer: it gets an RpcFailure that matches no request,
// which Spark's and Ember's clients log with its text. Until then the
// connection reads under the pre-authentication frame cap
// (spark.<module>.io.ember.preAuthMaxFrameLength), so a refused peer
// cannot make the daemon hold a large frame, and it never reaches the
// daemon's handler; a refused peer that sends nothing is closed after 10
// seconds. One WARN line per peer host per minute, with the count
// of refusals it held back, records the refusals.
//
// An Admission is safe for concurrent use by every server it is given to.
type Admission struct {
	daemon  string
	log     *slog.Logger
	warn    *ratelog.Limiter
	refused atomic.Int64
	// local decides whether a peer is served (tests replace it to play a
	// remote peer over loopback).
	local func(remote, local netip.Addr) bool
	// linger is how long a refused peer that sends nothing is kept.
	linger time.Duration
}

// refusedLinger is how long a refused connection may stay silent before
// it is closed without an answer.
const refusedLinger = 10 * time.Second

// NewProtectedMode returns the admission of a daemon ("master", "worker",
// "shuffle service": the name the refusal text and the log line use).
// log may be nil (slog.Default()).
func NewProtectedMode(daemon string, log *slog.Logger) *Admission {
	if log == nil {
		log = slog.Default()
	}
	return &Admission{daemon: daemon, log: log, warn: ratelog.New(time.Minute, 1024), local: IsLocalPeer, linger: refusedLinger}
}

// Refused returns how many connections the admission has refused.
func (a *Admission) Refused() int64 { return a.refused.Load() }

// IsLocalPeer reports whether a connection from remote to local comes
// from this host, by protected mode's rule: a loopback peer, or one whose
// source is the address it connected to (a remote host cannot fake our
// own address in a TCP handshake). The web UI and REST server use it too.
func IsLocalPeer(remote, local netip.Addr) bool {
	remote, local = remote.Unmap(), local.Unmap()
	if remote.IsLoopback() {
		return true
	}
	return remote.IsValid() && remote == local
}

// addrIP returns the IP of a TCP address (invalid when there is none).
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// RefusalText is the text a peer refused by protected mode gets: the
// daemon, its address and the keys that serve the peer.
func RefusalText(daemon, addr string) string {
	return fmt.Sprintf("Ember %s at %s is in protected mode: spark.authenticate is off, so only loopback peers are served; "+
		"set spark.authenticate=true and a shared secret (spark.authenticate.secret or spark.authenticate.secret.file), "+
		"or %s=false to serve unauthenticated peers", daemon, addr, ProtectedModeKey)
}

// DoBootstrap implements ServerBootstrap: a local peer keeps h, any other
// gets the refusing handler.
func (a *Admission) DoBootstrap(s *Setup, h RpcHandler) RpcHandler {
	c := s.c
	var remote, local netip.Addr
	var localText string
	if c.raw != nil {
		remote, local = addrIP(c.raw.remoteAddr()), addrIP(c.raw.localAddr())
		if la := c.raw.localAddr(); la != nil {
			localText = la.String()
		}
	}
	if a.local(remote, local) {
		return h
	}
	c.preAuth.Store(true) // the pre-auth frame cap, for good
	n := a.refused.Inc()
	if ok, suppressed := a.warn.Allow(ratelog.PeerKey(c.remote)); ok {
		a.log.Warn("protected mode: refusing a peer that is not on this host (spark.authenticate is off)",
			"daemon", a.daemon, "remote", c.remote, "keys", "spark.authenticate=true with spark.authenticate.secret or spark.authenticate.secret.file, or "+ProtectedModeKey+"=false",
			"suppressed", suppressed, "refusedSoFar", n)
	}
	r := &refusedHandler{c: c, err: errors.New(RefusalText(a.daemon, localText))}
	// A refused peer that sends nothing is not kept for the whole
	// connection timeout. The timer stops when the peer is answered or
	// the connection ends, so a peer that connects and closes in a loop
	// leaves no timer (and no Client) behind for the linger.
	r.timer.Store(time.AfterFunc(a.linger, func() { r.refuse(nil) }))
	return r
}

// refusedHandler answers the first request of a refused peer with the
// refusal and closes the connection. Every method may run on any
// goroutine of the connection; done makes the first answer the only one.
type refusedHandler struct {
	c     *Client
	err   error
	done  atomic.Bool
	timer atomic.Pointer[time.Timer] // the silent peer's linger
}

// stopTimer stops the linger timer (set just after the handler is made).
func (r *refusedHandler) stopTimer() {
	if t := r.timer.Load(); t != nil {
		t.Stop()
	}
}

// refuse queues m (when not nil and first) and then the close.
func (r *refusedHandler) refuse(m *codec.Message) {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	r.stopTimer()
	if m != nil {
		r.c.answer(m, nil, nil, false)
	}
	r.c.bounds.stop.Store(true) // read nothing more from this peer
	r.c.closeAfterWrites(&ConnError{Op: "admit", Addr: r.c.remote, Err: r.err})
}

// Receive answers an RPC with the refusal.
func (r *refusedHandler) Receive(c *Client, msg []byte, reply *Responder) {
	if r.done.Load() {
		return
	}
	reply.Fail(r.err)
	r.refuse(nil)
}

// ReceiveOneWay answers a one-way message, which has no request id, with
// an RpcFailure for request -1 (an id no client uses): it matches nothing,
// but both Spark's client and Ember's log an unmatched failure with its
// text, so the refused peer's log says what to set (a worker registers with
// a one-way message).
func (r *refusedHandler) ReceiveOneWay(c *Client, msg []byte) {
	r.refuse(&codec.Message{Type: codec.TypeRpcFailure, RequestID: unmatchedRequestID, Error: r.err.Error()})
}

// unmatchedRequestID is the request id of the refusal of a one-way
// message: Ember's ids are non-negative, Spark's are the absolute value of
// a random long (never -1).
const unmatchedRequestID = -1

// StreamManager refuses chunks and streams.
func (r *refusedHandler) StreamManager() StreamManager { return (*refusedStreams)(r) }

// ReceiveStream refuses an upload (the transport answers it with an
// RpcFailure carrying the refusal and closes the connection).
func (r *refusedHandler) ReceiveStream(c *Client, meta []byte) (StreamSink, error) {
	r.done.Store(true)
	return nil, r.err
}

// ReceiveMergedBlockMeta refuses a merged-block-meta request.
func (r *refusedHandler) ReceiveMergedBlockMeta(c *Client, req MergedBlockMetaRequest) (int32, codec.ManagedBuffer, error) {
	r.refuse(&codec.Message{Type: codec.TypeRpcFailure, RequestID: req.RequestID, Error: r.err.Error()})
	return 0, nil, r.err
}

// refusedStreams is the refusing handler's stream manager. The refusal is
// queued here, before the transport queues its own failure for the same
// request, which then finds the connection closing and is dropped.
type refusedStreams refusedHandler

func (s *refusedStreams) GetChunk(streamID int64, chunkIndex int32) (codec.ManagedBuffer, error) {
	r := (*refusedHandler)(s)
	r.refuse(&codec.Message{Type: codec.TypeChunkFetchFailure,
		Chunk: codec.StreamChunkID{StreamID: streamID, ChunkIndex: chunkIndex}, Error: r.err.Error()})
	return nil, r.err
}

func (s *refusedStreams) OpenStream(streamID string) (codec.ManagedBuffer, error) {
	r := (*refusedHandler)(s)
	r.refuse(&codec.Message{Type: codec.TypeStreamFailure, Stream: streamID, Error: r.err.Error()})
	return nil, r.err
}

func (s *refusedStreams) ConnectionTerminated(*Client) { (*refusedHandler)(s).stopTimer() }
