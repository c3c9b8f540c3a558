package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// CreateClientContext is CreateClient bounded by ctx: connecting, the TLS
// handshake and the client bootstraps (authentication) stop when ctx ends,
// and the error then wraps ctx's (errors.Is(err, context.DeadlineExceeded)
// or context.Canceled). The connection's own timeouts still apply.
func (f *ClientFactory) CreateClientContext(ctx context.Context, host string, port int) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.createClient(ctx, host, port, false)
}

// bootstrap runs the client bootstraps on c. A bootstrap has no context of
// its own, so ctx ending closes the connection, which fails the bootstrap's
// outstanding requests at once.
func (f *ClientFactory) bootstrap(ctx context.Context, c *Client) error {
	if len(f.bootstraps) == 0 {
		return nil
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	for _, b := range f.bootstraps {
		if err := b.DoBootstrap(&Setup{c}); err != nil {
			if cerr := context.Cause(ctx); cerr != nil {
				return fmt.Errorf("%w (%v)", cerr, err)
			}
			return err
		}
	}
	return ctx.Err()
}

// tlsHandshakeContext runs the TLS handshake within timeout (no limit when
// ≤0) and ctx.
func tlsHandshakeContext(ctx context.Context, conn *tls.Conn, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return conn.HandshakeContext(ctx)
}

// SendRpcSyncContext sends payload as an RpcRequest and waits for its
// answer until ctx ends. It is the recommended synchronous call; SendRpc
// with a callback is the asynchronous one.
//
// When ctx's deadline passes first the error is a *TimeoutError, which
// satisfies errors.Is(err, context.DeadlineExceeded); when ctx is
// cancelled it wraps context.Canceled. Either way the request is removed
// from the connection, and an answer that comes later is dropped. A
// failure of the connection or of the peer's handler comes back as a
// *ConnError or *RemoteError.
func (c *Client) SendRpcSyncContext(ctx context.Context, payload []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := waiterPool.Get().(*syncWaiter)
	start := time.Now()
	id := c.SendRpc(payload, w)
	select {
	case <-w.ch:
		return w.done()
	case <-ctx.Done():
		c.RemoveRpcRequest(id)
		select {
		case <-w.ch: // answered as ctx ended
			return w.done()
		default:
			// The answer may be on its way to w still: never reuse it.
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &TimeoutError{Op: fmt.Sprintf("RPC %d", id), Addr: c.remote, After: time.Since(start).Round(time.Millisecond)}
		}
		return nil, fmt.Errorf("netpoll: RPC %d to %s: %w", id, c.remote, context.Cause(ctx))
	}
}

// NewTLS makes the transport's TLS setting from Go's own configurations,
// for programs that do not keep Spark's PEM-file keys (LoadTLS reads
// those): server is used by Servers (nil: this process only connects) and
// client by ClientFactories (nil: a client that verifies peers against the
// system roots). The configurations are cloned. A client configuration
// without a ServerName verifies each peer's certificate against the host
// it connects to. Pass the result to WithTLS.
func NewTLS(server, client *tls.Config) *TLS {
	t := &TLS{MaxEncryptedBlock: 64 << 10, Verified: true}
	if server != nil {
		t.server = server.Clone()
	}
	if client != nil {
		t.client = client.Clone()
		t.Verified = !client.InsecureSkipVerify || client.VerifyPeerCertificate != nil
	} else {
		t.client = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.nameByHost = t.client.ServerName == "" && !t.client.InsecureSkipVerify
	return t
}

// clientConfigFor returns the client configuration for a connection to
// addr: with the peer's host as ServerName when the configuration needs
// one and has none (NewTLS's).
func (t *TLS) clientConfigFor(addr string) *tls.Config {
	if !t.nameByHost {
		return t.client
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := t.client.Clone()
	c.ServerName = host
	return c
}

// refuseHandler serves a Context made without a handler: every request
// fails, with a message saying so.
type refuseHandler struct{}

var errNoHandler = errors.New("netpoll: this endpoint serves no requests (its Context has no RpcHandler)")

func (refuseHandler) Receive(_ *Client, _ []byte, reply *Responder) { reply.Fail(errNoHandler) }
func (refuseHandler) ReceiveOneWay(*Client, []byte)                 {}
func (refuseHandler) StreamManager() StreamManager                  { return nil }
