package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// StreamSuite: named streams, whose bytes follow the StreamResponse frame.

type streamFixture struct {
	content map[string][]byte
	names   []string
	path    string
}

func newStreamFixture(t *testing.T) *streamFixture {
	f := &streamFixture{content: map[string][]byte{
		"largeBuffer": randBytes(100000, 31),
		"smallBuffer": randBytes(100, 32),
		"emptyBuffer": {},
		"file":        randBytes(2<<20+7, 33),
	}}
	f.names = []string{"largeBuffer", "smallBuffer", "emptyBuffer", "file"}
	f.path = writeTempFile(t, f.content["file"])
	return f
}

func (f *streamFixture) env(t *testing.T, mode IOMode) (*env, *namedStreamManager) {
	sm := newNamedStreams()
	for name, b := range f.content {
		if name == "file" {
			sm.add(name, func() codec.ManagedBuffer { return fileSegment(t, f.path, 0, int64(len(b))) })
		} else {
			sm.addBytes(name, b)
		}
	}
	sm.add("broken", func() codec.ManagedBuffer { panic("cannot open broken") })
	return newEnv(t, testConf(t, mode), &testHandler{sm: sm}), sm
}

func (f *streamFixture) check(t *testing.T, name string, r *streamRecorder, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("stream %s failed: %v", name, err)
	}
	if got := r.bytes(); !bytes.Equal(got, f.content[name]) {
		t.Fatalf("stream %s: got %d bytes, want %d", name, len(got), len(f.content[name]))
	}
	if r.completes.Load() != 1 || r.failures.Load() != 0 {
		t.Fatalf("stream %s: %d completions, %d failures", name, r.completes.Load(), r.failures.Load())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.streamIDs {
		if id != name {
			t.Fatalf("callback for %s called with stream id %q", name, id)
		}
	}
}

func TestStreamZeroLength(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := f.env(t, mode)
			c := e.client(t)
			r := newStreamRecorder()
			c.Stream("emptyBuffer", r)
			f.check(t, "emptyBuffer", r, r.wait(t))
			r.mu.Lock()
			dataCalls := r.dataCalls
			r.mu.Unlock()
			if dataCalls != 0 {
				t.Fatalf("OnData called %d times for an empty stream", dataCalls)
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d outstanding after an empty stream", n)
			}
			// Nothing is left intercepting: the next frame is an RPC answer.
			if resp, err := c.SendRpcSync([]byte("next"), safetyWait); err != nil || string(resp) != "next" {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}

func TestStreamSingle(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := f.env(t, mode)
			for _, name := range f.names {
				c := e.client(t)
				r := newStreamRecorder()
				c.Stream(name, r)
				f.check(t, name, r, r.wait(t))
			}
		})
	}
}

// TestStreamMultiple: streams requested back to back on one connection
// arrive in order, each to its own callback.
func TestStreamMultiple(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := f.env(t, mode)
			c := e.client(t)
			var order []string
			for range 3 {
				order = append(order, f.names...)
			}
			recs := make([]*streamRecorder, len(order))
			for i, name := range order {
				recs[i] = newStreamRecorder()
				c.Stream(name, recs[i])
			}
			for i, name := range order {
				f.check(t, name, recs[i], recs[i].wait(t))
			}
			if n := c.NumOutstanding(); n != 0 {
				t.Fatalf("%d outstanding after all streams", n)
			}
		})
	}
}

// TestStreamConcurrent: many goroutines request streams on one client; the
// FIFO matching gives each its own bytes.
func TestStreamConcurrent(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := f.env(t, mode)
			c := e.client(t)
			const goroutines, each = 16, 3
			errs := make(chan error, goroutines*each)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						name := f.names[(g+i)%len(f.names)]
						r := newStreamRecorder()
						c.Stream(name, r)
						var err error
						select {
						case err = <-r.done:
						case <-time.After(safetyWait):
							errs <- fmt.Errorf("%s: no callback", name)
							return
						}
						if err != nil {
							errs <- fmt.Errorf("%s: %w", name, err)
						} else if !bytes.Equal(r.bytes(), f.content[name]) {
							errs <- fmt.Errorf("%s: got %d bytes of someone else's stream?", name, len(r.bytes()))
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestStreamFailures: an unknown stream fails with Spark's exact text, an
// OpenStream panic fails the stream; the connection keeps working and
// stream matching stays in step.
func TestStreamFailures(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := f.env(t, mode)
			c := e.client(t)
			missing, broken, good := newStreamRecorder(), newStreamRecorder(), newStreamRecorder()
			c.Stream("nope", missing)
			c.Stream("broken", broken)
			c.Stream("smallBuffer", good)
			err := missing.wait(t)
			mustContain(t, err, "Stream 'nope' was not found.")
			var re *RemoteError
			if !errors.As(err, &re) || re.Msg != "Stream 'nope' was not found." {
				t.Fatalf("want a StreamFailure with Spark's text, got %#v", err)
			}
			mustContain(t, broken.wait(t), "cannot open broken")
			f.check(t, "smallBuffer", good, good.wait(t))
			if missing.completes.Load()+missing.failures.Load() != 1 {
				t.Fatal("the failed stream's callback was not called exactly once")
			}
		})
	}
}

// TestStreamChunkByName: "<streamId>_<chunkIndex>" streams a registered
// chunk (fetching a large block to disk).
func TestStreamChunkByName(t *testing.T) {
	f := newStreamFixture(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, sm := f.env(t, mode)
			c := e.client(t)
			sid := sm.RegisterStream("app", BufferChunks{codec.NewBytes(f.content["largeBuffer"]), fileSegment(t, f.path, 0, int64(len(f.content["file"])))}, nil)
			r0, r1 := newStreamRecorder(), newStreamRecorder()
			c.Stream(fmt.Sprintf("%d_0", sid), r0)
			c.Stream(fmt.Sprintf("%d_1", sid), r1)
			if err := r0.wait(t); err != nil || !bytes.Equal(r0.bytes(), f.content["largeBuffer"]) {
				t.Fatalf("chunk 0 as a stream: %v", err)
			}
			if err := r1.wait(t); err != nil || !bytes.Equal(r1.bytes(), f.content["file"]) {
				t.Fatalf("chunk 1 as a stream: %v", err)
			}
			waitFor(t, "the transfer count to drop to zero", func() bool { return sm.ChunksBeingTransferred() == 0 })
		})
	}
}
