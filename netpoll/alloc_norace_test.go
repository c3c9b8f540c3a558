//go:build !race

package netpoll

import (
	"testing"
)

// The allocation budget of the RPC round trip, enforced without the race
// detector (which allocates on its own): scripts/test.sh runs the
// Alloc tests in a non-race pass. The count covers both ends in this
// process: encoding and writing the request, the server's reading pass,
// its handler's reply, and the client's matching of the response. A
// change that raises it must say why, or lower it back.

// rpcAllocBudget is the most allocations one 64-byte RPC round trip may
// cost, client and server together, per io mode.
var rpcAllocBudget = map[IOMode]float64{EPOLL: 3, NIO: 3}

// oneShot is a reusable RpcResponseCallback: each answer signals done.
type oneShot struct {
	done chan error
}

func (o *oneShot) OnSuccess(b []byte)  { o.done <- nil }
func (o *oneShot) OnFailure(err error) { o.done <- err }

func TestAllocRPCRoundTrip(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			payload := make([]byte, 64)
			reply := make([]byte, 64)
			h := &testHandler{receive: func(c *Client, msg []byte, r *Responder) { r.Reply(reply) }}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			cb := &oneShot{done: make(chan error, 1)}
			roundTrip := func() {
				c.SendRpc(payload, cb)
				// The connection's idle and request timeouts bound this
				// wait (a callback always runs); a timer here would count.
				if err := <-cb.done; err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 200; i++ { // warm pools and buffers
				roundTrip()
			}
			got := testing.AllocsPerRun(2000, roundTrip)
			t.Logf("%s: %.2f allocations per RPC round trip (budget %.0f)", mode, got, rpcAllocBudget[mode])
			if got > rpcAllocBudget[mode] {
				t.Fatalf("%s: %.2f allocations per RPC round trip, budget %.0f", mode, got, rpcAllocBudget[mode])
			}
		})
	}
}
