package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/shuffle"
)

// allocs: heap allocations per operation on each hot path, for the client
// (this process) and the server (a mixed-server child) apart, from
// runtime.MemStats deltas (Mallocs, TotalAlloc) around a run of ops
// operations, after a warm-up. One operation at a time, on one connection.

// allocPath is one hot path.
type allocPath struct {
	name string
	op   string
	// ops scales -ops for this path (chunk fetches move 1 MiB each).
	ops func(o *options) int
	// prepare runs before the measured window and returns the run.
	prepare func(m *mixedClient, l *shuffleLayout, n int) (func() (int, error), error)
}

var allocPaths = []allocPath{
	{"RPC round trip", "64 B SendRpc, reusable callback, echo (the handler copies the request: 1 server alloc)",
		func(o *options) int { return o.ops }, prepareRPC},
	{"one-way", "64 B Send (a `count` RPC every 4096 as a window)",
		func(o *options) int { return o.ops }, prepareOneWay},
	{"chunk fetch served", "1 MiB FetchChunk of a FileSegment (sendfile), 1 in flight; the server's ChunkSource makes one FileSegment per chunk",
		func(o *options) int { return max(10, o.ops/10) }, prepareChunk},
	{"ask", "rpcenv remote Ask of a 64-byte JSON message, echo endpoint",
		func(o *options) int { return o.ops }, prepareAsk},
	{"send", "rpcenv remote Send of the same message (an ask every 4096 as a window)",
		func(o *options) int { return o.ops }, prepareSend},
	{"shuffle block fetch", "per block: FetchAll of 16 maps' 4 KiB blocks per reducer (OpenBlocks + 16 chunk fetches)",
		func(o *options) int { return max(64, o.ops/4) }, prepareShuffle},
}

// allocResult is one path in one mode.
type allocResult struct {
	path, mode                               string
	ops                                      int
	cliAllocs, cliBytes, srvAllocs, srvBytes float64
}

func runAllocs(o *options) error {
	dir, err := os.MkdirTemp("", "ember-scale-allocs-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data, err := makeDataFile(dir, 64<<20)
	if err != nil {
		return err
	}
	layout, err := writeLayout(dir, 16, 64, 4<<10)
	if err != nil {
		return err
	}
	var results []allocResult
	for _, mode := range o.modes {
		rs, err := allocsInMode(string(mode), data, dir, layout, o)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, rs...)
	}
	fmt.Println("Heap allocations per operation, client (this process) and server (a child process) apart, from runtime.MemStats deltas")
	fmt.Println("(Mallocs, TotalAlloc) around the run, after a warm-up; one operation in flight on one connection.")
	fmt.Println()
	fmt.Println("| path | mode | ops | client allocs/op | client B/op | server allocs/op | server B/op | both allocs/op |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %d | %.2f | %.0f | %.2f | %.0f | %.2f |\n", r.path, r.mode, r.ops,
			r.cliAllocs, r.cliBytes, r.srvAllocs, r.srvBytes, r.cliAllocs+r.srvAllocs)
	}
	fmt.Println()
	for _, p := range allocPaths {
		fmt.Printf("- %s: %s\n", p.name, p.op)
	}
	return nil
}

func allocsInMode(mode, data, dir string, layout *shuffleLayout, o *options) (rs []allocResult, err error) {
	m, err := startMixed(mode, data, dir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	info := shuffle.ExecutorShuffleInfo{LocalDirs: layout.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
	if err := m.shuffle.RegisterWithShuffleServer("127.0.0.1", m.shPort, shuffleExecID, info); err != nil {
		return nil, err
	}
	for _, p := range allocPaths {
		n := p.ops(o)
		// Warm up: a run of its own, outside the window.
		warm, err := p.prepare(m, layout, min(n, 256))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if _, err := warm(); err != nil {
			return nil, fmt.Errorf("%s: warm-up: %w", p.name, err)
		}
		run, err := p.prepare(m, layout, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		r, err := measureSides(m, run)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		r.path, r.mode = p.name, mode
		scale := 1 / float64(r.ops)
		r.cliAllocs *= scale
		r.cliBytes *= scale
		r.srvAllocs *= scale
		r.srvBytes *= scale
		rs = append(rs, r)
	}
	return rs, nil
}

// measureSides runs run between two MemStats readings of each side and
// returns the raw deltas (not yet per op) and the operations done.
func measureSides(m *mixedClient, run func() (int, error)) (allocResult, error) {
	var r allocResult
	var c0, c1 runtime.MemStats
	s0, err := m.srv.call("stat")
	if err != nil {
		return r, err
	}
	runtime.ReadMemStats(&c0)
	n, err := run()
	runtime.ReadMemStats(&c1)
	if err != nil {
		return r, err
	}
	s1, err := m.srv.call("stat")
	if err != nil {
		return r, err
	}
	r.ops = n
	r.cliAllocs = float64(c1.Mallocs - c0.Mallocs)
	r.cliBytes = float64(c1.TotalAlloc - c0.TotalAlloc)
	r.srvAllocs = float64(s1.Mallocs - s0.Mallocs)
	r.srvBytes = float64(s1.TotalAlloc - s0.TotalAlloc)
	return r, nil
}

// ---- the paths ----

// Each prepare returns a run that does about n operations and returns how
// many it did.

func prepareRPC(m *mixedClient, _ *shuffleLayout, n int) (func() (int, error), error) {
	payload := bytes.Repeat([]byte{0xAB}, 64)
	w := &rpcWaiter{want: len(payload), ch: make(chan struct{}, 1)}
	return func() (int, error) {
		for range n {
			m.conn.SendRpc(payload, w)
			<-w.ch
			if w.err != nil {
				return 0, w.err
			}
		}
		return n, nil
	}, nil
}

// oneWayWindow is how many one-way messages or sends may be unconfirmed.
const oneWayWindow = 4096

func prepareOneWay(m *mixedClient, _ *shuffleLayout, n int) (func() (int, error), error) {
	payload := bytes.Repeat([]byte{0xCD}, 64)
	start, err := m.oneWayCount()
	if err != nil {
		return nil, err
	}
	return func() (int, error) {
		for i := range n {
			if err := m.conn.Send(payload); err != nil {
				return 0, err
			}
			if (i+1)%oneWayWindow == 0 {
				if _, err := m.oneWayCount(); err != nil {
					return 0, err
				}
			}
		}
		got, err := m.oneWayCount() // handled after every Send on this connection
		if err != nil {
			return 0, err
		}
		if got-start != int64(n) {
			return 0, fmt.Errorf("scale: server counted %d one-way messages, want %d", got-start, n)
		}
		return n, nil
	}, nil
}

func prepareChunk(m *mixedClient, _ *shuffleLayout, n int) (func() (int, error), error) {
	sid, err := m.openStream(n)
	if err != nil {
		return nil, err
	}
	cb := &chunkWaiter{done: make(chan error, 1)}
	return func() (int, error) {
		for i := range n {
			m.conn.FetchChunk(sid, int32(i), cb)
			if err := <-cb.done; err != nil {
				return 0, err
			}
		}
		return n, nil
	}, nil
}

func prepareAsk(m *mixedClient, _ *shuffleLayout, n int) (func() (int, error), error) {
	msg := newScaleMsg(0)
	return func() (int, error) {
		for range n {
			if err := m.ask(msg, 0); err != nil {
				return 0, err
			}
		}
		return n, nil
	}, nil
}

func prepareSend(m *mixedClient, _ *shuffleLayout, n int) (func() (int, error), error) {
	msg := newScaleMsg(0)
	start, err := askCount(m)
	if err != nil {
		return nil, err
	}
	return func() (int, error) {
		for i := range n {
			if err := m.echo.Send(msg); err != nil {
				return 0, err
			}
			if (i+1)%oneWayWindow == 0 {
				if _, err := askCount(m); err != nil {
					return 0, err
				}
			}
		}
		got, err := askCount(m) // handled after every Send over this connection
		if err != nil {
			return 0, err
		}
		if got-start != int64(n) {
			return 0, fmt.Errorf("scale: endpoint counted %d sends, want %d", got-start, n)
		}
		return n, nil
	}, nil
}

// askCount asks the echo endpoint how many sends it has received.
func askCount(m *mixedClient) (int64, error) {
	v, err := m.echo.Ask(context.Background(), scaleCount{})
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("scale: count answered %T", v)
	}
	return n, nil
}

func prepareShuffle(m *mixedClient, l *shuffleLayout, n int) (func() (int, error), error) {
	reducers := (n + l.maps - 1) / l.maps // whole reducers: at least n blocks
	reqs := l.requests(m.shPort)
	var blocks atomic.Int64
	onBlock := func(_ string, data codec.ManagedBuffer) error {
		if data.Size() != int64(l.block) {
			return errLength
		}
		blocks.Add(1)
		return nil
	}
	return func() (int, error) {
		for r := range reducers {
			if err := m.shuffle.FetchAll(context.Background(), reqs[r%len(reqs)], onBlock); err != nil {
				return 0, err
			}
		}
		return int(blocks.Load()), nil
	}, nil
}
