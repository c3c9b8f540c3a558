package authority

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/ember-rpc/ember/rpcenv"
)

// LookupFunc resolves a host name to its IP addresses, as
// (*net.Resolver).LookupHost does; it must return when ctx is done.
type LookupFunc func(ctx context.Context, host string) ([]string, error)

// LookupTimeout bounds one lookup.
const LookupTimeout = 2 * time.Second

// Resolver resolves host names off the message loop and answers, without
// waiting, whether two hosts are one (see the package doc).
type Resolver struct {
	lookup LookupFunc
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	names  map[string]*name
	budget int // lookups of names peers give still allowed
	closed bool
}

type name struct {
	ips      []net.IP // the last answer (nil: none yet, or no address)
	answered bool     // some lookup of it has answered
	inflight bool
	again    bool // refresh once the lookup in flight has answered
}

// NewResolver returns a Resolver that resolves with lookup (nil: the
// system resolver) and looks up at most peerBudget names peers give over
// its life (0: such names are compared literally).
func NewResolver(lookup LookupFunc, peerBudget int) *Resolver {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Resolver{lookup: lookup, ctx: ctx, cancel: cancel, names: map[string]*name{}, budget: peerBudget}
}

// Trust starts looking up each host that is a name not known yet (an IP
// literal needs none). The answer is kept.
func (r *Resolver) Trust(hosts ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hosts {
		r.startLocked(h, false)
	}
}

// Refresh looks host up again (a daemon calls it when the master or
// driver it follows changes address); until the new answer arrives the
// last one stands.
func (r *Resolver) Refresh(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startLocked(host, true)
}

// startLocked starts a lookup of host unless it is an IP literal, known
// (and not to be refreshed) or being looked up.
func (r *Resolver) startLocked(host string, refresh bool) {
	if host == "" || r.closed || net.ParseIP(host) != nil {
		return
	}
	n := r.names[host]
	switch {
	case n == nil:
		n = &name{}
		r.names[host] = n
	case n.inflight:
		n.again = n.again || refresh
		return
	case !refresh:
		return
	}
	n.inflight = true
	r.wg.Add(1)
	go r.resolve(host, n)
}

func (r *Resolver) resolve(host string, n *name) {
	defer r.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(r.ctx, LookupTimeout)
		addrs, err := r.lookup(ctx, host)
		cancel()
		var ips []net.IP
		if err == nil {
			for _, s := range addrs {
				if ip := net.ParseIP(s); ip != nil {
					ips = append(ips, ip)
				}
			}
		}
		r.mu.Lock()
		if err == nil || !n.answered {
			// A failed refresh keeps the last answer.
			n.ips = ips
		}
		n.answered = true
		if !n.again || r.closed {
			n.inflight = false
			r.mu.Unlock()
			return
		}
		n.again = false
		r.mu.Unlock()
	}
}

// Wait returns once no lookup is in flight (tests; a daemon never waits).
func (r *Resolver) Wait() { r.wg.Wait() }

// Close cancels the lookups in flight and waits for them; no lookup
// starts after it. The answers kept still serve the comparisons.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// ips is what host is known as now: itself when an IP literal, else the
// last answer for it (nil when none yet). For a name not known yet a
// lookup starts: a trusted one always, a peer's within the budget.
func (r *Resolver) ips(host string, trusted bool) []net.IP {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.names[host]; n != nil {
		return n.ips
	}
	if !trusted {
		if r.budget <= 0 {
			return nil
		}
		r.budget--
	}
	r.startLocked(host, false)
	return nil
}

// SameHost reports whether host (as a peer gave it) is the trusted host:
// literally, or by IP, with the names resolved so far (see the package
// doc); it never waits for a lookup.
func (r *Resolver) SameHost(host, trusted string) bool {
	if host == "" {
		return false
	}
	if host == trusted {
		return true
	}
	want := r.ips(trusted, true)
	if len(want) == 0 {
		return false
	}
	for _, ip := range r.ips(host, false) {
		for _, w := range want {
			if ip.Equal(w) {
				return true
			}
		}
	}
	return false
}

// SameAddress reports whether a is the trusted address: the same port and
// SameHost.
func (r *Resolver) SameAddress(a, trusted rpcenv.Address) bool {
	return !a.IsZero() && a.Port == trusted.Port && r.SameHost(a.Host, trusted.Host)
}

// SameIP compares two IP literals (127.0.0.1 and ::ffff:127.0.0.1 are
// one); hosts that are not literals match only when equal.
func SameIP(a, b string) bool {
	if a == b {
		return true
	}
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}
