package netpoll

import (
	"crypto/tls"
	"errors"
	"fmt"
	"go.uber.org/atomic"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Server accepts connections and serves them with the context's handler
// (Spark's TransportServer). An accept goroutine plays Netty's boss loop in
// both modes; in EPOLL mode the accepted connections run on
// cloudwego/netpoll's pollers (the worker loops), in NIO mode each has a
// reading goroutine on Go's runtime poller.
type Server struct {
	ctx        *Context
	bootstraps []ServerBootstrap
	ln         net.Listener
	port       int

	mu      sync.Mutex // guards clients and closed
	clients map[*Client]struct{}
	closed  bool
	wg      sync.WaitGroup // the accept loop and (NIO) the readers

	pending        atomic.Int64 // connections in their TLS handshake
	refused        atomic.Int64 // closed at the connection limit
	lastRefusalLog atomic.Int64
}

// NewServer listens on host:port (port 0 picks a free port) and serves
// every accepted connection. Server bootstraps wrap the handler of each
// connection in order.
func (c *Context) NewServer(host string, port int, bootstraps ...ServerBootstrap) (*Server, error) {
	if c.confErr != nil {
		return nil, c.confErr
	}
	ln, err := listen(host, port, c.conf.BackLog)
	if err != nil {
		return nil, err
	}
	s := &Server{ctx: c, bootstraps: bootstraps, ln: ln, clients: make(map[*Client]struct{}),
		port: ln.Addr().(*net.TCPAddr).Port}
	// One accept goroutine is the boss in both modes. In EPOLL mode it hands
	// each connection to cloudwego/netpoll's pollers (the worker loops); we
	// do not use netpoll's listener, whose Close closes its fd number twice
	// (syscall.Close, then os.File.Close of the same fd) and so can close a
	// descriptor another goroutine has just opened.
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Port returns the port the server is bound to.
func (s *Server) Port() int { return s.port }

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// accept sets up the Client of a new connection. It returns nil if the
// server is closing.
func (s *Server) accept(raw rawConn, fd int) *Client {
	setSockopts(fd, &s.ctx.conf, s.ctx.conf.EnableTCPKeepAlive)
	c := newClient(s.ctx, raw, s.ctx.handler, s)
	for _, b := range s.bootstraps {
		c.handler = b.DoBootstrap(&Setup{c}, c.handler)
	}
	s.mu.Lock()
	if s.closed || !s.ctx.track(c) {
		s.mu.Unlock()
		c.shutdown(&ConnError{Op: "accept", Addr: c.remote, Err: ErrServerClosed})
		return nil
	}
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	if obs, ok := c.handler.(ChannelObserver); ok {
		safely(c.log, "ChannelActive", func() { obs.ChannelActive(c) })
	}
	return c
}

// full reports whether the server holds spark.<module>.io.ember.maxConnections
// connections; it logs at most once a second while refusing.
func (s *Server) full() bool {
	lim := s.ctx.conf.MaxConnections
	if lim <= 0 {
		return false
	}
	s.mu.Lock()
	n := len(s.clients) + int(s.pending.Load())
	s.mu.Unlock()
	if n < lim {
		return false
	}
	s.refused.Inc()
	if now, last := nanotime(), s.lastRefusalLog.Load(); last == 0 || now-last > int64(time.Second) {
		s.lastRefusalLog.Store(now)
		s.ctx.log.Warn("refusing connections: at the connection limit",
			"limit", lim, "key", s.ctx.conf.Key("ember.maxConnections"), "refusedSoFar", s.refused.Load())
	}
	return true
}

// NumConnections returns the number of connections the server holds.
func (s *Server) NumConnections() int { return s.numClients() }

func (s *Server) numClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Refused returns how many connections were closed at accept because the
// server was at its connection limit.
func (s *Server) Refused() int64 { return s.refused.Load() }

func (s *Server) forget(c *Client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// ---- NIO ----

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off, keep serving.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.ctx.log.Warn("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		tc := conn.(*net.TCPConn)
		if s.full() {
			tc.Close()
			continue
		}
		if s.ctx.tls != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveTLS(tc)
			}()
			continue
		}
		s.serve(tc)
	}
}

// serve sets up an accepted plain TCP connection and starts reading it:
// on the reactor (EPOLL) or on a reading goroutine (NIO).
func (s *Server) serve(tc *net.TCPConn) {
	sk, err := newSock(tc)
	if err != nil {
		tc.Close()
		return
	}
	fd := -1
	_ = sk.control(func(f uintptr) { fd = int(f) })
	c := s.accept(sk, fd)
	if c == nil {
		return
	}
	s.ctx.startReading(c, &s.wg)
}

// serveTLS runs the TLS handshake of an accepted connection (within the
// connection timeout, so a silent peer cannot hold it open), then serves it
// like an NIO connection.
func (s *Server) serveTLS(tc *net.TCPConn) {
	s.pending.Inc()
	accepted := false
	defer func() {
		if !accepted {
			s.pending.Dec()
		}
	}()
	cfg := s.ctx.tls.server
	if cfg == nil {
		s.ctx.log.Error("TLS is on but this process has no key (spark.ssl.rpc.privateKey / certChain); closing connection", "remote", tc.RemoteAddr())
		tc.Close()
		return
	}
	layer := &layerConn{TCPConn: tc}
	conn := tls.Server(layer, cfg)
	if err := tlsHandshake(conn, s.ctx.conf.ConnectionTimeout); err != nil {
		s.ctx.logPeer(s.ctx.log, slog.LevelWarn, tc.RemoteAddr().String(), "TLS handshake failed; closing connection", "remote", tc.RemoteAddr(), "err", err)
		tc.Close()
		return
	}
	raw := newTLSConn(conn, layer, s.ctx.tls.MaxEncryptedBlock, s.ctx.conf.ConnectionTimeout)
	fd := -1
	if rc, err := tc.SyscallConn(); err == nil {
		_ = rc.Control(func(f uintptr) { fd = int(f) })
	}
	c := s.accept(raw, fd)
	s.pending.Dec()
	accepted = true
	if c == nil {
		return
	}
	c.readLoopNIO()
}

// Close stops accepting, closes every connection the server accepted and
// waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()

	err := s.ln.Close()
	for _, c := range clients {
		c.closeWait()
	}
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("netpoll: closing server: %w", err)
	}
	return nil
}
