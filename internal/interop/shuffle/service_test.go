package shuffle_test

import (
	"errors"
	"os"
	"path/filepath"
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

// TestSparkClientAgainstEmberService: Spark's ExternalBlockStoreClient
// registers an executor with Ember's shuffle service and fetches its
// blocks by OpenBlocks, by FetchShuffleBlocks, by batch and to disk,
// removes blocks, asks for local dirs and diagnoses corruption; in both
// io modes, with and without spark.authenticate.
func TestSparkClientAgainstEmberService(t *testing.T) {
	testutil.CheckLeaks(t)
	peer := startPeer(t)
	for _, mode := range ioModes {
		for _, sec := range securities {
			t.Run(mode+"/"+sec.name, func(t *testing.T) {
				svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode, sec.conf...),
					Host: localhost, Port: 0, DBDir: t.TempDir(), Logger: testLogger(t)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { svc.Close() })
				port := svc.Port()
				sh := writeShuffle(t, 3, []int64{10, 11, 12, 13}, 5)
				peer.startClient(t, "new", appID, sec.conf...)
				peer.startClient(t, "old", appID, append([]string{"spark.shuffle.useOldFetchProtocol=true"}, sec.conf...)...)

				// RegisterExecutor with ExecutorShuffleInfo.
				peer.must(append([]string{"register", "new", localhost, itoa(port), "exec-1", itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...)
				if n := svc.RegisteredExecutors(); n != 1 {
					t.Fatalf("Ember's service has %d registered executors after Spark's registerWithShuffleServer, want 1", n)
				}

				// Every block, by both fetch protocols, and by batch.
				checkJava(t, "OpenBlocks", sh, peer.fetch(t, "old", port, "exec-1", false, sh.ids()), "")
				checkJava(t, "FetchShuffleBlocks", sh, peer.fetch(t, "new", port, "exec-1", false, sh.ids()), "")
				checkJava(t, "batch FetchShuffleBlocks", sh, peer.fetch(t, "new", port, "exec-1", false, sh.batchIDs()), "")
				// To disk through a DownloadFileManager: every block is
				// streamed into a file, empty ones included.
				checkJava(t, "fetch to disk", sh, peer.fetch(t, "new", port, "exec-1", true, sh.ids()), "FileSegmentManagedBuffer")
				if n, want := svc.Metrics().BlocksServed.Load(), int64(3*len(sh.ids())+len(sh.batchIDs())); n != want {
					t.Errorf("the service served %d chunks, want %d", n, want)
				}

				// An unregistered executor: every block fails.
				for id, b := range peer.fetch(t, "new", port, "exec-9", false, sh.ids()[:2]) {
					if b.ok || !strings.Contains(b.err, "not registered") {
						t.Errorf("%s of an unregistered executor: %+v, want a 'not registered' failure", id, b)
					}
				}

				// GetLocalDirsForExecutors.
				dirs := peer.must("localdirs", "new", localhost, itoa(port), "exec-1")
				if want := "exec-1=" + strings.Join(sh.dirs, ","); len(dirs) != 1 || dirs[0] != want {
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

				if sec.conf != nil {
					// A client with another secret, and one without auth,
					// cannot register.
					peer.startClient(t, "wrong", appID, "spark.authenticate=true", "spark.authenticate.secret=not-the-secret", "spark.network.crypto.enabled=true")
					if _, err := peer.call(append([]string{"register", "wrong", localhost, itoa(port), "exec-2", itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...); err == nil {
						t.Errorf("a client with the wrong secret registered")
					}
					peer.startClient(t, "none", appID)
					if _, err := peer.call(append([]string{"register", "none", localhost, itoa(port), "exec-3", itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...); err == nil {
						t.Errorf("a client without auth registered")
					}
					if n := svc.RegisteredExecutors(); n != 1 {
						t.Errorf("%d registered executors after refused registrations, want 1", n)
					}
				}
			})
		}
	}
}

// removeBlocks checks RemoveBlocks, however sent: RDD blocks and a map
// output's data and index files (what the driver removes with
// spark.shuffle.service.removeShuffle) are deleted and counted; a missing
// block is not counted; a name that would leave the executor's dirs is
// skipped and its target left alone.
func removeBlocks(t *testing.T, sh *testShuffle, remove func(ids []string) (int, error)) {
	t.Helper()
	write := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("block"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rdds := []string{"rdd_7_0", "rdd_7_1"}
	for _, id := range rdds {
		write(sh.path(id))
	}
	// "../escape" names <local dir>/escape, outside the hashed sub-dirs.
	escape := sh.path("../escape")
	write(escape)
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
