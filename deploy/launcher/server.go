package launcher

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// ErrServerClosed is returned when a closed server is asked for a handle.
var ErrServerClosed = errors.New("launcher: server closed")

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Config holds launcher settings (ConfChildConnectionTimeout) for this
	// server; keys absent here are read from the process-wide SetConfig
	// values, then defaulted.
	Config map[string]string
	// Logger receives the server's log; nil means slog.Default().
	Logger *slog.Logger
}

// Server is Spark's LauncherServer: it listens on 127.0.0.1 on an
// ephemeral port, hands out a secret per Handle and binds each backend
// connection that says Hello with a pending secret to its handle.
//
// A Server is reference counted: each live Handle holds one reference (and
// NewServer's caller holds one). When the count reaches zero the server
// shuts down; the process-wide shared server is then replaced by a new one
// on the next AcquireServer / NewHandle.
type Server struct {
	ln     *net.TCPListener
	port   int
	config map[string]string
	log    *slog.Logger

	mu      sync.Mutex
	refs    int
	closed  bool
	pending map[string]*Handle
	conns   map[*serverConn]struct{}
	live    int // goroutines still running (accept loop, readers)
	done    chan struct{}

	syncToken string
}

var shared struct {
	sync.Mutex
	srv *Server
}

// NewServer starts a server that is not the shared one. The caller holds
// one reference, given back with Release (or Close).
func NewServer(opts ServerOptions) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg := make(map[string]string, len(opts.Config))
	for k, v := range opts.Config {
		cfg[k] = v
	}
	token, err := newSecret()
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0})
	if err != nil {
		return nil, fmt.Errorf("launcher: listen: %w", err)
	}
	s := &Server{
		ln:      ln,
		port:    ln.Addr().(*net.TCPAddr).Port,
		config:  cfg,
		log:     log.With("component", "launcher-server"),
		refs:    1,
		pending: make(map[string]*Handle),
		conns:   make(map[*serverConn]struct{}),
		live:    1,
		done:    make(chan struct{}),

		syncToken: token,
	}
	go s.acceptLoop()
	return s, nil
}

// AcquireServer returns the process-wide shared server with one more
// reference, making a new one if there is none or the last one shut down
// (Spark's LauncherServer.getOrCreateServer). Give the reference back with
// Release.
func AcquireServer() (*Server, error) {
	shared.Lock()
	defer shared.Unlock()
	if s := shared.srv; s != nil {
		if err := s.ref(); err == nil {
			return s, nil
		}
	}
	s, err := NewServer(ServerOptions{})
	if err != nil {
		return nil, err
	}
	shared.srv = s
	return s, nil
}

// SharedServer returns the current shared server, or nil when there is
// none (Spark's getServerInstance).
func SharedServer() *Server {
	shared.Lock()
	defer shared.Unlock()
	return shared.srv
}

// Port is the loopback port the server listens on.
func (s *Server) Port() int { return s.port }

// Closed reports whether the server has shut down.
func (s *Server) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Done is closed once the server has shut down and all its goroutines have
// returned.
func (s *Server) Done() <-chan struct{} { return s.done }

// Refs is the current reference count.
func (s *Server) Refs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refs
}

func (s *Server) ref() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	s.refs++
	return nil
}

// Release drops one reference; at zero the server shuts down (without
// waiting for its goroutines; see Done) and stops being the shared server.
func (s *Server) Release() {
	shared.Lock()
	defer shared.Unlock()
	s.mu.Lock()
	s.refs--
	zero := s.refs <= 0
	s.mu.Unlock()
	if zero {
		if shared.srv == s {
			shared.srv = nil
		}
		s.shutdown()
	}
}

// Close shuts the server down at once, whatever its reference count:
// it stops accepting, closes every connection (handles bound to one become
// LOST unless final) and waits for all its goroutines. Handles still
// pending stay pending. Close must not be called from a Listener callback
// or a Backend callback running on the server's goroutines.
func (s *Server) Close() error {
	shared.Lock()
	if shared.srv == s {
		shared.srv = nil
	}
	shared.Unlock()
	s.shutdown()
	<-s.done
	return nil
}

func (s *Server) shutdown() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.ln.Close()
	for _, c := range conns {
		c.close()
	}
}

// exited is called by each server goroutine as its last action.
func (s *Server) exited() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live--
	if s.live == 0 && s.closed {
		close(s.done)
	}
}

// NewHandle registers a new handle with a fresh secret; the handle holds a
// reference to the server until it is disposed.
func (s *Server) NewHandle(listeners ...Listener) (*Handle, error) {
	if err := s.ref(); err != nil {
		return nil, err
	}
	h, err := s.register(false, listeners)
	if err != nil {
		s.Release()
		return nil, err
	}
	return h, nil
}

// NewHandle makes a handle on the shared server (acquiring it).
func NewHandle(listeners ...Listener) (*Handle, error) {
	s, err := AcquireServer()
	if err != nil {
		return nil, err
	}
	h, err := s.register(false, listeners)
	if err != nil {
		s.Release()
		return nil, err
	}
	return h, nil
}

// register makes a handle with a fresh secret; the caller has already
// taken the reference the handle owns.
func (s *Server) register(hasProc bool, listeners []Listener) (*Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	var secret string
	for {
		var err error
		if secret, err = newSecret(); err != nil {
			return nil, err
		}
		if _, clash := s.pending[secret]; !clash {
			break
		}
	}
	h := newHandle(s, secret, hasProc, listeners)
	s.pending[secret] = h
	return h, nil
}

// unregister removes the handle's pending secret and drops its reference.
func (s *Server) unregister(h *Handle) {
	s.mu.Lock()
	if s.pending[h.secret] == h {
		delete(s.pending, h.secret)
	}
	s.mu.Unlock()
	s.Release()
}

// claim takes the pending handle of secret, if any.
func (s *Server) claim(secret string) *Handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.pending[secret]
	if h != nil {
		delete(s.pending, secret)
	}
	return h
}

func (s *Server) isPending(h *Handle) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[h.secret] == h
}

func (s *Server) connTimeout() time.Duration {
	return childConnectionTimeout(s.config, s.log)
}

// newSecret returns 256 random bits as hex.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("launcher: secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (s *Server) acceptLoop() {
	defer s.exited()
	for {
		conn, err := s.ln.AcceptTCP()
		if err != nil {
			if s.Closed() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EMFILE) ||
				errors.Is(err, syscall.ENFILE) || errors.Is(err, os.ErrDeadlineExceeded) {
				s.log.Warn("accept failed, continuing", "err", err)
				continue
			}
			s.log.Error("error in accept loop", "err", err)
			return
		}
		if !isLoopback(conn.RemoteAddr()) {
			s.log.Warn("refusing non-loopback connection", "remote", conn.RemoteAddr().String())
			conn.Close()
			continue
		}
		timeout := s.connTimeout()
		if timeout <= 0 {
			s.log.Warn("timed out waiting for hello message from client",
				"remote", conn.RemoteAddr().String(), "timeout", timeout)
			conn.Close()
			continue
		}
		c := &serverConn{s: s, conn: conn, readDone: make(chan struct{}), helloDone: make(chan struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.live++
		s.mu.Unlock()
		go c.run(timeout)
	}
}

// serverConn is one backend connection.
type serverConn struct {
	s        *Server
	conn     *net.TCPConn
	wmu      sync.Mutex
	readDone chan struct{} // closed once the reader stopped and conn is closed
	// helloDone is closed once the first message was handled (or reading
	// it failed).
	helloDone chan struct{}
}

func (c *serverConn) send(m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return WriteMessage(c.conn, m)
}

func (c *serverConn) close() { _ = c.conn.Close() }

func (c *serverConn) run(timeout time.Duration) {
	defer c.s.exited()
	h, err := c.serve(timeout)
	c.conn.Close()
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	close(c.readDone)
	if h != nil {
		h.connectionClosed(c, isProtocolError(err))
	}
}

// isProtocolError tells a misbehaving peer from an ended connection.
func isProtocolError(err error) bool {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return false
	}
	return true
}

var errInvalidMessage = errors.New("launcher: invalid message")

// serve reads the Hello and then the messages of the connection; it
// returns the bound handle (if any) and why reading stopped.
func (c *serverConn) serve(timeout time.Duration) (*Handle, error) {
	log := c.s.log.With("remote", c.conn.RemoteAddr().String())
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer closeOnce(c.helloDone)
	msg, err := ReadMessage(c.conn)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			log.Warn("timed out waiting for hello message from client", "timeout", timeout)
		case isProtocolError(err):
			log.Info("error handling message from client", "err", err)
		}
		return nil, err
	}
	if m, ok := msg.(*syncMsg); ok && m.Token == c.s.syncToken {
		return nil, nil
	}
	hello, ok := msg.(*Hello)
	if !ok {
		log.Info("error handling message from client",
			"err", fmt.Sprintf("expected hello, got: %s", msg.messageType()))
		return nil, errInvalidMessage
	}
	h := c.s.claim(hello.Secret)
	if h == nil {
		log.Info("error handling message from client", "err", "received hello for unknown client")
		return nil, errInvalidMessage
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	if !h.bind(c) {
		log.Info("handle was disposed before its client connected")
		return nil, errInvalidMessage
	}
	closeOnce(c.helloDone)
	h.setState(StateConnected, false)
	for {
		msg, err := ReadMessage(c.conn)
		if err != nil {
			if isProtocolError(err) {
				log.Info("error handling message from client", "err", err)
			}
			return h, err
		}
		switch m := msg.(type) {
		case *SetAppID:
			h.setAppID(m.AppID)
		case *SetState:
			h.setState(m.State, false)
		default:
			log.Info("error handling message from client",
				"err", fmt.Sprintf("invalid message: %s", msg.messageType()))
			return h, errInvalidMessage
		}
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// syncAccepts makes sure that every connection queued on the listener
// before the call has been accepted and has had its Hello handled (or
// failed): it connects to the server itself with a marker, waits until the
// accept loop got to it (the accept queue is FIFO), then waits for the
// connections still before their Hello. It returns early if the server is
// closed.
func (s *Server) syncAccepts() {
	if s.Closed() {
		return
	}
	conn, err := net.DialTCP("tcp", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.port})
	if err != nil {
		return
	}
	if WriteMessage(conn, &syncMsg{Token: s.syncToken}) == nil {
		_, _ = io.Copy(io.Discard, conn) // until the server closes it
	}
	conn.Close()
	s.mu.Lock()
	var waits []chan struct{}
	for c := range s.conns {
		waits = append(waits, c.helloDone)
	}
	s.mu.Unlock()
	for _, ch := range waits {
		<-ch
	}
}
