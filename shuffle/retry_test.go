package shuffle

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
)

func TestIsRetryable(t *testing.T) {
	refused := &netpoll.ConnError{Op: "connect", Addr: "h:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("x"), false},
		{"server-reported RPC failure", &netpoll.RemoteError{Op: "RPC", Msg: "boom"}, false},
		{"wrapped server-reported failure", fmt.Errorf("fetching: %w", &netpoll.RemoteError{Op: "fetch", Msg: "java.io.IOException: x"}), false},
		{"not registered", ErrNotRegistered, false},
		{"corrupt index", ErrCorruptIndex, false},
		{"malformed", codec.ErrMalformed, false},
		{"unknown message", ErrUnknownMessage, false},
		{"connection refused", refused, true},
		{"wrapped connection error", fmt.Errorf("attempt 2: %w", refused), true},
		{"connection closed", &netpoll.ConnError{Op: "close", Addr: "h:1", Err: netpoll.ErrClosed}, true},
		{"request timeout", &netpoll.ConnError{Op: "timeout", Addr: "h:1", Err: netpoll.ErrRequestTimeout}, true},
		{"fast fail", &netpoll.ConnError{Op: "connect", Addr: "h:1", Err: netpoll.ErrFastFail}, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"ErrClosed", netpoll.ErrClosed, true},
		{"net.OpError", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"syscall error", os.NewSyscallError("sendfile", syscall.EPIPE), true},
	} {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// retryEnv is a service with a spy and a client, maxRetries retries
// 100ms apart.
func retryEnv(t *testing.T, mode string, maxRetries int, sp *spy) *fetchEnv {
	t.Helper()
	conf := testConf(mode, fmt.Sprintf("spark.shuffle.io.maxRetries=%d", maxRetries))
	e := &fetchEnv{spy: sp, dirs: newExecDirs(t, 2)}
	e.svc = startService(t, conf, "", 0, sp)
	e.cl = newClient(t, conf, "app-1")
	e.sh = writeShuffle(t, e.dirs, 0, 2, 6, nil)
	if err := e.svc.RegisterExecutor("app-1", "exec-1", execInfo(e.dirs)); err != nil {
		t.Fatal(err)
	}
	return e
}

// allIDs are the blocks of retryEnv's shuffle in an order the fetcher
// keeps (map by map).
func (e *fetchEnv) allIDs() []string {
	var ids []string
	for m := 0; m < e.sh.maps; m++ {
		for r := 0; r < e.sh.reduces; r++ {
			ids = append(ids, e.sh.id(m, r))
		}
	}
	return ids
}

// dropConn is an onRPC hook that drops the connection (an I/O failure for
// the client) on the RPCs numbered in which (all if empty).
func dropConn(which ...int) func(*netpoll.Client, int, Message, *netpoll.Responder) bool {
	return func(c *netpoll.Client, n int, _ Message, _ *netpoll.Responder) bool {
		if len(which) == 0 {
			c.Close()
			return true
		}
		for _, w := range which {
			if w == n {
				c.Close()
				return true
			}
		}
		return false
	}
}

func TestRetryNoFailure(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		sp := &spy{}
		e := retryEnv(t, mode, 3, sp)
		ids := e.allIDs()
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, e.sh.expected())
		if sp.numRPCs() != 1 || sp.numConns() != 1 {
			t.Errorf("%d RPCs on %d connections, want 1 on 1", sp.numRPCs(), sp.numConns())
		}
	})
}

// TestRetryNonIOFailure: a failure the server reports is not retried.
func TestRetryNonIOFailure(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		sp := &spy{onRPC: func(_ *netpoll.Client, _ int, _ Message, r *netpoll.Responder) bool {
			r.Fail(errors.New("java.lang.IllegalStateException: boom"))
			return true
		}}
		e := retryEnv(t, mode, 3, sp)
		ids := e.allIDs()
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkFailed(t, "boom", ids...)
		if sp.numRPCs() != 1 {
			t.Errorf("%d RPCs, want 1 (no retry)", sp.numRPCs())
		}
	})
}

// TestRetryIOFailureOnFirstAttempt: a dropped connection is retried and
// the retry fetches everything.
func TestRetryIOFailureOnFirstAttempt(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		sp := &spy{onRPC: dropConn(1)}
		e := retryEnv(t, mode, 3, sp)
		ids := e.allIDs()
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, e.sh.expected())
		rpcs := sp.rpcList()
		if len(rpcs) != 2 {
			t.Fatalf("%d RPCs, want 2", len(rpcs))
		}
		if !reflect.DeepEqual(blockIDsOf(rpcs[1]), ids) {
			t.Errorf("retry asked for %v, want every block", blockIDsOf(rpcs[1]))
		}
	})
}

// TestRetryOutstandingOnly: after an I/O failure in the middle of a fetch,
// the retry asks only for the blocks not yet delivered; each block is
// delivered once.
func TestRetryOutstandingOnly(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		sp := &spy{}
		e := retryEnv(t, mode, 3, sp)
		ids := e.allIDs()
		const k = 4 // blocks delivered before the failure
		var once sync.Once
		l := newRecListener(len(ids))
		l.onSuccess = func(id string, _ codec.ManagedBuffer) {
			if id == ids[k-1] {
				// On the connection's reading side: nothing after this
				// callback is read; the outstanding chunks fail.
				once.Do(func() {
					c, err := e.cl.factory.CreateClient(localhost, e.svc.Port()) // the pooled connection
					if err != nil {
						t.Errorf("pooled connection: %v", err)
						return
					}
					c.Close()
				})
			}
		}
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, e.sh.expected())
		rpcs := sp.rpcList()
		if len(rpcs) != 2 {
			t.Fatalf("%d RPCs, want 2", len(rpcs))
		}
		if got := blockIDsOf(rpcs[1]); !reflect.DeepEqual(got, ids[k:]) {
			t.Errorf("retry asked for %v, want the outstanding %v", got, ids[k:])
		}
		if got := l.snapshotOrder(); !reflect.DeepEqual(got, ids) {
			t.Errorf("delivery order %v", got)
		}
	})
}

// TestRetryExhausted: after maxRetries I/O failures the blocks fail; with
// maxRetries=0 at once.
func TestRetryExhausted(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, retries := range []int{0, 2} {
			t.Run(fmt.Sprint("maxRetries=", retries), func(t *testing.T) {
				checkLeaks(t)
				sp := &spy{onRPC: dropConn()}
				e := retryEnv(t, mode, retries, sp)
				ids := e.allIDs()[:3]
				l := newRecListener(len(ids))
				e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
				l.wait(t)
				l.checkFailed(t, "", ids...)
				for id, err := range l.failed {
					var ce *netpoll.ConnError
					if !errors.As(err, &ce) {
						t.Errorf("%s: %v is not a connection error", id, err)
					}
				}
				if n := sp.numRPCs(); n != 1+retries {
					t.Errorf("%d attempts, want %d", n, 1+retries)
				}
			})
		}
	})
}

// TestRetryThenUnrecoverable: a retry that ends in a server-reported
// failure reports it, and stops.
func TestRetryThenUnrecoverable(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		sp := &spy{onRPC: func(c *netpoll.Client, n int, _ Message, r *netpoll.Responder) bool {
			if n == 1 {
				c.Close()
			} else {
				r.Fail(errors.New("unrecoverable"))
			}
			return true
		}}
		e := retryEnv(t, mode, 3, sp)
		ids := e.allIDs()[:4]
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkFailed(t, "unrecoverable", ids...)
		if n := sp.numRPCs(); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
}

// TestRetryInitiationFailure: a client closed while a retry is pending
// fails the outstanding blocks (once each) and leaves nothing running.
func TestRetryInitiationFailure(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		got := make(chan Message, 4)
		sp := &spy{onRPC: dropConn(), rpcCh: got}
		conf := testConf(mode, "spark.shuffle.io.retryWait=1h")
		svc := startService(t, conf, "", 0, sp)
		cl := newClient(t, conf, "app-1")
		ids := []string{"shuffle_0_0_0", "shuffle_0_0_1"}
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", ids, nil, l)
		<-got // the first attempt reached the service, which drops it
		cl.Close()
		l.wait(t) // every block has been reported by the time Close returned
		l.checkFailed(t, "client closed", ids...)
		if n := sp.numRPCs(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
}

// TestRetryUntilServiceStarts: the first attempt finds the port closed;
// the service (re)started on that port with the same DBDir serves the
// retry, without the executor registering again.
func TestRetryUntilServiceStarts(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.io.maxRetries=20")
		dbDir := t.TempDir()
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 2, 3, nil)
		svc0 := startService(t, conf, dbDir, 0)
		port := svc0.Port()
		cl := newClient(t, conf, "app-1")
		if err := cl.RegisterWithShuffleServer(localhost, port, "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		svc0.Close()

		ids := []string{sh.id(0, 0), sh.id(0, 2), sh.id(1, 1)}
		l := newRecListener(len(ids))
		// The first attempt runs (and fails to connect) inside FetchBlocks.
		cl.FetchBlocks(localhost, port, "exec-1", ids, nil, l)
		select {
		case <-l.done:
			t.Fatalf("blocks reported before any retry: %v", l.snapshotOrder())
		default:
		}
		sp := &spy{}
		startService(t, conf, dbDir, port, sp)
		l.wait(t)
		l.checkOK(t, pick(sh.expected(), ids))
		rpcs := sp.rpcList()
		if len(rpcs) != 1 || !reflect.DeepEqual(blockIDsOf(rpcs[0]), ids) {
			t.Errorf("restarted service got %v, want one fetch of every block", rpcs)
		}
	})
}

// TestRetryServiceKilledMidway: the service dies after serving some
// chunks of a fetch and is restarted on the same port with the same
// DBDir; the retry fetches only the rest, from the restarted service.
func TestRetryServiceKilledMidway(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.io.maxRetries=20")
		dbDir := t.TempDir()
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 2, 6, nil)
		const k = 5 // chunks served before the service dies
		reached := make(chan struct{})
		sp1 := &spy{onChunk: func(c *netpoll.Client, id codec.StreamChunkID) {
			if id.ChunkIndex == k {
				close(reached)
				<-c.Done() // hold chunk k (and those after it) until the service dies
			}
		}}
		svc1 := startService(t, conf, dbDir, 0, sp1)
		port := svc1.Port()
		cl := newClient(t, conf, "app-1")
		if err := cl.RegisterWithShuffleServer(localhost, port, "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		e := &fetchEnv{sh: sh}
		ids := e.allIDs()
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, port, "exec-1", ids, nil, l)
		<-reached
		if err := svc1.Close(); err != nil {
			t.Fatal(err)
		}
		// What was delivered when the retry reaches the restarted service.
		snap := make(chan []string, 1)
		sp2 := &spy{onRPC: func(*netpoll.Client, int, Message, *netpoll.Responder) bool {
			select {
			case snap <- l.snapshotOrder():
			default: // a second RPC: reported below
			}
			return false
		}}
		svc2 := startService(t, conf, dbDir, port, sp2)
		l.wait(t)
		l.checkOK(t, sh.expected())
		rpcs := sp2.rpcList()
		if len(rpcs) != 1 {
			t.Fatalf("restarted service got %d RPCs, want 1", len(rpcs))
		}
		// The retry asks for exactly the blocks not yet delivered, in order:
		// at least those from chunk k on, which were never served. (Chunks
		// served before the crash are normally delivered, but may be lost
		// with the connection, when the crash catches the client still
		// writing its chunk requests.)
		var outstanding []string
		done := map[string]bool{}
		for _, id := range <-snap {
			done[id] = true
		}
		for _, id := range ids {
			if !done[id] {
				outstanding = append(outstanding, id)
			}
		}
		got := blockIDsOf(rpcs[0])
		if !reflect.DeepEqual(got, outstanding) {
			t.Errorf("retry asked for %v, want the outstanding %v", got, outstanding)
		}
		if len(got) < len(ids)-k || !reflect.DeepEqual(got[len(got)-(len(ids)-k):], ids[k:]) {
			t.Errorf("retry asked for %v, which lacks blocks never served before the crash", got)
		}
		if svc2.RegisteredExecutors() != 1 {
			t.Errorf("restarted service knows %d executors", svc2.RegisteredExecutors())
		}
		if strings.Contains(fmt.Sprint(sp2.rpcList()), "RegisterExecutor") {
			t.Errorf("the executor registered again")
		}
	})
}
