// Package master is the standalone cluster's master: Spark's Master in
// Go. It registers workers and applications, schedules executors and
// cluster-mode drivers onto workers, recovers its state after a failover
// (deploy/recovery), and answers Spark's and Ember's clients, JVM or Go.
//
// # Model
//
// State is a pure, single-threaded core: every input is a method call
// (RegisterWorkerOver, Heartbeat, RegisterApplicationOver,
// ExecutorStateChanged, ...) and everything it does to the world goes
// through Effects (Send, Persist, Now, ...), so scenario tests drive it
// without sockets. Master is the shell: an rpcenv endpoint on its own env
// that turns messages into those calls, one at a time on the endpoint's
// loop, plus the timers, the leader election and the REST server.
//
// # Authority
//
// A remote message is validated (deploy.Validate) and admitted
// (State.Admit) before it touches the state. The RPC envelope's sender
// address is what the peer writes, so Admit also checks the connection
// the message came over (rpcenv.Conn): a worker's reports are taken only
// over the connection it registered over, an application's driver's
// decisions only over the connection the application registered over;
// after that connection closes, a new one from the same host takes over.
// A client-only driver (spark-client://, no address) is known by its
// connection alone, so two of them are two applications, and one ends when
// its connection closes. A registration is answered with a master ref at
// the address the peer reached the master at (rpcenv.Env.AddressUsedOver),
// so the peer's later messages stay on that connection.
//
// Without spark.authenticate this stops peers on other hosts, and peers on
// the same host while the legitimate peer is connected; a process on a
// worker's or driver's own host can still take its place while its
// connection is down, or register first under its address.
//
// Refusals are an RpcFailure for asks and one warning per peer host per
// 10 s (internal/ratelog) for everything.
//
// # Logs
//
// The master logs at INFO what Spark's master logs: workers registering,
// registered and removed (with the reason), applications registered,
// unregistered and removed, executors launched, changing state and
// removed, drivers submitted, launched, changing state and removed, the
// election and the recovery.
//
// # Concurrency
//
// State is not safe for concurrent use: the endpoint's loop owns it, and
// the web UI and the REST server reach it by asking the endpoint
// (MasterState, stateCall). Master's exported methods are safe to call
// from any goroutine.
package master
