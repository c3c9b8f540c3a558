package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/codec"
	bolt "go.etcd.io/bbolt"
)

// dbLockTimeout bounds the wait for the registration db's file lock, which
// another process may hold; a variable for tests.
var dbLockTimeout = 10 * time.Second

// AppExecID names an executor of an application.
type AppExecID struct {
	AppID  string `json:"appId"`
	ExecID string `json:"execId"`
}

// ErrNotRegistered: the executor has not registered with the service.
var ErrNotRegistered = errors.New("shuffle: executor is not registered")

// resolver maps block ids of registered executors to file segments
// (Spark's ExternalShuffleBlockResolver). Only files beneath an executor's
// registered local dirs are ever opened, through descriptors of those dirs
// and never through a symbolic link (open_unix.go). Data and RDD files
// stay open between chunks, next to the parsed index files, in cache.
type resolver struct {
	log     *slog.Logger
	cache   *blockCache
	fileOpt codec.FileOptions
	// rddOn (spark.shuffle.service.fetch.rdd.enabled) keeps RDD files when
	// an executor exits. RDD blocks are served either way, as Spark's
	// service does: the application's own setting decides whether its
	// executors fetch them from the service.
	rddOn bool
	// dirs decides which local dirs an executor may register.
	dirs *dirPolicy

	mu        sync.RWMutex // guards executors
	executors map[AppExecID]*execEntry

	db *bolt.DB // registrations, when persistence is on
}

var dbBucket = []byte("executors")

const dbKeyPrefix = "AppExecShuffleInfo;"

func dbKey(id AppExecID) []byte {
	js, _ := sonic.ConfigStd.Marshal(id)
	return append([]byte(dbKeyPrefix), js...)
}

// resolverConfig is what newResolver takes.
type resolverConfig struct {
	indexCacheBytes int64             // spark.shuffle.service.index.cache.size
	maxOpenFiles    int               // spark.shuffle.service.ember.maxOpenFiles; 0 keeps no file open
	fileOpt         codec.FileOptions // how chunks are sent from files
	rddOn           bool              // spark.shuffle.service.fetch.rdd.enabled
	dbPath          string            // the registration db; "" keeps registrations in memory only
	dirs            *dirPolicy        // which local dirs may be registered; nil allows any
}

func newResolver(log *slog.Logger, c resolverConfig) (*resolver, error) {
	dirs, dbPath := c.dirs, c.dbPath
	if dirs == nil {
		dirs = &dirPolicy{allowAll: true}
	}
	r := &resolver{log: log, cache: newBlockCache(c.maxOpenFiles, c.indexCacheBytes),
		fileOpt: c.fileOpt, rddOn: c.rddOn, dirs: dirs, executors: map[AppExecID]*execEntry{}}
	if dbPath == "" {
		return r, nil
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: dbLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("shuffle: registration db %s is locked by another process (another shuffle service, "+
			"or a worker with spark.shuffle.service.enabled, on the same db dir?); gave up after %v: %w", dbPath, dbLockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("shuffle: opening registration db %s: %w", dbPath, err)
	}
	r.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(dbBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if !bytes.HasPrefix(k, []byte(dbKeyPrefix)) {
				log.Warn("skipping unknown registration db key", "key", string(k))
				return nil
			}
			var id AppExecID
			if err := sonic.ConfigStd.Unmarshal(k[len(dbKeyPrefix):], &id); err != nil {
				log.Warn("skipping unreadable registration", "key", string(k), "err", err)
				return nil
			}
			var info ExecutorShuffleInfo
			if err := sonic.ConfigStd.Unmarshal(v, &info); err != nil {
				log.Warn("skipping unreadable registration", "key", string(k), "err", err)
				return nil
			}
			for _, d := range info.LocalDirs {
				if err := dirs.check(d); err != nil {
					log.Warn("skipping a recovered registration whose local dirs are refused", "key", string(k), "err", err)
					return nil
				}
			}
			r.executors[id] = newExecEntry(id, info)
			return nil
		})
	})
	if err != nil {
		r.closeDirs()
		db.Close()
		return nil, err
	}
	if len(r.executors) > 0 {
		log.Info("recovered executor registrations", "count", len(r.executors))
	}
	return r, nil
}

// execEntry is a registered executor: its registration and the local
// dirs it named, opened at registration (or, for a dir that did not exist
// yet, at first use, after checking it again against the dir policy).
type execEntry struct {
	id   AppExecID
	info ExecutorShuffleInfo

	mu   sync.Mutex  // guards dirs
	dirs []*localDir // by local dir index; nil until opened; closed when the executor is forgotten
}

func newExecEntry(id AppExecID, info ExecutorShuffleInfo) *execEntry {
	e := &execEntry{id: id, info: info, dirs: make([]*localDir, len(info.LocalDirs))}
	for i, d := range info.LocalDirs {
		if f, err := openLocalDir(d); err == nil {
			e.dirs[i] = f
		}
	}
	return e
}

// closeDirs closes the executor's dir descriptors; lookups still running
// finish on them first (an os.File closes when its last use ends).
func (e *execEntry) closeDirs() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.dirs {
		if f != nil {
			_ = f.Close()
			e.dirs[i] = nil
		}
	}
	e.dirs = nil
}

func (r *resolver) closeDirs() {
	for _, e := range r.executors {
		e.closeDirs()
	}
}

func (r *resolver) close() error {
	r.mu.Lock()
	r.closeDirs()
	r.executors = map[AppExecID]*execEntry{}
	r.mu.Unlock()
	r.cache.close()
	if r.db != nil {
		return r.db.Close()
	}
	return nil
}

func (r *resolver) register(id AppExecID, info ExecutorShuffleInfo) error {
	if len(info.LocalDirs) == 0 || info.SubDirsPerLocalDir <= 0 {
		return fmt.Errorf("shuffle: executor %s/%s registered without local dirs", id.AppID, id.ExecID)
	}
	for _, d := range info.LocalDirs {
		if err := r.dirs.check(d); err != nil {
			return fmt.Errorf("shuffle: executor %s/%s: %w", id.AppID, id.ExecID, err)
		}
	}
	if r.db != nil {
		js, err := sonic.ConfigStd.Marshal(info)
		if err != nil {
			return err
		}
		if err := r.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(dbBucket).Put(dbKey(id), js)
		}); err != nil {
			return fmt.Errorf("shuffle: persisting registration: %w", err)
		}
	}
	e := newExecEntry(id, info)
	r.mu.Lock()
	old := r.executors[id]
	r.executors[id] = e
	r.mu.Unlock()
	if old != nil {
		// A re-registration (an executor restarted under the same id) may
		// name other dirs: what was opened under the old ones goes.
		r.cache.dropIf(func(k fileKey) bool { return k.exec == id })
		old.closeDirs()
	}
	return nil
}

func (r *resolver) executor(appID, execID string) (ExecutorShuffleInfo, error) {
	e, err := r.entry(appID, execID)
	if err != nil {
		return ExecutorShuffleInfo{}, err
	}
	return e.info, nil
}

func (r *resolver) entry(appID, execID string) (*execEntry, error) {
	r.mu.RLock()
	e, ok := r.executors[AppExecID{appID, execID}]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w (appId=%s, execId=%s)", ErrNotRegistered, appID, execID)
	}
	return e, nil
}

// shuffleBlock returns the data of reduce partitions [start, end) of map
// mapID as a file segment. With the map's index cached and its data file
// open in the cache, it takes one lock of the cache, allocates nothing and
// makes one system call (the fstat that tells a deleted or replaced file).
func (r *resolver) shuffleBlock(appID, execID string, shuffleID int32, mapID int64, start, end int32) (codec.ManagedBuffer, error) {
	e, err := r.entry(appID, execID)
	if err != nil {
		return nil, err
	}
	if e.info.ShuffleManager != "" && !strings.Contains(e.info.ShuffleManager, "SortShuffleManager") {
		r.log.Debug("serving sort-shuffle layout for a custom shuffle manager", "manager", e.info.ShuffleManager)
	}
	sf, idx, err := r.open(e, fileKey{exec: e.id, kind: fileShuffle, a: shuffleID, b: mapID}, true)
	if err != nil {
		return nil, err
	}
	off, n, err := idx.Range(start, end)
	if err != nil {
		sf.Release()
		return nil, err
	}
	return r.segment(sf, off, n)
}

// rddBlock returns a disk-persisted RDD block, or (nil, nil) if absent.
func (r *resolver) rddBlock(appID, execID string, b BlockID) (codec.ManagedBuffer, error) {
	e, err := r.entry(appID, execID)
	if err != nil {
		return nil, err
	}
	sf, _, err := r.open(e, fileKey{exec: e.id, kind: fileRDD, a: b.RDDID, b: int64(b.SplitIdx)}, false)
	if err != nil {
		return nil, nil
	}
	return r.segment(sf, 0, sf.Size())
}

// segment returns bytes [off, off+n) of sf as a chunk, and releases the
// caller's reference to sf (the segment holds its own).
func (r *resolver) segment(sf *codec.SharedFile, off, n int64) (codec.ManagedBuffer, error) {
	seg, err := codec.NewSharedFileSegment(sf, off, n, r.fileOpt)
	sf.Release()
	if err != nil {
		return nil, err
	}
	return seg, nil
}

// open returns the open file k names, with a reference for the caller,
// and with withIndex its map output's parsed index, from the cache (one
// lock) or read and cached. A cached file is fstat'ed: one deleted or
// replaced since it was opened (a map output committed again) is dropped
// with its index, which may be stale too, and both are read again.
func (r *resolver) open(e *execEntry, k fileKey, withIndex bool) (*codec.SharedFile, *IndexInfo, error) {
	sf, idx := r.cache.get(k)
	if sf != nil && fileGone(sf.File(), sf.Size()) {
		r.cache.drop(k, sf)
		sf.Release()
		sf, idx = nil, nil
	}
	if sf != nil && (idx != nil || !withIndex) {
		return sf, idx, nil
	}
	if withIndex && idx == nil {
		var err error
		if idx, err = r.readIndex(e, k); err != nil {
			if sf != nil {
				sf.Release()
			}
			return nil, nil, err
		}
	}
	var opened *codec.SharedFile
	if sf == nil {
		f, size, err := r.blockFile(e, k.name())
		if err != nil {
			if k.kind == fileShuffle {
				err = fmt.Errorf("shuffle: reading data of shuffle %d map %d: %w", k.a, k.b, err)
			}
			return nil, nil, err
		}
		opened = codec.NewSharedFile(f, size)
	}
	if won := r.cache.put(k, opened, idx); won != nil {
		sf = won
	}
	r.mu.RLock()
	current := r.executors[e.id] == e
	r.mu.RUnlock()
	if !current {
		// The executor was removed (or registered again) while its file
		// was read, after its cache entries were dropped: not kept.
		r.cache.dropIf(func(x fileKey) bool { return x == k })
	}
	return sf, idx, nil
}

// index returns the parsed index of a map output, from the cache or read
// (and then cached).
func (r *resolver) index(e *execEntry, k fileKey) (*IndexInfo, error) {
	sf, idx := r.cache.get(k)
	if sf != nil {
		sf.Release()
	}
	if idx != nil {
		return idx, nil
	}
	idx, err := r.readIndex(e, k)
	if err != nil {
		return nil, err
	}
	r.cache.put(k, nil, idx)
	return idx, nil
}

// readIndex reads and parses the index of the map output k names.
func (r *resolver) readIndex(e *execEntry, k fileKey) (*IndexInfo, error) {
	f, size, err := r.blockFile(e, IndexFileName(k.a, k.b))
	var idx *IndexInfo
	if err == nil {
		idx, err = readIndexFile(f, size)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("shuffle: reading index of shuffle %d map %d: %w", k.a, k.b, err)
	}
	return idx, nil
}

// removeBlocks deletes the named block files of an executor and returns
// how many it deleted. As in Spark 4.1, any block may be removed (the
// driver removes shuffle data and index files this way with
// spark.shuffle.service.removeShuffle), but a name that could leave the
// executor's dirs (empty, ".", "..", a path separator or NUL) is skipped.
// A file is deleted only if it is a regular file (not a symbolic link)
// whose dir resolves inside the executor's registered dir. warn reports
// (rate-limited by the caller) what was skipped.
func (r *resolver) removeBlocks(appID, execID string, ids []string, warn func(msg string, args ...any)) (int32, error) {
	e, err := r.entry(appID, execID)
	if err != nil {
		return 0, err
	}
	var n int32
	gone := map[fileKey]struct{}{}
	unknown := false // a deleted name that names no cached file kind
	for _, id := range ids {
		if err := r.removeBlockFile(e, id); err != nil {
			warn("failed to delete block", "block", id, "err", err)
			continue
		}
		n++
		if k, ok := deletedFileKey(e.id, id); ok {
			gone[k] = struct{}{}
		} else {
			unknown = true
		}
	}
	if n > 0 {
		// A deleted file is never served from the cache: its open file
		// and index go (the next chunk opens them again); the executor's
		// other files stay cached. A name of no known kind drops them all.
		r.cache.dropIf(func(k fileKey) bool {
			if k.exec != e.id {
				return false
			}
			_, hit := gone[k]
			return hit || unknown
		})
	}
	return n, nil
}

// deletedFileKey returns the cache key of a deleted block file:
// rdd_<a>_<b>, or shuffle_<a>_<b>_0.data or .index (the map output's key:
// its data file and its index go together); ok is false for a name of
// neither form.
func deletedFileKey(exec AppExecID, name string) (k fileKey, ok bool) {
	id, data := strings.CutSuffix(name, ".data")
	if !data {
		id = strings.TrimSuffix(name, ".index")
	}
	b, err := ParseBlockID(id)
	switch {
	case err != nil:
		return fileKey{}, false
	case b.Kind == KindRDD && id == name:
		return fileKey{exec: exec, kind: fileRDD, a: b.RDDID, b: int64(b.SplitIdx)}, true
	case b.Kind == KindShuffle && b.ReduceID == 0 && id != name:
		return fileKey{exec: exec, kind: fileShuffle, a: b.ShuffleID, b: b.MapID}, true
	}
	return fileKey{}, false
}

// validBlockFileName accepts a block id usable as a file name in an
// executor's dir.
func validBlockFileName(id string) error {
	switch {
	case id == "":
		return errors.New("empty block id")
	case strings.ContainsAny(id, "/\\\x00"):
		return fmt.Errorf("block id %q contains a path separator or NUL", id)
	case id == "." || id == "..":
		return fmt.Errorf("block id %q is a dir name", id)
	}
	return nil
}

// applicationRemoved forgets an application's executors and, with
// cleanup, deletes their local dirs.
func (r *resolver) applicationRemoved(appID string, cleanup bool) {
	var gone []*execEntry
	var ids []AppExecID
	r.mu.Lock()
	for id, e := range r.executors {
		if id.AppID == appID {
			delete(r.executors, id)
			gone = append(gone, e)
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	r.forget(ids)
	r.cache.dropIf(func(k fileKey) bool { return k.exec.AppID == appID })
	for _, e := range gone {
		e.closeDirs()
		for _, d := range e.info.LocalDirs {
			if cleanup {
				if err := os.RemoveAll(d); err != nil {
					r.log.Warn("cleaning up executor dir", "dir", d, "err", err)
				}
			}
		}
	}
}

// executorRemoved deletes the executor's files that the service does not
// serve, as Spark's service does: every entry of its local dirs whose name
// does not end in .index or .data (nor starts with rdd_, when RDD fetch is
// on) is deleted, dirs depth first; a dir left empty goes too, the local
// dirs themselves included. A dir whose name is kept is kept whole; a
// symbolic link is deleted, never followed.
func (r *resolver) executorRemoved(appID, execID string) {
	e, err := r.entry(appID, execID)
	if err != nil {
		return
	}
	info := e.info
	// Its open files go: an RDD file is deleted below unless RDD fetch is
	// on, and the rest open again on the next chunk.
	r.cache.dropIf(func(k fileKey) bool { return k.exec == e.id })
	served := func(name string) bool {
		return strings.HasSuffix(name, ".index") || strings.HasSuffix(name, ".data") || (r.rddOn && strings.HasPrefix(name, "rdd_"))
	}
	for _, d := range info.LocalDirs {
		if err := deleteUnserved(d, served); err != nil {
			r.log.Warn("cleaning up the files of a removed executor", "dir", d, "err", err)
		}
	}
}

// deleteUnserved deletes path if it is a regular file or a symbolic link,
// or, if a dir, its entries not kept by served and then itself when that
// left it empty. It does not follow symbolic links.
func deleteUnserved(path string, served func(name string) bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !served(e.Name()) {
				errs = append(errs, deleteUnserved(filepath.Join(path, e.Name()), served))
			}
		}
		if rest, err := os.ReadDir(path); err != nil || len(rest) > 0 {
			return errors.Join(append(errs, err)...)
		}
	} else if !st.Mode().IsRegular() && st.Mode()&os.ModeSymlink == 0 {
		return nil // a device, pipe or socket
	}
	return errors.Join(append(errs, os.Remove(path))...)
}

func (r *resolver) forget(ids []AppExecID) {
	if r.db == nil || len(ids) == 0 {
		return
	}
	_ = r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(dbBucket)
		for _, id := range ids {
			_ = b.Delete(dbKey(id))
		}
		return nil
	})
}

func (r *resolver) numExecutors() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.executors)
}

// diagnose implements DiagnoseCorruption as Spark's service does: the
// block must resolve (a registered executor, a readable index, a reduce id
// inside it) or the request fails; then the algorithm must be one Spark
// names exactly (ADLER32, CRC32, CRC32C; case matters) or the cause is
// UNSUPPORTED_CHECKSUM_ALGORITHM; then the partition's checksum is
// recomputed from disk (c3) and compared with the map task's checksum file
// (c2) and with the reader's (c1): c2 != c3 is a disk issue, c1 != c2 a
// network issue, else the checksums verify. A checksum file or data file
// that cannot be read gives UNKNOWN_ISSUE.
func (r *resolver) diagnose(m *DiagnoseCorruption) (Cause, error) {
	e, err := r.entry(m.AppID, m.ExecID)
	if err != nil {
		return 0, err
	}
	// The algorithm is the checksum file name's extension: Spark refuses a
	// name whose path leaves the executor's dirs, and takes any other as a
	// name (one with a separator is then an unsupported algorithm, never
	// opened).
	sumName := ChecksumFileName(m.ShuffleID, m.MapID, m.Algorithm)
	sumPath := FilePath(e.info.LocalDirs, int(e.info.SubDirsPerLocalDir), sumName)
	inside := false
	for _, d := range e.info.LocalDirs {
		inside = inside || beneath(sumPath, filepath.Clean(d))
	}
	if !inside {
		return 0, fmt.Errorf("%w: checksum file %s resolves outside the executor's registered local directories", ErrOutsideLocalDir, sumPath)
	}
	k := fileKey{exec: e.id, kind: fileShuffle, a: m.ShuffleID, b: m.MapID}
	idx, err := r.index(e, k)
	if err != nil {
		return 0, err
	}
	off, n, err := idx.Range(m.ReduceID, m.ReduceID+1)
	if err != nil {
		return 0, err
	}
	var h hash.Hash32
	switch m.Algorithm {
	case "ADLER32":
		h = adler32.New()
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	default:
		return CauseUnsupportedChecksumAlgorithm, nil
	}
	sumFile, _, err := r.blockFile(e, sumName)
	if err != nil {
		r.log.Info("corruption diagnosis: cannot read the checksum", "file", sumPath, "err", err)
		return CauseUnknownIssue, nil
	}
	defer sumFile.Close()
	byWriter, err := readChecksum(sumFile, m.ReduceID)
	if err != nil {
		r.log.Info("corruption diagnosis: cannot read the checksum", "file", sumPath, "err", err)
		return CauseUnknownIssue, nil
	}
	data, _, err := r.open(e, k, false)
	if err != nil {
		r.log.Info("corruption diagnosis: cannot read the partition", "err", err)
		return CauseUnknownIssue, nil
	}
	defer data.Release()
	byDisk, err := partitionChecksum(h, data.File(), off, n)
	if err != nil {
		r.log.Info("corruption diagnosis: cannot read the partition", "err", err)
		return CauseUnknownIssue, nil
	}
	switch {
	case byWriter != byDisk:
		return CauseDiskIssue, nil
	case byWriter != m.Checksum:
		return CauseNetworkIssue, nil
	}
	return CauseChecksumVerifyPass, nil
}

// readChecksum reads the big-endian long of reduceID from a checksum file.
func readChecksum(f *os.File, reduceID int32) (int64, error) {
	var b [8]byte
	if _, err := f.ReadAt(b[:], 8*int64(reduceID)); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b[:])), nil
}

// partitionChecksum hashes bytes [off, off+n) of a data file. A file that
// ends inside the range hashes what is there, one that ends before it
// hashes nothing (Spark's reader skips past the end without an error).
func partitionChecksum(h hash.Hash32, f *os.File, off, n int64) (int64, error) {
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return 0, err
	}
	return int64(h.Sum32()), nil
}
