package rpcenv

import (
	"context"
	"time"
)

// SetupEndpointRefContext is SetupEndpointRef bounded by ctx: the lookup
// waits until ctx's deadline (spark.rpc.lookupTimeout when ctx has none)
// and stops when ctx is cancelled.
func (e *Env) SetupEndpointRefContext(ctx context.Context, addr Address, name string) (*Ref, error) {
	return e.SetupEndpointRefByURIContext(ctx, EndpointAddress{Addr: addr, Name: name}.String())
}

// SetupEndpointRefByURIContext is SetupEndpointRefByURI bounded by ctx, as
// SetupEndpointRefContext is.
func (e *Env) SetupEndpointRefByURIContext(ctx context.Context, uri string) (*Ref, error) {
	ea, err := ParseEndpointURI(uri)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout, key := e.lookupTimeout.d, e.lookupTimeout.key
	if dl, ok := ctx.Deadline(); ok {
		timeout, key = time.Until(dl), "the caller's context deadline"
	}
	verifierRef := &Ref{env: e, addr: EndpointAddress{Addr: ea.Addr, Name: VerifierName}}
	v, err := verifierRef.askWith(checkExistence{Name: ea.Name}, timeout, key, ctx)
	if err != nil {
		return nil, err
	}
	if ok, _ := v.(bool); !ok {
		return nil, &NotFoundError{URI: uri}
	}
	return &Ref{env: e, addr: ea}, nil
}

// ShutdownContext is Shutdown bounded by ctx: it returns nil once the env
// has stopped, or ctx's error if ctx ends first (an endpoint's OnStop that
// does not return, say); the shutdown then goes on in the background and
// AwaitTermination still waits for it.
func (e *Env) ShutdownContext(ctx context.Context) error {
	go e.Shutdown()
	select {
	case <-e.terminated:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
