package client

import (
	"errors"
	"fmt"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// ErrNotFromMaster is wrapped by the client's refusals: the sender is not
// the master the message needs.
var ErrNotFromMaster = errors.New("client: refused: sender is not the application's master")

// admit decides whether a message may reach the client. ApplicationRemoved
// must come from the current master, MasterChanged must name a configured
// master and come from it; other messages pass. "Come from" means the
// address the sender claims and the connection: one the driver dialled to
// that master (the master answers over the driver's own connection), or
// one accepted from that master's host (a master that took over after a
// failover dials the driver), and while the connection the current
// master's last word (RegisteredApplication, MasterChanged) came over is
// open, only over that one. Without spark.authenticate a process on a
// master's host can still claim to be it; a peer on another host cannot.
func (c *AppClient) admit(msg any, from rpcenv.Address, conn rpcenv.Conn) error {
	switch x := msg.(type) {
	case deploy.ApplicationRemoved:
		_, m := c.current()
		if m == nil {
			return fmt.Errorf("%w: ApplicationRemoved from %s before any master accepted the application", ErrNotFromMaster, from)
		}
		if err := c.overMasterConn(msg, conn); err != nil {
			return err
		}
		return c.fromMaster(msg, m.Address().Addr, from, conn)
	case deploy.MasterChanged:
		if x.Master == nil {
			return nil // Receive refuses it with its own error
		}
		addr := x.Master.Address().Addr
		if !c.isConfigured(addr) {
			return fmt.Errorf("%w: MasterChanged from %s names %s, which is not a configured master", ErrNotFromMaster, from, addr)
		}
		if _, m := c.current(); m != nil && c.sameAddress(addr, m.Address().Addr) {
			// The current master again: only once its connection closed
			// (a master restarted at its address).
			if err := c.overMasterConn(msg, conn); err != nil {
				return err
			}
		}
		return c.fromMaster(msg, addr, from, conn)
	}
	return nil
}

// overMasterConn refuses a message over another connection than the one
// the current master's last word came over, while that one is open.
func (c *AppClient) overMasterConn(msg any, conn rpcenv.Conn) error {
	if conn.IsZero() || c.masterConn.IsZero() || conn == c.masterConn || !c.masterConn.IsActive() {
		return nil
	}
	return fmt.Errorf("%w: %T over %s while the master is connected over %s", ErrNotFromMaster, msg, conn, c.masterConn)
}

// fromMaster checks that a message claiming master's address came from it.
func (c *AppClient) fromMaster(msg any, master, from rpcenv.Address, conn rpcenv.Conn) error {
	if !c.sameAddress(from, master) {
		return fmt.Errorf("%w: %T from %s, not from %s", ErrNotFromMaster, msg, from, master)
	}
	if conn.IsZero() {
		return nil
	}
	remote := conn.RemoteAddr()
	if conn.Outgoing() {
		if c.sameAddress(remote, master) || c.isConfigured(remote) {
			return nil
		}
		return fmt.Errorf("%w: %T over the driver's connection to %s, which is not %s", ErrNotFromMaster, msg, remote, master)
	}
	if !c.sameHost(remote.Host, master.Host) {
		return fmt.Errorf("%w: %T claims %s over a connection from host %s", ErrNotFromMaster, msg, master, remote.Host)
	}
	return nil
}

func (c *AppClient) isConfigured(a rpcenv.Address) bool {
	for _, m := range c.masters {
		if c.sameAddress(a, m) {
			return true
		}
	}
	return false
}

func (c *AppClient) sameAddress(a, trusted rpcenv.Address) bool {
	return c.names.SameAddress(a, trusted)
}

// sameHost compares host with a trusted host (a configured or the current
// master's), literally or by IP. The trusted names are looked up off the
// endpoint's loop (c.names: the configured masters' from Start, the
// current master's when it changes; a refresh keeps the last answer until
// the new one) and a name a peer gives is compared literally. It never
// waits: while a trusted name's first lookup has not answered, only its
// literal spelling matches, so a master met under another spelling of its
// address in that window (at most authority.LookupTimeout after Start,
// before any failover) is refused as if its name did not resolve. That is
// the safe side; holding messages for a lookup would let a slow resolver
// pile them up.
func (c *AppClient) sameHost(host, trusted string) bool {
	return c.names.SameHost(host, trusted)
}
