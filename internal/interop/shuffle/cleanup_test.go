package shuffle_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// execTree lays out an executor's local dirs under root the way a real one
// looks after some work: map outputs with their checksum file, RDD blocks,
// a broadcast piece, spill and temp files, a nested dir and an empty one;
// and odd corners: a dir named like a data file, a local dir holding only
// temp files, a symbolic link to a file elsewhere.
func execTree(t *testing.T, root string) []string {
	t.Helper()
	dirs := []string{filepath.Join(root, "blockmgr-a"), filepath.Join(root, "blockmgr-b"), filepath.Join(root, "blockmgr-c")}
	var paths []string
	for _, name := range []string{"shuffle_1_0_0.data", "shuffle_1_0_0.index", "shuffle_1_0_0.checksum.ADLER32",
		"shuffle_1_1_0.data", "shuffle_1_1_0.index", "rdd_3_0", "rdd_3_1", "broadcast_2_piece0",
		"temp_shuffle_0b1c", "temp_local_9f8e"} {
		paths = append(paths, shuffle.FilePath(dirs, subDirs, name))
	}
	paths = append(paths, filepath.Join(dirs[0], "extra", "deep", "kept.index"), filepath.Join(dirs[0], "extra", "deep", "spill.tmp"),
		filepath.Join(dirs[0], "odd.data", "inside.tmp"), filepath.Join(dirs[2], "3f", "temp_local_only"))
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dirs[1], "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root+"-elsewhere", "target")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(target)) })
	if err := os.WriteFile(target, []byte("not the executor's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dirs[1], "link")); err != nil {
		t.Fatal(err)
	}
	return dirs
}

// listTree is every file and dir under root, relative, dirs with a "/".
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// cleanupParity: when an executor exits, and when its application ends,
// Ember's service leaves the executor's dirs as Spark's does (Spark's
// cleaner thread runs behind a barrier: an application removed after it,
// whose dir disappears once the cleaner got to it), with and without
// spark.shuffle.service.fetch.rdd.enabled.
func cleanupParity(t *testing.T, peer *sparkPeer) {
	for _, rdd := range []bool{false, true} {
		name := "rdd-off"
		var conf []string
		if rdd {
			name, conf = "rdd-on", []string{rddConf}
		}
		t.Run("cleanup/"+name, func(t *testing.T) {
			server := "ess-clean-" + name
			port := peer.startServer(t, server, conf...)
			svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf("NIO", conf...), Host: localhost, Port: 0, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			sparkRoot, emberRoot := t.TempDir(), t.TempDir()
			info := func(dirs []string) shuffle.ExecutorShuffleInfo {
				return shuffle.ExecutorShuffleInfo{LocalDirs: dirs, SubDirsPerLocalDir: subDirs, ShuffleManager: shuffle.SortShuffleManager}
			}
			registerAt := func(app string, dirs []string) {
				if a := peer.rawRequest(t, "raw", port, shuffle.Encode(&shuffle.RegisterExecutor{AppID: app, ExecID: "exec-1", Info: info(dirs)})); a.failed {
					t.Fatalf("registering with Spark's service: %v", a)
				}
			}
			registerAt(appID, execTree(t, sparkRoot))
			if err := svc.RegisterExecutor(appID, "exec-1", info(execTree(t, emberRoot))); err != nil {
				t.Fatal(err)
			}
			barriers := 0
			// barrier waits until Spark's cleaner has run every task queued
			// before it.
			barrier := func() {
				barriers++
				app := "barrier-" + strconv.Itoa(barriers)
				dir := filepath.Join(t.TempDir(), app)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				registerAt(app, []string{dir})
				peer.must("appremoved", server, app, "true")
				testutil.Eventually(t, testutil.WaitLimit, "Spark's cleaner to reach the barrier", func() (bool, string) {
					_, err := os.Stat(dir)
					return os.IsNotExist(err), "the barrier dir is still there"
				})
			}
			compare := func(what string) {
				barrier()
				if s, e := listTree(t, sparkRoot), listTree(t, emberRoot); !reflect.DeepEqual(s, e) {
					t.Errorf("%s: Spark left\n  %q\nEmber left\n  %q", what, s, e)
				}
			}

			peer.must("execremoved", server, "exec-1", appID)
			svc.ExecutorRemoved(appID, "exec-1")
			compare("executor removed")
			for _, root := range []string{sparkRoot, emberRoot} {
				if _, err := os.Stat(filepath.Join(root+"-elsewhere", "target")); err != nil {
					t.Errorf("a symbolic link's target went with the executor: %v", err)
				}
			}

			// The application ends without cleanup: the files stay, the
			// executor is forgotten.
			peer.must("appremoved", server, appID, "false")
			svc.ApplicationRemoved(appID, false)
			compare("application removed, no cleanup")
			// Both open the stream (blocks are looked up lazily) and fail
			// its chunk.
			open := shuffle.Encode(&shuffle.OpenBlocks{AppID: appID, ExecID: "exec-1", BlockIDs: []string{"shuffle_1_0_0"}})
			spark, ember := peer.rawRequest(t, "raw", port, open), peer.rawRequest(t, "raw", svc.Port(), open)
			if !sameAnswer(spark, ember) || spark.failed || !reflect.DeepEqual(spark.chunks, []string{"FAIL"}) {
				t.Errorf("a block of a removed application: Spark answers %v, Ember %v; want the same failed chunk", spark, ember)
			}

			// Registered again, then removed with cleanup: the dirs go.
			local := func(root string) []string {
				return []string{filepath.Join(root, "blockmgr-a"), filepath.Join(root, "blockmgr-b"), filepath.Join(root, "blockmgr-c")}
			}
			registerAt(appID, local(sparkRoot))
			if err := svc.RegisterExecutor(appID, "exec-1", info(local(emberRoot))); err != nil {
				t.Fatal(err)
			}
			peer.must("appremoved", server, appID, "true")
			svc.ApplicationRemoved(appID, true)
			compare("application removed with cleanup")
		})
	}
}
