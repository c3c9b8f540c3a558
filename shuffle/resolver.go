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

	"github.com/bytedance/sonic"
	"github.com/ember-rpc/ember/codec"
	bolt "go.etcd.io/bbolt"
)

// AppExecID names an executor of an application.
type AppExecID struct {
	AppID  string `json:"appId"`
	ExecID string `json:"execId"`
}

// ErrNotRegistered: the executor has not registered with the service.
var ErrNotRegistered = errors.New("shuffle: executor is not registered")

// resolver maps block ids of registered executors to file segments
// (Spark's ExternalShuffleBlockResolver). Only files under an executor's
// registered local dirs are ever opened.
type resolver struct {
	log     *slog.Logger
	cache   *indexCache
	fileOpt codec.FileOptions
	rddOn   bool

	mu        sync.RWMutex // guards executors
	executors map[AppExecID]ExecutorShuffleInfo

	db *bolt.DB // registrations, when persistence is on
}

var dbBucket = []byte("executors")

const dbKeyPrefix = "AppExecShuffleInfo;"

func dbKey(id AppExecID) []byte {
	js, _ := sonic.ConfigStd.Marshal(id)
	return append([]byte(dbKeyPrefix), js...)
}

func newResolver(log *slog.Logger, cacheBytes int64, fileOpt codec.FileOptions, rddOn bool, dbPath string) (*resolver, error) {
	r := &resolver{log: log, cache: newIndexCache(cacheBytes), fileOpt: fileOpt, rddOn: rddOn,
		executors: map[AppExecID]ExecutorShuffleInfo{}}
	if dbPath == "" {
		return r, nil
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(dbPath, 0o600, nil)
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
			r.executors[id] = info
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(r.executors) > 0 {
		log.Info("recovered executor registrations", "count", len(r.executors))
	}
	return r, nil
}

func (r *resolver) close() error {
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
		if !filepath.IsAbs(d) {
			return fmt.Errorf("shuffle: local dir %q of executor %s/%s is not absolute", d, id.AppID, id.ExecID)
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
	r.mu.Lock()
	r.executors[id] = info
	r.mu.Unlock()
	return nil
}

func (r *resolver) executor(appID, execID string) (ExecutorShuffleInfo, error) {
	r.mu.RLock()
	info, ok := r.executors[AppExecID{appID, execID}]
	r.mu.RUnlock()
	if !ok {
		return info, fmt.Errorf("%w (appId=%s, execId=%s)", ErrNotRegistered, appID, execID)
	}
	return info, nil
}

// shuffleBlock returns the data of reduce partitions [start, end) of map
// mapID as a file segment.
func (r *resolver) shuffleBlock(appID, execID string, shuffleID int32, mapID int64, start, end int32) (codec.ManagedBuffer, error) {
	info, err := r.executor(appID, execID)
	if err != nil {
		return nil, err
	}
	if info.ShuffleManager != "" && !strings.Contains(info.ShuffleManager, "SortShuffleManager") {
		r.log.Debug("serving sort-shuffle layout for a custom shuffle manager", "manager", info.ShuffleManager)
	}
	sub := int(info.SubDirsPerLocalDir)
	idx, err := r.cache.get(FilePath(info.LocalDirs, sub, IndexFileName(shuffleID, mapID)))
	if err != nil {
		return nil, fmt.Errorf("shuffle: reading index of shuffle %d map %d: %w", shuffleID, mapID, err)
	}
	off, n, err := idx.Range(start, end)
	if err != nil {
		return nil, err
	}
	return codec.NewFileSegment(FilePath(info.LocalDirs, sub, DataFileName(shuffleID, mapID)), off, n, r.fileOpt)
}

// rddBlock returns a disk-persisted RDD block, or (nil, nil) if absent.
func (r *resolver) rddBlock(appID, execID string, b BlockID) (codec.ManagedBuffer, error) {
	if !r.rddOn {
		return nil, fmt.Errorf("shuffle: RDD block fetch is disabled (spark.shuffle.service.fetch.rdd.enabled)")
	}
	info, err := r.executor(appID, execID)
	if err != nil {
		return nil, err
	}
	path := FilePath(info.LocalDirs, int(info.SubDirsPerLocalDir), b.String())
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	return codec.NewFileSegment(path, 0, st.Size(), r.fileOpt)
}

// removeBlocks deletes RDD blocks and returns how many were removed.
func (r *resolver) removeBlocks(appID, execID string, ids []string) (int32, error) {
	info, err := r.executor(appID, execID)
	if err != nil {
		return 0, err
	}
	var n int32
	for _, id := range ids {
		b, err := ParseBlockID(id)
		if err != nil || b.Kind != KindRDD {
			r.log.Warn("not removing a block that is not an RDD block", "block", id)
			continue
		}
		if os.Remove(FilePath(info.LocalDirs, int(info.SubDirsPerLocalDir), b.String())) == nil {
			n++
		}
	}
	return n, nil
}

// applicationRemoved forgets an application's executors and, with
// cleanup, deletes their local dirs.
func (r *resolver) applicationRemoved(appID string, cleanup bool) {
	var gone []ExecutorShuffleInfo
	var ids []AppExecID
	r.mu.Lock()
	for id, info := range r.executors {
		if id.AppID == appID {
			delete(r.executors, id)
			gone = append(gone, info)
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	r.forget(ids)
	for _, info := range gone {
		for _, d := range info.LocalDirs {
			r.cache.invalidate(d)
			if cleanup {
				if err := os.RemoveAll(d); err != nil {
					r.log.Warn("cleaning up executor dir", "dir", d, "err", err)
				}
			}
		}
	}
}

// executorRemoved deletes the executor's files that the service does not
// serve (everything but .index and .data, and rdd_* when RDD fetch is on).
func (r *resolver) executorRemoved(appID, execID string) {
	info, err := r.executor(appID, execID)
	if err != nil {
		return
	}
	for _, d := range info.LocalDirs {
		_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			n := de.Name()
			if strings.HasSuffix(n, ".index") || strings.HasSuffix(n, ".data") || (r.rddOn && strings.HasPrefix(n, "rdd_")) {
				return nil
			}
			_ = os.Remove(p)
			return nil
		})
	}
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

// diagnose implements DiagnoseCorruption: recompute the partition's
// checksum from disk and compare it with the map task's checksum file and
// with the reader's.
func (r *resolver) diagnose(m *DiagnoseCorruption) Cause {
	var h hash.Hash32
	switch strings.ToUpper(m.Algorithm) {
	case "ADLER32":
		h = adler32.New()
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	default:
		return CauseUnsupportedChecksumAlgorithm
	}
	info, err := r.executor(m.AppID, m.ExecID)
	if err != nil {
		return CauseUnknownIssue
	}
	sub := int(info.SubDirsPerLocalDir)
	sums, err := os.ReadFile(FilePath(info.LocalDirs, sub, ChecksumFileName(m.ShuffleID, m.MapID, strings.ToUpper(m.Algorithm))))
	// In int64: 8*(reduceId+1) overflows int32 for hostile reduce ids.
	if err != nil || m.ReduceID < 0 || int64(len(sums)) < 8*(int64(m.ReduceID)+1) {
		return CauseUnknownIssue
	}
	byWriter := int64(binary.BigEndian.Uint64(sums[8*int64(m.ReduceID):]))
	buf, err := r.shuffleBlock(m.AppID, m.ExecID, m.ShuffleID, m.MapID, m.ReduceID, m.ReduceID+1)
	if err != nil {
		return CauseUnknownIssue
	}
	defer buf.Release()
	rd, err := buf.Reader()
	if err != nil {
		return CauseUnknownIssue
	}
	defer rd.Close()
	if _, err := io.Copy(h, rd); err != nil {
		return CauseUnknownIssue
	}
	byReader := int64(h.Sum32())
	switch {
	case byReader != byWriter:
		return CauseDiskIssue
	case byReader != m.Checksum:
		return CauseNetworkIssue
	}
	return CauseChecksumVerifyPass
}
