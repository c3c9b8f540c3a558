package netpoll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the transport.
var (
	// ErrClosed: the connection is closed (locally or by the peer).
	ErrClosed = errors.New("netpoll: connection closed")
	// ErrFactoryClosed: the client factory was closed.
	ErrFactoryClosed = errors.New("netpoll: client factory closed")
	// ErrServerClosed: the server was closed.
	ErrServerClosed = errors.New("netpoll: server closed")
	// ErrRequestTimeout: a connection with outstanding requests saw no
	// traffic for the connection timeout and was closed.
	ErrRequestTimeout = errors.New("netpoll: request timed out")
	// ErrTooManyChunks: a chunk or stream request arrived while
	// spark.shuffle.maxChunksBeingTransferred were in flight.
	ErrTooManyChunks = errors.New("netpoll: too many chunks being transferred")
	// ErrTooManyRequests was the answer to an RPC past
	// spark.<module>.io.ember.maxOutstandingRequests. The transport now
	// stops reading the connection instead; the error is kept for callers
	// that compare against it.
	ErrTooManyRequests = errors.New("netpoll: too many outstanding requests on this connection")
	// ErrPeerNotReading closes a connection whose unwritten answers exceed
	// spark.<module>.io.ember.maxQueuedBytes.
	ErrPeerNotReading = errors.New("netpoll: peer is not reading: too many bytes queued for it")
	// ErrOverBudget closes the connections holding the most when the
	// process is over spark.ember.io.maxBufferedBytes.
	ErrOverBudget = errors.New("netpoll: the process is over its buffer budget")
	// ErrFastFail: a connect was refused because the last attempt to the
	// same peer failed less than 95% of retryWait ago.
	ErrFastFail = errors.New("netpoll: connecting failed recently, failing fast")
)

// ConnError is a failure of one connection: what was being done, with whom,
// and why. Outstanding callbacks of a connection that ends receive one.
type ConnError struct {
	Op   string // "read", "write", "connect", "close", "timeout", ...
	Addr string // the remote address
	Err  error
}

func (e *ConnError) Error() string {
	switch e.Op {
	case "close":
		return fmt.Sprintf("netpoll: connection from %s closed: %v", e.Addr, e.Err)
	case "connect":
		return fmt.Sprintf("netpoll: failed to connect to %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("netpoll: %s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

// Timeout reports whether the error is a timeout.
func (e *ConnError) Timeout() bool {
	if errors.Is(e.Err, ErrRequestTimeout) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// RemoteError is a failure the peer reported (RpcFailure, ChunkFetchFailure,
// StreamFailure). Msg is the peer's error text, often a stack trace.
type RemoteError struct {
	Op   string // "rpc", "fetch chunk 12_3", "stream x"
	Addr string
	Msg  string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("netpoll: %s failed at %s: %s", e.Op, e.Addr, e.Msg)
}

// TimeoutError is returned by the synchronous calls when the answer did not
// come in time: SendRpcSync's timeout passed (the request stays
// outstanding, as in Spark) or SendRpcSyncContext's deadline did (the
// request is removed). It is a deadline error:
// errors.Is(err, context.DeadlineExceeded) holds.
type TimeoutError struct {
	Op    string
	Addr  string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("netpoll: %s to %s timed out after %s", e.Op, e.Addr, e.After)
}

// Timeout reports true.
func (e *TimeoutError) Timeout() bool { return true }

// Is reports whether target is context.DeadlineExceeded: every
// TimeoutError is a deadline that passed.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
