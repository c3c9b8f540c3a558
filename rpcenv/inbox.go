package rpcenv

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/ember-rpc/ember/netpoll"
)

// msgKind is the kind of an inbox message.
type msgKind uint8

const (
	kindOneWay msgKind = iota
	kindRPC
	kindStart
	kindStop
	kindConnected
	kindDisconnected
	kindNetworkError
	kindConnClosed
)

// inboxMsg is one entry of an inbox queue (a value, to keep the queue free
// of per-message allocations).
type inboxMsg struct {
	kind    msgKind
	sender  Address
	content any
	cc      CallContext
	err     error
	conn    *netpoll.Client // the connection a remote send arrived over, or that closed (conn.go)
}

// inbox holds one endpoint's pending messages and runs them on the
// endpoint (Spark's Inbox). It is a pure core: the dispatcher decides which
// goroutine calls process.
type inbox struct {
	name     string
	endpoint Endpoint
	env      *Env // for OnStop bookkeeping; may be nil in tests
	capacity int  // 0: unbounded

	mu               sync.Mutex // guards everything below
	queue            msgQueue
	stopped          bool
	enableConcurrent bool
	numActive        int
	scheduled        bool // in the run queue (thread-safe endpoints)
}

func newInbox(name string, ep Endpoint, env *Env, capacity int) *inbox {
	in := &inbox{name: name, endpoint: ep, env: env, capacity: capacity}
	in.queue.push(inboxMsg{kind: kindStart})
	return in
}

func (in *inbox) concurrentCapable() bool {
	c, ok := in.endpoint.(ConcurrentEndpoint)
	return ok && c.Concurrent()
}

// post queues m. It returns whether the inbox must be put on a run queue
// (it had nothing scheduled) and an error if the message was refused.
func (in *inbox) post(m inboxMsg) (schedule bool, err error) {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return false, fmt.Errorf("%w: dropped message for %q", ErrEndpointStopped, in.name)
	}
	if in.capacity > 0 && in.queue.len() >= in.capacity && m.kind <= kindRPC {
		in.mu.Unlock()
		return false, fmt.Errorf("%w: %q has %d messages waiting", ErrInboxFull, in.name, in.capacity)
	}
	in.queue.push(m)
	schedule = in.markScheduledLocked()
	in.mu.Unlock()
	return schedule, nil
}

// markScheduledLocked decides whether a run-queue entry is needed: a
// thread-safe inbox is on the run queue at most once; a concurrent one gets
// an entry per message, so several loops can work on it.
func (in *inbox) markScheduledLocked() bool {
	if in.enableConcurrent {
		return true
	}
	if in.scheduled {
		return false
	}
	in.scheduled = true
	return true
}

// stop queues OnStop (idempotent) and turns concurrency off, so OnStop
// runs alone and last.
func (in *inbox) stop() (schedule bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return false
	}
	in.enableConcurrent = false
	in.stopped = true
	in.queue.push(inboxMsg{kind: kindStop})
	return in.markScheduledLocked()
}

// maxBatch bounds how many messages one process call runs before the inbox
// goes back on the run queue, so one busy endpoint cannot starve others.
const maxBatch = 64

// process runs queued messages. It returns true if the inbox still has
// work and must be put on the run queue again.
func (in *inbox) process() (requeue bool) {
	in.mu.Lock()
	if !in.enableConcurrent && in.numActive != 0 {
		// Another goroutine is running this inbox; it will take the rest.
		in.mu.Unlock()
		return false
	}
	m, ok := in.queue.pop()
	if !ok {
		in.scheduled = false
		in.mu.Unlock()
		return false
	}
	in.numActive++
	in.mu.Unlock()

	for n := 1; ; n++ {
		in.handle(m)
		in.mu.Lock()
		if !in.enableConcurrent && in.numActive != 1 {
			in.numActive--
			in.mu.Unlock()
			return false
		}
		if n >= maxBatch && in.queue.len() > 0 {
			in.numActive--
			in.mu.Unlock()
			return true
		}
		m, ok = in.queue.pop()
		if !ok {
			in.numActive--
			in.scheduled = false
			in.mu.Unlock()
			return false
		}
		in.mu.Unlock()
	}
}

// handle runs one message, turning errors and panics into OnError calls
// (and failures for asks). The loop survives whatever the endpoint does.
func (in *inbox) handle(m inboxMsg) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("rpcenv: endpoint %q panicked: %v\n%s", in.name, p, debug.Stack())
			if m.kind == kindRPC && m.cc != nil {
				m.cc.SendFailure(err)
			}
			in.onError(err)
		}
	}()
	ep := in.endpoint
	switch m.kind {
	case kindRPC:
		if err := ep.ReceiveAndReply(m.content, m.cc); err != nil {
			m.cc.SendFailure(err)
			in.onError(err)
		}
	case kindOneWay:
		var err error
		if r, ok := ep.(ConnReceiver); ok {
			err = r.ReceiveOver(m.content, m.sender, Conn{m.conn})
		} else {
			err = ep.Receive(m.content, m.sender)
		}
		if err != nil {
			in.onError(err)
		}
	case kindStart:
		if s, ok := ep.(Starter); ok {
			if err := s.OnStart(); err != nil {
				in.onError(err)
			}
		}
		in.mu.Lock()
		if !in.stopped && in.concurrentCapable() {
			in.enableConcurrent = true
		}
		in.mu.Unlock()
	case kindStop:
		if in.env != nil {
			in.env.forgetEndpoint(ep)
		}
		if s, ok := ep.(Stopper); ok {
			s.OnStop()
		}
		in.failPending()
	case kindConnected:
		if h, ok := ep.(ConnectedHandler); ok {
			h.OnConnected(m.sender)
		}
	case kindDisconnected:
		if h, ok := ep.(DisconnectedHandler); ok {
			h.OnDisconnected(m.sender)
		}
	case kindNetworkError:
		if h, ok := ep.(NetworkErrorHandler); ok {
			h.OnNetworkError(m.err, m.sender)
		}
	case kindConnClosed:
		if h, ok := ep.(ConnClosedHandler); ok {
			h.OnConnClosed(Conn{m.conn})
		}
	}
}

// failPending answers asks that can no longer run (nothing runs after
// OnStop). With OnStop queued last this only matters for races with post.
func (in *inbox) failPending() {
	in.mu.Lock()
	var rest []inboxMsg
	for {
		m, ok := in.queue.pop()
		if !ok {
			break
		}
		rest = append(rest, m)
	}
	in.mu.Unlock()
	for _, m := range rest {
		if m.kind == kindRPC && m.cc != nil {
			m.cc.SendFailure(fmt.Errorf("%w: %q", ErrEndpointStopped, in.name))
		}
	}
}

func (in *inbox) onError(err error) {
	defer func() {
		if p := recover(); p != nil && in.env != nil {
			in.env.warnings.Log(in.env.log, slog.LevelError, "OnError panicked\x00"+in.name, "OnError panicked", "endpoint", in.name, "panic", p)
		}
	}()
	if h, ok := in.endpoint.(ErrorHandler); ok {
		h.OnError(err)
		return
	}
	if in.env != nil {
		// One line per endpoint per minute, with the count held back: a
		// peer whose every message fails cannot flood the log.
		in.env.warnings.Warn(in.env.log, "endpoint error\x00"+in.name, "endpoint error", "endpoint", in.name, "err", err)
	}
}

// msgQueue is a growable ring of inbox messages.
type msgQueue struct {
	buf        []inboxMsg
	head, size int
}

func (q *msgQueue) len() int { return q.size }

func (q *msgQueue) push(m inboxMsg) {
	if q.size == len(q.buf) {
		n := 2 * len(q.buf)
		if n == 0 {
			n = 8
		}
		nb := make([]inboxMsg, n)
		for i := 0; i < q.size; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = m
	q.size++
}

func (q *msgQueue) pop() (inboxMsg, bool) {
	if q.size == 0 {
		return inboxMsg{}, false
	}
	m := q.buf[q.head]
	q.buf[q.head] = inboxMsg{}
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return m, true
}
