package master

import (
	"errors"
	"fmt"
	"net"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/internal/authority"
	"github.com/ember-rpc/ember/rpcenv"
)

// ErrNotAuthorized is wrapped by Admit's refusals: the sender may not say
// this about that worker, application or driver.
var ErrNotAuthorized = errors.New("master: refused: sender has no authority over the worker or application it names")

// ErrTooManyWorkers refuses a registration past Config.MaxWorkers.
var ErrTooManyWorkers = errors.New("master: refused: too many workers")

// DefaultMaxWorkers is Config.MaxWorkers's default.
const DefaultMaxWorkers = 1 << 14

// Link is the connection a remote message arrived over: an rpcenv.Conn in
// the daemon, a fake in tests. Two messages came over one connection
// exactly when their Links are equal. A nil Link is a message with no
// connection (the master's own, or a test's).
type Link interface {
	// RemoteAddr is the socket address of the other end, as the kernel
	// reports it (the peer cannot choose it).
	RemoteAddr() rpcenv.Address
	// IsActive reports whether the connection is still open.
	IsActive() bool
}

// Admit decides whether a remote message may reach the state, given the
// address its sender claims (the RPC envelope's, which the peer writes)
// and the connection it arrived over. Every field is validated first
// (deploy.Validate). Then:
//
//   - a message carrying a ref (RegisterWorker, Heartbeat,
//     RegisterApplication) must claim the address that ref names;
//   - a new worker is not registered past Config.MaxWorkers;
//   - what a worker reports (Heartbeat, ExecutorStateChanged,
//     WorkerLatestState, WorkerSchedulerStateResponse, DriverStateChanged,
//     and a registration again under its id) is taken only from the worker
//     it concerns (the registered worker of that id, the worker running
//     that executor or driver), and only over the connection that worker
//     registered over;
//   - what only a driver decides (UnregisterApplication, RequestExecutors,
//     KillExecutors, MasterChangeAcknowledged) only over the connection its
//     application registered over.
//
// Every Spark and Ember worker and driver sends to the master over one
// connection it dialled itself (its outbox to the master's address), so
// a forged sender address on another connection is refused. When that
// connection has closed (the peer reconnected) or is not known yet (after
// a recovery), the next connection that claims the peer's address takes
// over, but only from the same host: the host the old connection came
// from, or for a recovered peer the host its address names when that is
// an IP literal. Admit records that takeover. This is the limit without
// spark.authenticate: a process on the worker's or driver's own host can
// take its place while its connection is down, and a recovered peer
// known by a host name is taken by the first connection that claims it.
//
// Messages about ids the master does not know pass: the state ignores
// them, as Spark does.
func (s *State) Admit(msg any, from rpcenv.Address, link Link) error {
	if err := deploy.Validate(msg); err != nil {
		return err
	}
	switch m := msg.(type) {
	case deploy.RegisterWorker:
		if err := refFrom(msg, m.Worker, from); err != nil {
			return err
		}
		if w := s.idToWorker[m.ID]; w != nil {
			return s.fromWorker(msg, w, from, link)
		}
		if s.cfg.MaxWorkers > 0 && len(s.workers) >= s.cfg.MaxWorkers {
			return fmt.Errorf("%w: %d workers listed (spark.deploy.ember.maxWorkers)", ErrTooManyWorkers, len(s.workers))
		}
	case deploy.RegisterApplication:
		return refFrom(msg, m.Driver, from)
	case deploy.Heartbeat:
		if err := refFrom(msg, m.Worker, from); err != nil {
			return err
		}
		return s.fromWorker(msg, s.idToWorker[m.WorkerID], from, link)
	case deploy.WorkerLatestState:
		return s.fromWorker(msg, s.idToWorker[m.ID], from, link)
	case deploy.WorkerSchedulerStateResponse:
		return s.fromWorker(msg, s.idToWorker[m.ID], from, link)
	case deploy.ExecutorStateChanged:
		if a := s.idToApp[m.AppID]; a != nil {
			if e := a.Executors[m.ExecID]; e != nil {
				return s.fromWorker(msg, e.Worker, from, link)
			}
		}
	case deploy.DriverStateChanged:
		if d := s.drivers[m.DriverID]; d != nil {
			if d.Worker != nil {
				return s.fromWorker(msg, d.Worker, from, link)
			}
			// A driver waiting for a worker (or not yet re-attached after
			// a recovery): only some registered worker may report on it.
			if w := s.workerAt(from); w == nil || (link != nil && w.conn.link != link) {
				return fmt.Errorf("%w: %T for driver %s from %s, which is no registered worker", ErrNotAuthorized, msg, m.DriverID, from)
			}
		}
	case deploy.UnregisterApplication:
		return s.fromDriver(msg, s.idToApp[m.AppID], from, link)
	case deploy.MasterChangeAcknowledged:
		return s.fromDriver(msg, s.idToApp[m.AppID], from, link)
	case deploy.RequestExecutors:
		return s.fromDriver(msg, s.idToApp[m.AppID], from, link)
	case deploy.KillExecutors:
		return s.fromDriver(msg, s.idToApp[m.AppID], from, link)
	}
	return nil
}

// refFrom checks that a listening peer's ref names the sender itself.
func refFrom(msg any, ref *rpcenv.Ref, from rpcenv.Address) error {
	if ref == nil {
		return nil // the shell refuses these with its own message
	}
	if a := ref.Address().Addr; !a.IsZero() && a != from {
		return fmt.Errorf("%w: %T names endpoint %s but comes from %s", ErrNotAuthorized, msg, a, from)
	}
	return nil
}

// peerLink is the connection a worker or a driver is bound to, and the
// host it came from.
type peerLink struct {
	link Link
	host string // the link's remote host; kept after it closes
}

// over checks that a message about a peer came over its connection (see
// Admit), moving the binding to link when the old one is gone and link
// comes from the same host. what names the peer in the error; addrHost is
// the host of the peer's address.
func (p *peerLink) over(msg any, what string, addrHost string, link Link) error {
	if link == nil || p.link == link {
		return nil
	}
	if p.link != nil && p.link.IsActive() {
		return fmt.Errorf("%w: %T about %s over %s, not over the connection it registered over (from %s)",
			ErrNotAuthorized, msg, what, link.RemoteAddr(), p.link.RemoteAddr())
	}
	host := link.RemoteAddr().Host
	switch {
	case p.host != "":
		if !authority.SameIP(host, p.host) {
			return fmt.Errorf("%w: %T about %s from host %s; its connection came from %s",
				ErrNotAuthorized, msg, what, host, p.host)
		}
	case net.ParseIP(addrHost) != nil:
		if !authority.SameIP(host, addrHost) {
			return fmt.Errorf("%w: %T about %s from host %s, not from its address's host %s",
				ErrNotAuthorized, msg, what, host, addrHost)
		}
	}
	p.bind(link)
	return nil
}

func (p *peerLink) bind(link Link) {
	if link == nil {
		return
	}
	p.link, p.host = link, link.RemoteAddr().Host
}

func (s *State) fromWorker(msg any, w *WorkerInfo, from rpcenv.Address, link Link) error {
	if w == nil {
		return nil
	}
	a := w.Endpoint.Address().Addr
	if a != from {
		return fmt.Errorf("%w: %T about worker %s (at %s) from %s", ErrNotAuthorized, msg, w.ID, a, from)
	}
	return w.conn.over(msg, "worker "+w.ID, a.Host, link)
}

func (s *State) fromDriver(msg any, a *AppInfo, from rpcenv.Address, link Link) error {
	if a == nil {
		return nil
	}
	if a.driverAddress.IsZero() {
		// A client-only driver (spark-client://): known only by the
		// connection it registered over.
		if link != nil {
			if a.conn.link != link {
				return fmt.Errorf("%w: %T about application %s over %s, not its driver's connection", ErrNotAuthorized, msg, a.ID, link.RemoteAddr())
			}
			return nil
		}
		if a.registeredFrom.IsZero() || a.registeredFrom != from {
			return fmt.Errorf("%w: %T about application %s from %s, which is not its driver", ErrNotAuthorized, msg, a.ID, from)
		}
		return nil
	}
	if a.driverAddress != from {
		return fmt.Errorf("%w: %T about application %s from %s, which is not its driver", ErrNotAuthorized, msg, a.ID, from)
	}
	return a.conn.over(msg, "application "+a.ID, a.driverAddress.Host, link)
}

func (s *State) workerAt(from rpcenv.Address) *WorkerInfo {
	for ea, w := range s.addressToWorker {
		if ea.Addr == from {
			return w
		}
	}
	return nil
}

// refuse logs one rate-limited line for a refused message.
func (m *Master) refuse(from rpcenv.Address, conn rpcenv.Conn, msg any, err error) {
	m.refusals.Refuse(m.log, from, conn, msg, err)
}
