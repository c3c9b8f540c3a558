package netpoll

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// TestConcurrentRPCs: 1,000 RPCs from 16 goroutines on one client, each
// answered exactly once with its own payload. Every other answer is sent
// from a goroutine of its own, so replies are written concurrently too.
func TestConcurrentRPCs(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			var n atomic.Int64
			var replies sync.WaitGroup
			t.Cleanup(replies.Wait)
			h := &testHandler{receive: func(c *Client, msg []byte, r *Responder) {
				body := clone(msg)
				if n.Add(1)%2 == 0 {
					r.Reply(body)
					return
				}
				replies.Add(1)
				go func() {
					defer replies.Done()
					r.Reply(body)
				}()
			}}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			const goroutines, total = 16, 1000
			type call struct {
				payload []byte
				cb      *rpcCollector
			}
			calls := make([]call, total)
			for i := range calls {
				// Distinct payloads of assorted sizes, some empty-ish, some
				// large enough to need several writes.
				n := 16 + (i*7919)%(48<<10)
				if i%97 == 0 {
					n = 0
				}
				p := randBytes(n, uint64(i))
				if n >= 8 {
					copy(p, fmt.Sprintf("%08d", i))
				}
				calls[i] = call{payload: p, cb: newRPC()}
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < total; i += goroutines {
						c.SendRpc(calls[i].payload, calls[i].cb)
					}
				}()
			}
			wg.Wait()
			for i, cl := range calls {
				got := cl.cb.waitOK(t)
				if string(got) != string(cl.payload) {
					t.Fatalf("RPC %d got %d bytes that are not its payload", i, len(got))
				}
			}
			for i, cl := range calls {
				if n := cl.cb.calls.Load(); n != 1 {
					t.Fatalf("RPC %d answered %d times", i, n)
				}
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d outstanding", n)
			}
		})
	}
}

// TestLargeFileStream: a 256 MiB file is streamed (sendfile on the server,
// checksummed piece by piece on the client, never held in memory whole).
func TestLargeFileStream(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB stream skipped in -short mode")
	}
	const size = 256 << 20
	path := filepath.Join(t.TempDir(), "large")
	want := writeRandomFile(t, path, size)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := newNamedStreams()
			sm.add("large", func() codec.ManagedBuffer { return fileSegment(t, path, 0, size) })
			e := newEnv(t, testConf(t, mode), &testHandler{sm: sm})
			c := e.client(t)
			r := newStreamRecorder()
			h := crc32.NewIEEE()
			r.sum = func(p []byte) { h.Write(p) }
			c.Stream("large", r)
			var err error
			timer := time.NewTimer(5 * time.Minute)
			defer timer.Stop()
			select {
			case err = <-r.done:
			case <-timer.C:
				t.Fatal("the large stream did not finish")
			}
			if err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			n, sum := r.n, h.Sum32()
			r.mu.Unlock()
			if n != size || sum != want {
				t.Fatalf("received %d bytes with crc %08x, want %d bytes with crc %08x", n, sum, int64(size), want)
			}
		})
	}
}

// writeRandomFile writes size pseudo-random bytes to path and returns their
// CRC-32.
func writeRandomFile(t *testing.T, path string, size int) uint32 {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	h := crc32.NewIEEE()
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(buf) {
		b := buf[:min(left, len(buf))]
		_, _ = src.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return h.Sum32()
}
