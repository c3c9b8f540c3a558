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
// Two I/O engines sit under the same code, picked by spark.<module>.io.mode
// (default spark.io.mode.default, default AUTO, which is NIO: the engine
// that measured fastest, see BENCHMARKS.md; KQUEUE and IO_URING are
// refused with an error naming the key):
//
//   - EPOLL: Ember's own small epoll reactor (reactor_linux.go), started
//     per Context on first use with max(serverThreads, clientThreads)
//     pollers. Each connection is registered edge-triggered for
//     readability; bytes arriving run one reading pass, which reads until
//     the socket is drained. A poller is one goroutine that only waits on
//     its epoll set and hands each pass to a parked goroutine of its own
//     (a new one when none is idle), so it never runs handler code. No
//     goroutine waits on an idle connection, nor on an incomplete frame.
//     Linux only: elsewhere EPOLL is refused.
//     (cloudwego/netpoll, the earlier engine, reads every readable byte
//     into memory and cannot stop reading a connection, which left EPOLL
//     without backpressure.)
//   - NIO: one reading goroutine per connection, which waits for
//     readability on Go's runtime poller without holding a buffer.
//
// What a connection asked and awaits, how a response is matched to it,
// what an incoming request does (dispatch by type: which handler, which
// limit it meets, what it owes and how it counts toward the reading
// bounds, which failure frame answers it) and when reading stops live in
// a socket-free state (protocol.go: one generic pending table per request
// kind, the stream FIFO, the bounds; protocol_dispatch.go: decideRequest),
// tested with scenario tables. The Client only carries out what it
// decides.
//
// Both run the same reading pass (reader.go) over the same socket code
// (sock_unix.go: non-blocking read, writev and sendfile through the
// descriptor's RawConn; Go's net package owns the descriptor;
// sendfile_linux.go, with a read-and-write copy elsewhere; sock_windows.go
// reads and writes blocking, NIO only). TLS
// connections always read on their own goroutine. A session encryption
// layer (Setup.EnableEncryption) on a TLS connection goes under TLS, as
// Spark orders its handlers: it seals and opens the TLS records between
// tls.Conn and the socket (layerConn, tls.go).
//
// # Slow and hostile peers
//
// No shared goroutine ever waits on one peer's socket: not an endpoint's
// message loop, a chunk-fetch worker, a reading pass or a poller.
//
//   - Writing (writer.go): every frame, reply or chunk body is queued to
//     its connection. Answers (replies, chunks, streams) are written by
//     the connection's writer goroutine, which exists only while there is
//     something to write; a request or one-way message queued onto an
//     idle connection is first tried with a non-blocking write by the
//     sending goroutine (zero hand-off), and what the socket does not
//     take goes to the writer goroutine.
//     The write deadline is spark.<module>.io.connectionTimeout without a
//     byte leaving: the connection's idle check (the same timer as
//     Spark's idle timeout) then closes the peer, with one log line naming
//     the peer and the key, and everything queued for it is freed. Sealed
//     (encrypted) and TLS output is always written by the writer
//     goroutine.
//   - Bounded reading: a connection stops reading (Netty's autoRead=false)
//     while the requests it received and has not answered on the wire
//     reach spark.<module>.io.ember.maxOutstandingRequests, and resumes
//     when answers leave; its peer's writes then block in the kernel.
//     Queued output past spark.<module>.io.ember.maxQueuedBytes (file
//     regions included) disconnects the peer. A frame larger than the
//     64 KiB pass buffer is received into a buffer of exactly its size.
//   - Before authentication (a server bootstrap calls
//     Setup.RequireAuthentication; Setup.SetAuthenticated lifts it) frames are
//     capped at spark.<module>.io.ember.preAuthMaxFrameLength (default 8k).
//   - Protected mode (admit.go): a daemon without spark.authenticate passes
//     an Admission as its first server bootstrap; a peer not on its host
//     gets one refusal naming the keys to set (in its request's kind),
//     under the pre-auth cap, and is closed (after 10 s if it sends
//     nothing); its requests never reach the daemon's handler.
//   - A frame that does not complete within the connection timeout closes
//     the connection.
//   - Process-wide budget: every buffer a connection holds counts against
//     spark.ember.io.maxBufferedBytes (default 2g; the smallest value
//     configured in the process applies): queued output held in memory,
//     large input frames, and what input keeps between passes (the reused
//     large-frame buffer, up to 2 MiB, which is dropped at the end of a
//     pass while the process is over budget; a kept partial frame; a pass
//     buffer an incomplete frame keeps). Past it the connections holding
//     the most are disconnected, largest first.
//
// # Lock order
//
// Locks are taken in this order, never the reverse, and none is held
// while calling a handler or callback:
//
//	Server.mu / Context.mu / budget.mu  (registries; leaf locks in practice)
//	Client.mu   (outstanding requests; Stream holds it while queueing)
//	Client.wmu  (the write queue)
//	Client.rmu  (reading state: paused, passRunning, passAgain)
//	poller.mu   (the poller's connection table and parked goroutines)
//
// Closing a connection (shutdown, teardown) takes Client.mu, so nothing
// that may close a connection is called with Client.mu held: a full queue
// is reported to the caller, which closes after unlocking.
//
// # Usage
//
//	tc := netpoll.NewContext(netpoll.DefaultConf("rpc"), handler)
//	defer tc.Close()
//	srv, _ := tc.NewServer("127.0.0.1", 0)
//	defer srv.Close()
//	f := tc.NewClientFactory()
//	defer f.Close()
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	c, _ := f.CreateClientContext(ctx, "127.0.0.1", srv.Port())
//	resp, err := c.SendRpcSyncContext(ctx, []byte("ping"))
//
// A Conf comes from DefaultConf (then set its fields), or from spark.*
// properties with NewConf (package sparkconf holds them: the same keys the
// daemons read); TLS from LoadTLS (spark.ssl.rpc.* PEM files) or NewTLS
// (Go's tls.Config). Authentication is a pair of bootstraps from package
// netpoll/auth. A deadline that passes in a synchronous call gives a
// *TimeoutError, which satisfies errors.Is(err, context.DeadlineExceeded).
//
// Each Context in EPOLL mode runs its own pollers
// (max(ServerThreads, ClientThreads)); no poller, pool or registry is
// shared between Contexts except the process-wide buffer budget.
//
// # Concurrency
//
// Clients, Servers, factories and Contexts are safe for concurrent use.
// Every request's callback runs exactly once: with its answer, or with an
// error naming the remote address when the connection ends first. Handler
// and callback methods run on the connection's reading pass (one at a time
// per connection, in arrival order); byte slices passed to them are valid
// only during the call. Close a Context after the servers and factories it
// made.
//
// Bootstraps (ClientBootstrap, ServerBootstrap) get a *Setup: only they
// can set a connection's authenticated client id, its pre-authentication
// frame cap, its session encryption, or close it after pending writes.
// Handlers get the *Client, which sends, answers and closes, but cannot
// change who its peer is.
//
// Buffers: a body given as a []byte must stay unchanged until written;
// ManagedBuffers are released by the transport once written.
package netpoll
