package rpcenv

// Endpoint is an actor: it handles the messages sent to its name, one at a
// time unless it says otherwise (see ConcurrentEndpoint).
//
// Receive handles messages sent with Ref.Send; ReceiveAndReply handles asks
// and must answer through cc (now or later, from any goroutine). Return
// ErrUnsupported (or wrap it) for messages the endpoint does not handle; any
// error returned goes to OnError, and for asks back to the asker.
type Endpoint interface {
	Receive(msg any, sender Address) error
	ReceiveAndReply(msg any, cc CallContext) error
}

// The optional lifecycle and network hooks. OnStart runs before any
// message; OnStop runs last. The network hooks tell every endpoint of an
// env about remote processes connecting, disconnecting or failing.
type (
	Starter interface{ OnStart() error }
	Stopper interface{ OnStop() }
	// ErrorHandler gets errors and panics from the other methods.
	ErrorHandler interface{ OnError(err error) }

	ConnectedHandler    interface{ OnConnected(remote Address) }
	DisconnectedHandler interface{ OnDisconnected(remote Address) }
	NetworkErrorHandler interface {
		OnNetworkError(err error, remote Address)
	}
)

// ConcurrentEndpoint marks an endpoint whose Receive methods may run on
// several goroutines at once (after OnStart; Spark's plain RpcEndpoint).
// Endpoints without it are thread-safe: one message at a time, in order.
type ConcurrentEndpoint interface{ Concurrent() bool }

// IsolatedEndpoint gets a dedicated message loop of ThreadCount goroutines
// instead of the shared pool (Spark's IsolatedRpcEndpoint). With more than
// one goroutine it should also be a ConcurrentEndpoint to use them.
type IsolatedEndpoint interface{ ThreadCount() int }

// CallContext answers one ask.
type CallContext interface {
	// Reply sends v as the answer.
	Reply(v any)
	// SendFailure fails the ask with err.
	SendFailure(err error)
	// SenderAddress is the asker's env address (zero for a client-mode env
	// asking over a connection it opened: then the socket's address).
	SenderAddress() Address
}

// BaseEndpoint can be embedded to get Spark's default replies for the
// methods an endpoint does not need.
type BaseEndpoint struct{}

// Receive reports that the endpoint does not implement it.
func (BaseEndpoint) Receive(msg any, _ Address) error {
	return unsupportedf("does not implement Receive (got %T)", msg)
}

// ReceiveAndReply reports that the endpoint will not reply.
func (BaseEndpoint) ReceiveAndReply(msg any, _ CallContext) error {
	return unsupportedf("won't reply anything (got %T)", msg)
}
