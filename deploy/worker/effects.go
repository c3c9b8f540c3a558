package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// effects is Worker seen as the core's Effects: what the core asks of
// the daemon, done on the endpoint's loop.
type effects Worker

func (f *effects) Register(addr rpcenv.Address, msg deploy.RegisterWorker) {
	w := (*Worker)(f)
	msg.Worker = w.self
	// Spark first looks the endpoint up (an ask to the remote
	// endpoint-verifier); Ember sends at once, so that nothing waits on a
	// lookup: a master that is down or unknown simply never answers, and
	// the retry schedule goes on.
	ref := w.env.RefFor(rpcenv.EndpointAddress{Addr: addr, Name: deploy.MasterEndpointName})
	if err := ref.Send(msg); err != nil {
		w.log.Warn("Failed to send RegisterWorker", "master", addr.String(), "err", err)
	}
}

func (f *effects) Send(to Peer, msg any) {
	w := (*Worker)(f)
	if hb, ok := msg.(deploy.Heartbeat); ok {
		hb.Worker = w.self
		msg = hb
	}
	ref, ok := to.(*rpcenv.Ref)
	if !ok {
		w.log.Warn("send to a master that is no ref", "msg", fmt.Sprintf("%T", msg))
		return
	}
	if err := ref.Send(msg); err != nil {
		w.log.Warn("send to master failed", "msg", fmt.Sprintf("%T", msg), "err", err)
	}
}

func (f *effects) SyncExecutorState(to Peer, msg deploy.ExecutorStateChanged) {
	if ref, ok := to.(*rpcenv.Ref); ok {
		f.syncq.push(syncItem{master: ref, msg: msg})
	}
}

func (f *effects) StartTimer(t Timer, first, period time.Duration) {
	w := (*Worker)(f)
	w.timers[t].cancel()
	r := &repeater{stopCh: make(chan struct{})}
	w.timers[t] = r
	msg := tick{t: t, gen: r}
	w.spawn(func() {
		tm := time.NewTimer(first)
		defer tm.Stop()
		for {
			select {
			case <-tm.C:
				_ = w.self.Send(msg)
				tm.Reset(period)
			case <-r.stopCh:
				return
			case <-w.stop:
				return
			}
		}
	})
}

func (f *effects) StopTimer(t Timer) {
	f.timers[t].cancel()
	delete(f.timers, t)
}

func (f *effects) PrepareExecutorDir(dir string) error { return os.MkdirAll(dir, 0o755) }

func (f *effects) CreateAppLocalDirs(string) ([]string, error) {
	return createAppLocalDirs(f.cfg.localRoots, f.log)
}

var errShuttingDown = errors.New("the worker is shutting down")

func (f *effects) LaunchExecutor(spec ExecutorSpec) error {
	w := (*Worker)(f)
	r := &executorRunner{w: w, spec: spec, killCh: make(chan struct{})}
	if !w.startRunner(spec.FullID(), r, r.run) {
		return errShuttingDown
	}
	return nil
}

func (f *effects) KillExecutor(appID string, execID int) {
	(*Worker)(f).killRunner(appID + "/" + strconv.Itoa(execID))
}

func (f *effects) LaunchDriver(spec DriverSpec) error {
	w := (*Worker)(f)
	d := &driverRunner{w: w, spec: spec, killCh: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(w.ctx)
	if !w.startRunner(spec.ID, d, d.run) {
		d.cancel()
		return errShuttingDown
	}
	return nil
}

func (f *effects) KillDriver(id string) { (*Worker)(f).killRunner(id) }

func (f *effects) ExecutorRemoved(appID string, execID int) {
	w := (*Worker)(f)
	if svc := w.shuffle; svc != nil {
		w.spawn(func() { svc.ExecutorRemoved(appID, strconv.Itoa(execID)) })
	}
}

func (f *effects) CleanupApp(appID string, dirs []string) {
	w := (*Worker)(f)
	svc := w.shuffle
	w.spawn(func() {
		for _, d := range dirs {
			if err := os.RemoveAll(d); err != nil {
				w.log.Error("Clean up app dir failed", "dir", d, "err", err)
			}
		}
		if svc != nil {
			svc.ApplicationRemoved(appID, true)
		}
	})
}

func (f *effects) CleanWorkDir(inUse map[string]bool) { (*Worker)(f).cleanupWorkDir(inUse) }

func (f *effects) Exit(code int) { (*Worker)(f).exit(code) }

// ---- executor state sync (worker → master asks) ----

// syncItem is one ExecutorStateChanged for the master.
type syncItem struct {
	master *rpcenv.Ref
	msg    deploy.ExecutorStateChanged
}

// syncQueue feeds the goroutine that asks the master, one state at a
// time, so that the master sees an executor's states in order.
type syncQueue struct {
	mu    sync.Mutex // guards items
	items []syncItem
	ready chan struct{} // capacity 1: items is not empty
}

func (q *syncQueue) push(it syncItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *syncQueue) drain() []syncItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}

// syncLoop asks the master for each queued state in turn. A failed ask is
// retried by sending the state to the endpoint again, after askTimeout
// unless the failure was a timeout; after
// spark.worker.executorStateSync.maxAttempts failures the worker exits.
func (w *Worker) syncLoop() {
	failures := map[string]int{}
	askTimeout, _ := w.env.AskTimeout()
	for {
		select {
		case <-w.syncq.ready:
		case <-w.stop:
			return
		}
		for _, it := range w.syncq.drain() {
			_, err := it.master.Ask(w.ctx, it.msg)
			if w.ctx.Err() != nil {
				return
			}
			id := it.msg.AppID + "/" + strconv.Itoa(it.msg.ExecID)
			if err == nil {
				delete(failures, id)
				continue
			}
			n := failures[id] + 1
			if n >= w.cfg.syncMaxAttempts {
				delete(failures, id)
				w.log.Error("Failed to send executor state to Master; giving up", "executor", id, "state", it.msg.State,
					"attempts", n, "err", err)
				w.exit(1)
				continue
			}
			failures[id] = n
			w.log.Error("Failed to send executor state to Master, will retry", "executor", id, "state", it.msg.State,
				"attempt", n, "max", w.cfg.syncMaxAttempts, "err", err)
			var delay time.Duration
			var te interface{ Timeout() bool }
			if !errors.As(err, &te) || !te.Timeout() {
				delay = askTimeout
			}
			msg := it.msg
			w.spawn(func() {
				t := time.NewTimer(delay)
				defer t.Stop()
				select {
				case <-t.C:
					_ = w.self.Send(resyncExecutorState{msg: msg})
				case <-w.stop:
				}
			})
		}
	}
}
