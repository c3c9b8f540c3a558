package netpoll

import (
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// A peer that sends over-cap frames before authentication on connection
// after connection costs one warning line (the context's per-peer
// limiter), not one per connection; every connection is still closed.
func TestPreAuthCapWarningRateLimited(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			ctx := NewContext(testConf(t, mode), newEchoHandler(nil), opt)
			defer ctx.Close()
			srv, err := ctx.NewServer("127.0.0.1", 0, authGate{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var hdr [9]byte
			binary.BigEndian.PutUint64(hdr[:], 1<<20)
			hdr[8] = byte(codec.TypeRpcRequest)
			const conns = 3
			for range conns {
				raw := dialRaw(t, srv.Port())
				if _, err := raw.Write(hdr[:]); err != nil {
					t.Fatal(err)
				}
				_ = raw.SetReadDeadline(time.Now().Add(safetyWait))
				if _, err := io.Copy(io.Discard, raw); isTimeoutErr(err) {
					t.Fatalf("the connection was not closed: %v", err)
				}
			}
			const msg = "frame before authentication is over the cap"
			if n := strings.Count(logs.String(), msg); n != 1 {
				t.Fatalf("%d warning lines for %d connections of one peer, want 1:\n%s", n, conns, logs.String())
			}
		})
	}
}
