package shuffle_test

import (
	"encoding/hex"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// rawAnswer is a service's answer to one raw request, as Spark's
// TransportClient saw it: the RPC's outcome, the reply, and for a stream
// each chunk's outcome ("OK:size:sha" or "FAIL").
type rawAnswer struct {
	failed bool
	err    string
	reply  []byte
	chunks []string
}

func (a rawAnswer) String() string {
	if a.failed {
		return "FAIL(" + a.err + ")"
	}
	m, err := shuffle.Decode(a.reply)
	if err != nil {
		return "OK " + hex.EncodeToString(a.reply)
	}
	return "OK " + strings.TrimPrefix(reflect.TypeOf(m).String(), "*shuffle.") + " " + strings.Join(a.chunks, " ")
}

// rawRequest sends payload as an RPC through Spark's TransportClient and,
// if the answer opens a stream, fetches its chunks.
func (p *sparkPeer) rawRequest(t *testing.T, client string, port int, payload []byte, more ...string) rawAnswer {
	t.Helper()
	f := p.must(append([]string{"raw", client, localhost, itoa(port), hex.EncodeToString(payload)}, more...)...)
	if msg, ok := strings.CutPrefix(f[0], "FAIL:"); ok {
		return rawAnswer{failed: true, err: msg}
	}
	reply, err := hex.DecodeString(strings.TrimPrefix(f[0], "OK:"))
	if err != nil {
		t.Fatalf("raw answer %q", f[0])
	}
	a := rawAnswer{reply: reply}
	for _, c := range f[1:] {
		if strings.HasPrefix(c, "FAIL:") {
			c = "FAIL" // messages differ; the outcome must not
		}
		a.chunks = append(a.chunks, c)
	}
	return a
}

// sameAnswer reports whether two answers are the same for a client: both
// failed, or both succeeded with equal replies (local dirs compared as a
// map) and the same chunks.
func sameAnswer(a, b rawAnswer) bool {
	if a.failed || b.failed {
		return a.failed == b.failed
	}
	ma, errA := shuffle.Decode(a.reply)
	mb, errB := shuffle.Decode(b.reply)
	switch {
	case errA != nil || errB != nil:
		return errA != nil && errB != nil && string(a.reply) == string(b.reply)
	case reflect.TypeOf(ma) != reflect.TypeOf(mb):
		return false
	}
	switch ma := ma.(type) {
	case *shuffle.StreamHandle:
		return ma.NumChunks == mb.(*shuffle.StreamHandle).NumChunks && reflect.DeepEqual(a.chunks, b.chunks)
	case *shuffle.LocalDirsForExecutors:
		return reflect.DeepEqual(dirsByExec(ma), dirsByExec(mb.(*shuffle.LocalDirsForExecutors)))
	}
	return reflect.DeepEqual(ma, mb)
}

func dirsByExec(m *shuffle.LocalDirsForExecutors) map[string]string {
	out := map[string]string{}
	k := 0
	for i, id := range m.ExecIDs {
		n := int(m.NumLocalDirsByExec[i])
		if k+n > len(m.AllLocalDirs) {
			return nil
		}
		dirs := append([]string(nil), m.AllLocalDirs[k:k+n]...)
		sort.Strings(dirs)
		out[id] = strings.Join(dirs, ",")
		k += n
	}
	return out
}

// failsOnwards is a departure: after a chunk that cannot be served,
// Spark's stream fails every later chunk too (its iterator retries the
// broken block); Ember's serves them. Clients see no difference: both
// fetchers give up on the rest of a stream at its first failed chunk.
func failsOnwards(spark, ember rawAnswer) bool {
	if spark.failed || ember.failed || len(spark.chunks) != len(ember.chunks) {
		return false
	}
	first := -1
	for i, c := range spark.chunks {
		if c == "FAIL" && first < 0 {
			first = i
		}
		if first >= 0 && c != "FAIL" {
			return false
		}
	}
	return first >= 0 && ember.chunks[first] == "FAIL" && reflect.DeepEqual(ember.chunks[:first], spark.chunks[:first]) &&
		ember.chunks[len(ember.chunks)-1] != "FAIL"
}

// mergedRefused is a departure: for merged (push-based) shuffle chunks,
// Spark's service without a merge manager opens a stream whose every
// chunk fails; Ember's refuses the request. Either way the fetcher fails
// every block (and Spark falls back to the unmerged blocks).
func mergedRefused(spark, ember rawAnswer) bool {
	if spark.failed || !ember.failed || !strings.Contains(ember.err, "push-based shuffle") {
		return false
	}
	for _, c := range spark.chunks {
		if c != "FAIL" {
			return false
		}
	}
	return len(spark.chunks) > 0
}

// refusedRegistration is a departure: Spark's service registers an
// executor whose files it could never find (no dirs, a relative dir, zero
// sub-dirs: its fetches then fail, or divide by zero); Ember's refuses the
// registration.
func refusedRegistration(spark, ember rawAnswer) bool {
	return !spark.failed && len(spark.reply) == 0 && ember.failed && strings.Contains(ember.err, "registered without local dirs") ||
		!spark.failed && len(spark.reply) == 0 && ember.failed && strings.Contains(ember.err, "is not absolute")
}

// TestRequestParityWithSpark: Spark's shuffle service and Ember's answer
// the same requests, well-formed and not, the same way (the RPC fails or
// not, the same reply, the same chunks served or failed), sent by Spark's
// own TransportClient to each in turn. Where Ember knowingly departs from
// Spark the row says so and checks the departure. Push-based shuffle,
// which neither service runs, fails alike through Spark's client. With
// spark.authenticate both refuse another application's requests and
// streams, and both leave the same files behind when an executor or an
// application goes.
func TestRequestParityWithSpark(t *testing.T) {
	testutil.CheckLeaks(t)
	peer := startPeer(t)
	const bigMap = 1 << 33 // a task attempt id past int32
	sh := writeShuffle(t, 6, []int64{40, 41, bigMap}, 4, bigBlocks)
	sh.writeRDDs(t)
	peer.startClient(t, "raw", appID, "spark.shuffle.io.maxRetries=0") // a refused push is not retried
	const execID = "exec-1"
	register := func(port int) {
		peer.must(append([]string{"register", "raw", localhost, itoa(port), execID, itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...)
	}
	sparkPort := peer.startServer(t, "ess")
	register(sparkPort)

	open := func(ids ...string) shuffle.Message {
		return &shuffle.OpenBlocks{AppID: appID, ExecID: execID, BlockIDs: ids}
	}
	fetch := func(batch bool, maps []int64, reduces ...[]int32) shuffle.Message {
		return &shuffle.FetchShuffleBlocks{AppID: appID, ExecID: execID, ShuffleID: 6, MapIDs: maps, ReduceIDs: reduces, BatchFetchEnabled: batch}
	}
	type row struct {
		name    string
		payload []byte
		// differs, when set, says how Ember departs from Spark and checks it
		// (spark's answer, Ember's).
		differs func(spark, ember rawAnswer) bool
	}
	enc := shuffle.Encode
	rows := []row{
		{name: "OpenBlocks", payload: enc(open("shuffle_6_40_1", "shuffle_6_41_3", "shuffle_6_40_0"))},
		{name: "OpenBlocks, reduce past the index", payload: enc(open("shuffle_6_40_1", "shuffle_6_40_9"))},
		{name: "OpenBlocks, negative reduce", payload: enc(open("shuffle_6_40_-1"))},
		{name: "OpenBlocks, unknown map", payload: enc(open("shuffle_6_99_0", "shuffle_6_40_1")), differs: failsOnwards},
		{name: "OpenBlocks, no blocks", payload: enc(open())},
		{name: "OpenBlocks, batch id", payload: enc(open("shuffle_6_40_0_2"))},
		{name: "OpenBlocks, another shuffle", payload: enc(open("shuffle_6_40_0", "shuffle_7_40_0"))},
		{name: "OpenBlocks, shuffle then RDD", payload: enc(open("shuffle_6_40_0", "rdd_7_0"))},
		{name: "OpenBlocks, not a number", payload: enc(open("shuffle_6_x_0"))},
		{name: "OpenBlocks, unknown kind", payload: enc(open("broadcast_1"))},
		{name: "OpenBlocks, RDD blocks", payload: enc(open("rdd_7_0", "rdd_7_1", "rdd_7_4"))},
		{name: "OpenBlocks, unregistered executor", payload: enc(&shuffle.OpenBlocks{AppID: appID, ExecID: "exec-9", BlockIDs: []string{"shuffle_6_40_1"}})},
		{name: "FetchShuffleBlocks", payload: enc(fetch(false, []int64{41, 40}, []int32{3, 1}, []int32{2}))},
		{name: "FetchShuffleBlocks, batch", payload: enc(fetch(true, []int64{40, 41}, []int32{0, 4}, []int32{1, 3}))},
		{name: "FetchShuffleBlocks, empty batch", payload: enc(fetch(true, []int64{40}, []int32{2, 2}))},
		{name: "FetchShuffleBlocks, reduce past the index", payload: enc(fetch(false, []int64{40}, []int32{1, 7}))},
		{name: "FetchShuffleBlocks, batch past the index", payload: enc(fetch(true, []int64{40}, []int32{1, 7}))},
		{name: "FetchShuffleBlocks, no maps", payload: enc(fetch(false, nil))},
		{name: "FetchShuffleBlocks, unknown map", payload: enc(fetch(false, []int64{99}, []int32{0}))},
		{name: "FetchShuffleBlocks, long map id", payload: enc(fetch(false, []int64{bigMap, 40}, []int32{3, 1}, []int32{1}))},
		{name: "FetchShuffleBlocks, long map id, batch", payload: enc(fetch(true, []int64{bigMap}, []int32{0, 4}))},
		{name: "OpenBlocks, long map id", payload: enc(open(shuffle.ShuffleBlockID(6, bigMap, 1))),
			// The legacy protocol's map ids are ints to Spark; Ember reads
			// longs and serves the block.
			differs: func(spark, ember rawAnswer) bool {
				return spark.failed && strings.Contains(spark.err, "NumberFormatException") && !ember.failed &&
					len(ember.chunks) == 1 && strings.HasPrefix(ember.chunks[0], "OK:")
			}},
		{name: "RegisterExecutor, another shuffle manager", payload: enc(&shuffle.RegisterExecutor{AppID: appID, ExecID: "exec-m",
			Info: shuffle.ExecutorShuffleInfo{LocalDirs: sh.dirs, SubDirsPerLocalDir: subDirs, ShuffleManager: "org.example.MyShuffleManager"}})},
		{name: "RegisterExecutor, relative dir", payload: enc(&shuffle.RegisterExecutor{AppID: appID, ExecID: "exec-r",
			Info: shuffle.ExecutorShuffleInfo{LocalDirs: []string{"blockmgr-x"}, SubDirsPerLocalDir: subDirs, ShuffleManager: shuffle.SortShuffleManager}}),
			differs: refusedRegistration},
		{name: "RegisterExecutor, no sub-dirs", payload: enc(&shuffle.RegisterExecutor{AppID: appID, ExecID: "exec-z",
			Info: shuffle.ExecutorShuffleInfo{LocalDirs: sh.dirs, SubDirsPerLocalDir: 0, ShuffleManager: shuffle.SortShuffleManager}}),
			differs: refusedRegistration},
		{name: "RegisterExecutor, no dirs", payload: enc(&shuffle.RegisterExecutor{AppID: appID, ExecID: "exec-n",
			Info: shuffle.ExecutorShuffleInfo{SubDirsPerLocalDir: subDirs, ShuffleManager: shuffle.SortShuffleManager}}),
			differs: refusedRegistration},
		{name: "GetLocalDirsForExecutors", payload: enc(&shuffle.GetLocalDirsForExecutors{AppID: appID, ExecIDs: []string{execID}})},
		{name: "GetLocalDirsForExecutors, twice the same", payload: enc(&shuffle.GetLocalDirsForExecutors{AppID: appID, ExecIDs: []string{execID, execID}}),
			// Spark 4.1 collects the ids with Set.of, which refuses
			// duplicates; Ember answers for the executor.
			differs: func(spark, ember rawAnswer) bool {
				m, err := shuffle.Decode(ember.reply)
				ld, ok := m.(*shuffle.LocalDirsForExecutors)
				return spark.failed && strings.Contains(spark.err, "duplicate") && !ember.failed && err == nil && ok &&
					dirsByExec(ld)[execID] == strings.Join(sh.dirs, ",")
			}},
		{name: "GetLocalDirsForExecutors, none", payload: enc(&shuffle.GetLocalDirsForExecutors{AppID: appID})},
		{name: "GetLocalDirsForExecutors, merger dirs", payload: enc(&shuffle.GetLocalDirsForExecutors{AppID: appID, ExecIDs: []string{"shuffle-push-merger"}})},
		{name: "RemoveBlocks, nothing there", payload: enc(&shuffle.RemoveBlocks{AppID: appID, ExecID: execID, BlockIDs: []string{"rdd_9_9", "..", "a/b"}})},
		{name: "RemoveBlocks, unregistered executor", payload: enc(&shuffle.RemoveBlocks{AppID: appID, ExecID: "exec-9", BlockIDs: []string{"rdd_9_9"}})},
		{name: "FinalizeShuffleMerge", payload: enc(&shuffle.FinalizeShuffleMerge{AppID: appID, ShuffleID: 6})},
		{name: "FetchShuffleBlockChunks", payload: enc(&shuffle.FetchShuffleBlockChunks{AppID: appID, ExecID: execID, ShuffleID: 6, ReduceIDs: []int32{0, 1}, ChunkIDs: [][]int32{{0}, {0, 1}}}),
			differs: mergedRefused},
		{name: "OpenBlocks, merged chunks", payload: enc(open("shuffleChunk_6_0_0_0", "shuffleChunk_6_0_1_0")), differs: mergedRefused},
		{name: "UploadBlock", payload: enc(&shuffle.UploadBlock{AppID: appID, ExecID: execID, BlockID: "rdd_1_1", Metadata: []byte{1}, BlockData: []byte{2}})},
		{name: "a reply as a request", payload: enc(&shuffle.BlocksRemoved{NumRemovedBlocks: 3})},
		{name: "RemoveShuffleMerge as an RPC", payload: enc(&shuffle.RemoveShuffleMerge{AppID: appID, ShuffleID: 6})},
		{name: "unknown message type", payload: []byte{99, 0, 0, 0, 0}},
		{name: "truncated OpenBlocks", payload: enc(open("shuffle_6_40_1"))[:9]},
		{name: "empty payload", payload: []byte{}},
	}
	fromSpark := make([]rawAnswer, len(rows))
	for i, r := range rows {
		fromSpark[i] = peer.rawRequest(t, "raw", sparkPort, r.payload)
	}
	// Push-based shuffle through Spark's client: pushBlocks (UploadStream
	// of PushBlockStream) and getMergedBlockMeta (MergedBlockMetaRequest).
	pushIDs := []string{"shufflePush_6_0_0_1", "shufflePush_6_0_1_2"}
	pushAndMeta := func(port int) (push []string, meta string) {
		for _, e := range peer.must(append([]string{"push", "raw", localhost, itoa(port)}, pushIDs...)...) {
			id, res, _ := strings.Cut(e, "=")
			push = append(push, id+"="+strings.SplitN(res, ":", 2)[0])
		}
		meta = strings.SplitN(peer.must("mergedmeta", "raw", localhost, itoa(port), "6", "0", "1")[0], ":", 2)[0]
		return push, meta
	}
	sparkPush, sparkMeta := pushAndMeta(sparkPort)
	if want := []string{pushIDs[0] + "=FAIL", pushIDs[1] + "=FAIL"}; !reflect.DeepEqual(sparkPush, want) || sparkMeta != "FAIL" {
		t.Errorf("Spark's service without a merge manager: push %v, merged meta %s; want every push and the meta to fail", sparkPush, sparkMeta)
	}
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode), Host: localhost, Port: 0, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			register(svc.Port())
			for i, r := range rows {
				spark, ember := fromSpark[i], peer.rawRequest(t, "raw", svc.Port(), r.payload)
				switch {
				case r.differs != nil && !r.differs(spark, ember):
					t.Errorf("%s: Spark answers %v, Ember %v: not the departure the table expects", r.name, spark, ember)
				case r.differs == nil && !sameAnswer(spark, ember):
					t.Errorf("%s: Spark answers %v, Ember %v", r.name, spark, ember)
				}
			}
			push, meta := pushAndMeta(svc.Port())
			if !reflect.DeepEqual(push, sparkPush) || meta != sparkMeta {
				t.Errorf("push %v, merged meta %s from Ember's service; Spark's: %v, %s", push, meta, sparkPush, sparkMeta)
			}
			// And the service still serves.
			if a := peer.rawRequest(t, "raw", svc.Port(), rows[0].payload); !sameAnswer(a, fromSpark[0]) {
				t.Errorf("after the push: %v, want %v", a, fromSpark[0])
			}
		})
	}
	authParity(t, peer, sh)
	cleanupParity(t, peer)
}

// authParity: with spark.authenticate, both services refuse a client
// authenticated as one application that names another in its requests,
// and the chunks of one application's stream to another's client.
func authParity(t *testing.T, peer *sparkPeer, sh *testShuffle) {
	conf := securities()[1].conf // AuthEngine
	const execID = "exec-1"
	sparkPort := peer.startServer(t, "ess-auth", conf...)
	peer.startClient(t, "ra", appID, conf...)
	peer.startClient(t, "rb", "other-app", conf...)
	register := func(port int) {
		peer.must(append([]string{"register", "ra", localhost, itoa(port), execID, itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...)
	}
	register(sparkPort)
	open := shuffle.Encode(&shuffle.OpenBlocks{AppID: appID, ExecID: execID, BlockIDs: []string{"shuffle_6_40_1", "shuffle_6_41_2"}})
	foreign := map[string][]byte{
		"OpenBlocks": open,
		"FetchShuffleBlocks": shuffle.Encode(&shuffle.FetchShuffleBlocks{AppID: appID, ExecID: execID, ShuffleID: 6,
			MapIDs: []int64{40}, ReduceIDs: [][]int32{{1}}}),
		"RegisterExecutor":         shuffle.Encode(&shuffle.RegisterExecutor{AppID: appID, ExecID: "exec-x", Info: sh.info()}),
		"RemoveBlocks":             shuffle.Encode(&shuffle.RemoveBlocks{AppID: appID, ExecID: execID, BlockIDs: []string{"rdd_9_9"}}),
		"GetLocalDirsForExecutors": shuffle.Encode(&shuffle.GetLocalDirsForExecutors{AppID: appID, ExecIDs: []string{execID}}),
		"DiagnoseCorruption": shuffle.Encode(&shuffle.DiagnoseCorruption{AppID: appID, ExecID: execID, ShuffleID: 6, MapID: 40,
			ReduceID: 1, Algorithm: "ADLER32"}),
	}
	// check sends every foreign request, then fetches a chunk of the
	// application's stream as the other application and as itself.
	check := func(t *testing.T, port int) {
		for name, payload := range foreign {
			if a := peer.rawRequest(t, "rb", port, payload); !a.failed || !strings.Contains(a.err, "not authorized") {
				t.Errorf("%s for %s from a client of other-app: %v, want a 'not authorized' failure", name, appID, a)
			}
		}
		a := peer.rawRequest(t, "ra", port, open, "nochunks")
		m, err := shuffle.Decode(a.reply)
		h, ok := m.(*shuffle.StreamHandle)
		if a.failed || err != nil || !ok {
			t.Fatalf("OpenBlocks by its own application: %v", a)
		}
		var chunks [2]string
		for i, client := range []string{"rb", "ra"} {
			chunks[i] = strings.SplitN(peer.must("rawchunk", client, localhost, itoa(port), strconv.FormatInt(h.StreamID, 10), "0")[0], ":", 2)[0]
		}
		if chunks != [2]string{"FAIL", "OK"} {
			t.Errorf("chunk 0 of %s's stream: to other-app %s, to %s itself %s; want FAIL, OK", appID, chunks[0], appID, chunks[1])
		}
	}
	t.Run("auth/Spark", func(t *testing.T) { check(t, sparkPort) })
	for _, mode := range ioModes {
		t.Run("auth/"+mode, func(t *testing.T) {
			svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode, conf...), Host: localhost, Port: 0, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			register(svc.Port())
			check(t, svc.Port())
		})
	}
}
