package shuffle_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// checkJava checks blocks Spark's client fetched against the shuffle's
// content; class, if set, is the ManagedBuffer class each must arrive in.
func checkJava(t *testing.T, what string, sh *testShuffle, got map[string]javaBlock, class string) {
	t.Helper()
	for id, b := range got {
		want := sh.data(t, id)
		switch {
		case !b.ok:
			t.Errorf("%s: %s failed: %s", what, id, b.err)
		case b.size != int64(len(want)) || b.sha != sha(want):
			t.Errorf("%s: %s arrived as %d bytes sha %.12s, want %d bytes sha %.12s", what, id, b.size, b.sha, len(want), sha(want))
		case class != "" && b.class != class:
			t.Errorf("%s: %s arrived in a %s, want a %s", what, id, b.class, class)
		}
	}
}

// checkJavaRDDs checks RDD blocks Spark's client fetched: those in want
// arrive whole, the others fail.
func checkJavaRDDs(t *testing.T, want map[string][]byte, got map[string]javaBlock) {
	t.Helper()
	for id, b := range got {
		w, ok := want[id]
		switch {
		case !ok && b.ok:
			t.Errorf("RDD block %s, which does not exist, was fetched", id)
		case ok && !b.ok:
			t.Errorf("RDD block %s failed: %s", id, b.err)
		case ok && (b.size != int64(len(w)) || b.sha != sha(w)):
			t.Errorf("RDD block %s arrived as %d bytes sha %.12s, want %d bytes sha %.12s", id, b.size, b.sha, len(w), sha(w))
		}
	}
}

// TestSparkClientAgainstEmberService: Spark's ExternalBlockStoreClient
// registers executors with Ember's shuffle service and fetches their
// blocks by OpenBlocks, by FetchShuffleBlocks, by batch and to disk, and
// RDD blocks; asks for local dirs, diagnoses corruption, removes blocks;
// and still fetches after the service restarts from its registration
// database. In both io modes, without and with each spark.authenticate
// mode (AuthEngine v1 and v2, SASL, SASL with encryption).
func TestSparkClientAgainstEmberService(t *testing.T) {
	testutil.CheckLeaks(t)
	peer := startPeer(t)
	for _, mode := range ioModes {
		for _, sec := range securities() {
			t.Run(mode+"/"+sec.name, func(t *testing.T) {
				conf := emberConf(mode, append([]string{rddConf}, sec.conf...)...)
				dbDir := t.TempDir()
				start := func() *shuffle.Service {
					svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: localhost, Port: 0, DBDir: dbDir, Logger: testLogger(t)})
					if err != nil {
						t.Fatal(err)
					}
					return svc
				}
				svc := start()
				t.Cleanup(func() { svc.Close() })
				port := svc.Port()
				sh := writeShuffle(t, 3, []int64{10, 11, 12, 13}, 5, sec.blocks)
				peer.startClient(t, "new", appID, sec.conf...)
				peer.startClient(t, "old", appID, append([]string{"spark.shuffle.useOldFetchProtocol=true"}, sec.conf...)...)

				// RegisterExecutor with ExecutorShuffleInfo.
				register := func(client, execID string, dirs []string) error {
					_, err := peer.call(append([]string{"register", client, localhost, itoa(port), execID, itoa(subDirs), shuffle.SortShuffleManager}, dirs...)...)
					return err
				}
				otherDirs := []string{t.TempDir()}
				if err := register("new", "exec-1", sh.dirs); err != nil {
					t.Fatalf("Spark's registerWithShuffleServer: %v", err)
				}
				if err := register("old", "exec-2", otherDirs); err != nil {
					t.Fatalf("Spark's registerWithShuffleServer: %v", err)
				}
				if n := svc.RegisteredExecutors(); n != 2 {
					t.Fatalf("Ember's service has %d registered executors after two registrations, want 2", n)
				}

				// Every block, by both fetch protocols, and by batch.
				checkJava(t, "OpenBlocks", sh, peer.fetch(t, "old", port, "exec-1", false, sh.ids()), "")
				checkJava(t, "FetchShuffleBlocks", sh, peer.fetch(t, "new", port, "exec-1", false, sh.ids()), "")
				checkJava(t, "batch FetchShuffleBlocks", sh, peer.fetch(t, "new", port, "exec-1", false, sh.batchIDs()), "")
				if sec.blocks == bigBlocks {
					// Six fetches of every block at once.
					for i, got := range peer.fetchParallel(t, "new", port, "exec-1", 6, sh.ids()) {
						checkJava(t, fmt.Sprintf("concurrent fetch %d", i), sh, got, "")
					}
				}
				// To disk through a DownloadFileManager: every block is
				// streamed into a file, empty ones included.
				checkJava(t, "fetch to disk", sh, peer.fetch(t, "new", port, "exec-1", true, sh.ids()), "FileSegmentManagedBuffer")
				concurrent := 0
				if sec.blocks == bigBlocks {
					concurrent = 6
				}
				if n, want := svc.Metrics().BlocksServed.Load(), int64((3+concurrent)*len(sh.ids())+len(sh.batchIDs())); n != want {
					t.Errorf("the service served %d chunks, want %d", n, want)
				}
				// RDD blocks (OpenBlocks); a missing one fails, and so does
				// every block after it (Spark's fetcher gives up on the rest
				// of a stream after a failed chunk).
				rdds := sh.writeRDDs(t)
				checkJavaRDDs(t, rdds, peer.fetch(t, "new", port, "exec-1", false, []string{"rdd_7_0", "rdd_7_1", "rdd_7_5"}))
				after := peer.fetch(t, "new", port, "exec-1", false, []string{"rdd_7_0", "rdd_7_5", "rdd_7_1"})
				if !after["rdd_7_0"].ok || after["rdd_7_5"].ok || after["rdd_7_1"].ok {
					t.Errorf("RDD blocks 0, missing 5, 1: %+v; want only rdd_7_0 fetched", after)
				}

				// An unregistered executor: every block fails.
				for id, b := range peer.fetch(t, "new", port, "exec-9", false, sh.ids()[:2]) {
					if b.ok || !strings.Contains(b.err, "not registered") {
						t.Errorf("%s of an unregistered executor: %+v, want a 'not registered' failure", id, b)
					}
				}

				// GetLocalDirsForExecutors.
				dirs := peer.must("localdirs", "new", localhost, itoa(port), "exec-2", "exec-1")
				if want := []string{"exec-1=" + strings.Join(sh.dirs, ","), "exec-2=" + otherDirs[0]}; !reflect.DeepEqual(dirs, want) {
					t.Errorf("getHostLocalDirs = %q, want %q", dirs, want)
				}
				if _, err := peer.call("localdirs", "new", localhost, itoa(port), "exec-1", "exec-9"); err == nil ||
					!strings.Contains(err.Error(), "not registered") {
					t.Errorf("getHostLocalDirs of an unregistered executor: %v, want a 'not registered' failure", err)
				}

				// DiagnoseCorruption: the checksums verify, or the reader's
				// differs.
				m, r := sh.mapIDs[1], int32(2)
				sh.writeChecksums(t, m, "CRC32C", sh.sums(m, "CRC32C"))
				good := checksum("CRC32C", sh.blocks[m][r])
				for _, c := range []struct {
					sum  int64
					want string
				}{{good, "CHECKSUM_VERIFY_PASS"}, {good ^ 1, "NETWORK_ISSUE"}} {
					byClient, raw := peer.diagnose(t, "new", port, "exec-1", sh.shuffleID, m, r, c.sum, "CRC32C")
					if byClient != c.want || raw.kind() != c.want {
						t.Errorf("diagnoseCorruption(checksum %d) = %s (service sent %v), want %s", c.sum, byClient, raw, c.want)
					}
				}

				removeBlocks(t, sh, func(ids []string) (int, error) {
					f, err := peer.call(append([]string{"remove", "new", localhost, itoa(port), "exec-1"}, ids...)...)
					if err != nil {
						return 0, err
					}
					return atoi(f[0]), nil
				})
				// The removed map output is gone for fetchers too.
				gone := shuffle.ShuffleBlockID(sh.shuffleID, sh.mapIDs[0], 1)
				if b := peer.fetch(t, "new", port, "exec-1", false, []string{gone})[gone]; b.ok {
					t.Errorf("%s fetched after its files were removed", gone)
				}

				if sec.auth {
					peer.startClient(t, "wrong", appID, withSecret(sec.conf, "not-the-secret")...)
					if err := register("wrong", "exec-3", sh.dirs); err == nil {
						t.Errorf("a client with the wrong secret registered")
					}
				}
				if sec.conf != nil {
					peer.startClient(t, "none", appID)
					if err := register("none", "exec-4", sh.dirs); err == nil {
						t.Errorf("a client without %s registered", sec.name)
					}
					if n := svc.RegisteredExecutors(); n != 2 {
						t.Errorf("%d registered executors after refused registrations, want 2", n)
					}
				}

				// A stream opened and never read, and those left by failed
				// fetches, go when Spark's clients close their connections.
				open := shuffle.Encode(&shuffle.OpenBlocks{AppID: appID, ExecID: "exec-1", BlockIDs: sh.ids()[1:3]})
				if a := peer.rawRequest(t, "old", port, open, "nochunks"); a.failed {
					t.Fatalf("OpenBlocks: %v", a)
				}
				if n := svc.Metrics().OpenStreams(); n == 0 {
					t.Errorf("no open stream after an unread OpenBlocks")
				}
				peer.must("close", "new")
				peer.must("close", "old")
				testutil.Eventually(t, testutil.WaitLimit, "the streams of closed connections to go", func() (bool, string) {
					n := svc.Metrics().OpenStreams()
					return n == 0, fmt.Sprintf("%d streams open", n)
				})

				// A restarted service knows the executors from its
				// database: Spark's client fetches without registering.
				if err := svc.Close(); err != nil {
					t.Fatalf("closing the service: %v", err)
				}
				svc = start()
				if n := svc.RegisteredExecutors(); n != 2 {
					t.Errorf("the restarted service recovered %d executors, want 2", n)
				}
				port = svc.Port()
				peer.startClient(t, "after", appID, sec.conf...)
				checkJava(t, "FetchShuffleBlocks after a restart", sh, peer.fetch(t, "after", port, "exec-1", false, sh.ids()[len(sh.ids())/2:]), "")
			})
		}
		t.Run(mode+"/retry", func(t *testing.T) { sparkClientRetries(t, peer, mode) })
	}
}

// sparkClientRetries: Spark's client (its RetryingBlockTransferor) rides
// out a restart of Ember's service: its first attempt finds no service,
// and the service, back on the same port with its registration database,
// serves the retry without a new registration.
func sparkClientRetries(t *testing.T, peer *sparkPeer, mode string) {
	port := testutil.FreePort(t)
	dbDir := t.TempDir()
	start := func() *shuffle.Service {
		svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode), Host: localhost, Port: port, DBDir: dbDir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc
	}
	svc := start()
	sh := writeShuffle(t, 8, []int64{50, 51}, 3, normalBlocks)
	// 600 retries 100 ms apart leave a minute for the restart, which takes
	// milliseconds.
	peer.startClient(t, "retry", appID, "spark.shuffle.io.maxRetries=600", "spark.shuffle.io.retryWait=100ms")
	peer.must(append([]string{"register", "retry", localhost, itoa(port), "exec-1", itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...)
	svc.Close()

	const failed = "Exception while beginning" // Spark's log of a failed attempt
	before := strings.Count(peer.stderr.String(), failed)
	type result struct {
		got map[string]javaBlock
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := peer.fetchErr("retry", port, "exec-1", false, sh.ids())
		done <- result{got, err}
	}()
	testutil.Eventually(t, testutil.WaitLimit, "Spark's client to fail its first attempt", func() (bool, string) {
		return strings.Count(peer.stderr.String(), failed) > before, "no failed attempt in Spark's log"
	})
	svc = start()
	r := <-done // the peer's own wait bounds it
	if r.err != nil {
		t.Fatalf("fetch across the restart: %v", r.err)
	}
	checkJava(t, "fetch retried across a restart", sh, r.got, "")
	if n := svc.Metrics().BlocksServed.Load(); n != int64(len(sh.ids())) {
		t.Errorf("the restarted service served %d blocks, want %d", n, len(sh.ids()))
	}
}

// removeBlocks checks RemoveBlocks, however sent: the RDD blocks
// writeRDDs wrote and a map output's data and index files (what the driver
// removes with spark.shuffle.service.removeShuffle) are deleted and
// counted; a missing block is not counted; a name that would leave the
// executor's dirs is skipped and its target left alone.
func removeBlocks(t *testing.T, sh *testShuffle, remove func(ids []string) (int, error)) {
	t.Helper()
	rdds := []string{"rdd_7_0", "rdd_7_1"}
	// "../escape" names <local dir>/escape, outside the hashed sub-dirs.
	escape := sh.path("../escape")
	if err := os.WriteFile(escape, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := sh.mapIDs[0]
	files := []string{shuffle.DataFileName(sh.shuffleID, m), shuffle.IndexFileName(sh.shuffleID, m)}
	ids := append(append(append([]string{}, rdds...), "rdd_7_9", "../escape", ".."), files...)
	n, err := remove(ids)
	if err != nil || n != len(rdds)+len(files) {
		t.Errorf("RemoveBlocks(%q) = %d, %v; want %d removed", ids, n, err, len(rdds)+len(files))
	}
	for _, name := range append(rdds, files...) {
		if _, err := os.Stat(sh.path(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after RemoveBlocks: %v", name, err)
		}
	}
	if _, err := os.Stat(escape); err != nil {
		t.Errorf("RemoveBlocks of ../escape touched %s: %v", escape, err)
	}
	if _, err := os.Stat(sh.path(shuffle.DataFileName(sh.shuffleID, sh.mapIDs[1]))); err != nil {
		t.Errorf("RemoveBlocks removed another map's output: %v", err)
	}
}
