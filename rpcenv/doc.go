// Package rpcenv is Ember's RPC environment, Spark's NettyRpcEnv in Go:
// named endpoints (actors) in an Env, refs to local and remote endpoints,
// one-way sends and asks, all on the netpoll transport.
//
// # Model
//
// An Env is created bound to host:port (Create; Spark's port retry applies)
// or in client mode (no server). SetupEndpoint registers an Endpoint under a
// name and returns its *Ref. Refs to remote endpoints come from
// SetupEndpointRef / SetupEndpointRefByURI("spark://name@host:port"), which
// check with the remote env's endpoint-verifier, or arrive inside messages.
//
//	env, _ := rpcenv.Create(rpcenv.Config{Name: "demo", BindHost: "127.0.0.1"})
//	defer env.ShutdownContext(ctx)
//	ref, _ := env.SetupEndpoint("echo", myEndpoint)
//	pong, err := rpcenv.Ask[Pong](ctx, ref, Ping{N: 1})
//
// Asking: Ref.Ask(ctx, msg), or the typed function Ask[T](ctx, ref, msg),
// is the one way to ask; the context's deadline bounds the wait
// (spark.rpc.askTimeout when it has none) and a timeout satisfies
// errors.Is(err, context.DeadlineExceeded). AskSync and AskTimeout are
// shorthands kept for Spark's names. SetupEndpointRefContext and
// ShutdownContext are the context forms of the lookup and the shutdown.
//
// Configuration: Config.Conf holds Spark's properties (package sparkconf,
// public: spark.rpc.* timeouts and io settings, spark.authenticate and its
// secret, spark.network.crypto.enabled, spark.ssl.rpc.*), read as a Spark
// RpcEnv reads them.
//
// Messages are any registered Go value (Register[T](name), which returns
// an error on a name clash; MustRegister panics instead): the wire keeps
// Spark's RequestMessage header (sender address, receiver address, endpoint
// name) and carries the content as a type name plus JSON (sonic). Local
// sends and asks are never serialized. The registry is process-wide, so
// prefix names with your package.
//
// # Spark's JVMs
//
// The same env talks to Spark 4.1's NettyRpcEnv. Content is told apart per
// message by its first bytes: AC ED 00 05 is a Java serialization stream
// (read with codec/javaser against the Spark class table of
// deploy/sparkmsg/suid), anything else is Ember's JSON. A reply goes back
// in the asker's encoding; a ref that arrived in Java content (a JVM's
// NettyRpcEndpointRef, bound to the connection it came in on) sends in
// Java, and so do refs from SetupJavaEndpointRef, whose lookup asks the
// JVM's endpoint-verifier with Spark's CheckExistence. Refs are written as
// NettyRpcEndpointRef with the env's defaultAskTimeout. Strings, booleans,
// ints, longs, doubles, refs and CheckExistence are built in; other
// classes go through JavaMappers (deploy/sparkmsg maps the deploy
// messages). A JVM asker's failures are the transport's RpcFailure (text;
// Ember writes no Throwable); unreadable streams, unknown classes and
// other releases' serialVersionUIDs are refused with ErrJavaContent naming
// the class and the Spark version, logged once.
//
// # Execution
//
// Each endpoint has an Inbox. OnStart runs first, OnStop last, nothing
// after it. Inboxes with work go through a lock-free ring to a shared pool
// of loop goroutines (spark.rpc.netty.dispatcher.numThreads, default
// max(2, cores)); idle loops park. A thread-safe endpoint (the default) runs
// one message at a time in arrival order; a ConcurrentEndpoint may run on
// several loops at once; an IsolatedEndpoint gets its own loop. Errors and
// panics in an endpoint go to its OnError and, for asks, back to the asker;
// the env keeps running.
//
// Remote messages leave through one Outbox per remote address, which
// connects lazily, sends in order, and fails everything queued if the
// connection fails. Connection events reach every endpoint's
// OnConnected / OnDisconnected / OnNetworkError.
//
// The sender address of a remote message is what the peer's env wrote in
// it: a peer can write any. What it cannot choose is the connection: a
// ConnReceiver gets each send's Conn, ConnOf gives an ask's, and a
// ConnClosedHandler hears when one closes. Endpoints that decide who may
// say what (the standalone master and worker) check the Conn, not the
// address.
//
// # Allocation
//
// The remote path recycles what it can: encoded messages are pooled
// buffers handed to the transport as they are, a remote ask's pending
// call goes back to a pool once both its asker and its outbox message are
// done with it (never after a timeout or abort), and JSON is decoded with
// pooled decoders, one copy of the message's JSON shared by its strings.
// A remote ask between two Ember envs allocates 9 times, both ends
// counted, and a one-way send 3 times; alloc_norace_test.go holds these
// budgets in the non-race test pass.
//
// # Concurrency
//
// Env and Ref are safe for concurrent use. Endpoint methods are called by
// the loops as described above. CallContext methods may be called from any
// goroutine, once.
package rpcenv
