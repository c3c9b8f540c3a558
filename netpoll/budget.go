package netpoll

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"go.uber.org/atomic"
)

// The process-wide memory budget (spark.ember.io.maxBufferedBytes): every
// buffer a connection holds counts against one total: its queued output
// held in memory, a large input frame being received, and what its input
// side keeps between reading passes (the pass buffer when an incomplete
// frame larger than keepSmall sits in it, a kept partial frame, the
// reused large-frame spare buffer). Past it, the connections holding the most are
// disconnected, largest first, until the total is back under the budget;
// each gets one log line naming its peer and the key.

// DefaultMaxBufferedBytes is the budget's default.
const DefaultMaxBufferedBytes = 2 << 30

// BudgetKey is the configuration key of the process-wide budget.
const BudgetKey = "spark.ember.io.maxBufferedBytes"

var budget struct {
	limit      atomic.Int64
	used       atomic.Int64
	reclaiming atomic.Bool

	mu      sync.Mutex
	clients map[*Client]struct{}
	log     *slog.Logger
}

func init() {
	budget.limit.Store(DefaultMaxBufferedBytes)
	budget.clients = make(map[*Client]struct{})
}

// setBudget applies a context's configured budget: the smallest one set
// in the process wins.
func setBudget(n int64, log *slog.Logger) {
	if n <= 0 {
		return
	}
	budget.mu.Lock()
	if n < budget.limit.Load() || budget.log == nil {
		if n < budget.limit.Load() {
			budget.limit.Store(n)
		}
		budget.log = log
	}
	budget.mu.Unlock()
}

// BufferedBytes returns the bytes the process's connections hold against
// the budget right now.
func BufferedBytes() int64 { return budget.used.Load() }

func budgetTrack(c *Client) {
	budget.mu.Lock()
	budget.clients[c] = struct{}{}
	budget.mu.Unlock()
}

func budgetUntrack(c *Client) {
	budget.mu.Lock()
	delete(budget.clients, c)
	budget.mu.Unlock()
}

// budgetAddNoCheck counts n bytes for c; past the budget, reclaiming
// starts on its own goroutine (the caller may hold locks).
func (c *Client) budgetAddNoCheck(n int64) {
	if n == 0 {
		return
	}
	c.held.Add(n)
	if budget.used.Add(n) > budget.limit.Load() && budget.reclaiming.CompareAndSwap(false, true) {
		go reclaimBudget()
	}
}

// budgetAdd counts a large input frame; a frame larger than the whole
// budget is refused.
func (c *Client) budgetAdd(n int64) error {
	if lim := budget.limit.Load(); n > lim {
		c.warn("closing connection: frame larger than the process-wide buffer budget",
			"remote", c.remote, "frameLength", n, "limit", lim, "key", BudgetKey)
		return fmt.Errorf("%w: frame of %d bytes is over %s (%d)", ErrOverBudget, n, BudgetKey, lim)
	}
	c.budgetAddNoCheck(n)
	return nil
}

func (c *Client) budgetSub(n int64) {
	if n == 0 {
		return
	}
	c.held.Sub(n)
	budget.used.Sub(n)
}

// reclaimBudget disconnects the largest holders until the process is
// back under its budget.
func reclaimBudget() {
	defer budget.reclaiming.Store(false)
	lim := budget.limit.Load()
	if budget.used.Load() <= lim {
		return
	}
	budget.mu.Lock()
	all := make([]*Client, 0, len(budget.clients))
	for c := range budget.clients {
		if c.held.Load() > 0 && !c.closed.Load() {
			all = append(all, c)
		}
	}
	budget.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].held.Load() > all[j].held.Load() })
	over := budget.used.Load() - lim
	for _, c := range all {
		if over <= 0 {
			break
		}
		h := c.held.Load()
		c.warn("closing connection: the process is over its buffer budget and this peer holds the most",
			"remote", c.remote, "heldBytes", h, "limit", lim, "key", BudgetKey)
		c.exception(&ConnError{Op: "budget", Addr: c.remote, Err: ErrOverBudget})
		over -= h
	}
}

// inputHeld is what a connection's input side keeps between reading
// passes, apart from a large frame being received (counted on its own as
// it starts): the pass buffer, if an incomplete frame keeps it; a kept
// small partial frame; the spare large-frame buffer (up to maxSpare).
func (in *inbuf) inputHeld() int64 {
	n := int64(cap(in.kept) + cap(in.spare) + cap(in.scratch) + cap(in.opened))
	if in.pooled != nil {
		n += readBufSize
	}
	return n
}

// endPass ends a reading pass: it gives back the pass buffer (or keeps it
// for an incomplete frame) and brings the budget's count of what the
// input side keeps up to date.
//
// The spare large-frame buffer is counted while held rather than dropped
// after each frame: a peer sending large frames back to back reuses it
// (no fresh allocation per frame), and counting it keeps a process with
// many such connections honest about its memory. It is dropped at the
// end of a pass when the process is over its budget, so a spare alone
// never costs a connection its life.
func (c *Client) endPass() {
	in := &c.in
	in.releaseBuf()
	if in.spare != nil && budget.used.Load() > budget.limit.Load() {
		in.spare = nil
	}
	c.setInputHeld(in.inputHeld())
}

// setInputHeld counts n bytes held by the input side (replacing the
// previous count). Only the reading side calls it.
func (c *Client) setInputHeld(n int64) {
	d := n - c.inHeld
	if d == 0 {
		return
	}
	c.inHeld = n
	if d > 0 {
		c.budgetAddNoCheck(d)
	} else {
		c.budgetSub(-d)
	}
}
