package rpcenv

import (
	"sync"

	"go.uber.org/atomic"
)

// ring is a bounded lock-free multi-producer multi-consumer queue of
// inboxes (Dmitry Vyukov's algorithm): each slot carries a sequence number
// that says whether it is free for the producer of a given position or full
// for its consumer. Push and pop are one CAS each in the common case and
// allocate nothing.
type ring struct {
	_    [64]byte
	head atomic.Uint64 // next position to pop
	_    [56]byte
	tail atomic.Uint64 // next position to push
	_    [56]byte
	mask uint64
	slot []ringSlot
}

type ringSlot struct {
	seq atomic.Uint64
	val *inbox
}

func newRing(capacity int) *ring {
	n := 1
	for n < capacity {
		n <<= 1
	}
	r := &ring{mask: uint64(n - 1), slot: make([]ringSlot, n)}
	for i := range r.slot {
		r.slot[i].seq.Store(uint64(i))
	}
	return r
}

// push adds v; false if the ring is full.
func (r *ring) push(v *inbox) bool {
	pos := r.tail.Load()
	for {
		s := &r.slot[pos&r.mask]
		seq := s.seq.Load()
		switch diff := int64(seq) - int64(pos); {
		case diff == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1)
				return true
			}
			pos = r.tail.Load()
		case diff < 0:
			return false // full
		default:
			pos = r.tail.Load()
		}
	}
}

// pop removes the oldest entry; nil if the ring is empty.
func (r *ring) pop() *inbox {
	pos := r.head.Load()
	for {
		s := &r.slot[pos&r.mask]
		seq := s.seq.Load()
		switch diff := int64(seq) - int64(pos+1); {
		case diff == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				s.val = nil
				s.seq.Store(pos + r.mask + 1)
				return v
			}
			pos = r.head.Load()
		case diff < 0:
			return nil // empty
		default:
			pos = r.head.Load()
		}
	}
}

// runQueue feeds inboxes to a set of loop goroutines: the lock-free ring,
// an overflow list for the rare case the ring is full, and parking for idle
// loops (no spinning: on a 2-core machine a spinning loop steals the core
// the producer needs).
type runQueue struct {
	r        *ring
	idle     atomic.Int32
	wake     chan struct{} // one token per parked loop that must wake
	stopping atomic.Bool

	overMu   sync.Mutex // guards over
	over     []*inbox
	overflow atomic.Int32 // len(over), read without the lock
}

func newRunQueue(capacity, loops int) *runQueue {
	return &runQueue{r: newRing(capacity), wake: make(chan struct{}, loops)}
}

// put schedules in and wakes a parked loop if there is one.
func (q *runQueue) put(in *inbox) {
	if !q.r.push(in) {
		q.overMu.Lock()
		q.over = append(q.over, in)
		q.overflow.Inc()
		q.overMu.Unlock()
	}
	// Pairs with the idle.Inc + re-check in take: either the loop sees our
	// entry, or we see it idle and wake it.
	if q.idle.Load() > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

func (q *runQueue) tryTake() *inbox {
	if in := q.r.pop(); in != nil {
		return in
	}
	if q.overflow.Load() > 0 {
		q.overMu.Lock()
		defer q.overMu.Unlock()
		if len(q.over) > 0 {
			in := q.over[0]
			q.over[0] = nil
			q.over = q.over[1:]
			q.overflow.Dec()
			return in
		}
	}
	return nil
}

// take returns the next inbox, parking while there is none. It returns nil
// once the queue is stopping and drained (the poison pill).
func (q *runQueue) take() *inbox {
	for {
		if in := q.tryTake(); in != nil {
			return in
		}
		if q.stopping.Load() {
			return nil
		}
		q.idle.Inc()
		if in := q.tryTake(); in != nil {
			q.idle.Dec()
			return in
		}
		if q.stopping.Load() {
			q.idle.Dec()
			return nil
		}
		<-q.wake
		q.idle.Dec()
	}
}

// stop makes every loop return once the queue is empty.
func (q *runQueue) stop() {
	q.stopping.Store(true)
	for i := 0; i < cap(q.wake); i++ {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// messageLoop is a pool of goroutines running inboxes from one run queue:
// the shared pool, or an isolated endpoint's dedicated loop.
type messageLoop struct {
	q  *runQueue
	wg sync.WaitGroup
}

func newMessageLoop(threads, ringCapacity int) *messageLoop {
	l := &messageLoop{q: newRunQueue(ringCapacity, threads)}
	l.wg.Add(threads)
	for i := 0; i < threads; i++ {
		go l.run()
	}
	return l
}

func (l *messageLoop) run() {
	defer l.wg.Done()
	for {
		in := l.q.take()
		if in == nil {
			return
		}
		if in.process() {
			l.q.put(in)
		}
	}
}

// schedule puts in on the loop's run queue.
func (l *messageLoop) schedule(in *inbox) { l.q.put(in) }

// stop lets the loops finish queued work, then waits for them.
func (l *messageLoop) stop() {
	l.q.stop()
	l.wg.Wait()
}
