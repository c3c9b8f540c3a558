package rpcenv

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
)

// endpointData is one registered endpoint.
type endpointData struct {
	name  string
	ep    Endpoint
	ref   *Ref
	inbox *inbox
	loop  *messageLoop
	// dedicated is true for isolated endpoints, whose loop is theirs alone.
	dedicated bool
}

// EndpointOption configures SetupEndpoint.
type EndpointOption interface{ apply(*endpointOpts) }

type endpointOpts struct{ inboxCapacity int }

type epOptFunc func(*endpointOpts)

func (f epOptFunc) apply(o *endpointOpts) { f(o) }

// WithInboxCapacity bounds the endpoint's inbox: when n messages are
// waiting, new sends and asks are refused with ErrInboxFull (asks get the
// error back; remote one-way senders see it logged at the receiver). Zero
// means unbounded, the default (spark.rpc.ember.inboxCapacity).
func WithInboxCapacity(n int) EndpointOption {
	return epOptFunc(func(o *endpointOpts) { o.inboxCapacity = n })
}

// dispatcherThreads is Spark's formula for the shared loop's size.
func dispatcherThreads(e *Env, cores int) (int, error) {
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	base := max(2, cores)
	if v, ok := e.conf.Get("spark.rpc.netty.dispatcher.numThreads"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("rpcenv: spark.rpc.netty.dispatcher.numThreads: bad value %q", v)
		}
		base = n
	}
	if id, ok := e.conf.Get("spark.executor.id"); ok {
		role := "executor"
		if id == "driver" {
			role = "driver"
		}
		key := "spark." + role + ".rpc.netty.dispatcher.numThreads"
		if v, ok := e.conf.Get(key); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("rpcenv: %s: bad value %q", key, v)
			}
			return n, nil
		}
	}
	return base, nil
}

// register adds an endpoint. The ref is recorded before the inbox exists so
// that Self works in OnStart.
func (e *Env) register(name string, ep Endpoint, opts endpointOpts) (*Ref, error) {
	// The endpoint is the key of the refs map (Self): a value that cannot
	// be a map key would panic below with e.mu held.
	if t := reflect.TypeOf(ep); t == nil || !t.Comparable() {
		return nil, fmt.Errorf("rpcenv: cannot register %q: endpoint %T is nil or not comparable (use a pointer)", name, ep)
	}
	ref := &Ref{env: e, addr: EndpointAddress{Addr: e.addr, Name: name}}
	e.mu.Lock()
	if e.stopped.Load() {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: cannot register %q", ErrEnvStopped, name)
	}
	if _, ok := e.endpoints[name]; ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: There is already an RpcEndpoint called %s", ErrNameTaken, name)
	}
	d := &endpointData{name: name, ep: ep, ref: ref, loop: e.shared}
	if iso, ok := ep.(IsolatedEndpoint); ok {
		n := max(1, iso.ThreadCount())
		d.loop, d.dedicated = newMessageLoop(n, 64), true
		e.dedicated = append(e.dedicated, d.loop)
	}
	e.refs[ep] = ref
	d.inbox = newInbox(name, ep, e, opts.inboxCapacity)
	e.endpoints[name] = d
	e.mu.Unlock()
	d.loop.schedule(d.inbox) // runs OnStart
	return ref, nil
}

func (e *Env) lookup(name string) (*endpointData, error) {
	e.mu.RLock()
	d := e.endpoints[name]
	e.mu.RUnlock()
	if e.stopped.Load() {
		return nil, ErrEnvStopped
	}
	if d == nil {
		return nil, fmt.Errorf("%w: Could not find %s.", ErrEndpointNotFound, name)
	}
	return d, nil
}

// post delivers m to the named endpoint's inbox.
func (e *Env) post(name string, m inboxMsg) error {
	d, err := e.lookup(name)
	if err != nil {
		return err
	}
	return d.post(m)
}

func (d *endpointData) post(m inboxMsg) error {
	schedule, err := d.inbox.post(m)
	if err != nil {
		return err
	}
	if schedule {
		d.loop.schedule(d.inbox)
	}
	return nil
}

// postToAll delivers a connection event to every endpoint (nothing once
// the env is stopping: SPARK-14699).
func (e *Env) postToAll(m inboxMsg) {
	if e.stopped.Load() {
		return
	}
	e.mu.RLock()
	all := make([]*endpointData, 0, len(e.endpoints))
	for _, d := range e.endpoints {
		all = append(all, d)
	}
	e.mu.RUnlock()
	for _, d := range all {
		_ = d.post(m)
	}
}

// unregister frees the name at once and queues OnStop; an isolated
// endpoint's loop ends after it.
func (e *Env) unregister(name string) {
	e.mu.Lock()
	d := e.endpoints[name]
	if d != nil {
		delete(e.endpoints, name)
	}
	e.mu.Unlock()
	if d == nil {
		return
	}
	if d.inbox.stop() {
		d.loop.schedule(d.inbox)
	}
	if d.dedicated {
		d.loop.q.stop() // the poison pill: the loop drains (OnStop included) and exits
	}
}

// forgetEndpoint drops the endpoint→ref mapping (Self is nil after OnStop).
func (e *Env) forgetEndpoint(ep Endpoint) {
	e.mu.Lock()
	delete(e.refs, ep)
	e.mu.Unlock()
}

// verify reports whether name is registered.
func (e *Env) verify(name string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, ok := e.endpoints[name]
	return ok
}

// stopDispatcher unregisters every endpoint and stops the loops once they
// have run every OnStop.
func (e *Env) stopDispatcher() {
	e.mu.Lock()
	if e.stopped.Swap(true) {
		e.mu.Unlock()
		return
	}
	names := make([]string, 0, len(e.endpoints))
	for n := range e.endpoints {
		names = append(names, n)
	}
	e.mu.Unlock()
	for _, n := range names {
		e.unregister(n)
	}
	e.shared.stop()
	e.mu.Lock()
	dedicated := e.dedicated
	e.mu.Unlock()
	for _, l := range dedicated {
		l.stop()
	}
}
