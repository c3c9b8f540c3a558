package netpoll

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"go.uber.org/atomic"
)

// ClientFactory makes and pools client connections (Spark's
// TransportClientFactory): NumConnectionsPerPeer slots per unresolved
// host:port, a lock per slot, reuse while active, replace when not.
type ClientFactory struct {
	ctx        *Context
	bootstraps []ClientBootstrap

	mu     sync.Mutex // guards pools and closed
	pools  map[string]*clientPool
	closed bool
}

type clientPool struct {
	slots    []poolSlot
	lastFail atomic.Int64 // nanotime of the last failed connect, 0 if none
}

type poolSlot struct {
	mu     sync.Mutex // serializes connecting this slot
	client atomic.Pointer[Client]
}

// NewClientFactory returns a factory whose new connections run bootstraps
// (in order) before they are handed out.
func (c *Context) NewClientFactory(bootstraps ...ClientBootstrap) *ClientFactory {
	return &ClientFactory{ctx: c, bootstraps: bootstraps, pools: make(map[string]*clientPool)}
}

// CreateClient returns an active pooled client for host:port, connecting if
// the chosen slot has none.
//
// CreateClientContext is the same with a context.
func (f *ClientFactory) CreateClient(host string, port int) (*Client, error) {
	return f.createClient(context.Background(), host, port, false)
}

// CreateClientFastFail is CreateClient, but fails at once if the last
// connect to this peer failed less than 95% of retryWait ago.
func (f *ClientFactory) CreateClientFastFail(host string, port int) (*Client, error) {
	return f.createClient(context.Background(), host, port, true)
}

func (f *ClientFactory) createClient(ctx context.Context, host string, port int, fastFail bool) (*Client, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if err := f.ctx.confErr; err != nil {
		return nil, &ConnError{Op: "connect", Addr: addr, Err: err}
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, &ConnError{Op: "connect", Addr: addr, Err: ErrFactoryClosed}
	}
	pool := f.pools[addr]
	if pool == nil {
		pool = &clientPool{slots: make([]poolSlot, f.ctx.conf.NumConnectionsPerPeer)}
		f.pools[addr] = pool
	}
	f.mu.Unlock()

	slot := &pool.slots[rand.IntN(len(pool.slots))]
	if c := slot.client.Load(); c != nil && c.IsActive() {
		c.lastReq.Store(nanotime()) // a reused client must not time out at once
		return c, nil
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if c := slot.client.Load(); c != nil && c.IsActive() {
		c.lastReq.Store(nanotime())
		return c, nil
	}
	if fastFail {
		window := time.Duration(float64(f.ctx.conf.RetryWait) * 0.95)
		if last := pool.lastFail.Load(); last != 0 && time.Duration(nanotime()-last) < window {
			return nil, &ConnError{Op: "connect", Addr: addr, Err: ErrFastFail}
		}
	}
	c, err := f.connect(ctx, addr)
	if err != nil {
		pool.lastFail.Store(nanotime())
		return nil, err
	}
	pool.lastFail.Store(0)
	slot.client.Store(c)
	// A factory closed while we connected must not leak the connection.
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		c.closeWait()
		return nil, &ConnError{Op: "connect", Addr: addr, Err: ErrFactoryClosed}
	}
	return c, nil
}

// CreateUnmanagedClient connects a client that is not pooled: the caller
// closes it.
func (f *ClientFactory) CreateUnmanagedClient(host string, port int) (*Client, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if closed {
		return nil, &ConnError{Op: "connect", Addr: addr, Err: ErrFactoryClosed}
	}
	if err := f.ctx.confErr; err != nil {
		return nil, &ConnError{Op: "connect", Addr: addr, Err: err}
	}
	return f.connect(context.Background(), addr)
}

// connect dials addr, starts reading, and runs the bootstraps. ctx bounds
// the whole of it, with the connection creation timeout for the dial and
// the connection timeout for the TLS handshake.
func (f *ClientFactory) connect(ctx context.Context, addr string) (*Client, error) {
	conf := &f.ctx.conf
	timeout := conf.ConnectionCreationTimeout
	if timeout < 0 {
		timeout = 0 // no limit; a negative net.Dialer timeout would fail at once
	}
	start := time.Now()
	var c *Client
	mode := conf.Mode
	if f.ctx.tls != nil {
		mode = NIO // netpoll has no TLS: TLS connections use Go's poller
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &ConnError{Op: "connect", Addr: addr, Err: err}
	}
	tc := conn.(*net.TCPConn)
	var raw rawConn
	if t := f.ctx.tls; t != nil {
		_ = withFD(tc, func(fd int) { setSockopts(fd, conf, true) })
		layer := &layerConn{TCPConn: tc}
		tconn := tls.Client(layer, t.clientConfigFor(addr))
		if err := tlsHandshakeContext(ctx, tconn, conf.ConnectionTimeout); err != nil {
			tc.Close()
			return nil, &ConnError{Op: "tls handshake", Addr: addr, Err: err}
		}
		raw = newTLSConn(tconn, layer, t.MaxEncryptedBlock, conf.ConnectionTimeout)
	} else {
		sk, err := newSock(tc)
		if err != nil {
			tc.Close()
			return nil, &ConnError{Op: "connect", Addr: addr, Err: err}
		}
		_ = sk.control(func(fd uintptr) { setSockopts(int(fd), conf, true) })
		raw = sk
	}
	c = newClient(f.ctx, raw, f.ctx.handler, nil)
	if raw.nonBlocking() && mode == EPOLL {
		if err := f.ctx.startReading(c, nil); err != nil {
			c.closeWait()
			return nil, &ConnError{Op: "connect", Addr: addr, Err: err}
		}
	} else {
		f.ctx.closeWg.Add(1)
		go func() {
			defer f.ctx.closeWg.Done()
			c.readLoopNIO()
		}()
	}
	if !f.ctx.track(c) {
		c.closeWait()
		return nil, &ConnError{Op: "connect", Addr: addr, Err: ErrFactoryClosed}
	}
	if err := f.bootstrap(ctx, c); err != nil {
		c.closeWait()
		return nil, &ConnError{Op: "bootstrap", Addr: addr, Err: err}
	}
	f.ctx.log.Debug("connection created", "remote", addr, "took", time.Since(start))
	return c, nil
}

// Close closes every pooled client and refuses new ones.
func (f *ClientFactory) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	pools := f.pools
	f.pools = make(map[string]*clientPool)
	f.mu.Unlock()
	for _, p := range pools {
		for i := range p.slots {
			if c := p.slots[i].client.Swap(nil); c != nil {
				c.closeWait()
			}
		}
	}
	return nil
}

// String describes the factory for logs.
func (f *ClientFactory) String() string { return fmt.Sprintf("ClientFactory(%s)", f.ctx.conf.Module) }
