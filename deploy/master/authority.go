package master

import (
	"errors"
	"fmt"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/rpcenv"
)

// ErrNotAuthorized is wrapped by Admit's refusals: the sender may not say
// this about that worker, application or driver.
var ErrNotAuthorized = errors.New("master: refused: sender has no authority over the worker or application it names")

// ErrTooManyWorkers refuses a registration past Config.MaxWorkers.
var ErrTooManyWorkers = errors.New("master: refused: too many workers")

// DefaultMaxWorkers is Config.MaxWorkers's default.
const DefaultMaxWorkers = 1 << 14

// Admit decides whether a remote message may reach the state, given the
// address rpcenv reports for its sender. Every field is validated first
// (deploy.Validate). Then:
//
//   - a message carrying a ref (RegisterWorker, Heartbeat,
//     RegisterApplication) must come from the address that ref names;
//   - a new worker is not registered past Config.MaxWorkers;
//   - what a worker reports (Heartbeat, ExecutorStateChanged,
//     WorkerLatestState, WorkerSchedulerStateResponse, DriverStateChanged)
//     is taken only from the worker it concerns: the registered worker of
//     that id, the worker running that executor or driver;
//   - what only a driver decides (UnregisterApplication, RequestExecutors,
//     KillExecutors, MasterChangeAcknowledged) only from the address the
//     application registered from.
//
// Messages about ids the master does not know pass: the state ignores
// them, as Spark does. The sender is the address the peer's env writes in
// each request (the socket's for a client-mode env), so a peer that forges
// it passes the second and third checks; rpcenv does not expose the
// socket to endpoints yet.
func (s *State) Admit(msg any, from rpcenv.Address) error {
	if err := deploy.Validate(msg); err != nil {
		return err
	}
	switch m := msg.(type) {
	case deploy.RegisterWorker:
		if err := refFrom(msg, m.Worker, from); err != nil {
			return err
		}
		if s.cfg.MaxWorkers > 0 && s.idToWorker[m.ID] == nil && len(s.workers) >= s.cfg.MaxWorkers {
			return fmt.Errorf("%w: %d workers listed (spark.deploy.ember.maxWorkers)", ErrTooManyWorkers, len(s.workers))
		}
	case deploy.RegisterApplication:
		return refFrom(msg, m.Driver, from)
	case deploy.Heartbeat:
		if err := refFrom(msg, m.Worker, from); err != nil {
			return err
		}
		return s.fromWorker(msg, s.idToWorker[m.WorkerID], from)
	case deploy.WorkerLatestState:
		return s.fromWorker(msg, s.idToWorker[m.ID], from)
	case deploy.WorkerSchedulerStateResponse:
		return s.fromWorker(msg, s.idToWorker[m.ID], from)
	case deploy.ExecutorStateChanged:
		if a := s.idToApp[m.AppID]; a != nil {
			if e := a.Executors[m.ExecID]; e != nil {
				return s.fromWorker(msg, e.Worker, from)
			}
		}
	case deploy.DriverStateChanged:
		if d := s.drivers[m.DriverID]; d != nil {
			if d.Worker != nil {
				return s.fromWorker(msg, d.Worker, from)
			}
			// A driver waiting for a worker (or not yet re-attached after
			// a recovery): only some registered worker may report on it.
			if s.workerAt(from) == nil {
				return fmt.Errorf("%w: %T for driver %s from %s, which is no registered worker", ErrNotAuthorized, msg, m.DriverID, from)
			}
		}
	case deploy.UnregisterApplication:
		return s.fromDriver(msg, s.idToApp[m.AppID], from)
	case deploy.MasterChangeAcknowledged:
		return s.fromDriver(msg, s.idToApp[m.AppID], from)
	case deploy.RequestExecutors:
		return s.fromDriver(msg, s.idToApp[m.AppID], from)
	case deploy.KillExecutors:
		return s.fromDriver(msg, s.idToApp[m.AppID], from)
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

func (s *State) fromWorker(msg any, w *WorkerInfo, from rpcenv.Address) error {
	if w == nil {
		return nil
	}
	if a := w.Endpoint.Address().Addr; a != from {
		return fmt.Errorf("%w: %T about worker %s (at %s) from %s", ErrNotAuthorized, msg, w.ID, a, from)
	}
	return nil
}

func (s *State) fromDriver(msg any, a *AppInfo, from rpcenv.Address) error {
	if a == nil {
		return nil
	}
	want := a.registeredFrom
	if want.IsZero() {
		want = a.driverAddress
	}
	if want.IsZero() || want != from {
		return fmt.Errorf("%w: %T about application %s from %s, which is not its driver", ErrNotAuthorized, msg, a.ID, from)
	}
	return nil
}

func (s *State) workerAt(from rpcenv.Address) *WorkerInfo {
	for ea, w := range s.addressToWorker {
		if ea.Addr == from {
			return w
		}
	}
	return nil
}

// NoteRegisteredFrom records the address an application's driver
// registered from (the socket's for a client-mode driver, whose ref has
// no address), for Admit.
func (s *State) NoteRegisteredFrom(driver Peer, from rpcenv.Address) {
	if a := s.addressToApp[driver.Address()]; a != nil && a.Driver == driver && a.registeredFrom.IsZero() {
		a.registeredFrom = from
	}
}

// refusalInterval is how often one peer's refused messages are logged.
var refusalInterval = 10 * time.Second

func newRefusalLog() *ratelog.Limiter { return ratelog.New(refusalInterval, 256) }

// refuse logs one rate-limited line for a refused message.
func (m *Master) refuse(from rpcenv.Address, msg any, err error) {
	m.refusals.Warn(m.log, from.Host, "refusing message", "from", from.String(), "msg", fmt.Sprintf("%T", msg), "err", err)
}
