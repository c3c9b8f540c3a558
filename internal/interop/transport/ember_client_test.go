package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
)

// rpcTimeout bounds one synchronous RPC; it only turns a hang into a
// failure.
const rpcTimeout = 2 * time.Minute

// TestEmberClientSparkServer drives Ember's Client, in each io mode,
// against Spark's TransportServer in the same io mode: the operations of
// TestSparkClientEmberServer the other way round.
func TestEmberClientSparkServer(t *testing.T) {
	p := startPeer(t)
	fs := newFiles(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			port := p.ok(t, 1, "SERVER %s", mode)[0]
			portNum, _ := strconv.Atoi(port)
			ctx := netpoll.NewContext(emberConf(t, mode), newHandler())
			factory := ctx.NewClientFactory()
			t.Cleanup(func() {
				factory.Close()
				ctx.Close()
			})
			c, err := factory.CreateClient("127.0.0.1", portNum)
			if err != nil {
				t.Fatal(err)
			}

			t.Run("rpc", func(t *testing.T) {
				for i, rc := range rpcSizes {
					t.Run(rc.name, func(t *testing.T) {
						req := randomBytes(rc.size, uint64(400+i))
						resp, err := c.SendRpcSync(req, rpcTimeout)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(resp, req) {
							t.Fatalf("Spark echoed %d bytes (sha %s), sent %d (sha %s)", len(resp), sha(resp), len(req), sha(req))
						}
					})
				}
			})

			t.Run("oneway", func(t *testing.T) {
				_, f := p.call(t, "ONEWAYS %s", mode)
				before, _ := strconv.Atoi(f[0])
				var want []string
				for i, size := range []int{0, 1000, 1 << 20} {
					msg := randomBytes(size, uint64(500+i))
					want = append(want, sha(msg))
					if err := c.Send(msg); err != nil {
						t.Fatal(err)
					}
				}
				testutil.Eventually(t, testutil.WaitLimit, "the one-way messages at Spark's server", func() (bool, string) {
					f := p.ok(t, 2, "ONEWAYS %s", mode)
					got := strings.Split(f[1], ",")
					if n, _ := strconv.Atoi(f[0]); n < before+len(want) {
						return false, strings.Join(f, " ")
					}
					return slices.Equal(got[before:], want), strings.Join(f, " ")
				})
			})

			t.Run("chunkfetch", func(t *testing.T) {
				resp, err := c.SendRpcSync(fmt.Appendf(nil, "%sopen:%d:%s", cmdPrefix, chunkSize, fs.path), rpcTimeout)
				if err != nil {
					t.Fatal(err)
				}
				var id int64
				var n int
				if _, err := fmt.Sscanf(string(resp), "%d %d", &id, &n); err != nil {
					t.Fatalf("open answered %q: %v", resp, err)
				}
				lens := chunkLens(len(fs.data))
				if n != len(lens) {
					t.Fatalf("Spark opened %d chunks, want %d", n, len(lens))
				}
				got := fetchAll(t, c, id, n)
				var gotLens []string
				for _, b := range got {
					gotLens = append(gotLens, strconv.Itoa(len(b)))
				}
				if all := bytes.Join(got, nil); !bytes.Equal(all, fs.data) || !slices.Equal(gotLens, lens) {
					t.Fatalf("fetched %d bytes in chunks %v (sha %s), want %d in %v (sha %s)",
						len(all), gotLens, sha(all), len(fs.data), lens, sha(fs.data))
				}
			})

			t.Run("chunkfailure", func(t *testing.T) {
				_, err := fetchOne(c, 999, 0)
				var re *netpoll.RemoteError
				// Spark 4.1 checks the stream id before it looks the chunk up.
				want := "java.lang.IllegalArgumentException: Unknown stream ID.\n\tat "
				if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, want) {
					t.Fatalf("fetching a chunk of an unknown stream: %v, want a RemoteError starting %q", err, want)
				}
			})

			t.Run("streamchunk", func(t *testing.T) {
				// Chunks read as streams "<streamId>_<chunkIndex>", in order
				// (Spark's fetch to disk).
				resp, err := c.SendRpcSync(fmt.Appendf(nil, "%sopen:%d:%s", cmdPrefix, chunkSize, fs.path), rpcTimeout)
				if err != nil {
					t.Fatal(err)
				}
				var id int64
				var n int
				if _, err := fmt.Sscanf(string(resp), "%d %d", &id, &n); err != nil || n != len(chunkLens(len(fs.data))) {
					t.Fatalf("open answered %q (%v)", resp, err)
				}
				var all []byte
				for i := 0; i < n; i++ {
					got, err := stream(c, fmt.Sprintf("%d_%d", id, i))
					if err != nil {
						t.Fatalf("chunk %d as a stream: %v", i, err)
					}
					if want := min(chunkSize, len(fs.data)-i*chunkSize); len(got) != want {
						t.Fatalf("chunk %d as a stream: %d bytes, want %d", i, len(got), want)
					}
					all = append(all, got...)
				}
				if !bytes.Equal(all, fs.data) {
					t.Fatalf("chunks read as streams: sha %s, want %s", sha(all), sha(fs.data))
				}
			})

			t.Run("mergedmeta", func(t *testing.T) {
				n, meta, err := mergedMetaReq(c, "app-1", 2, 3, 7)
				if err != nil {
					t.Fatal(err)
				}
				if want := mergedMeta(2, 3, 7); n != 2 || !bytes.Equal(meta, want) {
					t.Fatalf("merged meta: %d chunks %x, want 2 chunks %x", n, meta, want)
				}
				_, _, err = mergedMetaReq(c, "fail", 2, 3, 7)
				var re *netpoll.RemoteError
				want := "java.lang.IllegalStateException: no merged block meta for fail"
				if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, want) {
					t.Fatalf("failing merged meta: %v, want a RemoteError starting %q", err, want)
				}
			})

			t.Run("stream", func(t *testing.T) {
				for _, sc := range []struct {
					name, path string
					want       []byte
				}{
					{"file", fs.path, fs.data},
					{"empty", fs.empty, nil},
				} {
					t.Run(sc.name, func(t *testing.T) {
						got, err := stream(c, sc.path)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, sc.want) {
							t.Fatalf("streamed %d bytes (sha %s), want %d (sha %s)", len(got), sha(got), len(sc.want), sha(sc.want))
						}
					})
				}
				t.Run("missing", func(t *testing.T) {
					_, err := stream(c, fs.missing)
					var re *netpoll.RemoteError
					want := fmt.Sprintf("Stream '%s' was not found.", fs.missing)
					if !errors.As(err, &re) || re.Msg != want {
						t.Fatalf("stream of a missing file: %v, want a RemoteError %q", err, want)
					}
				})
			})

			t.Run("large", func(t *testing.T) {
				got, err := stream(c, fs.bigPath)
				if err != nil || !bytes.Equal(got, fs.big) {
					t.Fatalf("streamed %d bytes (sha %s), %v; want %d (sha %s)", len(got), sha(got), err, len(fs.big), sha(fs.big))
				}
				resp, err := c.SendRpcSync(fmt.Appendf(nil, "%sopen:%d:%s", cmdPrefix, bigChunk, fs.bigPath), rpcTimeout)
				if err != nil {
					t.Fatal(err)
				}
				var id int64
				var n int
				if _, err := fmt.Sscanf(string(resp), "%d %d", &id, &n); err != nil || n != 3 {
					t.Fatalf("open answered %q (%v), want 3 chunks", resp, err)
				}
				chunks := fetchAll(t, c, id, n)
				for i, ch := range chunks {
					if !bytes.Equal(ch, fs.big[i*bigChunk:(i+1)*bigChunk]) {
						t.Fatalf("chunk %d: %d bytes (sha %s), want %d", i, len(ch), sha(ch), bigChunk)
					}
				}
			})

			t.Run("pipelinedstreams", func(t *testing.T) {
				// All requested before any answer arrives: answers are
				// matched in request order, an empty one and a failure in
				// between included.
				ids := []string{fs.path, fs.empty, fs.missing, fs.path, fs.empty}
				sinks := make([]*streamSink, len(ids))
				for i, id := range ids {
					sinks[i] = &streamSink{done: make(chan error, 1)}
					c.Stream(id, sinks[i])
				}
				timer := time.NewTimer(rpcTimeout)
				defer timer.Stop()
				for i, s := range sinks {
					var err error
					select {
					case err = <-s.done:
					case <-timer.C:
						t.Fatalf("stream %d: no answer", i)
					}
					if ids[i] == fs.missing {
						var re *netpoll.RemoteError
						if !errors.As(err, &re) || !strings.Contains(re.Msg, "was not found") {
							t.Fatalf("stream %d (missing): %v", i, err)
						}
						continue
					}
					want := fs.data
					if ids[i] == fs.empty {
						want = nil
					}
					if err != nil || !bytes.Equal(s.data, want) {
						t.Fatalf("stream %d: %d bytes, %v; want %d bytes", i, len(s.data), err, len(want))
					}
				}
			})

			t.Run("mixed", func(t *testing.T) {
				// RPCs, a chunk fetch and a stream at once on one connection.
				resp, err := c.SendRpcSync(fmt.Appendf(nil, "%sopen:%d:%s", cmdPrefix, chunkSize, fs.path), rpcTimeout)
				if err != nil {
					t.Fatal(err)
				}
				var id int64
				var n int
				if _, err := fmt.Sscanf(string(resp), "%d %d", &id, &n); err != nil {
					t.Fatalf("open answered %q: %v", resp, err)
				}
				var wg sync.WaitGroup
				var chunks [][]byte
				var streamed []byte
				var streamErr error
				wg.Add(2)
				go func() {
					defer wg.Done()
					streamed, streamErr = stream(c, fs.path)
				}()
				go func() {
					defer wg.Done()
					concurrentRPCs(t, c, 200, 64<<10)
				}()
				chunks = fetchAll(t, c, id, n)
				if !waitGroup(&wg, rpcTimeout) {
					t.Fatal("mixed traffic did not finish")
				}
				if all := bytes.Join(chunks, nil); !bytes.Equal(all, fs.data) {
					t.Errorf("chunks: sha %s, want %s", sha(all), sha(fs.data))
				}
				if streamErr != nil || !bytes.Equal(streamed, fs.data) {
					t.Errorf("stream: %d bytes, %v; want %d bytes", len(streamed), streamErr, len(fs.data))
				}
			})

			t.Run("upload", func(t *testing.T) {
				for i, size := range []int{0, 3<<20 + 7} {
					meta := fmt.Sprintf("upload-%d", i)
					body := randomBytes(size, uint64(600+i))
					resp, err := upload(c, []byte(meta), body)
					if err != nil {
						t.Fatal(err)
					}
					if want := uploadReply(meta, body); string(resp) != want {
						t.Fatalf("Spark answered the upload with %q, want %q", resp, want)
					}
				}
			})

			t.Run("rpcfailure", func(t *testing.T) {
				text := "interop failure: b\u00f6\u00f6m \u2603"
				_, err := c.SendRpcSync([]byte(cmdPrefix+"fail:"+text), rpcTimeout)
				var re *netpoll.RemoteError
				if !errors.As(err, &re) {
					t.Fatalf("a failing RPC returned %v, want a RemoteError", err)
				}
				// Spark sends the exception's stack trace text.
				want := "java.lang.IllegalStateException: " + text + "\n\tat "
				if !strings.HasPrefix(re.Msg, want) {
					t.Fatalf("Spark's failure text %q does not start with %q", tail(re.Msg, 400), want)
				}
			})

			t.Run("sparkmode", func(t *testing.T) {
				// Spark's server really runs the io mode asked for: the
				// connection that sent the last RPC is of that mode's class.
				f := p.ok(t, 2, "INFO %s", mode)
				want := sparkChannel[mode]
				if f[0] != "true" || f[1] != want {
					t.Fatalf("Spark's server: epoll available %s, channel %s; want true, %s", f[0], f[1], want)
				}
			})

			t.Run("concurrent", func(t *testing.T) {
				concurrentRPCs(t, c, numConcurrent, 1024)
			})

			// The last subtests end connections.
			t.Run("uploadfailure", func(t *testing.T) {
				// Spark fails the upload with its own text, the sink's
				// exception as the cause, and closes the connection (Ember
				// drains the body and keeps it).
				_, err := upload(c, []byte("fail-data-1"), randomBytes(1<<20, 601))
				var re *netpoll.RemoteError
				if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, "java.io.IOException: Destination failed while reading stream\n") ||
					!strings.Contains(re.Msg, "java.io.IOException: upload data refused: fail-data-1") {
					t.Fatalf("refused upload: %v, want a RemoteError naming the sink's exception", err)
				}
				select {
				case <-c.Done():
				case <-time.After(testutil.WaitLimit):
					t.Fatal("Spark did not close the connection of a failed upload")
				}
			})

			t.Run("connectionclosed", func(t *testing.T) {
				// A stream half read when its connection closes is freed by
				// Spark's server.
				c, err := factory.CreateClient("127.0.0.1", portNum)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.SendRpcSync(fmt.Appendf(nil, "%sopen:%d:%s", cmdPrefix, chunkSize, fs.path), rpcTimeout)
				if err != nil {
					t.Fatal(err)
				}
				var id int64
				if _, err := fmt.Sscanf(string(resp), "%d", &id); err != nil {
					t.Fatalf("open answered %q: %v", resp, err)
				}
				if b, err := fetchOne(c, id, 0); err != nil || len(b) != chunkSize {
					t.Fatalf("first chunk: %d bytes, %v", len(b), err)
				}
				if n := p.ok(t, 1, "STREAMSTATES %s", mode)[0]; n != "1" {
					t.Fatalf("Spark holds %s streams before the close, want 1", n)
				}
				c.Close()
				testutil.Eventually(t, testutil.WaitLimit, "Spark to free the stream", func() (bool, string) {
					n := p.ok(t, 1, "STREAMSTATES %s", mode)[0]
					return n == "0", n + " streams"
				})
			})

			t.Run("uploadsetupfailure", func(t *testing.T) {
				// Spark refuses the upload and closes the connection.
				c, err := factory.CreateClient("127.0.0.1", portNum)
				if err != nil {
					t.Fatal(err)
				}
				_, err = upload(c, []byte("fail-setup-1"), randomBytes(1000, 602))
				var re *netpoll.RemoteError
				want := "java.lang.IllegalStateException: upload refused: fail-setup-1\n\tat "
				if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, want) {
					t.Fatalf("refused upload: %v, want a RemoteError starting %q", err, want)
				}
				select {
				case <-c.Done():
				case <-time.After(testutil.WaitLimit):
					t.Fatal("Spark did not close the connection of a refused upload")
				}
			})
		})
	}
}

// fetchAll fetches chunks 0..n-1 of stream id at once and returns them in
// order.
func fetchAll(t *testing.T, c *netpoll.Client, id int64, n int) [][]byte {
	t.Helper()
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		c.FetchChunk(id, int32(i), netpoll.ChunkFunc{
			Success: func(ci int32, buf []byte) {
				got[ci] = append([]byte(nil), buf...)
				wg.Done()
			},
			Failure: func(ci int32, err error) {
				errs[ci] = err
				wg.Done()
			},
		})
	}
	if !waitGroup(&wg, rpcTimeout) {
		t.Fatalf("chunk fetch of %d chunks did not finish", n)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return got
}

// fetchOne fetches one chunk.
func fetchOne(c *netpoll.Client, id int64, index int32) ([]byte, error) {
	type result struct {
		buf []byte
		err error
	}
	ch := make(chan result, 1)
	c.FetchChunk(id, index, netpoll.ChunkFunc{
		Success: func(_ int32, buf []byte) { ch <- result{buf: append([]byte(nil), buf...)} },
		Failure: func(_ int32, err error) { ch <- result{err: err} },
	})
	timer := time.NewTimer(rpcTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.buf, r.err
	case <-timer.C:
		return nil, fmt.Errorf("chunk %d_%d: no answer", id, index)
	}
}

// mergedMetaReq asks for merged block meta and waits for the answer.
func mergedMetaReq(c *netpoll.Client, appID string, shuffleID, mergeID, reduceID int32) (int32, []byte, error) {
	cb := &metaWait{ch: make(chan metaResult, 1)}
	c.SendMergedBlockMetaReq(appID, shuffleID, mergeID, reduceID, cb)
	timer := time.NewTimer(rpcTimeout)
	defer timer.Stop()
	select {
	case r := <-cb.ch:
		return r.n, r.meta, r.err
	case <-timer.C:
		return 0, nil, errors.New("merged block meta: no answer")
	}
}

type metaResult struct {
	n    int32
	meta []byte
	err  error
}

type metaWait struct{ ch chan metaResult }

func (w *metaWait) OnSuccess(n int32, meta []byte) {
	w.ch <- metaResult{n: n, meta: append([]byte(nil), meta...)}
}
func (w *metaWait) OnFailure(err error) { w.ch <- metaResult{err: err} }

// stream reads the named stream whole.
func stream(c *netpoll.Client, id string) ([]byte, error) {
	cb := &streamSink{done: make(chan error, 1)}
	c.Stream(id, cb)
	select {
	case err := <-cb.done:
		return cb.data, err
	case <-time.After(rpcTimeout):
		return nil, fmt.Errorf("stream %s: no answer", id)
	}
}

type streamSink struct {
	data []byte
	done chan error
}

func (s *streamSink) OnData(_ string, p []byte) error {
	s.data = append(s.data, p...)
	return nil
}
func (s *streamSink) OnComplete(string) error       { s.done <- nil; return nil }
func (s *streamSink) OnFailure(_ string, err error) { s.done <- err }

// upload sends body as an upload stream with meta and returns the reply.
func upload(c *netpoll.Client, meta, body []byte) ([]byte, error) {
	type result struct {
		resp []byte
		err  error
	}
	ch := make(chan result, 1)
	c.UploadStream(meta, codec.NewBytes(body), netpoll.RpcFunc{
		Success: func(resp []byte) { ch <- result{resp: append([]byte(nil), resp...)} },
		Failure: func(err error) { ch <- result{err: err} },
	})
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-time.After(rpcTimeout):
		return nil, errors.New("upload: no answer")
	}
}

// concurrentRPCs sends n RPCs of size bytes at once, each body distinct,
// and checks every one is answered with its own body. It may run on a
// goroutine of its own: it reports with Errorf.
func concurrentRPCs(t *testing.T, c *netpoll.Client, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	wg.Add(n)
	for i := 0; i < n; i++ {
		req := randomBytes(size, uint64(1000+i))
		binary.BigEndian.PutUint32(req, uint32(i))
		c.SendRpc(req, netpoll.RpcFunc{
			Success: func(resp []byte) {
				if !bytes.Equal(resp, req) {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("rpc %d: reply of %d bytes differs", i, len(resp)))
					mu.Unlock()
				}
				wg.Done()
			},
			Failure: func(err error) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("rpc %d: %v", i, err))
				mu.Unlock()
				wg.Done()
			},
		})
	}
	if !waitGroup(&wg, rpcTimeout) {
		t.Errorf("not all of %d concurrent RPCs were answered", n)
		return
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d concurrent RPCs went wrong, first: %s", len(bad), n, bad[0])
	}
}

// waitGroup waits for wg up to limit.
func waitGroup(wg *sync.WaitGroup, limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
