package webui

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an HTTP server for a UI handler, bound to host:port.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{} // closed when Serve returned
	h    atomic.Pointer[http.Handler]

	closeOnce sync.Once
	closeErr  error
}

// Listen binds host:port (port 0 picks a free port; host "" or a
// wildcard address listens on every interface) and serves h until Close.
func Listen(host string, port int, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20,
		},
		done: make(chan struct{}),
	}
	s.SetHandler(h)
	s.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hp := s.h.Load(); hp != nil && *hp != nil {
			(*hp).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting up", http.StatusServiceUnavailable)
	})
	urlHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		urlHost = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			urlHost = "::1"
		}
	}
	s.url = "http://" + net.JoinHostPort(urlHost, strconv.Itoa(s.Port()))
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// SetHandler replaces the handler; requests before the first one get 503.
// A daemon binds its UI first (to learn the port it advertises), then sets
// the handler once it exists.
func (s *Server) SetHandler(h http.Handler) { s.h.Store(&h) }

// Port is the bound port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is http://host:port (a loopback host for a wildcard bind).
func (s *Server) URL() string { return s.url }

// Close stops accepting, lets in-flight requests finish for up to 5
// seconds, then closes what is left. It waits for the serving goroutine
// and may be called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.srv.Close()
		}
		<-s.done
		s.closeErr = err
	})
	return s.closeErr
}
