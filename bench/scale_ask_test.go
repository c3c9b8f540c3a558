package bench

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/rpcenv"
)

// BenchmarkScaleAskConns/<mode>/conns=<c>: remote asks (rpcenv.Ask of the
// rpcenv suite's 64-byte JSON message, rbMsg) to one echo endpoint while
// the number of client connections grows: c client-mode envs, each with
// its own connection to the server env (as c executors asking the
// driver), and scaleAskInFlight asks in flight in total, whatever c is
// (goroutine g asks over connection g mod c). conns=1,10,100,1000; with
// -short 1,10,100 and 100 in flight. Metrics as rbDrive reports them:
// ops/s and the per-ask p50-ns/p99-ns (which, with hundreds in flight,
// include queueing); allocs/op count the whole process (every env).
//
// The envs are set up (connected and verified) before the timer starts,
// for each run of the benchmark; with 1,000 envs that takes a few
// seconds a run.

// scaleAskInFlight is the total number of asks in flight.
func scaleAskInFlight() int {
	if testing.Short() {
		return 100
	}
	return 1000
}

// scaleAskConns are the connection counts of BenchmarkScaleAskConns.
func scaleAskConns() []int {
	if testing.Short() {
		return []int{1, 10, 100}
	}
	return []int{1, 10, 100, 1000}
}

func BenchmarkScaleAskConns(b *testing.B) {
	for _, mode := range rbModes {
		b.Run(mode, func(b *testing.B) {
			for _, conns := range scaleAskConns() {
				b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
					runScaleAskConns(b, mode, conns, scaleAskInFlight())
				})
			}
		})
	}
}

func runScaleAskConns(b *testing.B, mode string, conns, inflight int) {
	server := rbNewEnv(b, "bench-server", mode)
	if _, err := server.SetupEndpoint("echo", newRBEcho()); err != nil {
		b.Fatal(err)
	}
	conf := mbConf(mode)
	refs := make([]*rpcenv.Ref, conns)
	var failed firstError
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // connect 16 at a time
	for c := range refs {
		// Created on this goroutine, so that b.Cleanup shuts it down;
		// only the connecting runs in parallel.
		env := mbClientEnv(b, fmt.Sprintf("bench-client-%d", c), conf)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ref, err := env.SetupEndpointRef(server.Address(), "echo")
			if err != nil {
				failed.set(err)
				return
			}
			refs[c] = ref
			if err := rbAsk(ref, rbNewMsg(c), c); err != nil { // warm up outside the timer
				failed.set(err)
			}
		}()
	}
	wg.Wait()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
	msgs := make([]any, inflight)
	for w := range msgs {
		msgs[w] = rbNewMsg(w)
	}
	rbDrive(b, inflight, func(w int) error { return rbAsk(refs[w%conns], msgs[w], w) })
}
