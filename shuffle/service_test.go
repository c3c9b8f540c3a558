package shuffle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash"
	"hash/adler32"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
)

// ---- ExternalBlockHandler behaviours ----

func TestRegisterExecutorEmptyReply(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		resp, err := rawRPC(t, cl, svc.Port(), Encode(&RegisterExecutor{AppID: "app-1", ExecID: "exec-1", Info: execInfo(dirs)}))
		if err != nil {
			t.Fatalf("RegisterExecutor: %v", err)
		}
		if len(resp) != 0 {
			t.Errorf("RegisterExecutor reply has %d bytes, want an empty payload", len(resp))
		}
		if svc.RegisteredExecutors() != 1 || svc.Metrics().RegisteredExecutors() != 1 {
			t.Errorf("registered executors: %d (metrics %d), want 1", svc.RegisteredExecutors(), svc.Metrics().RegisteredExecutors())
		}
		// Registering again (same executor) replaces, it does not add.
		if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-2", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		if svc.RegisteredExecutors() != 2 {
			t.Errorf("registered executors: %d, want 2", svc.RegisteredExecutors())
		}
		// Registrations the service cannot use are refused.
		for name, info := range map[string]ExecutorShuffleInfo{
			"relative dir": {LocalDirs: []string{"relative/dir"}, SubDirsPerLocalDir: 4},
			"no dirs":      {LocalDirs: []string{}, SubDirsPerLocalDir: 4},
			"no sub-dirs":  {LocalDirs: dirs, SubDirsPerLocalDir: 0},
		} {
			_, err := rawRPC(t, cl, svc.Port(), Encode(&RegisterExecutor{AppID: "app-1", ExecID: "bad", Info: info}))
			var re *netpoll.RemoteError
			if !errors.As(err, &re) {
				t.Errorf("%s: got %v, want an RPC failure", name, err)
			}
		}
		if svc.RegisteredExecutors() != 2 {
			t.Errorf("a refused registration was kept")
		}
	})
}

// TestOpenBlocksLegacy: OpenBlocks with shuffle_s_m_r ids returns a
// StreamHandle whose chunks are the blocks, in the order asked.
func TestOpenBlocksLegacy(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 3, 5, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		ids := []string{sh.id(2, 4), sh.id(0, 0), sh.id(1, 3), sh.id(0, 0 /* twice */), sh.id(2, 1)}
		c := conn(t, cl, svc.Port())
		h := openStream(t, c, &OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: ids})
		if h.NumChunks != int32(len(ids)) {
			t.Fatalf("NumChunks %d, want %d", h.NumChunks, len(ids))
		}
		want := sh.expected()
		for i, r := range fetchChunks(t, c, h.StreamID, len(ids)) {
			if r.err != nil || !bytes.Equal(r.data, want[ids[i]]) {
				t.Errorf("chunk %d (%s): %v, %d bytes, want %d", i, ids[i], r.err, len(r.data), len(want[ids[i]]))
			}
		}
		// Every shuffle id must name the same shuffle; other kinds are refused.
		for _, bad := range [][]string{
			{sh.id(0, 0), "shuffle_1_0_0"},
			{"shuffle_0_0_0_2"}, // batch ids are not legacy
			{"broadcast_0"},
			{"shuffle_0_0"},
			{},
		} {
			_, err := c.SendRpcSync(Encode(&OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: bad}), 30*time.Second)
			var re *netpoll.RemoteError
			if !errors.As(err, &re) {
				t.Errorf("OpenBlocks %v: %v, want an RPC failure", bad, err)
			}
		}
	})
}

// TestFetchShuffleBlocksPlainAndBatch: one chunk per (map, reduce), map by
// map; in batch mode one chunk per map with bytes [offset[start],
// offset[end]).
func TestFetchShuffleBlocksPlainAndBatch(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 3)
		sh := writeShuffle(t, dirs, 7, 3, 6, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		c := conn(t, cl, svc.Port())

		plain := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 7, MapIDs: []int64{2, 0},
			ReduceIDs: [][]int32{{0, 5, 3}, {1}}}
		wantPlain := [][]byte{sh.data(2, 0), sh.data(2, 5), sh.data(2, 3), sh.data(0, 1)}
		h := openStream(t, c, plain)
		if int(h.NumChunks) != len(wantPlain) {
			t.Fatalf("plain: %d chunks, want %d", h.NumChunks, len(wantPlain))
		}
		for i, r := range fetchChunks(t, c, h.StreamID, len(wantPlain)) {
			if r.err != nil || !bytes.Equal(r.data, wantPlain[i]) {
				t.Errorf("plain chunk %d: %v, %q", i, r.err, head(r.data))
			}
		}

		batch := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 7, MapIDs: []int64{1, 2, 0},
			ReduceIDs: [][]int32{{1, 4}, {0, 6}, {3, 3}}, BatchFetchEnabled: true}
		wantBatch := [][]byte{sh.batch(1, 1, 4), sh.batch(2, 0, 6), {}}
		h = openStream(t, c, batch)
		if int(h.NumChunks) != len(wantBatch) {
			t.Fatalf("batch: %d chunks, want one per map (%d)", h.NumChunks, len(wantBatch))
		}
		for i, r := range fetchChunks(t, c, h.StreamID, len(wantBatch)) {
			if r.err != nil || !bytes.Equal(r.data, wantBatch[i]) {
				t.Errorf("batch chunk %d: %v, %d bytes, want %d", i, r.err, len(r.data), len(wantBatch[i]))
			}
		}

		// Shapes the handler refuses.
		for name, m := range map[string]*FetchShuffleBlocks{
			"map/reduce count mismatch": {AppID: "app-1", ExecID: "exec-1", ShuffleID: 7, MapIDs: []int64{0, 1}, ReduceIDs: [][]int32{{0}}},
			"batch without a pair":      {AppID: "app-1", ExecID: "exec-1", ShuffleID: 7, MapIDs: []int64{0}, ReduceIDs: [][]int32{{0, 1, 2}}, BatchFetchEnabled: true},
		} {
			_, err := c.SendRpcSync(Encode(m), 30*time.Second)
			var re *netpoll.RemoteError
			if !errors.As(err, &re) {
				t.Errorf("%s: %v, want an RPC failure", name, err)
			}
		}
	})
}

// TestRDDBlocks: rdd_x_y blocks are served (with or without
// spark.shuffle.service.fetch.rdd.enabled, as Spark's service); a missing
// one fails its chunk; RemoveBlocks deletes them and says how many.
func TestRDDBlocks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		dirs := newExecDirs(t, 2)
		rdd := map[string][]byte{"rdd_1_0": []byte("rdd block zero"), "rdd_1_2": bytes.Repeat([]byte("r2"), 5000)}
		for name, b := range rdd {
			p := FilePath(dirs, testSubDirs, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		ids := []string{"rdd_1_0", "rdd_1_1", "rdd_1_2"} // rdd_1_1 is missing

		t.Run("enabled", func(t *testing.T) {
			conf := testConf(mode, "spark.shuffle.service.fetch.rdd.enabled=true")
			svc := startService(t, conf, "", 0)
			cl := newClient(t, conf, "app-1")
			if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
				t.Fatal(err)
			}
			c := conn(t, cl, svc.Port())
			h := openStream(t, c, &OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: ids})
			res := fetchChunks(t, c, h.StreamID, len(ids))
			if res[0].err != nil || !bytes.Equal(res[0].data, rdd["rdd_1_0"]) {
				t.Errorf("rdd_1_0: %v %q", res[0].err, head(res[0].data))
			}
			if res[1].err == nil || !strings.Contains(res[1].err.Error(), "not found") {
				t.Errorf("missing rdd_1_1: %v, want a 'not found' chunk failure", res[1].err)
			}
			if res[2].err != nil || !bytes.Equal(res[2].data, rdd["rdd_1_2"]) {
				t.Errorf("rdd_1_2 after a missing block: %v", res[2].err)
			}
			// Through the client: OpenBlocks (not all ids are shuffle ids).
			l := newRecListener(2)
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_0", "rdd_1_2"}, nil, l)
			l.wait(t)
			l.checkOK(t, map[string][]byte{"rdd_1_0": rdd["rdd_1_0"], "rdd_1_2": rdd["rdd_1_2"]})

			// RemoveBlocks deletes the files that exist (a block id that
			// names no file, like a shuffle block's, is not counted).
			n, err := cl.RemoveBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_0", "rdd_1_1", sh.id(0, 0), "rdd_x"})
			if err != nil || n != 1 {
				t.Errorf("RemoveBlocks = %d, %v; want 1 removed", n, err)
			}
			if _, err := os.Stat(FilePath(dirs, testSubDirs, "rdd_1_0")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rdd_1_0 still there: %v", err)
			}
			if _, err := os.Stat(FilePath(dirs, testSubDirs, DataFileName(0, 0))); err != nil {
				t.Errorf("RemoveBlocks touched shuffle files: %v", err)
			}
			if _, err := cl.RemoveBlocks(localhost, svc.Port(), "nobody", []string{"rdd_1_2"}); err == nil ||
				!strings.Contains(err.Error(), "not registered") {
				t.Errorf("RemoveBlocks of an unregistered executor: %v", err)
			}
			// Removed blocks are gone for fetchers too.
			l = newRecListener(1)
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_0"}, nil, l)
			l.wait(t)
			l.checkFailed(t, "not found", "rdd_1_0")
		})
		t.Run("disabled", func(t *testing.T) {
			conf := testConf(mode)
			svc := startService(t, conf, "", 0)
			cl := newClient(t, conf, "app-1")
			if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
				t.Fatal(err)
			}
			// As Spark's service, the blocks are served anyway: the setting
			// only decides whether they outlive their executor.
			l := newRecListener(1)
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_2"}, nil, l)
			l.wait(t)
			l.checkOK(t, map[string][]byte{"rdd_1_2": rdd["rdd_1_2"]})
		})
	})
}

// TestBadMessages: undecodable payloads, a message that is not a request,
// reserved and unknown ids, push-merge requests: an RPC failure each, and
// the service keeps serving.
func TestBadMessages(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		c := conn(t, cl, svc.Port())
		for name, c2 := range map[string]struct {
			payload []byte
			substr  string
		}{
			"empty payload":           {nil, "empty payload"},
			"undecodable OpenBlocks":  {[]byte{byte(TypeOpenBlocks), 0, 0, 0, 9, 'x'}, "malformed"},
			"truncated FetchShuffle":  {Encode(&FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1"})[:12], "malformed"},
			"StreamHandle as request": {Encode(&StreamHandle{StreamID: 1, NumChunks: 2}), "Unexpected message"},
			"BlocksRemoved":           {Encode(&BlocksRemoved{NumRemovedBlocks: 1}), "Unexpected message"},
			"UploadBlock":             {Encode(&UploadBlock{AppID: "app-1", ExecID: "exec-1", BlockID: "rdd_1_1"}), "Unexpected message"},
			"reserved id 4":           {[]byte{4, 0, 0, 0, 0}, "Unknown message type: 4"},
			"reserved id 5":           {[]byte{5}, "Unknown message type: 5"},
			"unknown id 77":           {[]byte{77, 1, 2, 3}, "Unknown message type: 77"},
			"FinalizeShuffleMerge":    {Encode(&FinalizeShuffleMerge{AppID: "app-1", ShuffleID: 1}), "push-based shuffle"},
			"FetchShuffleBlockChunks": {Encode(&FetchShuffleBlockChunks{AppID: "app-1", ExecID: "exec-1", ReduceIDs: []int32{}, ChunkIDs: [][]int32{}}), "push-based shuffle"},
		} {
			_, err := c.SendRpcSync(c2.payload, 30*time.Second)
			var re *netpoll.RemoteError
			if !errors.As(err, &re) {
				t.Errorf("%s: %v, want an RPC failure", name, err)
				continue
			}
			if !strings.Contains(re.Msg, c2.substr) {
				t.Errorf("%s: failure %q should mention %q", name, re.Msg, c2.substr)
			}
			if IsRetryable(err) {
				t.Errorf("%s: a server-reported failure must not be retryable", name)
			}
		}
		// One-way messages get no answer; the connection stays usable.
		if err := c.Send(Encode(&RemoveShuffleMerge{AppID: "app-1", ShuffleID: 1})); err != nil {
			t.Fatal(err)
		}
		if err := c.Send([]byte{99}); err != nil {
			t.Fatal(err)
		}
		l := newRecListener(1)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 1)}, nil, l)
		l.wait(t)
		l.checkOK(t, map[string][]byte{sh.id(0, 1): sh.data(0, 1)})
		if !c.IsActive() {
			t.Errorf("bad messages closed the connection")
		}
	})
}

// TestGetLocalDirsForExecutors: the dirs of registered executors, in the
// order asked; an unregistered one is an error.
func TestGetLocalDirsForExecutors(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		d1, d2 := newExecDirs(t, 2), newExecDirs(t, 1)
		if err := svc.RegisterExecutor("app-1", "e1", execInfo(d1)); err != nil {
			t.Fatal(err)
		}
		if err := svc.RegisterExecutor("app-1", "e2", execInfo(d2)); err != nil {
			t.Fatal(err)
		}
		got, err := cl.GetHostLocalDirs(localhost, svc.Port(), []string{"e2", "e1"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, map[string][]string{"e1": d1, "e2": d2}) {
			t.Errorf("GetHostLocalDirs = %v", got)
		}
		resp, err := rawRPC(t, cl, svc.Port(), Encode(&GetLocalDirsForExecutors{AppID: "app-1", ExecIDs: []string{"e2", "e1"}}))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := Decode(resp)
		want := &LocalDirsForExecutors{ExecIDs: []string{"e2", "e1"}, NumLocalDirsByExec: []int32{1, 2}, AllLocalDirs: append(append([]string{}, d2...), d1...)}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("LocalDirsForExecutors = %#v, want %#v", m, want)
		}
		if _, err := cl.GetHostLocalDirs(localhost, svc.Port(), []string{"e1", "e3"}); err == nil || !strings.Contains(err.Error(), "not registered") {
			t.Errorf("unregistered executor: %v", err)
		}
	})
}

// ---- corruption diagnosis ----

// writeChecksums writes the checksum file of map m of shuffle s: the
// partitions' checksums as big-endian longs.
func writeChecksums(t *testing.T, dirs []string, s int32, m int64, algo string, sums []int64) {
	t.Helper()
	var b []byte
	for _, v := range sums {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	p := FilePath(dirs, testSubDirs, ChecksumFileName(s, m, algo))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checksumOf(algo string, b []byte) int64 {
	var h hash.Hash32
	switch algo {
	case "ADLER32":
		h = adler32.New()
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	}
	h.Write(b)
	return int64(h.Sum32())
}

func TestDiagnoseCorruption(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		const reduces = 4
		// maps 0-2: checksummed with each algorithm; map 3: no checksum file;
		// map 4: corrupted on disk after checksumming.
		sh := writeShuffle(t, dirs, 1, 5, reduces, nil)
		algos := []string{"ADLER32", "CRC32", "CRC32C"}
		sums := func(m int, algo string) []int64 {
			out := make([]int64, reduces)
			for r := range out {
				out[r] = checksumOf(algo, sh.data(m, r))
			}
			return out
		}
		for m, algo := range algos {
			writeChecksums(t, dirs, 1, int64(m), algo, sums(m, algo))
		}
		writeChecksums(t, dirs, 1, 4, "CRC32", sums(4, "CRC32"))
		dataPath := FilePath(dirs, testSubDirs, DataFileName(1, 4))
		data, err := os.ReadFile(dataPath)
		if err != nil {
			t.Fatal(err)
		}
		// Corrupt one byte of partition 2 of map 4.
		off := len(sh.data(4, 0)) + len(sh.data(4, 1))
		if len(sh.data(4, 2)) == 0 {
			t.Fatal("test data: partition 2 of map 4 is empty")
		}
		data[off] ^= 0x55
		if err := os.WriteFile(dataPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}

		// diagnose returns the service's answer, or "FAIL" when it failed
		// the request.
		diagnose := func(d DiagnoseCorruption) string {
			t.Helper()
			if d.AppID == "" {
				d.AppID = "app-1"
			}
			if d.ExecID == "" {
				d.ExecID = "exec-1"
			}
			d.ShuffleID = 1
			resp, err := rawRPC(t, cl, svc.Port(), Encode(&d))
			var re *netpoll.RemoteError
			if errors.As(err, &re) {
				return "FAIL"
			}
			if err != nil {
				t.Fatalf("DiagnoseCorruption %+v: %v", d, err)
			}
			m, err := Decode(resp)
			cc, ok := m.(*CorruptionCause)
			if err != nil || !ok {
				t.Fatalf("reply %T, %v; want CorruptionCause", m, err)
			}
			return cc.Cause.String()
		}
		for m, algo := range algos {
			for r := 0; r < reduces; r++ {
				good := checksumOf(algo, sh.data(m, r))
				if got := diagnose(DiagnoseCorruption{MapID: int64(m), ReduceID: int32(r), Checksum: good, Algorithm: algo}); got != "CHECKSUM_VERIFY_PASS" {
					t.Errorf("%s map %d reduce %d, right checksum: %v, want CHECKSUM_VERIFY_PASS", algo, m, r, got)
				}
				if got := diagnose(DiagnoseCorruption{MapID: int64(m), ReduceID: int32(r), Checksum: good + 1, Algorithm: algo}); got != "NETWORK_ISSUE" {
					t.Errorf("%s map %d reduce %d, reader's checksum differs: %v, want NETWORK_ISSUE", algo, m, r, got)
				}
			}
		}
		// As Spark 4.1's service: a block that does not resolve fails the
		// request whatever the algorithm; algorithm names are matched
		// exactly; an unreadable checksum is an unknown issue.
		for _, c := range []struct {
			name string
			d    DiagnoseCorruption
			want string
		}{
			{"corrupt data file", DiagnoseCorruption{MapID: 4, ReduceID: 2, Checksum: checksumOf("CRC32", sh.data(4, 2)), Algorithm: "CRC32"}, "DISK_ISSUE"},
			{"intact partition of a corrupt file", DiagnoseCorruption{MapID: 4, ReduceID: 3, Checksum: checksumOf("CRC32", sh.data(4, 3)), Algorithm: "CRC32"}, "CHECKSUM_VERIFY_PASS"},
			{"missing checksum file", DiagnoseCorruption{MapID: 3, ReduceID: 0, Checksum: checksumOf("ADLER32", sh.data(3, 0)), Algorithm: "ADLER32"}, "UNKNOWN_ISSUE"},
			{"checksum file of another algorithm", DiagnoseCorruption{MapID: 0, ReduceID: 0, Checksum: 1, Algorithm: "CRC32"}, "UNKNOWN_ISSUE"},
			{"unsupported algorithm", DiagnoseCorruption{MapID: 0, ReduceID: 0, Checksum: 1, Algorithm: "MD5"}, "UNSUPPORTED_CHECKSUM_ALGORITHM"},
			{"lower-case algorithm", DiagnoseCorruption{MapID: 0, ReduceID: 0, Checksum: checksumOf("ADLER32", sh.data(0, 0)), Algorithm: "adler32"}, "UNSUPPORTED_CHECKSUM_ALGORITHM"},
			{"no algorithm", DiagnoseCorruption{MapID: 0, ReduceID: 0, Checksum: 1}, "UNSUPPORTED_CHECKSUM_ALGORITHM"},
			{"checksum file outside the dirs", DiagnoseCorruption{MapID: 0, ReduceID: 0, Algorithm: "../../../../x"}, "FAIL"},
			{"unregistered executor", DiagnoseCorruption{ExecID: "nobody", MapID: 0, ReduceID: 0, Algorithm: "ADLER32"}, "FAIL"},
			{"unregistered executor, unsupported algorithm", DiagnoseCorruption{ExecID: "nobody", MapID: 0, ReduceID: 0, Algorithm: "MD5"}, "FAIL"},
			{"reduce past the index", DiagnoseCorruption{MapID: 0, ReduceID: reduces, Algorithm: "ADLER32"}, "FAIL"},
			{"negative reduce", DiagnoseCorruption{MapID: 0, ReduceID: -1, Algorithm: "ADLER32"}, "FAIL"},
			{"huge reduce", DiagnoseCorruption{MapID: 0, ReduceID: math.MaxInt32, Algorithm: "ADLER32"}, "FAIL"},
			{"missing map", DiagnoseCorruption{MapID: 99, ReduceID: 0, Algorithm: "ADLER32"}, "FAIL"},
		} {
			if got := diagnose(c.d); got != c.want {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
		// Ember's client answers UNKNOWN_ISSUE with the error, as Spark's
		// client does.
		if cause, err := cl.DiagnoseCorruption(localhost, svc.Port(), "nobody", 1, 0, 0, 0, "ADLER32"); cause != CauseUnknownIssue || err == nil {
			t.Errorf("client DiagnoseCorruption of an unregistered executor = %v, %v; want UNKNOWN_ISSUE and an error", cause, err)
		}
		if cause, err := cl.DiagnoseCorruption(localhost, svc.Port(), "exec-1", 1, 4, 2, checksumOf("CRC32", sh.data(4, 2)), "CRC32"); cause != CauseDiskIssue || err != nil {
			t.Errorf("client DiagnoseCorruption of a corrupt block = %v, %v; want DISK_ISSUE", cause, err)
		}
	})
}

// ---- resolver ----

func newTestResolver(t testing.TB, rddOn bool, dbPath string) *resolver {
	t.Helper()
	return newTestResolverConf(t, resolverConfig{rddOn: rddOn, dbPath: dbPath, maxOpenFiles: DefaultMaxOpenFiles})
}

// servingResolver returns a resolver of up to maxOpenFiles open files
// and the dirs of executor app/exec, registered with it, which hold shuffle
// shuffleID: maps × reduces partitions written by writeShuffle.
func servingResolver(t testing.TB, maxOpenFiles int, shuffleID int32, maps, reduces int) (*resolver, []string) {
	t.Helper()
	r := newTestResolverConf(t, resolverConfig{maxOpenFiles: maxOpenFiles})
	dirs := newExecDirs(t, 2)
	writeShuffle(t, dirs, shuffleID, maps, reduces, nil)
	if err := r.register(AppExecID{"app", "exec"}, execInfo(dirs)); err != nil {
		t.Fatal(err)
	}
	return r, dirs
}

// newTestResolverConf returns a resolver of c, with a 1 MiB index cache
// unless c sets one and the default file options, closed in cleanup.
func newTestResolverConf(t testing.TB, c resolverConfig) *resolver {
	t.Helper()
	if c.indexCacheBytes == 0 {
		c.indexCacheBytes = 1 << 20
	}
	c.fileOpt = codec.DefaultFileOptions
	r, err := newResolver(quietLogger(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.close() })
	return r
}

// TestResolverBadRequests: an unregistered executor, a bad block id and a
// missing file give clear errors.
func TestResolverBadRequests(t *testing.T) {
	r := newTestResolver(t, false, "")
	dirs := newExecDirs(t, 2)
	writeShuffle(t, dirs, 0, 1, 3, nil)
	if _, err := r.shuffleBlock("app", "exec", 0, 0, 0, 1); !errors.Is(err, ErrNotRegistered) ||
		!strings.Contains(err.Error(), "appId=app, execId=exec") {
		t.Errorf("unregistered executor: %v", err)
	}
	if err := r.register(AppExecID{"app", "exec"}, execInfo(dirs)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.shuffleBlock("app", "exec", 0, 1, 0, 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing map output: %v, want ErrNotExist", err)
	}
	for _, rg := range [][2]int32{{3, 4}, {-1, 0}, {2, 1}} {
		if _, err := r.shuffleBlock("app", "exec", 0, 0, rg[0], rg[1]); err == nil {
			t.Errorf("partitions [%d,%d) of 3: no error", rg[0], rg[1])
		}
	}
	if b, err := r.rddBlock("app", "exec", BlockID{Kind: KindRDD, RDDID: 1}); b != nil || err != nil {
		t.Errorf("missing RDD block: %v, %v; want nothing and no error", b, err)
	}
	if n, err := r.removeBlocks("app", "exec", []string{"shuffle_0_0_0", "bad", "rdd_9_9"}, discardWarn); n != 0 || err != nil {
		t.Errorf("removeBlocks of nothing removable = %d, %v", n, err)
	}
}

// TestRemoveBlocksAnyFile: as in Spark 4.1, RemoveBlocks deletes any
// block file it names (the driver removes shuffle data and index files so
// with spark.shuffle.service.removeShuffle) and counts what it deleted;
// names that could leave the executor's dirs are skipped.
func TestRemoveBlocksAnyFile(t *testing.T) {
	r := newTestResolver(t, false, "")
	dirs := newExecDirs(t, 2)
	writeShuffle(t, dirs, 0, 2, 3, nil)
	if err := r.register(AppExecID{"app", "exec"}, execInfo(dirs)); err != nil {
		t.Fatal(err)
	}
	outside := FilePath(dirs, testSubDirs, "../escape") // <dir>/escape
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := []string{DataFileName(0, 0), IndexFileName(0, 0), DataFileName(0, 7), "", ".", "..", "../escape", "a\\b", "a\x00b"}
	if n, err := r.removeBlocks("app", "exec", ids, discardWarn); n != 2 || err != nil {
		t.Errorf("removeBlocks(%q) = %d, %v; want 2", ids, n, err)
	}
	for _, name := range []string{DataFileName(0, 0), IndexFileName(0, 0)} {
		if _, err := os.Stat(FilePath(dirs, testSubDirs, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
	for _, p := range []string{outside, FilePath(dirs, testSubDirs, DataFileName(0, 1))} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("removeBlocks deleted %s: %v", p, err)
		}
	}
}

// TestSortShuffleByteRanges: a block is bytes [offset[r], offset[r+1]) of
// the data file, a batch [offset[start], offset[end]).
func TestSortShuffleByteRanges(t *testing.T) {
	r := newTestResolver(t, false, "")
	dirs := newExecDirs(t, 3)
	sh := writeShuffle(t, dirs, 2, 2, 7, nil)
	if err := r.register(AppExecID{"app", "exec"}, execInfo(dirs)); err != nil {
		t.Fatal(err)
	}
	for m := 0; m < 2; m++ {
		idx, err := ReadIndex(FilePath(dirs, testSubDirs, IndexFileName(2, int64(m))))
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range [][2]int32{{0, 1}, {3, 4}, {6, 7}, {0, 7}, {2, 5}, {4, 4}} {
			buf, err := r.shuffleBlock("app", "exec", 2, int64(m), rg[0], rg[1])
			if err != nil {
				t.Fatalf("map %d [%d,%d): %v", m, rg[0], rg[1], err)
			}
			seg, ok := buf.(*codec.FileSegment)
			if !ok {
				t.Fatalf("block is a %T, want a file segment", buf)
			}
			if seg.Path() != FilePath(dirs, testSubDirs, DataFileName(2, int64(m))) ||
				seg.Offset() != idx.Offsets[rg[0]] || seg.Size() != idx.Offsets[rg[1]]-idx.Offsets[rg[0]] {
				t.Errorf("map %d [%d,%d): segment %v, index %v", m, rg[0], rg[1], seg, idx.Offsets)
			}
			b, err := buf.Bytes()
			if err != nil || !bytes.Equal(b, sh.batch(m, int(rg[0]), int(rg[1]))) {
				t.Errorf("map %d [%d,%d): content differs (%v)", m, rg[0], rg[1], err)
			}
			buf.Release()
		}
	}
}

// ---- integration: real sort-shuffle files through the service ----

func TestFetchSortShuffleThroughService(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, old := range []bool{false, true} {
			name := "FetchShuffleBlocks"
			if old {
				name = "OpenBlocks"
			}
			t.Run(name, func(t *testing.T) {
				checkLeaks(t)
				conf := testConf(mode)
				if old {
					conf.Set("spark.shuffle.useOldFetchProtocol", "true")
				}
				svc := startService(t, conf, "", 0)
				cl := newClient(t, conf, "app-1")
				dirs := newExecDirs(t, 2)
				one := writeShuffle(t, dirs, 0, 1, 4, nil)
				three := writeShuffle(t, dirs, 1, 3, 4, nil)
				if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-0", execInfo(dirs)); err != nil {
					t.Fatal(err)
				}
				for _, sh := range []*shuffleFiles{one, three} {
					want := sh.expected()
					req := FetchRequest{Host: localhost, Port: svc.Port(), ExecID: "exec-0"}
					for id, b := range want {
						req.Blocks = append(req.Blocks, BlockInfo{ID: id, Size: int64(len(b))})
					}
					got := fetchAll(t, cl, req)
					if !reflect.DeepEqual(keys(got), keys(want)) {
						t.Fatalf("fetched %v, want %v", keys(got), keys(want))
					}
					for id := range want {
						if !bytes.Equal(got[id], want[id]) {
							t.Errorf("%s differs", id)
						}
					}
				}
			})
		}
	})
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fetchAll runs FetchAll and collects the blocks.
func fetchAll(t *testing.T, cl *Client, reqs ...FetchRequest) map[string][]byte {
	t.Helper()
	var mu sync.Mutex
	got := map[string][]byte{}
	err := cl.FetchAll(context.Background(), reqs, func(id string, data codec.ManagedBuffer) error {
		b, err := data.Bytes()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[id]; dup {
			return errors.New("block delivered twice: " + id)
		}
		got[id] = bytes.Clone(b)
		return nil
	})
	if err != nil {
		t.Fatalf("FetchAll: %v", err)
	}
	return got
}

func TestRegisterWithCustomShuffleManager(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		info := execInfo(dirs)
		info.ShuffleManager = "custom shuffle manager"
		if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-1", info); err != nil {
			t.Fatalf("registering with a custom shuffle manager: %v", err)
		}
		l := newRecListener(2)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 0), sh.id(0, 1)}, nil, l)
		l.wait(t)
		l.checkOK(t, sh.expected())
	})
}

// TestFetchWrongAndNonexistentBlocks: bad or missing ids fail those blocks
// only.
func TestFetchWrongAndNonexistentBlocks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		sp := &spy{}
		svc := startService(t, conf, "", 0, sp)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 2, 2, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		// A nonexistent partition and a nonexistent map, after good blocks.
		l := newRecListener(4)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 0), sh.id(1, 1), "shuffle_0_77_0", "shuffle_0_1_9"}, nil, l)
		l.wait(t)
		l.checkOK(t, map[string][]byte{sh.id(0, 0): sh.data(0, 0), sh.id(1, 1): sh.data(1, 1)})
		l.checkFailed(t, "", "shuffle_0_77_0", "shuffle_0_1_9")

		// A wrong id alone.
		l = newRecListener(1)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_0_0"}, nil, l)
		l.wait(t)
		l.checkFailed(t, "Unexpected block id format", "rdd_1_0_0")
		if n := sp.numRPCs(); n != 2 {
			t.Errorf("%d RPCs, want 2 (server-reported failures are not retried)", n)
		}
	})
}

// TestFetchUnregisteredExecutor: every block fails, naming the cause; not
// retried.
func TestFetchUnregisteredExecutor(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		sp := &spy{}
		svc := startService(t, conf, "", 0, sp)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 2, 2, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		ids := []string{sh.id(0, 0), sh.id(0, 1), sh.id(1, 0)}
		for _, who := range []struct{ app, exec string }{{"app-1", "exec-2"}, {"app-2", "exec-1"}} {
			cl2 := cl
			if who.app != "app-1" {
				cl2 = newClient(t, conf, who.app)
			}
			before := sp.numRPCs()
			l := newRecListener(len(ids))
			cl2.FetchBlocks(localhost, svc.Port(), who.exec, ids, nil, l)
			l.wait(t)
			l.checkFailed(t, "not registered", ids...)
			for _, err := range l.failed {
				if IsRetryable(err) {
					t.Errorf("%v is classified retryable", err)
				}
			}
			if n := sp.numRPCs() - before; n != 1 {
				t.Errorf("%s/%s: %d RPCs, want 1", who.app, who.exec, n)
			}
		}
	})
}

// TestFetchNoServer: a closed port fails every block after the retries,
// with an I/O error.
func TestFetchNoServer(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.io.maxRetries=2", "spark.shuffle.io.retryWait=10ms")
		cl := newClient(t, conf, "app-1")
		ids := []string{"shuffle_0_0_0", "shuffle_0_0_1", "shuffle_0_1_0"}
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, freePort(t), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkFailed(t, "connect", ids...)
		for id, err := range l.failed {
			if !IsRetryable(err) {
				t.Errorf("%s: %v is not classified retryable", id, err)
			}
			var ce *netpoll.ConnError
			if !errors.As(err, &ce) || ce.Op != "connect" {
				t.Errorf("%s: %v is not a connect error", id, err)
			}
		}
	})
}

// TestFetchNoServerCountsAttempts: a peer that accepts and drops every
// connection sees the first attempt and maxRetries retries, no more.
func TestFetchNoServerCountsAttempts(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		const retries = 3
		conf := testConf(mode, "spark.shuffle.io.maxRetries=3", "spark.shuffle.io.retryWait=10ms")
		sp := &spy{onRPC: func(c *netpoll.Client, _ int, _ Message, _ *netpoll.Responder) bool {
			c.Close() // drop the connection: an I/O failure for the client
			return true
		}}
		svc := startService(t, conf, "", 0, sp)
		cl := newClient(t, conf, "app-1")
		ids := []string{"shuffle_0_0_0", "shuffle_0_1_0"}
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", ids, nil, l)
		l.wait(t)
		l.checkFailed(t, "", ids...)
		for _, err := range l.failed {
			if !IsRetryable(err) {
				t.Errorf("%v is not classified retryable", err)
			}
		}
		if n := sp.numRPCs(); n != 1+retries {
			t.Errorf("%d attempts, want %d", n, 1+retries)
		}
	})
}

// TestMetrics: blocks and bytes served, streams opened, registered
// executors.
func TestMetrics(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		cl := newClient(t, conf, "app-1")
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 3, 4, nil)
		for _, e := range []string{"e1", "e2", "e3"} {
			if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), e, execInfo(dirs)); err != nil {
				t.Fatal(err)
			}
		}
		if svc.Metrics().RegisteredExecutors() != 3 {
			t.Errorf("RegisteredExecutors = %d, want 3", svc.Metrics().RegisteredExecutors())
		}
		want := sh.expected()
		var ids []string
		var total int64
		for id, b := range want {
			ids = append(ids, id)
			total += int64(len(b))
		}
		l := newRecListener(len(ids))
		cl.FetchBlocks(localhost, svc.Port(), "e2", ids, nil, l)
		l.wait(t)
		l.checkOK(t, want)
		m := svc.Metrics()
		if m.BlocksServed.Load() != int64(len(ids)) || m.BytesServed.Load() != total {
			t.Errorf("served %d blocks / %d bytes, want %d / %d", m.BlocksServed.Load(), m.BytesServed.Load(), len(ids), total)
		}
		if m.StreamsOpened.Load() != 1 {
			t.Errorf("StreamsOpened = %d, want 1", m.StreamsOpened.Load())
		}
		if m.OpenStreams() != 0 {
			t.Errorf("OpenStreams = %d after the stream was read, want 0", m.OpenStreams())
		}
		// A failed block is not counted as served.
		l = newRecListener(1)
		cl.FetchBlocks(localhost, svc.Port(), "e2", []string{"shuffle_0_9_0"}, nil, l)
		l.wait(t)
		if m.BlocksServed.Load() != int64(len(ids)) {
			t.Errorf("a failed block was counted: %d", m.BlocksServed.Load())
		}
	})
}
