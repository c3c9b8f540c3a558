package netpoll

import (
	"log/slog"
	"sync"
	"time"

	cwnetpoll "github.com/cloudwego/netpoll"
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
	tls       *TLS // nil: plain TCP

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
// handler.
func NewContext(conf Conf, handler RpcHandler, opts ...ContextOption) *Context {
	c := &Context{conf: conf, handler: handler, log: slog.Default(),
		stop: make(chan struct{}), live: make(map[*Client]struct{})}
	for _, o := range opts {
		o.apply(c)
	}
	c.log = c.log.With("module", conf.Module)
	if conf.Mode == EPOLL {
		configureReactor(conf)
		if conf.MaxQueuedBytes > 0 {
			c.workers.Add(1)
			go c.watchInbound()
		}
	}
	return c
}

// inboundCheckEvery is how often the EPOLL watchdog looks at connections
// whose writes are stuck.
const inboundCheckEvery = 250 * time.Millisecond

// watchInbound bounds what the reactor buffers from a peer. netpoll reads
// every incoming byte into memory, even while the connection's handler is
// blocked writing answers the peer does not read; a connection stuck like
// that with more than MaxQueuedBytes buffered from its peer is closed.
// (In NIO mode the kernel's buffers hold the bytes, and the peer blocks.)
func (c *Context) watchInbound() {
	defer c.workers.Done()
	t := time.NewTicker(inboundCheckEvery)
	defer t.Stop()
	lim := c.conf.MaxQueuedBytes
	var stuck []*Client
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		stuck = stuck[:0]
		c.mu.Lock()
		for cl := range c.live {
			if ec, ok := cl.raw.(*epollConn); ok && ec.flushing.Load() && int64(ec.conn.Reader().Len()) > lim {
				stuck = append(stuck, cl)
			}
		}
		c.mu.Unlock()
		for _, cl := range stuck {
			cl.log.Warn("closing connection: peer is not reading its answers",
				"remote", cl.remote, "bufferedFromPeer", cl.raw.(*epollConn).conn.Reader().Len(),
				"limit", lim, "key", c.conf.Key("ember.maxQueuedBytes"))
			cl.exception(&ConnError{Op: "write", Addr: cl.remote, Err: ErrPeerNotReading})
		}
		clear(stuck)
	}
}

// Conf returns the context's configuration.
func (c *Context) Conf() Conf { return c.conf }

// Handler returns the context's RpcHandler.
func (c *Context) Handler() RpcHandler { return c.handler }

var reactorOnce sync.Once

// configureReactor sizes cloudwego/netpoll's pollers, once per process
// (netpoll's pollers are process-wide): the larger of the first EPOLL
// context's server and client thread counts.
func configureReactor(conf Conf) {
	reactorOnce.Do(func() {
		n := conf.ServerThreads
		if conf.ClientThreads > n {
			n = conf.ClientThreads
		}
		if n < 1 {
			n = 1
		}
		_ = cwnetpoll.Configure(cwnetpoll.Config{PollerNum: n, LoadBalance: cwnetpoll.RoundRobin})
	})
}

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
	return nil
}
