package rpcenv

import (
	"fmt"
	"strconv"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"sync"
)

// outboxMsg is an encoded RequestMessage waiting to be sent; ask is nil for
// one-way messages. Each ends in exactly one of fail or sendWith, which
// drops the sender's hold on the ask (askCall.release).
type outboxMsg struct {
	payload *codec.BytesBuffer
	ask     *askCall
}

func (m *outboxMsg) fail(err error) {
	if m.payload != nil {
		m.payload.Release()
		m.payload = nil
	}
	if a := m.ask; a != nil {
		m.ask = nil
		a.deliver(nil, err)
		a.release()
	}
}

// sendWith hands the message to a connection. The payload buffer goes back
// to the pool once written.
func (m *outboxMsg) sendWith(c *netpoll.Client) error {
	buf := m.payload
	m.payload = nil
	a := m.ask
	m.ask = nil
	if a == nil {
		return c.SendBuffer(buf)
	}
	defer a.release()
	if a.aborted.Load() {
		// The asker gave up while the message was queued: nothing waits
		// for the answer.
		buf.Release()
		return nil
	}
	a.client.Store(c)
	id := c.SendRpcBuffer(buf, a)
	a.reqID.Store(id)
	a.sent.Store(true)
	if a.aborted.Load() { // aborted while sending: see askCall.abort
		c.RemoveRpcRequest(id)
	}
	return nil
}

// outbox queues messages for one remote address while a connection is
// made, then sends them in order (Spark's Outbox). One goroutine drains at
// a time; a connect or send failure fails everything queued and removes the
// outbox, so the next message makes a fresh one.
type outbox struct {
	env  *Env
	addr Address

	mu sync.Mutex // guards the fields below
	// queue[head:] is waiting; sent entries are zeroed, and the slice
	// starts over from its beginning once drained.
	queue      []outboxMsg
	head       int
	client     *netpoll.Client
	connecting bool
	draining   bool
	stopped    bool
	cause      error // why a network failure stopped it
}

// postToOutbox sends through the ref's bound connection if it has one,
// else through the outbox of its address.
func (e *Env) postToOutbox(r *Ref, m outboxMsg) error {
	if r.client != nil {
		if !r.client.IsActive() {
			err := fmt.Errorf("rpcenv: connection to %s is closed", r.client.RemoteAddr())
			m.fail(err)
			return err
		}
		return m.sendWith(r.client)
	}
	if r.addr.Addr.IsZero() {
		err := fmt.Errorf("rpcenv: cannot send to %s: it has no address and no connection", r.addr)
		m.fail(err)
		return err
	}
	e.outMu.Lock()
	if e.outClosed || e.stopped.Load() {
		e.outMu.Unlock()
		m.fail(ErrEnvStopped)
		return ErrEnvStopped
	}
	o := e.outboxes[r.addr.Addr]
	if o == nil {
		o = &outbox{env: e, addr: r.addr.Addr}
		e.outboxes[r.addr.Addr] = o
	}
	e.outMu.Unlock()
	o.send(m)
	return nil
}

// removeOutbox forgets (and stops) the outbox for addr, if it is o or o is nil.
func (e *Env) removeOutbox(addr Address, o *outbox) {
	e.outMu.Lock()
	cur := e.outboxes[addr]
	if cur != nil && (o == nil || cur == o) {
		delete(e.outboxes, addr)
	} else {
		cur = nil
	}
	e.outMu.Unlock()
	if cur != nil && o == nil {
		cur.stop()
	}
}

func (o *outbox) send(m outboxMsg) {
	o.mu.Lock()
	if o.stopped {
		err := o.cause
		o.mu.Unlock()
		if err == nil {
			err = ErrOutboxStopped
		}
		m.fail(err)
		return
	}
	if o.head > 0 && len(o.queue) == cap(o.queue) {
		// Full, with sent entries at the front: move the waiting ones
		// down rather than grow (appending would carry the dead prefix).
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
	o.queue = append(o.queue, m)
	o.mu.Unlock()
	o.drain()
}

func (o *outbox) drain() {
	o.mu.Lock()
	if o.stopped || o.connecting {
		o.mu.Unlock()
		return
	}
	if o.client == nil {
		o.connecting = true
		o.mu.Unlock()
		o.launchConnect()
		return
	}
	if o.draining {
		o.mu.Unlock()
		return
	}
	o.draining = true
	for o.head < len(o.queue) {
		m := o.queue[o.head]
		o.queue[o.head] = outboxMsg{}
		o.head++
		if o.head == len(o.queue) {
			o.resetQueueLocked()
		}
		c := o.client
		o.mu.Unlock()
		if !c.IsActive() {
			o.mu.Lock()
			o.draining = false
			o.mu.Unlock()
			m.fail(fmt.Errorf("rpcenv: connection to %s is closed", o.addr))
			o.networkFailure(fmt.Errorf("rpcenv: connection to %s is closed", o.addr))
			return
		}
		if err := m.sendWith(c); err != nil {
			o.mu.Lock()
			o.draining = false
			o.mu.Unlock()
			o.networkFailure(err)
			return
		}
		o.mu.Lock()
	}
	o.draining = false
	o.mu.Unlock()
}

// outboxQueueKeep is the largest queue capacity a drained outbox keeps.
const outboxQueueKeep = 1024

// resetQueueLocked empties the drained queue: appends start again at the
// beginning of its array (every entry is already zeroed), unless a burst
// made the array large.
func (o *outbox) resetQueueLocked() {
	if cap(o.queue) > outboxQueueKeep {
		o.queue = nil
	} else {
		o.queue = o.queue[:0]
	}
	o.head = 0
}

// launchConnect connects on a bounded pool of goroutines
// (spark.rpc.connect.threads), owned by the env.
func (o *outbox) launchConnect() {
	e := o.env
	e.outMu.Lock()
	if e.outClosed {
		e.outMu.Unlock()
		o.networkFailure(ErrEnvStopped)
		return
	}
	e.connWg.Add(1) // under outMu: Shutdown sets outClosed before it waits
	e.outMu.Unlock()
	go func() {
		defer e.connWg.Done()
		e.connSem <- struct{}{}
		c, err := e.factory.CreateClient(o.addr.Host, o.addr.Port)
		<-e.connSem
		if err != nil {
			o.networkFailure(err)
			return
		}
		e.handler.outboundActive(c)
		o.mu.Lock()
		o.connecting = false
		if o.stopped {
			o.mu.Unlock()
			return
		}
		o.client = c
		o.mu.Unlock()
		o.drain()
	}()
}

// networkFailure fails everything queued and removes the outbox.
func (o *outbox) networkFailure(err error) {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		return
	}
	o.stopped = true
	o.cause = err
	o.client = nil
	o.connecting = false
	q := o.queue[o.head:]
	o.queue, o.head = nil, 0
	o.mu.Unlock()
	o.env.removeOutbox(o.addr, o)
	for i := range q {
		q[i].fail(err)
	}
}

// stop fails queued messages with ErrOutboxStopped; the pooled connection
// stays with the client factory.
func (o *outbox) stop() {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		return
	}
	o.stopped = true
	o.client = nil
	q := o.queue[o.head:]
	o.queue, o.head = nil, 0
	o.mu.Unlock()
	for i := range q {
		q[i].fail(ErrOutboxStopped)
	}
}

// parseAddr turns a socket address string into an Address.
func parseAddr(hostport string) Address {
	host, p, err := splitHostPortLoose(hostport)
	if err != nil {
		return Address{Host: hostport}
	}
	return NewAddress(host, p)
}

func splitHostPortLoose(hp string) (string, int, error) {
	i := len(hp) - 1
	for i >= 0 && hp[i] != ':' {
		i--
	}
	if i < 0 {
		return "", 0, fmt.Errorf("no port in %q", hp)
	}
	p, err := strconv.Atoi(hp[i+1:])
	return hp[:i], p, err
}
