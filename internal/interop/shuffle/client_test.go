package shuffle_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// newEmberClient makes Ember's shuffle client for appID; closed at cleanup.
func newEmberClient(t *testing.T, mode string, tmpDir string, kv ...string) *shuffle.Client {
	t.Helper()
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: emberConf(mode, kv...), AppID: appID, TmpDir: tmpDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// emberFetch fetches ids with Ember's client; sizes, if set, route the
// blocks larger than spark.network.maxRemoteBlockSizeFetchToMem to disk.
func emberFetch(t *testing.T, cl *shuffle.Client, port int, execID string, ids []string, sizes map[string]int64) map[string]emberBlock {
	t.Helper()
	c := newCollector(len(ids))
	cl.FetchBlocks(localhost, port, execID, ids, sizes, c)
	return c.wait(t)
}

// checkEmber checks blocks Ember's client fetched; diskDir, if set, is
// where each must have been streamed to.
func checkEmber(t *testing.T, what string, sh *testShuffle, got map[string]emberBlock, diskDir string) {
	t.Helper()
	for id, b := range got {
		want := sh.data(t, id)
		switch {
		case !b.ok:
			t.Errorf("%s: %s failed: %v", what, id, b.err)
		case b.size != int64(len(want)) || b.sha != sha(want):
			t.Errorf("%s: %s arrived as %d bytes sha %.12s, want %d bytes sha %.12s", what, id, b.size, b.sha, len(want), sha(want))
		case diskDir != "" && !strings.HasPrefix(b.path, diskDir+"/"):
			t.Errorf("%s: %s arrived in %q, not in a file under %s", what, id, b.path, diskDir)
		}
	}
}

// checkLayout: Ember's FilePath puts every file where Spark's
// ExecutorDiskUtils does: the same local dir and hashed sub-dir, for names
// whose Java hash is negative, zero or Integer.MIN_VALUE
// ("polygenelubricants"), non-ASCII names (hashed over UTF-16, surrogate
// pairs included) and dirs written with extra separators.
func checkLayout(t *testing.T, peer *sparkPeer) {
	root := t.TempDir()
	names := []string{"shuffle_0_0_0.data", "shuffle_0_0_0.index", "shuffle_12_345678901234_0.checksum.ADLER32",
		"rdd_7_0", "polygenelubricants", "", "a", "日本語のブロック", "emoji_\U0001F600_block", "shuffle_2147483647_9223372036854775807_0.data",
		strings.Repeat("x", 300), "../escape"}
	for _, layout := range []struct {
		dirs []string
		sub  int
	}{
		{[]string{root + "/a"}, 1},
		{[]string{root + "/a", root + "/b"}, 64},
		{[]string{root + "/a/", root + "//b", root + "/c"}, 13},
	} {
		args := append([]string{"filepath", itoa(layout.sub), itoa(len(layout.dirs))}, layout.dirs...)
		got := peer.must(append(args, names...)...)
		if len(got) != len(names) {
			t.Fatalf("filepath: %d answers for %d names", len(got), len(names))
		}
		for i, name := range names {
			// Spark keeps a ".." in the path; the file is the same.
			if ember := shuffle.FilePath(layout.dirs, layout.sub, name); ember != filepath.Clean(got[i]) {
				t.Errorf("dirs %q, %d sub-dirs: %q is at %q in Ember, %q in Spark", layout.dirs, layout.sub, name, ember, got[i])
			}
		}
	}
}

// TestEmberClientAgainstSparkService: Ember's client registers executors
// with Spark's external shuffle service, which reads the files Ember's
// MapOutputWriter laid out, and fetches every block by FetchShuffleBlocks,
// by OpenBlocks, by batch, to disk and through FetchAll, and RDD blocks;
// asks for local dirs, diagnoses corruption and removes blocks. In both io
// modes, without and with each spark.authenticate mode (AuthEngine v1 and
// v2, SASL, SASL with encryption).
func TestEmberClientAgainstSparkService(t *testing.T) {
	testutil.CheckLeaks(t)
	peer := startPeer(t)
	t.Run("layout", func(t *testing.T) { checkLayout(t, peer) })
	ports := map[string]int{}
	for _, sec := range securities() {
		ports[sec.name] = peer.startServer(t, "ess-"+sec.name, append([]string{rddConf}, sec.conf...)...)
	}
	for _, mode := range ioModes {
		for _, sec := range securities() {
			t.Run(mode+"/"+sec.name, func(t *testing.T) {
				port := ports[sec.name]
				sh := writeShuffle(t, 4, []int64{20, 21, 22}, 6, sec.blocks)
				execID := "exec-" + mode + "-" + sec.name
				cl := newEmberClient(t, mode, "", sec.conf...)
				old := newEmberClient(t, mode, "", append([]string{"spark.shuffle.useOldFetchProtocol=true"}, sec.conf...)...)
				tmp := t.TempDir()
				disk := newEmberClient(t, mode, tmp, append([]string{"spark.network.maxRemoteBlockSizeFetchToMem=1"}, sec.conf...)...)

				if err := cl.RegisterWithShuffleServer(localhost, port, execID, sh.info()); err != nil {
					t.Fatalf("RegisterWithShuffleServer with Spark's service: %v", err)
				}
				other := shuffle.ExecutorShuffleInfo{LocalDirs: []string{t.TempDir()}, SubDirsPerLocalDir: subDirs, ShuffleManager: shuffle.SortShuffleManager}
				if err := old.RegisterWithShuffleServer(localhost, port, execID+"-b", other); err != nil {
					t.Fatalf("RegisterWithShuffleServer with Spark's service: %v", err)
				}
				checkEmber(t, "FetchShuffleBlocks", sh, emberFetch(t, cl, port, execID, sh.ids(), nil), "")
				checkEmber(t, "OpenBlocks", sh, emberFetch(t, old, port, execID, sh.ids(), nil), "")
				checkEmber(t, "batch FetchShuffleBlocks", sh, emberFetch(t, cl, port, execID, sh.batchIDs(), nil), "")
				if sec.blocks == bigBlocks {
					// Six fetches of every block at once.
					cs := make([]*collector, 6)
					for i := range cs {
						cs[i] = newCollector(len(sh.ids()))
						go cl.FetchBlocks(localhost, port, execID, sh.ids(), nil, cs[i])
					}
					for i, c := range cs {
						checkEmber(t, fmt.Sprintf("concurrent fetch %d", i), sh, c.wait(t), "")
					}
				}
				sizes := map[string]int64{}
				for _, id := range sh.ids() {
					sizes[id] = 1 << 20 // every block "large": all go to disk
				}
				checkEmber(t, "fetch to disk", sh, emberFetch(t, disk, port, execID, sh.ids(), sizes), tmp)

				// FetchAll under the reducer limits.
				req := shuffle.FetchRequest{Host: localhost, Port: port, ExecID: execID}
				for _, id := range sh.ids() {
					req.Blocks = append(req.Blocks, shuffle.BlockInfo{ID: id, Size: int64(len(sh.data(t, id)))})
				}
				c := newCollector(len(req.Blocks))
				err := cl.FetchAll(context.Background(), []shuffle.FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
					c.OnBlockFetchSuccess(id, data)
					return nil
				})
				if err != nil {
					t.Errorf("FetchAll: %v", err)
				}
				checkEmber(t, "FetchAll", sh, c.wait(t), "")

				// RDD blocks (OpenBlocks): as Spark's fetcher, Ember's gives up
				// on the rest of a stream after a failed chunk.
				rdds := sh.writeRDDs(t)
				got := emberFetch(t, cl, port, execID, []string{"rdd_7_0", "rdd_7_1", "rdd_7_5"}, nil)
				for id, w := range rdds {
					if b := got[id]; !b.ok || b.sha != sha(w) || b.size != int64(len(w)) {
						t.Errorf("RDD block %s: %+v, want %d bytes sha %.12s", id, b, len(w), sha(w))
					}
				}
				if got["rdd_7_5"].ok {
					t.Errorf("the missing RDD block rdd_7_5 was fetched")
				}
				got = emberFetch(t, cl, port, execID, []string{"rdd_7_0", "rdd_7_5", "rdd_7_1"}, nil)
				if !got["rdd_7_0"].ok || got["rdd_7_5"].ok || got["rdd_7_1"].ok {
					t.Errorf("RDD blocks 0, missing 5, 1: %+v; want only rdd_7_0 fetched", got)
				}

				// An unregistered executor: Spark fails every block.
				for id, b := range emberFetch(t, cl, port, "exec-nobody", sh.ids()[:2], nil) {
					if b.ok || !strings.Contains(b.err.Error(), "not registered") {
						t.Errorf("%s of an unregistered executor: %+v, want a 'not registered' failure", id, b)
					}
				}

				dirs, err := cl.GetHostLocalDirs(localhost, port, []string{execID, execID + "-b"})
				if want := map[string][]string{execID: sh.dirs, execID + "-b": other.LocalDirs}; err != nil || !reflect.DeepEqual(dirs, want) {
					t.Errorf("GetHostLocalDirs = %v, %v; want %v", dirs, err, want)
				}
				if _, err := cl.GetHostLocalDirs(localhost, port, []string{execID, "exec-nobody"}); err == nil ||
					!strings.Contains(err.Error(), "not registered") {
					t.Errorf("GetHostLocalDirs of an unregistered executor: %v, want a 'not registered' failure", err)
				}

				m, r := sh.mapIDs[2], int32(3)
				sh.writeChecksums(t, m, "ADLER32", sh.sums(m, "ADLER32"))
				good := checksum("ADLER32", sh.blocks[m][r])
				for _, c := range []struct {
					sum  int64
					want shuffle.Cause
				}{{good, shuffle.CauseChecksumVerifyPass}, {good + 1, shuffle.CauseNetworkIssue}} {
					got, err := cl.DiagnoseCorruption(localhost, port, execID, sh.shuffleID, m, r, c.sum, "ADLER32")
					if err != nil || got != c.want {
						t.Errorf("DiagnoseCorruption(checksum %d) by Spark's service = %v, %v; want %v", c.sum, got, err, c.want)
					}
				}

				removeBlocks(t, sh, func(ids []string) (int, error) {
					n, err := cl.RemoveBlocks(localhost, port, execID, ids)
					return int(n), err
				})

				if sec.auth {
					wrong := newEmberClient(t, mode, "", withSecret(sec.conf, "not-the-secret")...)
					if err := wrong.RegisterWithShuffleServer(localhost, port, execID+"-wrong", sh.info()); err == nil {
						t.Errorf("Spark's service let a client with the wrong secret register")
					}
				}
				if sec.conf != nil {
					none := newEmberClient(t, mode, "")
					if err := none.RegisterWithShuffleServer(localhost, port, execID+"-none", sh.info()); err == nil {
						t.Errorf("Spark's service let a client without %s register", sec.name)
					}
				}
			})
		}
		t.Run(mode+"/retry", func(t *testing.T) { emberClientRetries(t, peer, mode) })
	}
}

// emberClientRetries: Ember's client rides out a restart of Spark's
// service: its first attempt finds no service, and Spark's service, back
// on the same port with its registration database, serves the retry
// without a new registration.
func emberClientRetries(t *testing.T, peer *sparkPeer, mode string) {
	port := testutil.FreePort(t)
	db := filepath.Join(t.TempDir(), "registeredExecutors.rdb")
	name := "ess-retry-" + mode
	start := func() { peer.startServer(t, name, "port="+itoa(port), "db="+db) }
	start()
	sh := writeShuffle(t, 9, []int64{60, 61}, 3, normalBlocks)
	log, logs := testLogBuffer(t)
	// 600 retries 100 ms apart leave a minute for the restart, which takes
	// milliseconds.
	cl, err := shuffle.NewClient(shuffle.ClientConfig{AppID: appID, Logger: log,
		Conf: emberConf(mode, "spark.shuffle.io.maxRetries=600", "spark.shuffle.io.retryWait=100ms")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.RegisterWithShuffleServer(localhost, port, "exec-1", sh.info()); err != nil {
		t.Fatal(err)
	}
	peer.must("close", name)

	const retrying = "retrying fetch" // Ember's log of a failed attempt
	before := strings.Count(logs.String(), retrying)
	c := newCollector(len(sh.ids()))
	cl.FetchBlocks(localhost, port, "exec-1", sh.ids(), nil, c)
	testutil.Eventually(t, testutil.WaitLimit, "Ember's client to fail its first attempt", func() (bool, string) {
		return strings.Count(logs.String(), retrying) > before, "no failed attempt in Ember's log"
	})
	start()
	checkEmber(t, "fetch retried across a restart", sh, c.wait(t), "")
}
