package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/rpcenv"
)

// ErrNotFromMaster is wrapped by Admit's refusals: the message's sender
// has no authority over this worker.
var ErrNotFromMaster = errors.New("worker: refused: sender has no authority over this worker")

// Admit decides whether a remote message may reach the core, given the
// address rpcenv reports for its sender. Orders (LaunchExecutor,
// KillExecutor, LaunchDriver, KillDriver, ApplicationFinished,
// ReconnectWorker) are obeyed only from the active master; a leader
// change (MasterChanged) and the answers to a registration
// (RegisteredWorker, RegisterWorkerFailed) only from a master of the
// configured list, and they must name that same master. Host names are
// compared through CoreConfig.Resolve: the configured masters' once, the
// names peers give within a budget of peerLookups for the worker's life.
//
// The sender is the address the peer's env writes in each request, so a
// peer that forges it passes; what rpcenv knows of the socket is not
// exposed to endpoints yet (see the package doc).
func (c *Core) Admit(msg any, from rpcenv.Address) error {
	switch m := msg.(type) {
	case deploy.LaunchExecutor, deploy.KillExecutor, deploy.LaunchDriver, deploy.KillDriver,
		deploy.ApplicationFinished, deploy.ReconnectWorker:
		if !c.fromActiveMaster(from) {
			return fmt.Errorf("%w: %T from %s, which is not the active master", ErrNotFromMaster, msg, from)
		}
	case deploy.MasterChanged:
		return c.admitMaster(msg, m.Master, from)
	case deploy.RegisteredWorker:
		return c.admitMaster(msg, m.Master, from)
	case deploy.RegisterWorkerFailed, deploy.MasterInStandby:
		if !c.isConfiguredMaster(from) {
			return fmt.Errorf("%w: %T from %s, which is not a configured master", ErrNotFromMaster, msg, from)
		}
	}
	return nil
}

// admitMaster checks a message that makes master the worker's master.
func (c *Core) admitMaster(msg any, master *rpcenv.Ref, from rpcenv.Address) error {
	if master == nil {
		return fmt.Errorf("%w: %T from %s names no master", ErrNotFromMaster, msg, from)
	}
	addr := master.Address().Addr
	if _, ok := c.configuredMaster(addr); !ok {
		return fmt.Errorf("%w: %T from %s names %s, which is not a configured master", ErrNotFromMaster, msg, from, addr)
	}
	if !c.sameAddress(from, addr) {
		return fmt.Errorf("%w: %T names master %s but comes from %s", ErrNotFromMaster, msg, addr, from)
	}
	return nil
}

// MasterAddress is the address the worker talks to a master at that a
// message names: the configured address when the message names it by a
// host name of its own (so that a name which resolved to a configured
// master once cannot be re-pointed by DNS later), else addr.
func (c *Core) MasterAddress(addr rpcenv.Address) rpcenv.Address {
	if net.ParseIP(addr.Host) != nil {
		return addr
	}
	if m, ok := c.configuredMaster(addr); ok {
		return m
	}
	return addr
}

func (c *Core) fromActiveMaster(from rpcenv.Address) bool {
	if c.master == nil {
		return false
	}
	if c.sameAddress(from, c.master.Address().Addr) {
		return true
	}
	return c.masterAddressToConnect != nil && c.sameAddress(from, *c.masterAddressToConnect)
}

// configuredMaster returns the configured master a is.
func (c *Core) configuredMaster(a rpcenv.Address) (rpcenv.Address, bool) {
	for _, m := range c.cfg.Masters {
		if a == m {
			return m, true
		}
	}
	for _, m := range c.cfg.Masters {
		if c.sameAddress(a, m) {
			return m, true
		}
	}
	return rpcenv.Address{}, false
}

func (c *Core) isConfiguredMaster(a rpcenv.Address) bool {
	_, ok := c.configuredMaster(a)
	return ok
}

// sameAddress reports whether a is trusted: the same port, and the same
// host literally or by IP (trusted's host resolved; a's host, when a
// name, resolved within the peer lookup budget).
func (c *Core) sameAddress(a, trusted rpcenv.Address) bool {
	if a.IsZero() || a.Port != trusted.Port {
		return false
	}
	if a.Host == trusted.Host {
		return true
	}
	want := c.ipsOf(trusted.Host, c.resolve)
	for _, ip := range c.ipsOf(a.Host, c.resolvePeer) {
		for _, w := range want {
			if ip.Equal(w) {
				return true
			}
		}
	}
	return false
}

func (c *Core) ipsOf(host string, resolve func(string) []string) []net.IP {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	var out []net.IP
	for _, s := range resolve(host) {
		if ip := net.ParseIP(s); ip != nil {
			out = append(out, ip)
		}
	}
	return out
}

// peerLookups bounds the host names a peer can make the worker look up,
// over its whole life: a master that advertises a name its workers know
// by IP costs one lookup; a peer sending names costs at most this many.
const peerLookups = 8

// resolvePeer looks up a host name a peer gave, within the budget.
func (c *Core) resolvePeer(host string) []string {
	if ips, ok := c.resolved[host]; ok {
		return ips
	}
	if c.peerLookups >= peerLookups {
		return nil
	}
	c.peerLookups++
	return c.resolve(host)
}

// resolve looks a trusted host up once and keeps the answer.
func (c *Core) resolve(host string) []string {
	if ips, ok := c.resolved[host]; ok {
		return ips
	}
	var ips []string
	if c.cfg.Resolve != nil {
		ips = c.cfg.Resolve(host)
	}
	if c.resolved == nil {
		c.resolved = map[string][]string{}
	}
	c.resolved[host] = ips
	return ips
}

// lookupHost is CoreConfig.Resolve for the daemon: the system resolver,
// bounded in time (it runs on the endpoint's goroutine, for the worker's
// own masters only, once per host).
func lookupHost(host string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil
	}
	return ips
}

// refusals limits the worker's per-message warnings to one line per peer
// per interval.
var refusalInterval = 10 * time.Second

func newRefusalLog() *ratelog.Limiter { return ratelog.New(refusalInterval, 256) }

// refuse logs one rate-limited line for a refused message.
func (w *Worker) refuse(from rpcenv.Address, msg any, err error) {
	w.refusals.Warn(w.log, from.Host, "refusing message", "from", from.String(), "msg", fmt.Sprintf("%T", msg), "err", err)
}
