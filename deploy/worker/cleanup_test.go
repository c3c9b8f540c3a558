package worker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/shuffle"
)

// WorkerSuite "WorkDirCleanup cleans app dirs and shuffle metadata when
// spark.shuffle.service.db.enabled=true / cleans only app dirs when
// ...=false".
func TestWorkDirCleanup(t *testing.T) {
	for _, db := range []bool{true, false} {
		name := "db-enabled"
		if !db {
			name = "db-disabled"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			workDir := t.TempDir()
			old := time.Now().Add(-2 * time.Hour)
			for _, app := range []string{"app-old", "app-new"} {
				p := filepath.Join(workDir, app, "0", "stdout")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m := startMaster(t)
			dbFlag := "false"
			if db {
				dbFlag = "true"
			}
			w := startWorker(t, workerSpec{masters: []string{m.MasterURL()}, workDir: workDir,
				conf: []string{"spark.worker.cleanup.interval", "100ms", "spark.worker.cleanup.appDataTtl", "3600",
					"spark.shuffle.service.enabled", "true", "spark.shuffle.service.port", "0",
					"spark.shuffle.service.db.enabled", dbFlag}})
			svc := w.ShuffleService()
			if svc == nil {
				t.Fatal("no shuffle service")
			}
			oldLocal := filepath.Join(t.TempDir(), "blockmgr-old")
			if err := os.MkdirAll(oldLocal, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, app := range []string{"app-old", "app-new"} {
				info := shuffle.ExecutorShuffleInfo{LocalDirs: []string{oldLocal}, SubDirsPerLocalDir: 64,
					ShuffleManager: "org.apache.spark.shuffle.sort.SortShuffleManager"}
				if err := svc.RegisterExecutor(app, "0", info); err != nil {
					t.Fatal(err)
				}
			}
			// Only now is app-old old enough to go.
			for _, p := range []string{"app-old/0/stdout", "app-old/0"} {
				if err := os.Chtimes(filepath.Join(workDir, p), old, old); err != nil {
					t.Fatal(err)
				}
			}
			if db {
				// The registration DB lives in the work dir and is never cleaned.
				_ = filepath.WalkDir(filepath.Join(workDir, shuffleDBDir), func(p string, _ os.DirEntry, err error) error {
					if err == nil {
						_ = os.Chtimes(p, old, old)
					}
					return nil
				})
			}
			aliveWorker(t, m, w)
			waitFor(t, "app-old to be removed", func() bool {
				_, err := os.Stat(filepath.Join(workDir, "app-old"))
				return os.IsNotExist(err)
			})
			if _, err := os.Stat(filepath.Join(workDir, "app-new")); err != nil {
				t.Fatalf("app-new removed: %v", err)
			}
			if db {
				if _, err := os.Stat(filepath.Join(workDir, shuffleDBDir)); err != nil {
					t.Fatalf("shuffle DB removed: %v", err)
				}
				waitFor(t, "the shuffle service to forget app-old", func() bool { return svc.RegisteredExecutors() == 1 })
			} else if n := svc.RegisteredExecutors(); n != 2 {
				// The service is only told when its DB is on.
				t.Fatalf("%d registered executors, want 2", n)
			}
		})
	}
}

// WorkerSuite "cleanup non-shuffle files after executor exits when config
// spark.storage.cleanupFilesAfterExecutorExit=true".
func TestCleanupFilesAfterExecutorExit(t *testing.T) {
	t.Parallel()
	m := startMaster(t)
	w := startWorker(t, workerSpec{masters: []string{m.MasterURL()},
		conf: []string{"spark.shuffle.service.enabled", "true", "spark.shuffle.service.port", "0", "spark.shuffle.service.db.enabled", "false"}})
	aliveWorker(t, m, w)
	d := newClient(t, m)
	appID := d.registerApp(t, appDesc(map[string]string{"FAKE_MODE": "sleep"}))
	d.executorUpdate(t, 0, deploy.ExecutorRunning)
	local := filepath.Join(t.TempDir(), "blockmgr")
	for _, f := range []string{"shuffle_0_0_0.data", "shuffle_0_0_0.index", "temp_local_1"} {
		p := filepath.Join(local, "0c", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ShuffleService().RegisterExecutor(appID, "0", shuffle.ExecutorShuffleInfo{LocalDirs: []string{local},
		SubDirsPerLocalDir: 64, ShuffleManager: "sort"}); err != nil {
		t.Fatal(err)
	}
	d.ask(t, deploy.KillExecutors{AppID: appID, ExecutorIDs: []string{"0"}})
	finishedExecutor(t, w, appID, 0)
	waitFor(t, "non-shuffle files to be removed", func() bool {
		_, err := os.Stat(filepath.Join(local, "0c", "temp_local_1"))
		return os.IsNotExist(err)
	})
	for _, f := range []string{"shuffle_0_0_0.data", "shuffle_0_0_0.index"} {
		if _, err := os.Stat(filepath.Join(local, "0c", f)); err != nil {
			t.Fatalf("shuffle file %s removed: %v", f, err)
		}
	}
}
