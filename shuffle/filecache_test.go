package shuffle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// TestOpenFileCacheThroughService: spark.shuffle.service.ember.maxOpenFiles
// sizes the cache (a negative value is refused); with room for 2 files,
// two concurrent fetches of 24 maps' blocks (files evicted while their
// chunks are still queued or being sent, and shared by both streams) get
// every block right, in both io modes, and the cache ends full at 2.
func TestOpenFileCacheThroughService(t *testing.T) {
	svc, err := NewService(ServiceConfig{Conf: testConf("NIO", "spark.shuffle.service.ember.maxOpenFiles=-1"),
		Host: localhost, Logger: quietLogger()})
	if err == nil {
		svc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "maxOpenFiles") {
		t.Errorf("maxOpenFiles=-1: %v, want an error naming the key", err)
	}
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.service.ember.maxOpenFiles=2")
		svc := startService(t, conf, "", 0)
		if svc.res.cache.maxFiles != 2 {
			t.Fatalf("cache of %d files, want 2", svc.res.cache.maxFiles)
		}
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 24, 4, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, conf, "app-1")
		ls := []*recListener{newRecListener(len(sh.ids())), newRecListener(len(sh.ids()))}
		for _, l := range ls {
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", sh.ids(), nil, l)
		}
		for _, l := range ls {
			l.wait(t)
			l.checkOK(t, sh.expected())
		}
		// 24 data files went through the cache: it is full (so it was
		// used, and evicted 22 or more), never past its size.
		if n := svc.res.cache.openFiles(); n != 2 {
			t.Errorf("%d files cached, want the cache full at 2", n)
		}
	})
}

// TestBlockCache: one cache holds a key's open file and parsed index,
// under two bounds kept apart: open files by count (LRU), indexes by
// retained size (LRU); an index larger than the whole bound is not kept;
// evicting one half keeps the other; drop forgets a key (file and index)
// only while it caches that file; dropIf forgets what it matches; a file
// evicted or dropped closes when its last reference goes.
func TestBlockCache(t *testing.T) {
	dir := t.TempDir()
	const entry = 3*8 + 176 // an index of 3 offsets
	c := newBlockCache(2, 2*entry)
	key := func(i int) fileKey { return fileKey{exec: AppExecID{"app", "1"}, kind: fileShuffle, b: int64(i)} }
	idx := func(i int) *IndexInfo { return &IndexInfo{Offsets: []int64{0, int64(i), int64(2 * i)}} }
	file := func(i int) *codec.SharedFile {
		t.Helper()
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		return codec.NewSharedFile(f, 0)
	}
	closed := func(sf *codec.SharedFile) bool {
		_, err := sf.File().Stat()
		return errors.Is(err, os.ErrClosed)
	}
	has := func(i int) (file, index bool) {
		sf, ix := c.get(key(i))
		if sf != nil {
			sf.Release()
		}
		return sf != nil, ix != nil
	}

	// Indexes: 0 and 1 fit, 0 is used, 2 evicts 1.
	for i := 0; i < 2; i++ {
		c.put(key(i), nil, idx(i))
	}
	if _, ix := c.get(key(0)); ix == nil || ix.Offsets[1] != 0 {
		t.Fatalf("index 0: %v", ix)
	}
	c.put(key(2), nil, idx(2))
	if _, ix := has(1); ix {
		t.Errorf("the least recently used index was not evicted")
	}
	if _, ix := has(0); !ix || c.indexBytes != 2*entry || len(c.items) != 2 {
		t.Errorf("index 0 kept: %v; %d bytes in %d items, want %d in 2", ix, c.indexBytes, len(c.items), 2*entry)
	}
	// A second put of an index keeps the first.
	c.put(key(0), nil, idx(7))
	if _, ix := c.get(key(0)); ix.Offsets[1] != 0 || c.indexBytes != 2*entry {
		t.Errorf("a second index replaced the first (%v) or was counted (%d bytes)", ix.Offsets, c.indexBytes)
	}

	// Files: a put of a key already open returns the cached file and
	// releases the newcomer.
	f0 := file(0)
	if got := c.put(key(0), f0, nil); got != f0 {
		t.Fatalf("put returned another file")
	}
	f0b := file(100)
	if got := c.put(key(0), f0b, nil); got != f0 || !closed(f0b) {
		t.Errorf("a second open of a cached key: got the cached file %v, newcomer closed %v", got == f0, closed(f0b))
	}
	f0.Release() // the second put's reference
	f2 := c.put(key(2), file(2), nil)
	f2.Release()
	// A third file evicts the least recently used (0), which keeps its
	// index; the caller's reference keeps it open until released.
	f3 := c.put(key(3), file(3), nil)
	if fl, ix := has(0); fl || !ix {
		t.Errorf("key 0 after its file's eviction: file %v index %v, want the index only", fl, ix)
	}
	if c.openFiles() != 2 || closed(f0) {
		t.Errorf("%d files open, want 2; the evicted file with a reference left closed: %v", c.openFiles(), closed(f0))
	}
	f0.Release()
	if !closed(f0) {
		t.Errorf("an evicted file stays open after its last reference")
	}

	// drop: only while the key caches that file; file and index go.
	c.drop(key(2), f3)
	if fl, ix := has(2); !fl || !ix {
		t.Errorf("drop with another file dropped key 2: file %v index %v", fl, ix)
	}
	c.drop(key(2), f2)
	if fl, ix := has(2); fl || ix || !closed(f2) {
		t.Errorf("after drop: file %v index %v, file closed %v", fl, ix, closed(f2))
	}

	// dropIf, then close.
	c.put(key(3), nil, idx(3))
	c.dropIf(func(k fileKey) bool { return k.b == 3 })
	if fl, ix := has(3); fl || ix || closed(f3) {
		t.Errorf("dropIf: file %v index %v; a file with a reference left closed %v", fl, ix, closed(f3))
	}
	f3.Release()
	if !closed(f3) {
		t.Errorf("a dropped file stays open after its last reference")
	}
	c.close()
	if len(c.items) != 0 || c.files.Len() != 0 || c.indexes.Len() != 0 || c.indexBytes != 0 {
		t.Errorf("close left %d items, %d files, %d indexes, %d bytes", len(c.items), c.files.Len(), c.indexes.Len(), c.indexBytes)
	}

	// An index larger than the bound is not kept; with no room for files,
	// none is kept open.
	small := newBlockCache(0, entry-1)
	sf := file(9)
	if got := small.put(key(9), sf, idx(9)); got != sf || len(small.items) != 0 || small.indexBytes != 0 {
		t.Errorf("a cache of no files and a too-small index bound kept %d items (%d bytes)", len(small.items), small.indexBytes)
	}
	sf.Release()
	if !closed(sf) {
		t.Errorf("a file not cached stays open after the caller's release")
	}
}

// TestDeletedFileKey: RemoveBlocks drops the cache entry of each file it
// deletes: an RDD block's, or a map output's for its data file or its
// index; any other name is of no known kind (it drops the executor's whole
// cache).
func TestDeletedFileKey(t *testing.T) {
	exec := AppExecID{"app", "exec"}
	shuffle := fileKey{exec: exec, kind: fileShuffle, a: 3, b: 1 << 40}
	for _, c := range []struct {
		name string
		want fileKey
		ok   bool
	}{
		{"rdd_2_7", fileKey{exec: exec, kind: fileRDD, a: 2, b: 7}, true},
		{"shuffle_3_1099511627776_0.data", shuffle, true},
		{"shuffle_3_1099511627776_0.index", shuffle, true},
		{"shuffle_3_1099511627776_1.data", fileKey{}, false},
		{"shuffle_3_1099511627776_0", fileKey{}, false},
		{"shuffle_3_1099511627776_0.checksum.ADLER32", fileKey{}, false},
		{"shuffle_3_1099511627776_0.data.index", fileKey{}, false},
		{"rdd_2_7.data", fileKey{}, false},
		{"rdd_2_99999999999", fileKey{}, false},
		{"broadcast_1", fileKey{}, false},
		{"", fileKey{}, false},
	} {
		k, ok := deletedFileKey(exec, c.name)
		if k != c.want || ok != c.ok {
			t.Errorf("%q: %+v %v, want %+v %v", c.name, k, ok, c.want, c.ok)
		}
		if ok && (k.name() != c.name && IndexFileName(k.a, k.b) != c.name) {
			t.Errorf("%q: key %+v names another file", c.name, k)
		}
	}
}
