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
// compared through the resolver of CoreConfig.Resolve, and only the
// worker's own masters are ever resolved (never a host a peer names).
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
	if !c.isConfiguredMaster(addr) {
		return fmt.Errorf("%w: %T from %s names %s, which is not a configured master", ErrNotFromMaster, msg, from, addr)
	}
	if !c.sameAddress(from, addr) {
		return fmt.Errorf("%w: %T names master %s but comes from %s", ErrNotFromMaster, msg, addr, from)
	}
	return nil
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

func (c *Core) isConfiguredMaster(a rpcenv.Address) bool {
	for _, m := range c.cfg.Masters {
		if c.sameAddress(a, m) {
			return true
		}
	}
	return false
}

// sameAddress reports whether from is trusted: the same port, and the
// same host literally, as an IP, or among the addresses trusted's host
// resolves to.
func (c *Core) sameAddress(from, trusted rpcenv.Address) bool {
	if from.IsZero() || from.Port != trusted.Port {
		return false
	}
	if from.Host == trusted.Host {
		return true
	}
	fromIP := net.ParseIP(from.Host)
	if fromIP == nil {
		return false // a name a peer gives is never looked up
	}
	if ip := net.ParseIP(trusted.Host); ip != nil {
		return ip.Equal(fromIP)
	}
	for _, s := range c.resolve(trusted.Host) {
		if ip := net.ParseIP(s); ip != nil && ip.Equal(fromIP) {
			return true
		}
	}
	return false
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
