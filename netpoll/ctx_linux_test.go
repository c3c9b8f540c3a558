package netpoll

import (
	"testing"
	"time"
)

// TestPollersPerContext: in EPOLL mode each Context has its own pollers,
// as many as its own thread settings say; the first Context does not fix
// the count for the process.
func TestPollersPerContext(t *testing.T) {
	checkLeaks(t)
	counts := map[int]*Context{}
	for _, n := range []int{1, 3} {
		e := newEnv(t, Conf{Mode: EPOLL, ServerThreads: n, ClientThreads: 1}, newEchoHandler(nil))
		if _, err := e.client(t).SendRpcSync([]byte("x"), 20*time.Second); err != nil {
			t.Fatal(err)
		}
		counts[n] = e.ctx
	}
	for n, ctx := range counts {
		ctx.mu.Lock()
		r := ctx.reactor
		ctx.mu.Unlock()
		if r == nil {
			t.Fatalf("context with ServerThreads=%d started no reactor", n)
		}
		if len(r.pollers) != n {
			t.Errorf("context with ServerThreads=%d has %d pollers", n, len(r.pollers))
		}
	}
	if counts[1].reactor == counts[3].reactor {
		t.Error("two contexts share one reactor")
	}
}
