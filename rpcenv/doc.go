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
//	defer env.Shutdown()
//	ref, _ := env.SetupEndpoint("echo", myEndpoint)
//	reply, err := ref.Ask(ctx, Ping{N: 1})
//
// Messages are any registered Go value (Register[T](name)): the wire keeps
// Spark's RequestMessage header (sender address, receiver address, endpoint
// name) and carries the content as a type name plus JSON (sonic). Local
// sends and asks are never serialized.
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
// # Concurrency
//
// Env and Ref are safe for concurrent use. Endpoint methods are called by
// the loops as described above. CallContext methods may be called from any
// goroutine, once.
package rpcenv
