package rpcenv

import (
	"runtime"
	"sync"
	"testing"

	"go.uber.org/atomic"
)

func inboxes(n int) []*inbox {
	out := make([]*inbox, n)
	for i := range out {
		out[i] = &inbox{name: string(rune('a' + i%26))}
	}
	return out
}

func TestRingFIFO(t *testing.T) {
	r := newRing(3) // rounded up to 4
	if len(r.slot) != 4 {
		t.Fatalf("capacity %d, want 4", len(r.slot))
	}
	if r.pop() != nil {
		t.Fatal("pop of an empty ring")
	}
	items := inboxes(4)
	// Many rounds, so the positions wrap around the slots.
	for round := 0; round < 10; round++ {
		for i, it := range items {
			if !r.push(it) {
				t.Fatalf("round %d: push %d failed", round, i)
			}
		}
		if r.push(&inbox{}) {
			t.Fatalf("round %d: push into a full ring succeeded", round)
		}
		for i, it := range items {
			if got := r.pop(); got != it {
				t.Fatalf("round %d: pop %d = %p, want %p", round, i, got, it)
			}
		}
		if r.pop() != nil {
			t.Fatalf("round %d: pop of an emptied ring", round)
		}
	}
	// Interleaved: free slots are reused at once.
	r.push(items[0])
	r.push(items[1])
	if r.pop() != items[0] || !r.push(items[2]) || r.pop() != items[1] || r.pop() != items[2] || r.pop() != nil {
		t.Fatal("interleaved push/pop out of order")
	}
}

// Many producers and consumers: every pushed item is popped exactly once.
func TestRingMPMC(t *testing.T) {
	const producers, consumers, perProducer = 4, 4, 5000
	r := newRing(64)
	items := make([]*inbox, producers*perProducer)
	index := make(map[*inbox]int, len(items))
	for i := range items {
		items[i] = &inbox{}
		index[items[i]] = i
	}
	seen := make([]atomic.Int32, len(items))
	var popped atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				for !r.push(items[p*perProducer+i]) {
					runtime.Gosched() // full: wait for the consumers
				}
			}
		}(p)
	}
	total := int64(len(items))
	var cwg sync.WaitGroup
	// Per-producer order must hold for each consumer's view too.
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			for popped.Load() < total {
				in := r.pop()
				if in == nil {
					runtime.Gosched()
					continue
				}
				popped.Inc()
				i := index[in]
				seen[i].Inc()
				p, k := i/perProducer, i%perProducer
				if k <= last[p] {
					t.Errorf("producer %d: item %d popped after item %d", p, k, last[p])
				}
				last[p] = k
			}
		}()
	}
	wg.Wait()
	cwg.Wait()
	if r.pop() != nil {
		t.Error("ring not empty at the end")
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("item %d popped %d times", i, n)
		}
	}
}

// The run queue falls back to its overflow list when the ring is full and
// keeps everything.
func TestRunQueueOverflow(t *testing.T) {
	q := newRunQueue(2, 1)
	items := inboxes(5)
	for _, it := range items {
		q.put(it)
	}
	if q.overflow.Load() != 3 {
		t.Errorf("overflow = %d, want 3", q.overflow.Load())
	}
	for i, it := range items {
		if got := q.tryTake(); got != it {
			t.Fatalf("take %d = %p, want %p", i, got, it)
		}
	}
	if q.tryTake() != nil || q.overflow.Load() != 0 {
		t.Error("queue not empty")
	}
}

// An idle loop parks in take and is woken by put; stop releases parked
// loops once the queue is drained.
func TestRunQueueParkAndStop(t *testing.T) {
	leakCheck(t)
	q := newRunQueue(8, 2)
	got := make(chan *inbox, 4)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				in := q.take()
				got <- in
				if in == nil {
					return
				}
			}
		}()
	}
	waitFor(t, "both loops parked", func() bool { return q.idle.Load() == 2 })
	items := inboxes(2)
	q.put(items[0])
	if v := recv(t, got, "first inbox"); v != items[0] {
		t.Fatalf("took %p, want %p", v, items[0])
	}
	waitFor(t, "loops parked again", func() bool { return q.idle.Load() == 2 })
	q.put(items[1])
	if v := recv(t, got, "second inbox"); v != items[1] {
		t.Fatalf("took %p, want %p", v, items[1])
	}
	waitFor(t, "loops parked again", func() bool { return q.idle.Load() == 2 })
	q.stop()
	for i := 0; i < 2; i++ {
		if v := recv(t, got, "stop"); v != nil {
			t.Fatalf("after stop take returned %p", v)
		}
	}
	wg.Wait()
	if q.take() != nil {
		t.Error("take on a stopped empty queue must return nil")
	}
}

// Work queued before stop is still handed out (the loops drain first).
func TestRunQueueStopDrains(t *testing.T) {
	q := newRunQueue(2, 1)
	items := inboxes(3)
	for _, it := range items {
		q.put(it)
	}
	q.stop()
	for i, it := range items {
		if got := q.take(); got != it {
			t.Fatalf("take %d after stop = %p", i, got)
		}
	}
	if q.take() != nil {
		t.Fatal("take did not return nil once drained")
	}
}

// A message loop runs every scheduled inbox and stop waits for its
// goroutines.
func TestMessageLoop(t *testing.T) {
	leakCheck(t)
	l := newMessageLoop(3, 4)
	eps := make([]*recorder, 20)
	ins := make([]*inbox, len(eps))
	for i := range eps {
		eps[i] = newRecorder(nil)
		ins[i] = newInbox("ep", eps[i], nil, 0)
		l.schedule(ins[i])
	}
	for _, in := range ins {
		for k := 0; k < 100; k++ {
			if s, err := in.post(inboxMsg{kind: kindOneWay, content: k}); err != nil {
				t.Fatal(err)
			} else if s {
				l.schedule(in)
			}
		}
	}
	for i, ep := range eps {
		ep.waitCount(t, "receive", 100)
		evs := ep.snapshot()
		for k, ev := range evs[1:] {
			if ev.msg != k {
				t.Fatalf("endpoint %d: message %v at %d", i, ev.msg, k)
			}
		}
	}
	l.stop()
}
