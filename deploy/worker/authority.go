package worker

import (
	"errors"
	"fmt"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// ErrNotFromMaster is wrapped by Admit's refusals: the message's sender
// has no authority over this worker.
var ErrNotFromMaster = errors.New("worker: refused: sender has no authority over this worker")

// Link is the connection a remote message arrived over: an rpcenv.Conn in
// the daemon, a fake in tests; nil for a message with no connection (the
// worker's own, or a test's).
type Link interface {
	// RemoteAddr is the socket address of the other end, as the kernel
	// reports it: for a connection the worker dialled, the address it
	// dialled.
	RemoteAddr() rpcenv.Address
	// Outgoing reports whether the worker dialled the connection.
	Outgoing() bool
	// IsActive reports whether the connection is still open.
	IsActive() bool
}

// Admit decides whether a remote message may reach the core, given the
// address its sender claims (the RPC envelope's, which the peer writes)
// and the connection it arrived over. Orders (LaunchExecutor,
// KillExecutor, LaunchDriver, KillDriver, ApplicationFinished,
// ReconnectWorker) are obeyed only from the active master; a leader
// change (MasterChanged) and the answers to a registration
// (RegisteredWorker, RegisterWorkerFailed, MasterInStandby) only from a
// master of the configured list, and the first two must name that same
// master. Host names are compared through CoreConfig.Names, which
// resolves them off the endpoint's loop: the configured masters' and the
// active master's, and the names peers give within a budget of
// peerLookups for the worker's life.
//
// The claimed address is checked against the connection:
//
//   - over a connection the worker dialled (to a configured master, or
//     the active one), the master is whoever answers at the address the
//     worker chose: an Ember master sends its orders back over the
//     worker's own connection;
//   - over a connection the master dialled (Spark's master sends through
//     its own outbox to the worker's address, and so does an Ember master
//     after a failover), the connection must come from the master's host,
//     and orders are then taken only over that one connection, bound when
//     a RegisteredWorker or MasterChanged is admitted over it; another
//     connection is refused while it stays open, and after it closed the
//     next from the master's host takes over. A master that answered over
//     the worker's own connection gives no orders over any other.
//
// This is the limit without spark.authenticate: a process on a master's
// own host can claim that master's address over a connection of its own
// while a master that dials the worker has none open to it (between its
// reconnects), and a process on a configured master's host can send
// MasterChanged naming that master (naming the active master, only once
// the active master's connection has closed). A peer on any other host
// cannot.
func (c *Core) Admit(msg any, from rpcenv.Address, link Link) error {
	switch m := msg.(type) {
	case deploy.LaunchExecutor, deploy.KillExecutor, deploy.LaunchDriver, deploy.KillDriver,
		deploy.ApplicationFinished, deploy.ReconnectWorker:
		if !c.fromActiveMaster(from) {
			return fmt.Errorf("%w: %T from %s, which is not the active master", ErrNotFromMaster, msg, from)
		}
		return c.overMasterLink(msg, link)
	case deploy.MasterChanged:
		return c.admitMaster(msg, m.Master, from, link)
	case deploy.RegisteredWorker:
		return c.admitMaster(msg, m.Master, from, link)
	case deploy.RegisterWorkerFailed, deploy.MasterInStandby:
		if !c.isConfiguredMaster(from) {
			return fmt.Errorf("%w: %T from %s, which is not a configured master", ErrNotFromMaster, msg, from)
		}
		return c.fromHostOf(msg, from, link)
	}
	return nil
}

// admitMaster checks a message that makes master the worker's master.
func (c *Core) admitMaster(msg any, master *rpcenv.Ref, from rpcenv.Address, link Link) error {
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
	if err := c.fromHostOf(msg, addr, link); err != nil {
		return err
	}
	if link != nil && !link.Outgoing() && c.isActiveMasterAddress(addr) {
		// The active master again, over a connection it dialled: a
		// master restarted at its address does that, but only once the
		// old one's connection has gone.
		cur := c.masterOrdersLink()
		if cur != nil && cur != link && cur.IsActive() {
			return fmt.Errorf("%w: %T names the active master %s over a connection from %s while the master is connected over %s",
				ErrNotFromMaster, msg, addr, link.RemoteAddr(), cur.RemoteAddr())
		}
	}
	if link != nil {
		// Over the worker's own connection (an Ember master answers so)
		// the master needs no other; over one it dialled (Spark's
		// master, or any after a failover) its orders come that way.
		c.masterDials = !link.Outgoing()
		c.masterLink, c.ownLink = nil, nil
		if c.masterDials {
			c.masterLink = link
		} else {
			c.ownLink = link
		}
	}
	return nil
}

// fromHostOf checks that link reaches master: dialled by the worker to a
// configured or the active master, or accepted from master's host.
func (c *Core) fromHostOf(msg any, master rpcenv.Address, link Link) error {
	if link == nil {
		return nil
	}
	remote := link.RemoteAddr()
	if link.Outgoing() {
		if c.isConfiguredMaster(remote) || c.isActiveMasterAddress(remote) {
			return nil
		}
		return fmt.Errorf("%w: %T over the worker's connection to %s, which is no master", ErrNotFromMaster, msg, remote)
	}
	if !c.sameHost(remote.Host, master.Host) {
		return fmt.Errorf("%w: %T claims master %s over a connection from host %s", ErrNotFromMaster, msg, master, remote.Host)
	}
	return nil
}

// overMasterLink checks that an order from the active master came over
// the master's connection (see Admit).
func (c *Core) overMasterLink(msg any, link Link) error {
	if link == nil {
		return nil
	}
	if link.Outgoing() {
		if c.isActiveMasterAddress(link.RemoteAddr()) {
			return nil
		}
		return fmt.Errorf("%w: %T over the worker's connection to %s, which is not the active master", ErrNotFromMaster, msg, link.RemoteAddr())
	}
	if !c.masterDials {
		return fmt.Errorf("%w: %T over a connection from %s; the active master sends over the worker's own connection",
			ErrNotFromMaster, msg, link.RemoteAddr())
	}
	if link == c.masterLink {
		return nil
	}
	if c.masterLink != nil && c.masterLink.IsActive() {
		return fmt.Errorf("%w: %T over a connection from %s, not over the master's (from %s)",
			ErrNotFromMaster, msg, link.RemoteAddr(), c.masterLink.RemoteAddr())
	}
	if !c.sameHost(link.RemoteAddr().Host, c.master.Address().Addr.Host) {
		return fmt.Errorf("%w: %T over a connection from host %s, not the active master's", ErrNotFromMaster, msg, link.RemoteAddr().Host)
	}
	c.masterLink = link
	return nil
}

// masterOrdersLink is the connection the active master's orders come
// over: the one it dialled, or the worker's own; nil when unknown.
func (c *Core) masterOrdersLink() Link {
	if c.masterDials {
		return c.masterLink
	}
	return c.ownLink
}

// isActiveMasterAddress reports whether a is the active master's address.
func (c *Core) isActiveMasterAddress(a rpcenv.Address) bool {
	if c.master == nil {
		return false
	}
	if c.sameAddress(a, c.master.Address().Addr) {
		return true
	}
	return c.masterAddressToConnect != nil && c.sameAddress(a, *c.masterAddressToConnect)
}

// MasterAddress is the address the worker talks to a master at that a
// message names: the configured address when the message names a
// configured master by another spelling (a host name for its IP, or the
// IP for its name), else addr. A name that resolved to a configured
// master once cannot be re-pointed by DNS later, and the worker's
// messages to its master leave over the one connection it registered
// over, the only one the master takes them from.
func (c *Core) MasterAddress(addr rpcenv.Address) rpcenv.Address {
	if m, ok := c.configuredMaster(addr); ok {
		return m
	}
	return addr
}

func (c *Core) fromActiveMaster(from rpcenv.Address) bool { return c.isActiveMasterAddress(from) }

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

// sameAddress reports whether a is trusted (see sameHost).
func (c *Core) sameAddress(a, trusted rpcenv.Address) bool {
	if c.cfg.Names == nil {
		return !a.IsZero() && a == trusted
	}
	return c.cfg.Names.SameAddress(a, trusted)
}

// sameHost reports whether host is the trusted host, literally or by IP:
// with the names CoreConfig.Names has resolved so far (trusted names, and
// names peers give within peerLookups for the worker's life). It never
// waits for a lookup; a name whose lookup has not answered yet compares
// as one that does not resolve, and the master that was refused so
// (met by another spelling of its address) is admitted when it answers
// the worker's next registration attempt.
func (c *Core) sameHost(host, trusted string) bool {
	if c.cfg.Names == nil {
		return host != "" && host == trusted
	}
	return c.cfg.Names.SameHost(host, trusted)
}

// peerLookups bounds the host names a peer can make the worker look up,
// over its whole life: a master that advertises a name its workers know
// by IP costs one lookup; a peer sending names costs at most this many.
const peerLookups = 8

// refuse logs one rate-limited line for a refused message.
func (w *Worker) refuse(from rpcenv.Address, conn rpcenv.Conn, msg any, err error) {
	w.refusals.Refuse(w.log, from, conn, msg, err)
}
