package launcher

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Listener is told about a handle's changes (Spark's SparkAppHandle.Listener).
// Callbacks run on the goroutine that made the change (a connection reader,
// a child monitor, or the caller of Kill/Disconnect) and must not block for
// long.
type Listener interface {
	// StateChanged is called for every applied state change.
	StateChanged(h *Handle)
	// InfoChanged is called when the application id is set.
	InfoChanged(h *Handle)
}

// ErrNotConnected is returned by Stop before the application connected.
var ErrNotConnected = errors.New("launcher: application is still not connected")

// Handle is one application seen from the launching side (Spark's
// AbstractAppHandle / ChildProcAppHandle).
type Handle struct {
	server  *Server
	secret  string
	hasProc bool // a child process is (or is about to be) attached

	mu        sync.Mutex
	listeners []Listener
	state     State
	appID     string
	conn      *serverConn
	disposed  bool
	proc      *os.Process
	procDone  chan struct{} // closed when the child monitor returns
	exitErr   error
	done      chan struct{} // closed by dispose
}

func newHandle(s *Server, secret string, hasProc bool, listeners []Listener) *Handle {
	h := &Handle{server: s, secret: secret, hasProc: hasProc, done: make(chan struct{})}
	h.listeners = append(h.listeners, listeners...)
	if hasProc {
		h.procDone = make(chan struct{})
	}
	return h
}

// Server is the server the handle is registered with.
func (h *Handle) Server() *Server { return h.server }

// Secret is the handle's secret; give it to the backend only through the
// environment or configuration, never on a command line.
func (h *Handle) Secret() string { return h.secret }

// BackendConf is the in-process rendezvous configuration for this handle:
// spark.launcher.port and spark.launcher.secret (for Backend.Connect).
func (h *Handle) BackendConf() map[string]string {
	return map[string]string{
		ConfLauncherPort:   strconv.Itoa(h.server.Port()),
		ConfLauncherSecret: h.secret,
	}
}

// AddListener adds a listener.
func (h *Handle) AddListener(l Listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, l)
}

// State is the current state.
func (h *Handle) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// AppID is the application id reported by the backend, or "".
func (h *Handle) AppID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.appID
}

// Error is the child process's exit error, if it exited with one.
func (h *Handle) Error() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.exitErr
}

// Disposed reports whether the handle has been disposed.
func (h *Handle) Disposed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.disposed
}

// Done is closed once the handle is disposed (it then holds no server
// reference and its state is final).
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait waits until the handle is disposed and, if a child process was
// attached, until it has exited and been reaped; it returns the child's
// exit error (nil for no child or a zero exit).
func (h *Handle) Wait() error {
	if h.hasProc {
		<-h.procDone
	}
	<-h.done
	return h.Error()
}

// Stop asks the application to stop by sending Stop to its backend.
func (h *Handle) Stop() error {
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.send(&Stop{})
}

// Disconnect closes the connection to the application and disposes the
// handle: the state becomes LOST unless it is already final. The
// application itself (if a child process) is left running.
func (h *Handle) Disconnect() {
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c != nil {
		c.close()
	}
	h.dispose()
}

// Kill ends the application: unless the handle is already disposed it
// sends Stop (best effort), sets the state to KILLED, disconnects and kills
// the child process if one is attached. Use Wait to wait for the child to
// be reaped.
func (h *Handle) Kill() {
	h.mu.Lock()
	if h.disposed {
		h.mu.Unlock()
		return
	}
	c, proc := h.conn, h.proc
	h.mu.Unlock()
	h.setState(StateKilled, false)
	if c != nil {
		_ = c.send(&Stop{})
	}
	h.Disconnect()
	if proc != nil {
		_ = proc.Kill()
	}
}

// setState applies s unless the current state is final (or force).
func (h *Handle) setState(s State, force bool) bool {
	return h.setStateIf(s, func(cur State) bool { return force || !cur.IsFinal() })
}

func (h *Handle) setStateIf(s State, ok func(State) bool) bool {
	h.mu.Lock()
	cur := h.state
	if !ok(cur) {
		h.mu.Unlock()
		if s != StateLost {
			h.server.log.Warn("ignoring state change of a handle in a final state",
				"from", cur.String(), "to", s.String())
		}
		return false
	}
	h.state = s
	ls := append([]Listener(nil), h.listeners...)
	h.mu.Unlock()
	for _, l := range ls {
		l.StateChanged(h)
	}
	return true
}

func (h *Handle) setAppID(id string) {
	h.mu.Lock()
	h.appID = id
	ls := append([]Listener(nil), h.listeners...)
	h.mu.Unlock()
	for _, l := range ls {
		l.InfoChanged(h)
	}
}

// bind attaches the connection that said Hello with this handle's secret.
func (h *Handle) bind(c *serverConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disposed || h.conn != nil {
		return false
	}
	h.conn = c
	return true
}

// connectionClosed runs on the reader goroutine once the bound connection
// has closed. With a child process attached, a clean end of the connection
// is left to the child monitor (which decides between LOST and FAILED from
// the exit code once the child exits); otherwise the handle becomes LOST
// (unless final) and is disposed.
func (h *Handle) connectionClosed(c *serverConn, protocolError bool) {
	h.mu.Lock()
	if h.conn != c || h.disposed {
		h.mu.Unlock()
		return
	}
	deferToMonitor := h.hasProc && !protocolError
	h.mu.Unlock()
	if deferToMonitor {
		return
	}
	if !h.State().IsFinal() {
		h.server.log.Warn("lost connection to application", "appId", h.AppID())
	}
	h.setState(StateLost, false)
	h.dispose()
}

// dispose (once): close the connection, unregister from the server (giving
// back the handle's reference), and set LOST unless final.
func (h *Handle) dispose() {
	h.mu.Lock()
	if h.disposed {
		h.mu.Unlock()
		return
	}
	h.disposed = true
	c := h.conn
	h.mu.Unlock()
	if c != nil {
		c.close()
	}
	h.server.unregister(h)
	h.setState(StateLost, false)
	close(h.done)
}

// attach records the started child process and starts its monitor.
func (h *Handle) attach(cmd *exec.Cmd) {
	h.mu.Lock()
	h.proc = cmd.Process
	h.mu.Unlock()
	go h.monitor(cmd)
}

// monitor waits for the child to exit, lets its connection drain (up to
// the child connection timeout), then applies LAUNCHER.md §5: a non-zero
// exit forces FAILED when the state is not final or is FINISHED; finally
// the handle is disposed (LOST if still not final).
func (h *Handle) monitor(cmd *exec.Cmd) {
	defer close(h.procDone)
	err := cmd.Wait()
	code := 0
	if err != nil {
		code = 1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	h.mu.Lock()
	h.exitErr = err
	disposed, c := h.disposed, h.conn
	h.mu.Unlock()
	if disposed {
		return
	}
	if c == nil {
		// The child may have connected and said Hello just before it
		// exited: let the server get to that connection first.
		h.server.syncAccepts()
		h.mu.Lock()
		disposed, c = h.disposed, h.conn
		h.mu.Unlock()
		if disposed {
			return
		}
	}
	if c != nil {
		t := time.NewTimer(h.server.connTimeout())
		select {
		case <-c.readDone:
		case <-t.C:
			h.server.log.Warn("child exited but its connection is still open; closing it")
			c.close()
			<-c.readDone
		}
		t.Stop()
	}
	if code != 0 {
		h.setStateIf(StateFailed, func(cur State) bool {
			return !cur.IsFinal() || cur == StateFinished
		})
	}
	h.dispose()
}
