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

// ServerConfig bounds how long a UI connection may take over each part of
// an exchange, so that a client sending its headers or body slowly, or
// never reading the answer, cannot hold a connection (and its goroutine)
// for ever. Zero fields take DefaultServerConfig's values.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (a 16 MiB log page to a slow
	// reader included).
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection.
	IdleTimeout time.Duration
}

// DefaultServerConfig is 10 s for headers, 30 s for a whole request, 2
// minutes to write a response and 2 minutes idle.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&c.ReadTimeout, &d.ReadTimeout},
		{&c.WriteTimeout, &d.WriteTimeout}, {&c.IdleTimeout, &d.IdleTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return c
}

// Listen binds host:port (port 0 picks a free port; host "" or a
// wildcard address listens on every interface) and serves h until Close,
// with DefaultServerConfig's timeouts.
func Listen(host string, port int, h http.Handler) (*Server, error) {
	return ListenConfig(host, port, h, DefaultServerConfig())
}

// ListenConfig is Listen with the given timeouts.
func ListenConfig(host string, port int, h http.Handler, cfg ServerConfig) (*Server, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
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
