package rpcenv

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"go.uber.org/atomic"
)

// Ref is a reference to an endpoint, local or remote (Spark's
// NettyRpcEndpointRef). Refs can travel inside messages: a ref received
// from a connection is bound to the receiving env and to that connection,
// so sends to it go back over the same connection (that is how a server
// answers a client-mode env).
type Ref struct {
	env    *Env
	addr   EndpointAddress
	client *netpoll.Client
	// java: messages to this endpoint are written as Java streams (a
	// JVM's endpoint; see javacontent.go).
	java bool
}

// Address returns the endpoint's address.
func (r *Ref) Address() EndpointAddress { return r.addr }

// Name returns the endpoint's name.
func (r *Ref) Name() string { return r.addr.Name }

// String returns the endpoint's URI.
func (r *Ref) String() string { return "RpcEndpointRef(" + r.addr.String() + ")" }

// Equal reports whether two refs name the same endpoint.
func (r *Ref) Equal(o *Ref) bool { return r != nil && o != nil && r.addr == o.addr }

// isLocal: the endpoint lives in r's env. In a client-mode env both
// addresses are zero, as in Spark (null == null).
func (r *Ref) isLocal() bool {
	return r.client == nil && r.addr.Addr == r.env.addr
}

// Send delivers msg to the endpoint's Receive, one way. Local sends never
// serialize. For a remote endpoint the error reports only what fails
// before the message leaves (encoding, a stopped env); later failures are
// logged.
func (r *Ref) Send(msg any) error {
	if msg == nil {
		return errors.New("rpcenv: message is nil")
	}
	e := r.env
	if e.stopped.Load() {
		return ErrEnvStopped
	}
	if r.isLocal() {
		return e.post(r.addr.Name, inboxMsg{kind: kindOneWay, sender: e.addr, content: msg})
	}
	bb, err := r.encode(msg)
	if err != nil {
		return err
	}
	return e.postToOutbox(r, outboxMsg{payload: bb})
}

func (r *Ref) encode(msg any) (*codec.BytesBuffer, error) {
	mb := codec.GetPooledBytes()
	bb := mb.Buf()
	m := requestMessage{sender: r.env.addr, receiver: r.addr, content: msg}
	var err error
	if r.java {
		bb.B, err = r.env.appendJavaRequest(bb.B, &m)
	} else {
		err = appendRequestTo(&bb.B, &m)
	}
	if err != nil {
		mb.Release()
		return nil, err
	}
	return mb, nil
}

// Ask sends msg to the endpoint's ReceiveAndReply and waits for the reply.
// The wait ends at ctx's deadline, or after spark.rpc.askTimeout if ctx
// has none; cancelling ctx aborts the ask. On timeout or abort the
// outstanding request is removed from its connection.
//
// Ask (or its typed form, the function Ask[T]) is the way to ask; AskSync
// and AskTimeout are shorthands for it. A timeout is a *TimeoutError,
// which satisfies errors.Is(err, context.DeadlineExceeded); a cancelled
// ask wraps context.Canceled; the endpoint's own failure is a
// *RemoteError (remote) or its error (local).
func (r *Ref) Ask(ctx context.Context, msg any) (any, error) {
	timeout, key := r.env.askTimeout.d, r.env.askTimeout.key
	if dl, ok := ctx.Deadline(); ok {
		timeout, key = time.Until(dl), "the caller's context deadline"
	}
	return r.askWith(msg, timeout, key, ctx)
}

// AskSync is Ask with the default timeout (spark.rpc.askTimeout): a
// shorthand for r.Ask(context.Background(), msg).
func (r *Ref) AskSync(msg any) (any, error) {
	return r.askWith(msg, r.env.askTimeout.d, r.env.askTimeout.key, nil)
}

// AskTimeout is Ask with an explicit timeout instead of a context
// deadline; its TimeoutError names "the timeout given to AskTimeout".
// Prefer Ask with context.WithTimeout.
func (r *Ref) AskTimeout(msg any, timeout time.Duration) (any, error) {
	return r.askWith(msg, timeout, "the timeout given to AskTimeout", nil)
}

// Ask is Ref.Ask with the reply type-checked (Spark's mapTo[T]): the
// recommended way to ask. A reply of another type is an error naming both.
func Ask[T any](ctx context.Context, r *Ref, msg any) (T, error) {
	var zero T
	v, err := r.Ask(ctx, msg)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("rpcenv: reply from %s is %T, not %T", r.addr, v, zero)
	}
	return t, nil
}

// askCall is one pending ask: the local call context, and the transport
// callback for remote asks.
type askCall struct {
	r      *Ref
	ch     chan askResult
	sender Address
	// set by the outbox when the request goes out (read by abort)
	client  atomic.Pointer[netpoll.Client]
	reqID   atomic.Int64
	sent    atomic.Bool // reqID is valid
	aborted atomic.Bool // the asker gave up (timeout or cancel)
	// holds counts who still uses a remote ask: its asker until it has
	// the answer, and its outbox message until sent or failed. The last
	// release recycles the call (see release).
	holds atomic.Int32
}

// askCalls recycles the calls of remote asks, with their channels. A
// local ask's call is never recycled: the endpoint holds it as its
// CallContext for as long as it likes.
var askCalls = sync.Pool{New: func() any { return &askCall{ch: make(chan askResult, 1)} }}

// newRemoteAsk returns a call for a remote ask through r, held by the
// asker and by the outbox message that will carry it.
func newRemoteAsk(r *Ref) *askCall {
	a := askCalls.Get().(*askCall)
	a.r, a.sender = r, r.env.addr
	a.holds.Store(2)
	return a
}

// release drops one hold on a remote ask. The last one puts the call back
// in askCalls, unless the asker gave up: then the transport may still
// answer it late, and the call is left to the garbage collector. An
// answer reaches the call only through its outbox message (while that
// holds it) or once through the connection's table of outstanding
// requests, which it leaves as it is answered; so once the asker has
// its answer and the message is done, nothing else refers to the call.
func (a *askCall) release() {
	if a.holds.Dec() != 0 || a.aborted.Load() {
		return
	}
	a.r, a.sender = nil, Address{}
	a.client.Store(nil)
	a.reqID.Store(0)
	a.sent.Store(false)
	select { // nothing is left in it; a stale answer would go to the next asker
	case <-a.ch:
	default:
	}
	askCalls.Put(a)
}

type askResult struct {
	v   any
	err error
}

func (a *askCall) deliver(v any, err error) {
	select {
	case a.ch <- askResult{v, err}:
	default: // already answered
	}
}

// Reply implements CallContext (local asks).
func (a *askCall) Reply(v any) { a.deliver(v, nil) }

// SendFailure implements CallContext (local asks).
func (a *askCall) SendFailure(err error) { a.deliver(nil, err) }

// SenderAddress implements CallContext.
func (a *askCall) SenderAddress() Address { return a.sender }

// OnSuccess implements netpoll.RpcResponseCallback (remote asks).
func (a *askCall) OnSuccess(resp []byte) {
	v, err := a.r.env.decodeReply(resp, a.client.Load())
	a.deliver(v, err)
}

// OnFailure implements netpoll.RpcResponseCallback.
func (a *askCall) OnFailure(err error) { a.deliver(nil, err) }

func (r *Ref) askWith(msg any, timeout time.Duration, key string, ctx context.Context) (any, error) {
	e := r.env
	if e.stopped.Load() {
		return nil, ErrEnvStopped
	}
	var call *askCall
	remote := !r.isLocal()
	if !remote {
		call = &askCall{r: r, ch: make(chan askResult, 1), sender: e.addr}
		if err := e.post(r.addr.Name, inboxMsg{kind: kindRPC, sender: e.addr, content: msg, cc: call}); err != nil {
			return nil, err
		}
	} else {
		mb, err := r.encode(msg)
		if err != nil {
			return nil, err
		}
		call = newRemoteAsk(r)
		// A failure here has answered the call and dropped the message's
		// hold; the asker's is never dropped, so the call is not reused.
		if err := e.postToOutbox(r, outboxMsg{payload: mb, ask: call}); err != nil {
			return nil, err
		}
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := getTimer(timeout)
		defer putTimer(t)
		expired = t.C
	}
	select {
	case res := <-call.ch:
		if remote {
			call.release()
		}
		return res.v, res.err
	case <-expired:
		call.abort()
		addr := r.addr.Addr.String()
		if res, ok := call.tryResult(); ok { // answered as the timer fired
			return res.v, res.err
		}
		if r.addr.Addr.IsZero() && r.client != nil {
			addr = r.client.RemoteAddr()
		}
		return nil, &TimeoutError{Addr: addr, After: timeout, Key: key}
	case <-done:
		call.abort()
		if res, ok := call.tryResult(); ok {
			return res.v, res.err
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The deadline and our timer fire together; either way it is a timeout.
			return nil, &TimeoutError{Addr: r.addr.Addr.String(), After: timeout, Key: key}
		}
		return nil, fmt.Errorf("rpcenv: ask to %s aborted: %w", r.addr, context.Cause(ctx))
	case <-e.terminated:
		// The env has shut down: no endpoint of it will answer any more
		// (remote asks were already failed by its closed connections).
		call.abort()
		if res, ok := call.tryResult(); ok {
			return res.v, res.err
		}
		return nil, fmt.Errorf("%w: no reply from %s", ErrEnvStopped, r.addr)
	}
}

// abort removes a remote ask's outstanding request from its connection.
// It pairs with sent: abort sets aborted then reads sent, the outbox sets
// sent then reads aborted (outboxMsg.sendWith), so a request that goes out
// while or after the asker gives up is removed by one side or the other.
func (a *askCall) abort() {
	a.aborted.Store(true)
	if c := a.client.Load(); c != nil && a.sent.Load() {
		c.RemoveRpcRequest(a.reqID.Load())
	}
}

func (a *askCall) tryResult() (askResult, bool) {
	select {
	case res := <-a.ch:
		return res, true
	default:
		return askResult{}, false
	}
}

// decodeReply turns an RpcResponse payload into a value or an error.
func (e *Env) decodeReply(b []byte, c *netpoll.Client) (any, error) {
	if isJavaContent(b) {
		return e.decodeJavaReply(b, c)
	}
	v, hasRefs, err := decodeContent(b)
	if err != nil {
		return nil, err
	}
	if f, ok := v.(remoteFailure); ok {
		addr := ""
		if c != nil {
			addr = c.RemoteAddr()
		}
		return nil, &RemoteError{Addr: addr, Msg: f.Message}
	}
	if hasRefs {
		e.bindRefs(reflect.ValueOf(v), c)
	}
	return v, nil
}

// MarshalJSON writes a ref as its URI.
func (r *Ref) MarshalJSON() ([]byte, error) {
	return sonic.ConfigStd.Marshal(map[string]string{"uri": r.addr.String()})
}

// UnmarshalJSON reads a ref's address; the env binds it to itself and to
// the connection after decoding.
func (r *Ref) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := sonic.ConfigStd.Unmarshal(b, &m); err != nil {
		return err
	}
	uri := m["uri"]
	if name, ok := cutPrefix(uri, "spark-client://"); ok {
		r.addr = EndpointAddress{Name: name}
		return nil
	}
	ea, err := ParseEndpointURI(uri)
	if err != nil {
		return err
	}
	r.addr = ea
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// bindRefs walks v and binds every *Ref in it to e and c.
func (e *Env) bindRefs(v reflect.Value, c *netpoll.Client) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type() == refPtrType {
			r := v.Interface().(*Ref)
			r.env, r.client = e, c
			return
		}
		e.bindRefs(v.Elem(), c)
	case reflect.Interface:
		if !v.IsNil() {
			e.bindRefs(v.Elem(), c)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				e.bindRefs(v.Field(i), c)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			e.bindRefs(v.Index(i), c)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			e.bindRefs(it.Value(), c)
		}
	}
}

// Ask timers are pooled: since Go 1.23 Stop guarantees no stale tick is
// delivered after it returns, so a stopped timer can be reset safely.
var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}
