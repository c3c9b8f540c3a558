package shuffle

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// readRegistrations returns the raw key/value pairs of a registration db.
func readRegistrations(t *testing.T, dbDir string) map[string]string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dbDir, "registeredExecutors.bolt"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("opening the registration db: %v", err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(dbBucket)
		if b == nil {
			return errors.New("no executors bucket")
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRegistrationPersistence: registrations are kept as Spark keeps them
// (key AppExecShuffleInfo;{"appId":..,"execId":..}, JSON value), and a
// service restarted on the same DBDir serves a previously registered
// executor without it registering again.
func TestRegistrationPersistence(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		dbDir := t.TempDir()
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 2, 3, nil)
		info := execInfo(dirs)

		svc1 := startService(t, conf, dbDir, 0)
		cl := newClient(t, conf, "app-1")
		if err := cl.RegisterWithShuffleServer(localhost, svc1.Port(), "exec-1", info); err != nil {
			t.Fatal(err)
		}
		if err := svc1.Close(); err != nil {
			t.Fatal(err)
		}

		// The stored form.
		regs := readRegistrations(t, dbDir)
		if len(regs) != 1 {
			t.Fatalf("db holds %d registrations, want 1: %v", len(regs), regs)
		}
		for k, v := range regs {
			if k != `AppExecShuffleInfo;{"appId":"app-1","execId":"exec-1"}` {
				t.Errorf("key %q", k)
			}
			var id AppExecID
			if err := json.Unmarshal([]byte(strings.TrimPrefix(k, "AppExecShuffleInfo;")), &id); err != nil || id != (AppExecID{"app-1", "exec-1"}) {
				t.Errorf("key JSON %q: %+v, %v", k, id, err)
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(v), &fields); err != nil {
				t.Fatalf("value %q is not JSON: %v", v, err)
			}
			for _, f := range []string{"localDirs", "subDirsPerLocalDir", "shuffleManager"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("value %s lacks %q", v, f)
				}
			}
			var got ExecutorShuffleInfo
			if err := json.Unmarshal([]byte(v), &got); err != nil || !reflect.DeepEqual(got, info) {
				t.Errorf("value decodes as %+v (%v), want %+v", got, err, info)
			}
		}

		// Restarted: serves exec-1 with no new registration.
		sp := &spy{}
		svc2 := startService(t, conf, dbDir, 0, sp)
		if svc2.RegisteredExecutors() != 1 {
			t.Fatalf("restarted service knows %d executors, want 1", svc2.RegisteredExecutors())
		}
		l := newRecListener(2)
		cl.FetchBlocks(localhost, svc2.Port(), "exec-1", []string{sh.id(1, 2), sh.id(0, 0)}, nil, l)
		l.wait(t)
		l.checkOK(t, map[string][]byte{sh.id(1, 2): sh.data(1, 2), sh.id(0, 0): sh.data(0, 0)})
		for _, m := range sp.rpcList() {
			if _, ok := m.(*RegisterExecutor); ok {
				t.Errorf("the executor registered again")
			}
		}

		// Removing the application forgets it in the db too.
		svc2.ApplicationRemoved("app-1", false)
		if err := svc2.Close(); err != nil {
			t.Fatal(err)
		}
		if regs := readRegistrations(t, dbDir); len(regs) != 0 {
			t.Errorf("db still holds %v after the application was removed", regs)
		}
		svc3 := startService(t, conf, dbDir, 0)
		if svc3.RegisteredExecutors() != 0 {
			t.Errorf("a removed application came back after a restart")
		}
	})
}

// TestRegistrationNotPersisted: with spark.shuffle.service.db.enabled=false
// (or no DBDir) a restarted service has forgotten everyone.
func TestRegistrationNotPersisted(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.service.db.enabled=false")
		dbDir := t.TempDir()
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 1, nil)
		svc1 := startService(t, conf, dbDir, 0)
		if err := svc1.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		svc1.Close()
		if ents, _ := os.ReadDir(dbDir); len(ents) != 0 {
			t.Errorf("db disabled, yet %d files in DBDir", len(ents))
		}
		svc2 := startService(t, conf, dbDir, 0)
		cl := newClient(t, conf, "app-1")
		l := newRecListener(1)
		cl.FetchBlocks(localhost, svc2.Port(), "exec-1", []string{sh.id(0, 0)}, nil, l)
		l.wait(t)
		l.checkFailed(t, "not registered", sh.id(0, 0))
	})
}

// TestRegistrationDBCompatibility: a db written by Spark's JSON (spaces,
// other field order) is recovered; unreadable entries are skipped, not
// fatal.
func TestRegistrationDBCompatibility(t *testing.T) {
	dbDir := t.TempDir()
	dirs := newExecDirs(t, 2)
	sh := writeShuffle(t, dirs, 0, 1, 2, nil)
	db, err := bolt.Open(filepath.Join(dbDir, "registeredExecutors.bolt"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	sparkJSON := `{"shuffleManager": "sort", "localDirs": ["` + dirs[0] + `", "` + dirs[1] + `"], "subDirsPerLocalDir": 4}`
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(dbBucket)
		if err != nil {
			return err
		}
		for k, v := range map[string]string{
			`AppExecShuffleInfo;{"appId":"foo","execId":"bar"}`: sparkJSON,
			`AppExecShuffleInfo;{"appId":"foo","execId":"bad"}`: `{not json`,
			`AppExecShuffleInfo;not json`:                       sparkJSON,
			`x`:                                                 sparkJSON, // shorter than the prefix
			`OtherPrefix;{"appId":"a","execId":"b"}`:            sparkJSON,
		} {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, false, filepath.Join(dbDir, "registeredExecutors.bolt"))
	if r.numExecutors() != 1 {
		t.Fatalf("recovered %d executors, want 1 (foo/bar)", r.numExecutors())
	}
	info, err := r.executor("foo", "bar")
	if err != nil || !reflect.DeepEqual(info, ExecutorShuffleInfo{LocalDirs: dirs, SubDirsPerLocalDir: 4, ShuffleManager: "sort"}) {
		t.Fatalf("foo/bar = %+v, %v", info, err)
	}
	buf, err := r.shuffleBlock("foo", "bar", 0, 0, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Release()
	if b, _ := buf.Bytes(); !bytes.Equal(b, sh.data(0, 1)) {
		t.Errorf("recovered executor's block differs")
	}
}

// writeExecFiles puts shuffle files, an RDD block and other files an
// executor leaves behind into dirs.
func writeExecFiles(t *testing.T, dirs []string) {
	t.Helper()
	writeShuffle(t, dirs, 0, 2, 2, nil)
	for _, name := range []string{"rdd_1_2", "temp_shuffle_123", "broadcast_0", ChecksumFileName(0, 0, "ADLER32"), "spill.tmp"} {
		p := FilePath(dirs, testSubDirs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestApplicationRemoved: with cleanup the executor dirs go, without they
// stay; only the removed application's dirs go, and its executors are
// forgotten.
func TestApplicationRemoved(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, cleanup := range []bool{true, false} {
			name := "cleanup"
			if !cleanup {
				name = "keep"
			}
			t.Run(name, func(t *testing.T) {
				checkLeaks(t)
				conf := testConf(mode)
				svc := startService(t, conf, t.TempDir(), 0)
				a1, a2, b1 := newExecDirs(t, 2), newExecDirs(t, 1), newExecDirs(t, 2)
				for _, d := range [][]string{a1, a2, b1} {
					writeExecFiles(t, d)
				}
				for _, r := range []struct {
					app, exec string
					dirs      []string
				}{{"app-a", "1", a1}, {"app-a", "2", a2}, {"app-b", "1", b1}} {
					if err := svc.RegisterExecutor(r.app, r.exec, execInfo(r.dirs)); err != nil {
						t.Fatal(err)
					}
				}
				bBefore := listFiles(t, b1...)
				aBefore := listFiles(t, append(append([]string{}, a1...), a2...)...)
				svc.ApplicationRemoved("app-a", cleanup)
				if svc.RegisteredExecutors() != 1 {
					t.Errorf("%d executors registered, want 1 (app-b's)", svc.RegisteredExecutors())
				}
				for _, d := range append(append([]string{}, a1...), a2...) {
					_, err := os.Stat(d)
					if cleanup && !errors.Is(err, os.ErrNotExist) {
						t.Errorf("app-a dir %s survived cleanup: %v", d, err)
					}
					if !cleanup && err != nil {
						t.Errorf("app-a dir %s removed without cleanup: %v", d, err)
					}
				}
				if !cleanup {
					if after := listFiles(t, append(append([]string{}, a1...), a2...)...); !reflect.DeepEqual(after, aBefore) {
						t.Errorf("files changed without cleanup: %v -> %v", aBefore, after)
					}
				}
				if after := listFiles(t, b1...); !reflect.DeepEqual(after, bBefore) {
					t.Errorf("app-b files changed: %v -> %v", bBefore, after)
				}
				cl := newClient(t, conf, "app-a")
				l := newRecListener(1)
				cl.FetchBlocks(localhost, svc.Port(), "1", []string{"shuffle_0_0_0"}, nil, l)
				l.wait(t)
				l.checkFailed(t, "not registered", "shuffle_0_0_0")
				clB := newClient(t, conf, "app-b")
				l = newRecListener(1)
				clB.FetchBlocks(localhost, svc.Port(), "1", []string{"shuffle_0_1_1"}, nil, l)
				l.wait(t)
				l.checkOK(t, map[string][]byte{"shuffle_0_1_1": partData(0, 1, 1)})
			})
		}
	})
}

// TestExecutorRemoved: only files the service does not serve are deleted
// (not .index/.data, nor rdd_* with RDD fetch on), and the dirs that left
// empty; other executors are untouched and the executor's shuffle data is
// still served.
func TestExecutorRemoved(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, rddOn := range []bool{false, true} {
			name := "rdd-off"
			if rddOn {
				name = "rdd-on"
			}
			t.Run(name, func(t *testing.T) {
				checkLeaks(t)
				conf := testConf(mode)
				if rddOn {
					conf.Set("spark.shuffle.service.fetch.rdd.enabled", "true")
				}
				svc := startService(t, conf, "", 0)
				gone, other := newExecDirs(t, 2), newExecDirs(t, 1)
				writeExecFiles(t, gone)
				writeExecFiles(t, other)
				if err := svc.RegisterExecutor("app-1", "gone", execInfo(gone)); err != nil {
					t.Fatal(err)
				}
				if err := svc.RegisterExecutor("app-1", "other", execInfo(other)); err != nil {
					t.Fatal(err)
				}
				otherBefore := listFiles(t, other...)
				svc.ExecutorRemoved("app-1", "gone")
				svc.ExecutorRemoved("app-1", "never-registered") // no-op
				for _, f := range listFiles(t, gone...) {
					base := filepath.Base(f)
					keep := strings.HasSuffix(base, ".index") || strings.HasSuffix(base, ".data") || (rddOn && strings.HasPrefix(base, "rdd_"))
					if !keep {
						t.Errorf("%s survived executor removal", f)
					}
				}
				var kept []string
				for _, f := range listFiles(t, gone...) {
					kept = append(kept, filepath.Base(f))
				}
				sort.Strings(kept)
				wantKept := []string{"shuffle_0_0_0.data", "shuffle_0_0_0.index", "shuffle_0_1_0.data", "shuffle_0_1_0.index"}
				if rddOn {
					wantKept = append([]string{"rdd_1_2"}, wantKept...)
				}
				if !reflect.DeepEqual(kept, wantKept) {
					t.Errorf("kept %v, want %v", kept, wantKept)
				}
				// Dirs left empty went too (Spark's service deletes them).
				for _, d := range gone {
					_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
						if err == nil && de.IsDir() {
							if rest, _ := os.ReadDir(p); len(rest) == 0 {
								t.Errorf("empty dir %s survived executor removal", p)
							}
						}
						return nil
					})
				}
				if after := listFiles(t, other...); !reflect.DeepEqual(after, otherBefore) {
					t.Errorf("another executor's files changed: %v -> %v", otherBefore, after)
				}
				cl := newClient(t, conf, "app-1")
				l := newRecListener(1)
				cl.FetchBlocks(localhost, svc.Port(), "gone", []string{"shuffle_0_1_1"}, nil, l)
				l.wait(t)
				l.checkOK(t, map[string][]byte{"shuffle_0_1_1": partData(0, 1, 1)})
			})
		}
	})
}

// TestDeleteUnserved: Spark's rules for an exited executor's dirs, corner
// by corner: a dir left empty goes (the local dir too), a dir named like a
// data file is kept whole, a symbolic link goes without its target.
func TestDeleteUnserved(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "target")
	files := []string{"a/0c/shuffle_0_0_0.data", "a/0c/temp_1", "a/1d/temp_2", "a/odd.data/inside.tmp",
		"b/3f/temp_only"}
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "a", "link")); err != nil {
		t.Fatal(err)
	}
	served := func(name string) bool { return strings.HasSuffix(name, ".data") || strings.HasSuffix(name, ".index") }
	for _, d := range []string{"a", "b", "missing"} {
		if err := deleteUnserved(filepath.Join(root, d), served); err != nil {
			t.Errorf("deleteUnserved(%s): %v", d, err)
		}
	}
	var left []string
	_ = filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			left = append(left, rel)
		}
		return nil
	})
	want := []string{"a", "a/0c", "a/0c/shuffle_0_0_0.data", "a/odd.data", "a/odd.data/inside.tmp"}
	if !reflect.DeepEqual(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("the link's target went: %v", err)
	}
}
