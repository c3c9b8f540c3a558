package rpcenv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors.
var (
	// ErrUnsupported: the endpoint does not handle the message.
	ErrUnsupported = errors.New("rpcenv: unsupported message")
	// ErrEnvStopped: the env has been shut down (Spark's RpcEnvStoppedException).
	ErrEnvStopped = errors.New("rpcenv: RpcEnv already stopped")
	// ErrEndpointNotFound: no endpoint of that name.
	ErrEndpointNotFound = errors.New("rpcenv: endpoint not found")
	// ErrEndpointStopped: the endpoint was stopped; the message was dropped.
	ErrEndpointStopped = errors.New("rpcenv: endpoint is stopped")
	// ErrNameTaken: an endpoint of that name is registered already.
	ErrNameTaken = errors.New("rpcenv: endpoint name already in use")
	// ErrInboxFull: a bounded inbox has no room; the message was refused.
	ErrInboxFull = errors.New("rpcenv: endpoint inbox is full")
	// ErrOutboxStopped: the outbox to that address was stopped; the message
	// was dropped.
	ErrOutboxStopped = errors.New("rpcenv: message is dropped because Outbox is stopped")
	// ErrClientMode: the operation needs a listening env.
	ErrClientMode = errors.New("rpcenv: env is in client mode")
	// ErrNameConflict: Register was given a message name or type that is
	// registered to something else.
	ErrNameConflict = errors.New("rpcenv: message name conflict")
)

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// NotFoundError names the endpoint that could not be found.
type NotFoundError struct{ URI string }

func (e *NotFoundError) Error() string { return "rpcenv: Cannot find endpoint: " + e.URI }

// Unwrap returns ErrEndpointNotFound.
func (e *NotFoundError) Unwrap() error { return ErrEndpointNotFound }

// TimeoutError is an ask or lookup that got no answer in time. Its message
// names the configuration key that controls the timeout, as Spark's
// RpcTimeoutException does (or "the caller's context deadline"). It is a
// deadline error: errors.Is(err, context.DeadlineExceeded) holds.
type TimeoutError struct {
	Addr  string
	After time.Duration
	Key   string
	// Aborted is unused and always false.
	//
	// Deprecated: an ask cancelled through its context returns an error
	// wrapping context.Canceled, not a TimeoutError.
	Aborted bool
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("rpcenv: Cannot receive any reply from %s in %s. This timeout is controlled by %s", e.Addr, e.After, e.Key)
}

// Timeout reports true.
func (e *TimeoutError) Timeout() bool { return true }

// Is reports whether target is context.DeadlineExceeded: every
// TimeoutError is a deadline that passed (spark.rpc.askTimeout,
// spark.rpc.lookupTimeout, an explicit timeout or the context's).
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// RemoteError is a failure raised by the remote endpoint (or its env) and
// carried back to the asker.
type RemoteError struct {
	Addr string
	Msg  string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("rpcenv: remote %s: %s", e.Addr, e.Msg) }

// remoteFailure is how an endpoint-level failure travels: a successful
// RpcResponse holding this value (as Spark sends an RpcFailure object).
type remoteFailure struct {
	Message string `json:"message"`
}

// checkExistence is the endpoint-verifier's question.
type checkExistence struct {
	Name string `json:"name"`
}
