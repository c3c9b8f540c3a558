package netpoll

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"go.uber.org/atomic"
)

// The process-wide memory budget (spark.ember.io.maxBufferedBytes): every
// connection's queued output held in memory and its large input frames
// count against one total. Past it, the connections holding the most are
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
		c.log.Warn("closing connection: frame larger than the process-wide buffer budget",
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
		c.log.Warn("closing connection: the process is over its buffer budget and this peer holds the most",
			"remote", c.remote, "heldBytes", h, "limit", lim, "key", BudgetKey)
		c.exception(&ConnError{Op: "budget", Addr: c.remote, Err: ErrOverBudget})
		over -= h
	}
}
