package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// gc: GC pauses under a mixed load for -duration. A mixed server (child)
// answers asks and serves chunks; this process asks with 32 goroutines
// over one connection and, on another connection, fetches 1 MiB file
// chunks with 8 in flight. Both processes report their GC cycles and
// stop-the-world pauses over the window (see pauseSummary).

const (
	gcAskers        = 32
	gcChunkInFlight = 8
)

// gcResult is one mode's figures.
type gcResult struct {
	mode           string
	server, client pauseSummary
	asks, chunks   int64
	took           time.Duration
	serverHWM      int64
}

func runGC(o *options) error {
	dir, err := os.MkdirTemp("", "ember-scale-gc-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data, err := makeDataFile(dir, 64<<20)
	if err != nil {
		return err
	}
	var results []gcResult
	for _, mode := range o.modes {
		r, err := gcLoad(string(mode), data, dir, o.duration)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, r)
	}
	fmt.Printf("%v of load: %d goroutines asking (rpcenv, one connection) and 1 MiB chunk fetches, %d in flight (another connection), server in a child process.\n",
		o.duration, gcAskers, gcChunkInFlight)
	fmt.Println("Pause percentiles are runtime/metrics /sched/pauses/total/gc:seconds bucket upper bounds; the total is MemStats.PauseTotalNs.")
	fmt.Println()
	fmt.Println("| mode | process | asks/s | chunk MB/s | GC cycles | cycles/s | STW pauses | pause total | p50 | p99 | max | GC CPU share |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		for _, side := range []struct {
			name string
			p    pauseSummary
		}{{"server", r.server}, {"client", r.client}} {
			p := side.p
			share := 0.0
			if p.TotalCPU > 0 {
				share = 100 * p.GCCPU / p.TotalCPU
			}
			fmt.Printf("| %s | %s | %.0f | %.0f | %d | %.2f | %d | %s | %s | %s | %s | %.1f%% |\n", r.mode, side.name,
				float64(r.asks)/r.took.Seconds(), float64(r.chunks)*chunkSize/1e6/r.took.Seconds(),
				p.Cycles, float64(p.Cycles)/p.Seconds, p.Pauses, dur(time.Duration(p.TotalNs)),
				dur(time.Duration(p.P50Ns)), dur(time.Duration(p.P99Ns)), dur(time.Duration(p.MaxNs)), share)
		}
	}
	fmt.Println("\nGC CPU share: /cpu/classes/gc/total over /cpu/classes/total (the runtime's estimate, idle Ps included in the total).")
	return nil
}

func gcLoad(mode, data, dir string, d time.Duration) (r gcResult, err error) {
	r.mode = mode
	m, err := startMixed(mode, data, dir)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	// The chunk connection: a second client, so asks and chunks do not
	// share one.
	chunkConn, err := m.factory.CreateUnmanagedClient("127.0.0.1", m.tport)
	if err != nil {
		return r, err
	}
	defer func() { chunkConn.Close(); <-chunkConn.Done() }()
	resp, err := chunkConn.SendRpcSync([]byte("open:1000000000"), time.Minute)
	if err != nil {
		return r, err
	}
	if len(resp) != 8 {
		return r, errLength
	}
	sid := int64(binary.BigEndian.Uint64(resp))

	var mark pauseMark
	if _, err := m.srv.call("mark"); err != nil {
		return r, err
	}
	mark.set()
	t0 := time.Now()
	end := t0.Add(d)
	var asks, chunks atomic.Int64
	var first error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range gcAskers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := newScaleMsg(w)
			for time.Now().Before(end) {
				if err := m.ask(msg, w); err != nil {
					fail(err)
					return
				}
				asks.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cb := &chunkWaiter{done: make(chan error, gcChunkInFlight)}
		issued, done := 0, 0
		for {
			for issued-done < gcChunkInFlight && time.Now().Before(end) {
				chunkConn.FetchChunk(sid, int32(issued), cb)
				issued++
			}
			if done == issued {
				return
			}
			if err := <-cb.done; err != nil {
				fail(err)
				// Drain what is in flight: every callback is called once.
				for done++; done < issued; done++ {
					<-cb.done
				}
				return
			}
			done++
			chunks.Add(1)
		}
	}()
	wg.Wait()
	r.took = time.Since(t0)
	r.client = mark.since()
	st, err := m.srv.call("stat")
	if err != nil {
		return r, err
	}
	r.server = st.Pauses
	r.serverHWM = st.Proc.HWM
	r.asks, r.chunks = asks.Load(), chunks.Load()
	return r, first
}
