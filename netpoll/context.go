package netpoll

import (
	"log/slog"
	"sync"
	"time"

	"github.com/ember-rpc/ember/internal/ratelog"
	"go.uber.org/atomic"
)

// Context makes servers and client factories that share one module
// configuration and one RpcHandler (Spark's TransportContext). It owns the
// chunk-fetch worker pool; Close it after the servers and factories it made.
type Context struct {
	conf      Conf
	handler   RpcHandler
	closeIdle bool
	log       *slog.Logger
	tls       *TLS  // nil: plain TCP
	confErr   error // conf.validate(): NewServer and CreateClient refuse an invalid Conf
	// warn limits per-connection warning lines (Client.warn): one line
	// per peer host and message per minute, then a count of the rest.
	warn *ratelog.Limiter

	// The chunk-fetch pool. Each connection is pinned to one worker (as
	// Netty pins a channel to one executor), so its chunk requests are
	// served in arrival order, which one-for-one streams require.
	chunkOnce  sync.Once
	chunkQueue []chan chunkTask
	nextWorker atomic.Uint32
	stop       chan struct{}
	workers    sync.WaitGroup

	mu      sync.Mutex // guards closed and live
	closed  bool
	live    map[*Client]struct{} // every open connection of this context
	closeWg sync.WaitGroup
	reactor *reactor // EPOLL: started on first use
}

// ContextOption configures a Context.
type ContextOption interface{ apply(*Context) }

type optionFunc func(*Context)

func (f optionFunc) apply(c *Context) { f(c) }

// WithCloseIdleConnections closes connections that have nothing
// outstanding once they have been idle for the connection timeout (the
// shuffle client and the file-download client use it).
func WithCloseIdleConnections(on bool) ContextOption {
	return optionFunc(func(c *Context) { c.closeIdle = on })
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) ContextOption {
	return optionFunc(func(c *Context) { c.log = l })
}

// NewContext returns a context for conf whose connections are served by
// handler (nil: a handler that refuses every request). Fields of conf
// whose zero value means nothing take their defaults (see Conf); an
// invalid conf makes NewServer and CreateClient return its error.
func NewContext(conf Conf, handler RpcHandler, opts ...ContextOption) *Context {
	conf = conf.withDefaults()
	if handler == nil {
		handler = refuseHandler{}
	}
	c := &Context{conf: conf, handler: handler, log: slog.Default(), confErr: conf.validate(),
		warn: ratelog.New(time.Minute, warnKeys),
		stop: make(chan struct{}), live: make(map[*Client]struct{})}
	for _, o := range opts {
		o.apply(c)
	}
	c.log = c.log.With("module", conf.Module)
	if c.confErr == nil {
		setBudget(conf.MaxBufferedBytes, c.log)
	}
	return c
}

// startReading starts reading a new plain TCP connection: registered with
// the context's reactor in EPOLL mode, on a reading goroutine (counted in
// wg, or the context's) in NIO mode.
func (c *Context) startReading(cl *Client, wg *sync.WaitGroup) error {
	if c.conf.Mode == EPOLL {
		r, err := c.getReactor()
		if err == nil {
			err = r.register(cl)
		}
		if err != nil {
			cl.warn("could not register a connection with the reactor", "remote", cl.remote, "err", err)
			cl.shutdown(&ConnError{Op: "register", Addr: cl.remote, Err: err})
			cl.readerClosed(err) // nothing reads it: tear down here
			return err
		}
		return nil
	}
	if wg == nil {
		wg = &c.closeWg
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl.readLoopNIO()
	}()
	return nil
}

// getReactor starts the context's EPOLL reactor on first use: as many
// pollers as the larger of the server and client thread counts.
func (c *Context) getReactor() (*reactor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reactor != nil {
		return c.reactor, nil
	}
	if c.closed {
		return nil, ErrClosed
	}
	n := max(c.conf.ServerThreads, c.conf.ClientThreads, 1)
	r, err := newReactor(n)
	if err != nil {
		return nil, err
	}
	c.reactor = r
	return r, nil
}

// Conf returns the context's configuration.
func (c *Context) Conf() Conf { return c.conf }

// Handler returns the context's RpcHandler.
func (c *Context) Handler() RpcHandler { return c.handler }

// submitChunk hands a chunk request to the chunk-fetch pool, starting it
// on first use. It blocks while the pool's queue is full, which slows the
// reading of that connection: back-pressure, not unbounded memory.
func (c *Context) submitChunk(t chunkTask) {
	c.chunkOnce.Do(c.startChunkWorkers)
	q := c.chunkQueue[t.c.worker%uint32(len(c.chunkQueue))]
	select {
	case q <- t:
	case <-c.stop:
		t.c.serveChunk(t.id) // context closing: serve inline
	}
}

// pickWorker assigns a new connection its chunk-fetch worker.
func (c *Context) pickWorker() uint32 { return c.nextWorker.Inc() }

func (c *Context) startChunkWorkers() {
	n := c.conf.ChunkFetchWorkers()
	c.chunkQueue = make([]chan chunkTask, n)
	c.workers.Add(n)
	for i := range c.chunkQueue {
		q := make(chan chunkTask, 256)
		c.chunkQueue[i] = q
		go func() {
			defer c.workers.Done()
			for {
				select {
				case t := <-q:
					t.c.serveChunk(t.id)
				case <-c.stop:
					return
				}
			}
		}()
	}
}

// track registers an open connection; false if the context is closed.
func (c *Context) track(cl *Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.live[cl] = struct{}{}
	return true
}

func (c *Context) onClose(cl *Client) {
	c.mu.Lock()
	delete(c.live, cl)
	c.mu.Unlock()
}

// Close closes every connection the context still has and stops the
// chunk-fetch workers. It waits for both.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	live := make([]*Client, 0, len(c.live))
	for cl := range c.live {
		live = append(live, cl)
	}
	c.mu.Unlock()
	for _, cl := range live {
		cl.closeWait()
	}
	close(c.stop)
	c.workers.Wait()
	c.closeWg.Wait()
	c.mu.Lock()
	r := c.reactor
	c.reactor = nil
	c.mu.Unlock()
	if r != nil {
		r.close()
	}
	return nil
}
