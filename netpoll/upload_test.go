package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// RpcIntegrationSuite.sendRpcWithStream*: UploadStream, its reply and its
// failures.

// uploadHandler accepts uploads. The meta says how the upload behaves:
// "failSetup" fails ReceiveStream, "failData" fails the first OnData,
// "failComplete" fails Complete; anything else is answered with
// uploadReply(meta, body).
type uploadHandler struct {
	*testHandler
	mu    sync.Mutex
	sinks []*uploadSink
}

func uploadReply(meta string, body []byte) string {
	return fmt.Sprintf("%s:%d:%08x", meta, len(body), crc32.ChecksumIEEE(body))
}

func (h *uploadHandler) ReceiveStream(c *Client, meta []byte) (StreamSink, error) {
	m := string(meta)
	if m == "failSetup" {
		return nil, errors.New("failure at setup of " + m)
	}
	s := &uploadSink{meta: m, aborted: make(chan error, 4)}
	h.mu.Lock()
	h.sinks = append(h.sinks, s)
	h.mu.Unlock()
	return s, nil
}

func (h *uploadHandler) sink(meta string) *uploadSink {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sinks {
		if s.meta == meta {
			return s
		}
	}
	return nil
}

type uploadSink struct {
	meta      string
	buf       bytes.Buffer
	dataCalls atomic.Int32
	completes atomic.Int32
	aborts    atomic.Int32
	aborted   chan error
}

func (s *uploadSink) OnData(p []byte) error {
	s.dataCalls.Add(1)
	if s.meta == "failData" {
		return errors.New("failure on data of " + s.meta)
	}
	s.buf.Write(p)
	return nil
}

func (s *uploadSink) Complete() ([]byte, error) {
	s.completes.Add(1)
	if s.meta == "failComplete" {
		return nil, errors.New("failure on complete of " + s.meta)
	}
	return []byte(uploadReply(s.meta, s.buf.Bytes())), nil
}

func (s *uploadSink) Abort(err error) {
	s.aborts.Add(1)
	s.aborted <- err
}

func uploadEnv(t *testing.T, mode IOMode) (*env, *uploadHandler) {
	h := &uploadHandler{testHandler: &testHandler{}}
	return newEnv(t, testConf(t, mode), h), h
}

func TestUploadOneAtATime(t *testing.T) {
	data := randBytes(3<<20+11, 3)
	path := writeTempFile(t, data)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := uploadEnv(t, mode)
			c := e.client(t)
			bodies := []struct {
				name string
				data []byte
				buf  func() codec.ManagedBuffer
			}{
				{"empty", nil, nil},
				{"small", data[:10], nil},
				{"medium", data[:100<<10], nil},
				{"file", data, func() codec.ManagedBuffer { return fileSegment(t, path, 0, int64(len(data))) }},
			}
			for _, b := range bodies {
				var body codec.ManagedBuffer
				var counted *countingBuffer
				if b.buf != nil {
					body = b.buf()
				} else {
					counted = newCounting(b.data)
					body = counted
				}
				cb := newRPC()
				c.UploadStream([]byte(b.name), body, cb)
				if got, want := string(cb.waitOK(t)), uploadReply(b.name, b.data); got != want {
					t.Fatalf("%s: reply %q, want %q", b.name, got, want)
				}
				if counted != nil {
					waitFor(t, "the upload body to be released", func() bool { return counted.releases.Load() == 1 })
				}
			}
		})
	}
}

func TestUploadConcurrently(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, h := uploadEnv(t, mode)
			c := e.client(t)
			const goroutines, each = 8, 4
			var wg sync.WaitGroup
			errs := make(chan error, goroutines*each)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						meta := fmt.Sprintf("up-%d-%d", g, i)
						body := randBytes(1+(g*each+i)*7919, uint64(g*each+i))
						cb := newRPC()
						c.UploadStream([]byte(meta), codec.NewBytes(body), cb)
						var res rpcResult
						select {
						case res = <-cb.ch:
						case <-time.After(safetyWait):
							errs <- fmt.Errorf("%s: no reply", meta)
							return
						}
						switch {
						case res.err != nil:
							errs <- fmt.Errorf("%s: %w", meta, res.err)
						case string(res.resp) != uploadReply(meta, body):
							errs <- fmt.Errorf("%s: reply %q", meta, res.resp)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			h.mu.Lock()
			n := len(h.sinks)
			h.mu.Unlock()
			if n != goroutines*each {
				t.Fatalf("%d uploads received, want %d", n, goroutines*each)
			}
		})
	}
}

// TestUploadFailures: a sink failing on data or on completion gives an
// RpcFailure, and the connection stays usable.
func TestUploadFailures(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, h := uploadEnv(t, mode)
			c := e.client(t)
			body := randBytes(256<<10, 9)

			cb := newRPC()
			c.UploadStream([]byte("failData"), codec.NewBytes(body), cb)
			err := cb.waitErr(t)
			mustContain(t, err, "failure on data of failData")
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("want an RpcFailure, got %T", err)
			}
			s := h.sink("failData")
			mustContain(t, recv(t, s.aborted, "Abort of the failed sink"), "failure on data")
			if s.dataCalls.Load() != 1 || s.completes.Load() != 0 || s.aborts.Load() != 1 {
				t.Fatalf("failed sink: %d OnData, %d Complete, %d Abort", s.dataCalls.Load(), s.completes.Load(), s.aborts.Load())
			}

			cb = newRPC()
			c.UploadStream([]byte("failComplete"), codec.NewBytes(body), cb)
			mustContain(t, cb.waitErr(t), "failure on complete of failComplete")

			// The rest of each failed body was drained: the connection is
			// in sync and keeps working.
			if !c.IsActive() {
				t.Fatal("a failed upload closed the connection")
			}
			if resp, err := c.SendRpcSync([]byte("after"), safetyWait); err != nil || string(resp) != "after" {
				t.Fatalf("rpc after failures: %q %v", resp, err)
			}
			cb = newRPC()
			c.UploadStream([]byte("fine"), codec.NewBytes(body), cb)
			if got := string(cb.waitOK(t)); got != uploadReply("fine", body) {
				t.Fatalf("upload after failures: %q", got)
			}
		})
	}
}

// TestUploadSetupFailure: ReceiveStream failing gives an RpcFailure and
// closes the connection; the factory then makes a new, working client.
func TestUploadSetupFailure(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e, _ := uploadEnv(t, mode)
			c := e.client(t)
			cb := newRPC()
			c.UploadStream([]byte("failSetup"), codec.NewBytes([]byte("0123456789")), cb)
			err := cb.waitErr(t)
			mustContain(t, err, "failure at setup of failSetup")
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("want the RpcFailure, got %T: %v", err, err)
			}
			waitDone(t, c.Done(), "the connection to close")
			if c.IsActive() {
				t.Fatal("client still active")
			}
			c2 := e.client(t)
			if c2 == c {
				t.Fatal("the factory handed out the closed client")
			}
			if resp, err := c2.SendRpcSync([]byte("new"), safetyWait); err != nil || string(resp) != "new" {
				t.Fatalf("new client: %q %v", resp, err)
			}
		})
	}
}

// TestUploadNotSupported: a handler that is no StreamReceiver refuses
// uploads with an RpcFailure; the body is skipped and the connection lives.
func TestUploadNotSupported(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, testConf(t, mode), &testHandler{})
			c := e.client(t)
			cb := newRPC()
			c.UploadStream([]byte("m"), codec.NewBytes(randBytes(70<<10, 1)), cb)
			mustContain(t, cb.waitErr(t), "does not accept uploaded streams")
			if resp, err := c.SendRpcSync([]byte("x"), safetyWait); err != nil || string(resp) != "x" {
				t.Fatalf("after a refused upload: %q %v", resp, err)
			}
		})
	}
}
