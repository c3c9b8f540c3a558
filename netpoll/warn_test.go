package netpoll

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// A flood of bad frames from one peer (answers to requests nobody made)
// costs one log line, not one per frame; the next line after the
// interval carries the count of those held back. A different peer still
// gets its own line.
func TestBadFrameFloodLogsOnce(t *testing.T) {
	const flood = 500
	const msg = "ignoring a response to no outstanding request"
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			ctx := NewContext(testConf(t, mode), newEchoHandler(nil), opt)
			var mu sync.Mutex
			now := time.Unix(1000, 0)
			ctx.warn.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
			f := ctx.NewClientFactory()
			t.Cleanup(func() { f.Close(); ctx.Close() })
			p := newFakePeer(t)
			c, err := f.CreateClient("127.0.0.1", p.port())
			if err != nil {
				t.Fatal(err)
			}
			// settle sends one real RPC after the frames written so far
			// and waits for its answer: frames are handled in order, so
			// every earlier one has been handled (and logged) by then.
			settle := func() {
				t.Helper()
				rc := newRPC()
				c.SendRpc([]byte("q"), rc)
				req := p.next()
				p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: req.RequestID}, []byte("a"))
				rc.waitOK(t)
			}
			var b []byte
			for i := range flood {
				b = append(b, frame(t, &codec.Message{Type: codec.TypeRpcResponse, RequestID: int64(-1 - i)}, []byte("x"))...)
			}
			p.write(b)
			settle()
			if n := strings.Count(logs.String(), msg); n != 1 {
				t.Fatalf("%d log lines for a flood of %d bad frames from one peer, want 1:\n%s", n, flood, logs.String())
			}
			// A minute later, the next bad frame's line says how many
			// were held back.
			mu.Lock()
			now = now.Add(time.Minute + time.Second)
			mu.Unlock()
			p.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: -1}, []byte("x"))
			settle()
			if n := strings.Count(logs.String(), msg); n != 2 {
				t.Fatalf("%d log lines after the interval, want 2:\n%s", n, logs.String())
			}
			if line := lastLine(logs.String(), msg); !strings.Contains(line, "suppressed=499") {
				t.Fatalf("the line after the interval does not carry the count: %s", line)
			}
			if !c.IsActive() {
				t.Fatal("bad responses closed the connection")
			}
		})
	}
}

func lastLine(logs, part string) string {
	var last string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, part) {
			last = l
		}
	}
	return last
}
