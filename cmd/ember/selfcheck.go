package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// selfcheck runs the transport end to end on loopback and prints figures,
// then starts an in-process master and two workers and checks that they
// form a cluster.
func selfcheck(args []string) error {
	fs := flag.NewFlagSet("selfcheck", flag.ContinueOnError)
	mode := fs.String("mode", "both", "io mode: EPOLL, NIO or both")
	rpcs := fs.Int("rpcs", 20000, "RPC round trips to time")
	fileMiB := fs.Int("file-mib", 256, "size of the file served by chunk fetch and stream, MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes := []netpoll.IOMode{netpoll.EPOLL, netpoll.NIO}
	if *mode != "both" {
		m, err := netpoll.ParseIOMode(*mode)
		if err != nil {
			return err
		}
		modes = []netpoll.IOMode{m}
	}
	dir, err := os.MkdirTemp("", "ember-selfcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data.bin")
	data, err := writeRandomFile(path, *fileMiB<<20)
	if err != nil {
		return err
	}
	for _, m := range modes {
		if err := checkMode(m, path, data, *rpcs); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	if err := checkCluster(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	fmt.Println("selfcheck: all checks passed")
	return nil
}

func writeRandomFile(path string, size int) (uint32, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	h := crc32.NewIEEE()
	r := rand.New(rand.NewPCG(1, 2))
	for left := size; left > 0; left -= len(buf) {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		n := min(left, len(buf))
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return 0, err
		}
	}
	return h.Sum32(), f.Sync()
}

// handler echoes RPCs and serves the data file as a stream.
type handler struct {
	sm     *netpoll.OneForOneStreamManager
	path   string
	size   int64
	oneWay chan struct{}
}

func (h *handler) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(bytes.Clone(msg))
}
func (h *handler) ReceiveOneWay(*netpoll.Client, []byte) { h.oneWay <- struct{}{} }
func (h *handler) StreamManager() netpoll.StreamManager  { return streams{h} }

type streams struct{ *handler }

func (s streams) GetChunk(id int64, i int32) (codec.ManagedBuffer, error) {
	return s.sm.GetChunk(id, i)
}
func (s streams) ConnectionTerminated(c *netpoll.Client) { s.sm.ConnectionTerminated(c) }
func (s streams) OpenStream(id string) (codec.ManagedBuffer, error) {
	if id != "/files/data.bin" {
		return nil, nil
	}
	return codec.NewFileSegment(s.path, 0, s.size, codec.DefaultFileOptions)
}

func checkMode(mode netpoll.IOMode, path string, sum uint32, rpcs int) error {
	conf, err := netpoll.NewConf("rpc", sparkconf.New().Set("spark.rpc.io.mode", string(mode)), "")
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	h := &handler{sm: netpoll.NewOneForOneStreamManager(), path: path, size: st.Size(), oneWay: make(chan struct{}, 1024)}
	ctx := netpoll.NewContext(conf, h)
	defer ctx.Close()
	srv, err := ctx.NewServer("127.0.0.1", 0)
	if err != nil {
		return err
	}
	defer srv.Close()
	factory := ctx.NewClientFactory()
	defer factory.Close()
	c, err := factory.CreateClient("127.0.0.1", srv.Port())
	if err != nil {
		return err
	}
	fmt.Printf("[%s] server on 127.0.0.1:%d\n", mode, srv.Port())

	// RPC round trips, one at a time.
	payload := make([]byte, 64)
	lat := make([]time.Duration, 0, rpcs)
	start := time.Now()
	for i := 0; i < rpcs; i++ {
		t0 := time.Now()
		resp, err := c.SendRpcSync(payload, 10*time.Second)
		if err != nil {
			return err
		}
		if len(resp) != len(payload) {
			return errors.New("echo mismatch")
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("[%s] RPC 64 B, 1 in flight: %d round trips, p50 %v, p99 %v, %.0f/s\n", mode, rpcs,
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), float64(rpcs)/elapsed.Seconds())

	// 32 in flight.
	var wg sync.WaitGroup
	per := rpcs / 32
	start = time.Now()
	var failed error
	var mu sync.Mutex
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := c.SendRpcSync(payload, 10*time.Second); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	fmt.Printf("[%s] RPC 64 B, 32 in flight: %.0f round trips/s\n", mode, float64(per*32)/time.Since(start).Seconds())

	// One-way.
	for i := 0; i < 1000; i++ {
		if err := c.Send(payload); err != nil {
			return err
		}
	}
	for i := 0; i < 1000; i++ {
		<-h.oneWay
	}
	fmt.Printf("[%s] one-way: 1000 messages delivered\n", mode)

	// Chunk fetch: the file in 1 MiB file-segment chunks, 8 in flight.
	const chunk = 1 << 20
	n := int(st.Size() / chunk)
	chunks := make(netpoll.BufferChunks, n)
	for i := range chunks {
		chunks[i], err = codec.NewFileSegment(path, int64(i)*chunk, chunk, codec.DefaultFileOptions)
		if err != nil {
			return err
		}
	}
	sid := h.sm.RegisterStream("selfcheck", chunks, nil)
	crc := crc32.NewIEEE()
	got := make([][]byte, n)
	var fetchErr error
	done := make(chan struct{}, n)
	start = time.Now()
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		c.FetchChunk(sid, int32(i), netpoll.ChunkFunc{
			Success: func(i int32, b []byte) { got[i] = bytes.Clone(b); <-sem; done <- struct{}{} },
			Failure: func(i int32, err error) { fetchErr = err; <-sem; done <- struct{}{} },
		})
	}
	for i := 0; i < n; i++ {
		<-done
	}
	el := time.Since(start)
	if fetchErr != nil {
		return fetchErr
	}
	for _, b := range got {
		crc.Write(b)
	}
	if crc.Sum32() != sum {
		return errors.New("chunk fetch: checksum mismatch")
	}
	fmt.Printf("[%s] chunk fetch: %d x 1 MiB, 8 in flight, %.2f GB/s, checksum ok\n", mode, n, float64(n*chunk)/el.Seconds()/1e9)

	// Stream the whole file.
	sc := &streamSum{h: crc32.NewIEEE(), done: make(chan error, 1)}
	start = time.Now()
	c.Stream("/files/data.bin", sc)
	if err := <-sc.done; err != nil {
		return err
	}
	if sc.h.Sum32() != sum {
		return errors.New("stream: checksum mismatch")
	}
	fmt.Printf("[%s] stream: %d MiB, %.2f GB/s, checksum ok\n", mode, st.Size()>>20, float64(st.Size())/time.Since(start).Seconds()/1e9)
	return nil
}

type streamSum struct {
	h    hash.Hash32
	done chan error
}

func (s *streamSum) OnData(_ string, p []byte) error { s.h.Write(p); return nil }
func (s *streamSum) OnComplete(string) error         { s.done <- nil; return nil }
func (s *streamSum) OnFailure(_ string, err error)   { s.done <- err }
