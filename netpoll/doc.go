// Package netpoll is Ember's transport: Spark's TransportContext,
// TransportServer, TransportClientFactory and TransportClient, speaking
// Spark's wire format (package codec) byte for byte, so a Spark client or
// server can talk to it.
//
// # Model
//
// A Context holds one module's configuration (Conf, the spark.<module>.io.*
// keys) and the RpcHandler that serves requests. It makes Servers, which
// accept connections, and ClientFactories, which pool outgoing ones. Every
// connection, from either end, is a *Client: it sends requests (SendRpc,
// SendRpcSync, Send, FetchChunk, Stream, UploadStream) and serves the
// requests that arrive on it with its handler, so servers can call back.
//
// Two I/O engines sit under the same code, picked by spark.<module>.io.mode:
//
//   - EPOLL (default): cloudwego/netpoll's epoll reactor. An accept
//     goroutine is the boss loop; netpoll's pollers are the worker loops,
//     and reads are decoded on netpoll's handler goroutines, never blocking
//     on an idle connection. (netpoll's own listener is not used: its Close
//     closes one fd number twice.)
//   - NIO: Go's net package, an accept goroutine and one reading goroutine
//     per connection on the runtime's poller.
//
// Writes need no goroutine of their own: the goroutine that queues a frame
// while nobody is writing becomes the writer and drains what others queue
// meanwhile, in one writev per batch (flat combining). File-segment bodies
// leave with sendfile(2), never through user memory.
//
// # Usage
//
//	ctx := netpoll.NewContext(netpoll.DefaultConf("rpc"), handler)
//	defer ctx.Close()
//	srv, _ := ctx.NewServer("127.0.0.1", 0)
//	defer srv.Close()
//	f := ctx.NewClientFactory()
//	defer f.Close()
//	c, _ := f.CreateClient("127.0.0.1", srv.Port())
//	resp, err := c.SendRpcSync([]byte("ping"), 10*time.Second)
//
// # Concurrency
//
// Clients, Servers, factories and Contexts are safe for concurrent use.
// Every request's callback runs exactly once: with its answer, or with an
// error naming the remote address when the connection ends first. Handler
// and callback methods run on the connection's reading goroutine; byte
// slices passed to them are valid only during the call. Close a Context
// after the servers and factories it made.
//
// Buffers: a body given as a []byte must stay unchanged until written;
// ManagedBuffers are released by the transport once written.
package netpoll
