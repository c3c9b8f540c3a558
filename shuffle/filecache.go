package shuffle

import (
	"container/list"
	"strconv"
	"sync"

	"github.com/ember-rpc/ember/codec"
)

// DefaultMaxOpenFiles is spark.shuffle.service.ember.maxOpenFiles' default:
// how many block files the service keeps open between chunks.
const DefaultMaxOpenFiles = 1024

// fileKind says what a fileKey names.
type fileKind uint8

const (
	fileShuffle fileKind = iota // a map output: shuffle_<a>_<b>_0.data and its .index
	fileRDD                     // rdd_<a>_<b>
)

// fileKey names a block file of an executor (for a map output, its data
// file and its index together) without building its path, so that a
// cached lookup allocates nothing.
type fileKey struct {
	exec AppExecID
	kind fileKind
	a    int32 // shuffle id or RDD id
	b    int64 // map id or split index
}

// name is the name of the file k serves chunks from.
func (k fileKey) name() string {
	if k.kind == fileRDD {
		return "rdd_" + strconv.Itoa(int(k.a)) + "_" + strconv.FormatInt(k.b, 10)
	}
	return DataFileName(k.a, k.b)
}

// blockCache keeps what serving a chunk needs, by block file: the open
// file (an LRU of at most maxFiles open files) and, for a map output, its
// parsed index (an LRU of indexes bounded by their retained size,
// spark.shuffle.service.index.cache.size). The two bounds are kept apart
// (an entry may hold its index but not its file, or the reverse), but one
// lock guards both, so that a chunk served from the cache takes one lock.
// The cache holds one reference to each SharedFile; a file evicted or
// dropped while chunks of it are being sent closes when the last of them
// is released. maxFiles <= 0 keeps no file open.
type blockCache struct {
	maxFiles   int
	indexLimit int64

	mu         sync.Mutex // guards the fields below
	items      map[fileKey]*cacheEntry
	files      list.List // of *cacheEntry holding a file, most recently used first
	indexes    list.List // of *cacheEntry holding an index, most recently used first
	indexBytes int64     // the indexes' retained size
}

// cacheEntry is what blockCache holds for one key; it is in items while
// it holds a file or an index.
type cacheEntry struct {
	key    fileKey
	file   *codec.SharedFile // the cache's reference; nil if not open
	fileEl *list.Element     // in files, when file is set
	index  *IndexInfo        // nil if not cached
	idxEl  *list.Element     // in indexes, when index is set
}

func newBlockCache(maxFiles int, indexLimit int64) *blockCache {
	return &blockCache{maxFiles: maxFiles, indexLimit: indexLimit, items: map[fileKey]*cacheEntry{}}
}

// get returns what the cache holds for k: the open file, with a reference
// for the caller, and the index, each nil if not cached.
func (c *blockCache) get(k fileKey) (*codec.SharedFile, *IndexInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, nil
	}
	var f *codec.SharedFile
	if e.file != nil {
		c.files.MoveToFront(e.fileEl)
		f = e.file.Retain()
	}
	if e.index != nil {
		c.indexes.MoveToFront(e.idxEl)
	}
	return f, e.index
}

// put caches what k lacks of f (the cache takes a reference of its own)
// and idx, either of which may be nil. It returns the file to use, with
// the caller's reference: f, or the one another caller cached first (then
// f is released); nil if f is nil.
func (c *blockCache) put(k fileKey, f *codec.SharedFile, idx *IndexInfo) *codec.SharedFile {
	var gone []*codec.SharedFile
	c.mu.Lock()
	e := c.items[k]
	if e == nil {
		e = &cacheEntry{key: k}
	}
	use := f
	switch {
	case f == nil:
	case e.file != nil:
		c.files.MoveToFront(e.fileEl)
		use = e.file.Retain()
		gone = append(gone, f)
	case c.maxFiles > 0:
		e.file, e.fileEl = f.Retain(), c.files.PushFront(e)
	}
	if idx != nil && e.index == nil && idx.RetainedSize() <= c.indexLimit {
		e.index, e.idxEl = idx, c.indexes.PushFront(e)
		c.indexBytes += idx.RetainedSize()
	}
	if e.file != nil || e.index != nil {
		c.items[k] = e
	}
	for c.files.Len() > 0 && c.files.Len() > c.maxFiles {
		gone = append(gone, c.dropFileLocked(c.files.Back().Value.(*cacheEntry)))
	}
	for c.indexes.Len() > 0 && c.indexBytes > c.indexLimit {
		c.dropIndexLocked(c.indexes.Back().Value.(*cacheEntry))
	}
	c.mu.Unlock()
	for _, g := range gone {
		g.Release()
	}
	return use
}

// drop forgets k, its file and its index, if it still caches f.
func (c *blockCache) drop(k fileKey, f *codec.SharedFile) {
	c.mu.Lock()
	e, ok := c.items[k]
	if !ok || e.file != f {
		c.mu.Unlock()
		return
	}
	c.dropIndexLocked(e)
	c.dropFileLocked(e)
	c.mu.Unlock()
	f.Release()
}

// dropIf forgets every key match accepts, with its file and its index.
func (c *blockCache) dropIf(match func(fileKey) bool) {
	var gone []*codec.SharedFile
	c.mu.Lock()
	for k, e := range c.items {
		if !match(k) {
			continue
		}
		c.dropIndexLocked(e)
		if e.file != nil {
			gone = append(gone, c.dropFileLocked(e))
		}
	}
	c.mu.Unlock()
	for _, f := range gone {
		f.Release()
	}
}

// dropFileLocked unlinks e's file and returns it, for the caller to
// release (outside the lock: that may close it). e leaves items if it
// then holds nothing.
func (c *blockCache) dropFileLocked(e *cacheEntry) *codec.SharedFile {
	f := e.file
	c.files.Remove(e.fileEl)
	e.file, e.fileEl = nil, nil
	if e.index == nil {
		delete(c.items, e.key)
	}
	return f
}

// dropIndexLocked unlinks e's index, if it has one; e leaves items if it
// then holds nothing.
func (c *blockCache) dropIndexLocked(e *cacheEntry) {
	if e.index != nil {
		c.indexes.Remove(e.idxEl)
		c.indexBytes -= e.index.RetainedSize()
		e.index, e.idxEl = nil, nil
	}
	if e.file == nil {
		delete(c.items, e.key)
	}
}

// openFiles returns the number of open files cached.
func (c *blockCache) openFiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files.Len()
}

// close drops everything.
func (c *blockCache) close() { c.dropIf(func(fileKey) bool { return true }) }
