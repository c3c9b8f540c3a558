package worker

import (
	"fmt"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// endpoint is the Worker endpoint (thread-safe: one message at a time).
// It turns messages into the core's events.
type endpoint struct{ w *Worker }

// Self messages.
type (
	// tick is a timer's firing; gen tells a cancelled timer's late tick
	// from the current one's.
	tick struct {
		t   Timer
		gen *repeater
	}
	resyncExecutorState struct{ msg deploy.ExecutorStateChanged }
	// executorInfoRequest asks for every executor's state, final message
	// and exit status (tests).
	executorInfoRequest struct{}
)

// executorInfo is one executor's state (executorInfoRequest).
type executorInfo struct {
	AppID      string
	ExecID     int
	State      deploy.ExecutorState
	Message    *string
	ExitStatus *int
	Finished   bool
}

// OnStart registers with the masters.
func (e *endpoint) OnStart() error {
	w := e.w
	w.log.Info("Starting Spark worker", "address", w.env.Address().String(), "cores", w.cfg.cores,
		"memoryMB", w.cfg.memoryMB, "workDir", w.cfg.workDir, "sparkHome", w.cfg.sparkHome)
	if w.cfg.hostEnv.hasSparkJars(w.cfg.sparkHome) {
		w.log.Info("JVM executors and drivers will run from this Spark", "sparkHome", w.cfg.sparkHome, "from", w.cfg.sparkHomeFrom)
	} else {
		w.log.Warn("No Spark distribution for JVM applications: only Go programs can run on this worker",
			"sparkHome", w.cfg.sparkHome, "from", w.cfg.sparkHomeFrom,
			"fix", "set SPARK_HOME (conf/ember-env.sh) or "+KeySparkHome+" to a Spark 4.1 distribution")
	}
	w.core.Start()
	w.registeredA.Store(w.core.Registered())
	return nil
}

// OnDisconnected re-registers when the master goes away.
func (e *endpoint) OnDisconnected(addr rpcenv.Address) {
	e.w.core.Disconnected(addr)
	e.w.registeredA.Store(e.w.core.Registered())
}

// OnError logs endpoint errors.
func (e *endpoint) OnError(err error) { e.w.log.Warn("worker endpoint error", "err", err) }

// Receive handles a one-way message that came over no known connection.
func (e *endpoint) Receive(msg any, sender rpcenv.Address) error {
	return e.ReceiveOver(msg, sender, rpcenv.Conn{})
}

// ReceiveOver handles one-way messages. A remote message is validated,
// then admitted by the core (Core.Admit, by its sender and its
// connection) before it touches any state; a refusal is one rate-limited
// log line.
func (e *endpoint) ReceiveOver(msg any, sender rpcenv.Address, conn rpcenv.Conn) error {
	w, c := e.w, e.w.core
	defer func() { w.registeredA.Store(c.Registered()) }()
	err := deploy.Validate(msg)
	if err == nil {
		var link Link
		if !conn.IsZero() {
			link = conn
		}
		err = c.Admit(msg, sender, link)
	}
	if err != nil {
		w.refuse(sender, conn, msg, err)
		return nil
	}
	switch x := msg.(type) {
	case deploy.RegisteredWorker:
		c.RegisteredWorker(w.masterPeer(x.Master), x.MasterWebUIURL, x.MasterAddress, x.Duplicate)
	case deploy.RegisterWorkerFailed:
		c.RegisterWorkerFailed(x.Message)
	case deploy.MasterInStandby:
		c.MasterInStandby()
	case tick:
		if w.timers[x.t] == x.gen {
			c.Tick(x.t)
		}
	case deploy.ReconnectWorker:
		c.ReconnectWorker(x.MasterURL)
	case deploy.MasterChanged:
		c.MasterChanged(w.masterPeer(x.Master), x.MasterWebUIURL)
	case deploy.LaunchExecutor:
		c.LaunchExecutor(x)
	case deploy.KillExecutor:
		c.KillExecutor(x)
	case executorStateFromRunner:
		c.ExecutorStateChanged(x.msg)
	case resyncExecutorState:
		c.ResyncExecutorState(x.msg)
	case deploy.ApplicationFinished:
		c.ApplicationFinished(x.ID)
	case deploy.LaunchDriver:
		c.LaunchDriver(x)
	case deploy.KillDriver:
		c.KillDriver(x.DriverID)
	case driverStateFromRunner:
		c.DriverStateChanged(x.msg)
	default:
		w.refuse(sender, conn, msg, fmt.Errorf("%w: worker got %T", rpcenv.ErrUnsupported, msg))
	}
	return nil
}

// ReceiveAndReply handles asks.
func (e *endpoint) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	w := e.w
	switch msg.(type) {
	case deploy.RequestWorkerState:
		cc.Reply(w.snapshot())
	case executorInfoRequest:
		cc.Reply(w.executorInfos())
	default:
		err := fmt.Errorf("%w: worker got ask %T", rpcenv.ErrUnsupported, msg)
		w.refuse(cc.SenderAddress(), rpcenv.ConnOf(cc), msg, err)
		cc.SendFailure(err)
	}
	return nil
}

// masterPeer is the master a message names, as a ref by address: sends
// then reconnect through the env's outbox rather than stick to the
// connection the ref arrived on. A nil ref is a nil Peer.
func (w *Worker) masterPeer(ref *rpcenv.Ref) Peer {
	if ref == nil {
		return nil
	}
	if a := ref.Address(); !a.Addr.IsZero() {
		a.Addr = w.core.MasterAddress(a.Addr)
		ref = w.env.RefFor(a)
	}
	return ref
}

func (w *Worker) executorInfos() []executorInfo {
	var out []executorInfo
	add := func(e *Executor, finished bool) {
		out = append(out, executorInfo{AppID: e.AppID, ExecID: e.ExecID, State: e.State, Message: e.Message,
			ExitStatus: e.ExitStatus, Finished: finished})
	}
	for _, e := range w.core.Executors() {
		add(e, false)
	}
	for _, e := range w.core.FinishedExecutors() {
		add(e, true)
	}
	return out
}
