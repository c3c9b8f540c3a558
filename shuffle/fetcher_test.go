package shuffle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// ---- buildFetchMessage (OneForOneBlockFetcher's message choice) ----

func TestBuildFetchMessage(t *testing.T) {
	cases := []struct {
		name    string
		ids     []string
		useOld  bool
		want    Message
		ordered []string
	}{
		{
			name: "plain, grouped by map in first-seen order",
			ids:  []string{"shuffle_0_1_0", "shuffle_0_0_0", "shuffle_0_1_1", "shuffle_0_0_1", "shuffle_0_2_5"},
			want: &FetchShuffleBlocks{AppID: "app", ExecID: "exec", ShuffleID: 0, MapIDs: []int64{1, 0, 2},
				ReduceIDs: [][]int32{{0, 1}, {0, 1}, {5}}},
			ordered: []string{"shuffle_0_1_0", "shuffle_0_1_1", "shuffle_0_0_0", "shuffle_0_0_1", "shuffle_0_2_5"},
		},
		{
			name:    "long map ids",
			ids:     []string{"shuffle_3_9223372036854775807_2", "shuffle_3_4294967296_1"},
			want:    &FetchShuffleBlocks{AppID: "app", ExecID: "exec", ShuffleID: 3, MapIDs: []int64{1<<63 - 1, 1 << 32}, ReduceIDs: [][]int32{{2}, {1}}},
			ordered: []string{"shuffle_3_9223372036854775807_2", "shuffle_3_4294967296_1"},
		},
		{
			name: "batch",
			ids:  []string{"shuffle_0_0_0_3", "shuffle_0_1_0_3", "shuffle_0_2_1_2"},
			want: &FetchShuffleBlocks{AppID: "app", ExecID: "exec", ShuffleID: 0, MapIDs: []int64{0, 1, 2},
				ReduceIDs: [][]int32{{0, 3}, {0, 3}, {1, 2}}, BatchFetchEnabled: true},
			ordered: []string{"shuffle_0_0_0_3", "shuffle_0_1_0_3", "shuffle_0_2_1_2"},
		},
		{
			name:    "old protocol",
			ids:     []string{"shuffle_0_1_0", "shuffle_0_0_0", "shuffle_0_1_1"},
			useOld:  true,
			want:    &OpenBlocks{AppID: "app", ExecID: "exec", BlockIDs: []string{"shuffle_0_1_0", "shuffle_0_0_0", "shuffle_0_1_1"}},
			ordered: []string{"shuffle_0_1_0", "shuffle_0_0_0", "shuffle_0_1_1"},
		},
		{
			name:    "RDD blocks",
			ids:     []string{"rdd_1_0", "rdd_1_1"},
			want:    &OpenBlocks{AppID: "app", ExecID: "exec", BlockIDs: []string{"rdd_1_0", "rdd_1_1"}},
			ordered: []string{"rdd_1_0", "rdd_1_1"},
		},
		{
			// Not all shuffle_ ids: OpenBlocks, which the service refuses.
			name:    "mixed prefixes",
			ids:     []string{"shuffle_0_0_0", "rdd_1_1"},
			want:    &OpenBlocks{AppID: "app", ExecID: "exec", BlockIDs: []string{"shuffle_0_0_0", "rdd_1_1"}},
			ordered: []string{"shuffle_0_0_0", "rdd_1_1"},
		},
	}
	for _, c := range cases {
		msg, ordered, err := buildFetchMessage("app", "exec", c.ids, c.useOld)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(msg, c.want) {
			t.Errorf("%s: message %#v, want %#v", c.name, msg, c.want)
		}
		if !reflect.DeepEqual(ordered, c.ordered) {
			t.Errorf("%s: order %v, want %v", c.name, ordered, c.ordered)
		}
		if !reflect.DeepEqual(blockIDsOf(msg), c.ordered) {
			t.Errorf("%s: chunk i of the message is not ordered[i]: %v", c.name, blockIDsOf(msg))
		}
	}

	if _, _, err := buildFetchMessage("app", "exec", nil, false); !errors.Is(err, errEmptyBlocks) || !strings.Contains(err.Error(), "Zero-sized blockIds array") {
		t.Errorf("empty block list: %v", err)
	}
	for _, ids := range [][]string{
		{"shuffle_0_0"},                             // too few parts
		{"shuffle_0_0_0_0_0"},                       // too many parts
		{"shuffle_0_0_0", "shuffle_0_0_0_1"},        // plain then batch
		{"shuffle_0_0_0_1", "shuffle_0_0_0"},        // batch then plain
		{"shuffle_0_0_0", "shuffle_1_0_0"},          // two shuffles
		{"shuffle_0_0_x"},                           // not a number
		{"shuffleChunk_0_0_0"},                      // chunk with too few parts
		{"rdd_1_1", "shuffle_0_0"},                  // bad shuffle id in OpenBlocks
		{"shuffle_0_0_0", "shuffleChunk_0_0_0_0_0"}, // mixed, bad chunk
	} {
		msg, _, err := buildFetchMessage("app", "exec", ids, false)
		if err == nil {
			t.Errorf("%v: built %#v, want an error", ids, msg)
		}
	}
	// The old protocol still checks shuffle ids.
	if _, _, err := buildFetchMessage("app", "exec", []string{"shuffle_0_0"}, true); err == nil {
		t.Errorf("old protocol accepted shuffle_0_0")
	}
}

// ---- OneForOneBlockFetcher through Client.FetchBlocks ----

type fetchEnv struct {
	svc  *Service
	spy  *spy
	cl   *Client
	sh   *shuffleFiles
	dirs []string
}

func newFetchEnv(t *testing.T, conf *sparkconf.Conf, maps, reduces int) *fetchEnv {
	t.Helper()
	e := &fetchEnv{spy: &spy{}, dirs: newExecDirs(t, 2)}
	e.svc = startService(t, conf, "", 0, e.spy)
	e.cl = newClient(t, conf, "app-1")
	e.sh = writeShuffle(t, e.dirs, 0, maps, reduces, nil)
	if err := e.svc.RegisterExecutor("app-1", "exec-1", execInfo(e.dirs)); err != nil {
		t.Fatal(err)
	}
	return e
}

// barrier fetches one block in memory over the same connection: its
// callback runs after whatever the connection's reading side was still
// doing for earlier fetches (releasing temp files after a callback).
func (e *fetchEnv) barrier(t *testing.T) {
	t.Helper()
	l := newRecListener(1)
	e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", []string{e.sh.id(0, 0)}, nil, l)
	l.wait(t)
	l.checkOK(t, map[string][]byte{e.sh.id(0, 0): e.sh.data(0, 0)})
}

// TestFetchOneRPCThenChunks: one RPC, then chunks 0..n-1, each mapped to
// its block; callbacks come in the grouped order.
func TestFetchOneRPCThenChunks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode), 3, 3)
		sh := e.sh
		ids := []string{sh.id(1, 0), sh.id(0, 2), sh.id(1, 2), sh.id(2, 1), sh.id(0, 0)}
		grouped := []string{sh.id(1, 0), sh.id(1, 2), sh.id(0, 2), sh.id(0, 0), sh.id(2, 1)}
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, pick(sh.expected(), ids))
		if got := l.snapshotOrder(); !reflect.DeepEqual(got, grouped) {
			t.Errorf("callback order %v, want the grouped order %v", got, grouped)
		}
		rpcs := e.spy.rpcList()
		if len(rpcs) != 1 {
			t.Fatalf("%d RPCs, want 1", len(rpcs))
		}
		want := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 0, MapIDs: []int64{1, 0, 2},
			ReduceIDs: [][]int32{{0, 2}, {2, 0}, {1}}}
		if !reflect.DeepEqual(rpcs[0], want) {
			t.Errorf("RPC %#v, want %#v", rpcs[0], want)
		}
		chunks := e.spy.chunkList()
		if len(chunks) != len(ids) {
			t.Fatalf("%d chunk requests, want %d", len(chunks), len(ids))
		}
		for i, c := range chunks {
			if c.ChunkIndex != int32(i) || c.StreamID != chunks[0].StreamID {
				t.Errorf("chunk request %d is %v", i, c)
			}
		}
	})
}

func pick(all map[string][]byte, ids []string) map[string][]byte {
	out := map[string][]byte{}
	for _, id := range ids {
		out[id] = all[id]
	}
	return out
}

// TestFetchUseOldProtocol: useOldFetchProtocol sends OpenBlocks, in the
// caller's order.
func TestFetchUseOldProtocol(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode, "spark.shuffle.useOldFetchProtocol=true"), 2, 2)
		ids := []string{e.sh.id(1, 0), e.sh.id(0, 1), e.sh.id(1, 1)}
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, pick(e.sh.expected(), ids))
		if got := l.snapshotOrder(); !reflect.DeepEqual(got, ids) {
			t.Errorf("callback order %v, want %v", got, ids)
		}
		rpcs := e.spy.rpcList()
		if len(rpcs) != 1 || !reflect.DeepEqual(rpcs[0], &OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: ids}) {
			t.Errorf("RPCs %#v, want one OpenBlocks", rpcs)
		}
	})
}

// TestFetchBatchBlocks: 5-part ids make a batch FetchShuffleBlocks whose
// chunks are the partition ranges.
func TestFetchBatchBlocks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode), 3, 6)
		ids := []string{"shuffle_0_2_1_4", "shuffle_0_0_0_6", "shuffle_0_1_3_3"}
		want := map[string][]byte{ids[0]: e.sh.batch(2, 1, 4), ids[1]: e.sh.batch(0, 0, 6), ids[2]: {}}
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, want)
		rpcs := e.spy.rpcList()
		wantMsg := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", MapIDs: []int64{2, 0, 1},
			ReduceIDs: [][]int32{{1, 4}, {0, 6}, {3, 3}}, BatchFetchEnabled: true}
		if len(rpcs) != 1 || !reflect.DeepEqual(rpcs[0], wantMsg) {
			t.Errorf("RPCs %#v, want %#v", rpcs, wantMsg)
		}

		// Two ranges of one map group into one entry with four reduce ids,
		// which a batch fetch cannot express (Spark's fetcher does the same,
		// and its reducers never ask so): every block fails.
		ids = []string{"shuffle_0_1_0_2", "shuffle_0_1_4_6"}
		l = newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkFailed(t, "batch fetch", ids...)
	})
}

// TestFetchChunkFailureFailsLaterBlocks: a failed chunk fails its block
// and every later one; earlier successes stay. (Map 1's data file is
// missing.)
func TestFetchChunkFailureFailsLaterBlocks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode), 3, 2)
		if err := os.Remove(FilePath(e.dirs, testSubDirs, DataFileName(0, 1))); err != nil {
			t.Fatal(err)
		}
		sh := e.sh
		ids := []string{sh.id(0, 0), sh.id(0, 1), sh.id(1, 0), sh.id(1, 1), sh.id(2, 0)}
		l := newRecListener(len(ids))
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkOK(t, pick(sh.expected(), ids[:2]))
		l.checkFailed(t, "", ids[2:]...)
		var re *netpoll.RemoteError
		if !errors.As(l.failed[ids[2]], &re) {
			t.Errorf("the failed chunk's error %v is not the server's", l.failed[ids[2]])
		}
		if e.spy.numRPCs() != 1 {
			t.Errorf("%d RPCs: a server-reported chunk failure was retried", e.spy.numRPCs())
		}
	})
}

// TestFetchEmptyBlockList: nothing is sent, nothing is called back.
func TestFetchEmptyBlockList(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode), 1, 1)
		l := newRecListener(1)
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", nil, nil, l)
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", []string{}, nil, l)
		// A fetch after them completes alone: nothing else was outstanding.
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", []string{e.sh.id(0, 0)}, nil, l)
		l.wait(t)
		if got := l.snapshotOrder(); !reflect.DeepEqual(got, []string{e.sh.id(0, 0)}) {
			t.Errorf("callbacks %v", got)
		}
		if e.spy.numRPCs() != 1 {
			t.Errorf("%d RPCs, want 1", e.spy.numRPCs())
		}
	})
}

// TestFetchInvalidBlockIDs: ids that cannot be fetched fail every block of
// the request, each once: client-side for malformed shuffle ids (no RPC),
// server-side for mixed kinds.
func TestFetchInvalidBlockIDs(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		e := newFetchEnv(t, testConf(mode), 1, 2)
		for _, c := range []struct {
			ids    []string
			substr string
			rpc    bool
		}{
			{[]string{"shuffle_0_0_0", "shuffle_0_0"}, "Unexpected block id format", false},
			{[]string{"shuffle_0_0_0", "shuffle_0_0_0_1_2"}, "Unexpected block id format", false},
			{[]string{"shuffle_0_0_0", "shuffle_0_0_0_1"}, "mixed", false},
			{[]string{"shuffle_0_0_0", "shuffleChunk_0_0_0_0"}, "Unexpected block id format", true},
			{[]string{"shuffle_0_0_0", "rdd_1_1"}, "Unexpected block id format", true},
			{[]string{"rdd_1_1", "shuffle_0_0_0"}, "", true},
		} {
			before := e.spy.numRPCs()
			l := newRecListener(len(c.ids))
			e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", c.ids, nil, l)
			l.wait(t)
			l.checkFailed(t, c.substr, c.ids...)
			if sent := e.spy.numRPCs() > before; sent != c.rpc {
				t.Errorf("%v: RPC sent = %v, want %v", c.ids, sent, c.rpc)
			}
		}
	})
}

// ---- fetching to disk ----

// diskFetchTest fetches ids with sizes that send some or all blocks to
// disk and checks them against the in-memory fetch.
func TestFetchToDisk(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, c := range []struct {
			name  string
			sizes func(b []byte) int64
		}{
			{"all to disk", func([]byte) int64 { return 1 << 20 }},
			{"mixed", func(b []byte) int64 { return int64(len(b)) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				checkLeaks(t)
				conf := testConf(mode, "spark.network.maxRemoteBlockSizeFetchToMem=200")
				e := newFetchEnv(t, conf, 3, 4)
				want := e.sh.expected()
				var ids []string
				sizes := map[string]int64{}
				for m := 0; m < 3; m++ {
					for r := 0; r < 4; r++ {
						id := e.sh.id(m, r)
						ids = append(ids, id)
						sizes[id] = c.sizes(want[id])
					}
				}
				mem := newRecListener(len(ids))
				e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, nil, mem)
				mem.wait(t)
				mem.checkOK(t, want)

				disk := newRecListener(len(ids))
				e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, sizes, disk)
				disk.wait(t)
				disk.checkOK(t, mem.successes())
				if len(e.spy.streamList()) == 0 {
					t.Errorf("no block was fetched as a stream")
				}
				for _, s := range e.spy.streamList() {
					if _, err := netpoll.ParseStreamChunkID(s); err != nil {
						t.Errorf("stream request %q is not <streamId>_<chunk>", s)
					}
				}
				e.barrier(t)
				if left, _ := os.ReadDir(e.cl.tmpDir); len(left) != 0 {
					t.Errorf("%d temp files left after the fetch", len(left))
				}
			})
		}
	})
}

// TestFetchToDiskRetain: a listener may keep a block fetched to disk with
// Retain and read it after the callback.
func TestFetchToDiskRetain(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.network.maxRemoteBlockSizeFetchToMem=10")
		e := newFetchEnv(t, conf, 1, 3)
		ids := []string{e.sh.id(0, 0), e.sh.id(0, 1), e.sh.id(0, 2)}
		sizes := map[string]int64{ids[0]: 100, ids[1]: 100, ids[2]: 100}
		// The listener only retains: nothing reads the file before the
		// callback returns.
		var mu sync.Mutex
		kept := map[string]codec.ManagedBuffer{}
		done := make(chan struct{})
		l := listenerFuncs{
			success: func(id string, data codec.ManagedBuffer) {
				mu.Lock()
				defer mu.Unlock()
				kept[id] = data.Retain()
				if len(kept) == len(ids) {
					close(done)
				}
			},
			failure: func(id string, err error) { t.Errorf("%s failed: %v", id, err) },
		}
		e.cl.FetchBlocks(localhost, e.svc.Port(), "exec-1", ids, sizes, l)
		<-done
		e.barrier(t) // the transport has released its reference
		for _, id := range ids {
			buf := kept[id]
			if buf == nil {
				t.Fatalf("%s not delivered", id)
			}
			b, err := buf.Bytes()
			if err != nil || !bytes.Equal(b, e.sh.expected()[id]) {
				t.Errorf("%s read after the callback: %v (%d bytes)", id, err, len(b))
			}
			buf.Release()
		}
		e.barrier(t)
		if left, _ := os.ReadDir(e.cl.tmpDir); len(left) != 0 {
			t.Errorf("%d temp files left after the retained buffers were released", len(left))
		}
	})
}

// ---- FetchAll ----

// TestFetchAllConcurrent: 16 maps × 32 reducers; 8 goroutines each fetch
// their reducers' blocks from every map with FetchAll, byte for byte.
func TestFetchAllConcurrent(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		const maps, reducers, workers = 16, 32, 8
		conf := testConf(mode, "spark.reducer.maxSizeInFlight=1m", "spark.reducer.maxBlocksInFlightPerAddress=5")
		e := newFetchEnv(t, conf, maps, reducers)
		want := e.sh.expected()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := w; r < reducers; r += workers {
					req := FetchRequest{Host: localhost, Port: e.svc.Port(), ExecID: "exec-1"}
					for m := 0; m < maps; m++ {
						id := e.sh.id(m, r)
						req.Blocks = append(req.Blocks, BlockInfo{ID: id, Size: int64(len(want[id]))})
					}
					var mu sync.Mutex
					got := map[string]bool{}
					err := e.cl.FetchAll(context.Background(), []FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
						b, err := data.Bytes()
						if err != nil {
							return err
						}
						if !bytes.Equal(b, want[id]) {
							return fmt.Errorf("%s: %d bytes differ from the %d written", id, len(b), len(want[id]))
						}
						mu.Lock()
						defer mu.Unlock()
						if got[id] {
							return fmt.Errorf("%s delivered twice", id)
						}
						got[id] = true
						return nil
					})
					if err == nil && len(got) != maps {
						err = fmt.Errorf("reducer %d: %d blocks, want %d", r, len(got), maps)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := e.svc.Metrics().BlocksServed.Load(); n != maps*reducers {
			t.Errorf("served %d blocks, want %d", n, maps*reducers)
		}
		// maxBlocksInFlightPerAddress=5 caps every request.
		for _, m := range e.spy.rpcList() {
			if n := len(blockIDsOf(m)); n > 5 {
				t.Errorf("an RPC asked for %d blocks, more than maxBlocksInFlightPerAddress", n)
			}
		}
	})
}

// TestFetchAllLimitsAndErrors: requests are cut to maxSizeInFlight/5;
// the first error ends FetchAll after what is in flight, and nothing new
// is issued.
func TestFetchAllLimitsAndErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.reducer.maxSizeInFlight=1m", "spark.reducer.maxReqsInFlight=1")
		e := newFetchEnv(t, conf, 4, 4)
		req := FetchRequest{Host: localhost, Port: e.svc.Port(), ExecID: "exec-1"}
		const declared = 100 << 10 // two blocks per 200k piece
		for m := 0; m < 4; m++ {
			for r := 0; r < 4; r++ {
				req.Blocks = append(req.Blocks, BlockInfo{ID: e.sh.id(m, r), Size: declared})
			}
		}
		got := fetchAll(t, e.cl, req)
		if len(got) != 16 {
			t.Fatalf("fetched %d blocks", len(got))
		}
		rpcs := e.spy.rpcList()
		if len(rpcs) != 8 {
			t.Errorf("%d RPCs, want 8 pieces of 2 blocks (maxSizeInFlight/5)", len(rpcs))
		}
		for _, m := range rpcs {
			if n := len(blockIDsOf(m)); n != 2 {
				t.Errorf("piece of %d blocks", n)
			}
		}

		// onBlock's error ends FetchAll; with one request in flight at a
		// time, no further piece is issued.
		before := e.spy.numRPCs()
		boom := errors.New("boom")
		err := e.cl.FetchAll(context.Background(), []FetchRequest{req}, func(string, codec.ManagedBuffer) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("FetchAll = %v, want the onBlock error", err)
		}
		if n := e.spy.numRPCs() - before; n != 1 {
			t.Errorf("%d pieces issued after the error, want only the first", n)
		}

		// A failed block fails FetchAll with an error naming it.
		bad := FetchRequest{Host: localhost, Port: e.svc.Port(), ExecID: "exec-1", Blocks: []BlockInfo{{ID: "shuffle_0_9_9", Size: 1}}}
		err = e.cl.FetchAll(context.Background(), []FetchRequest{bad}, func(string, codec.ManagedBuffer) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "shuffle_0_9_9") {
			t.Errorf("FetchAll of a missing block = %v", err)
		}
		// Nothing to fetch is not an error.
		if err := e.cl.FetchAll(context.Background(), nil, nil); err != nil {
			t.Errorf("FetchAll(nil) = %v", err)
		}
	})
}
