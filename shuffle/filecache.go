package shuffle

import (
	"container/list"
	"sync"

	"github.com/ember-rpc/ember/codec"
)

// DefaultMaxOpenFiles is spark.shuffle.service.ember.maxOpenFiles' default:
// how many block files the service keeps open between chunks.
const DefaultMaxOpenFiles = 1024

// fileKind says which file of a map output or block a fileKey names.
type fileKind uint8

const (
	fileData  fileKind = iota // shuffle_<a>_<b>_0.data
	fileIndex                 // shuffle_<a>_<b>_0.index
	fileRDD                   // rdd_<a>_<b>
)

// fileKey names a block file of an executor without building its path, so
// that a cached lookup allocates nothing.
type fileKey struct {
	exec AppExecID
	kind fileKind
	a    int32 // shuffle id or RDD id
	b    int64 // map id or split index
}

// fileCache keeps block files open between chunks (an LRU of at most max
// files). It holds one reference to each SharedFile; a file evicted or
// dropped while chunks of it are being sent closes when the last of them
// is released. max <= 0 caches nothing.
type fileCache struct {
	max int

	mu    sync.Mutex // guards ll and items
	ll    list.List  // of *fileEntry, most recently used first
	items map[fileKey]*list.Element
}

type fileEntry struct {
	key fileKey
	f   *codec.SharedFile
}

func newFileCache(max int) *fileCache {
	return &fileCache{max: max, items: map[fileKey]*list.Element{}}
}

// get returns the cached file of k with a reference for the caller.
func (c *fileCache) get(k fileKey) (*codec.SharedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*fileEntry).f.Retain(), true
}

// add caches f (the cache takes a reference of its own) unless k is
// cached already, and returns the file to use, with the caller's
// reference: f, or the one another caller cached first (then f is
// released).
func (c *fileCache) add(k fileKey, f *codec.SharedFile) *codec.SharedFile {
	if c.max <= 0 {
		return f
	}
	c.mu.Lock()
	if el, ok := c.items[k]; ok {
		c.ll.MoveToFront(el)
		won := el.Value.(*fileEntry).f.Retain()
		c.mu.Unlock()
		f.Release()
		return won
	}
	c.items[k] = c.ll.PushFront(&fileEntry{k, f.Retain()})
	var evicted []*codec.SharedFile
	for c.ll.Len() > c.max {
		evicted = append(evicted, c.removeLocked(c.ll.Back()))
	}
	c.mu.Unlock()
	for _, e := range evicted {
		e.Release()
	}
	return f
}

// drop forgets k if it still caches f.
func (c *fileCache) drop(k fileKey, f *codec.SharedFile) {
	c.mu.Lock()
	el, ok := c.items[k]
	if !ok || el.Value.(*fileEntry).f != f {
		c.mu.Unlock()
		return
	}
	c.removeLocked(el)
	c.mu.Unlock()
	f.Release()
}

// dropIf forgets every file whose key match accepts.
func (c *fileCache) dropIf(match func(fileKey) bool) {
	var gone []*codec.SharedFile
	c.mu.Lock()
	for k, el := range c.items {
		if match(k) {
			gone = append(gone, c.removeLocked(el))
		}
	}
	c.mu.Unlock()
	for _, f := range gone {
		f.Release()
	}
}

// removeLocked unlinks el and returns its file, whose reference the
// caller releases (outside the lock: it may close the file).
func (c *fileCache) removeLocked(el *list.Element) *codec.SharedFile {
	e := el.Value.(*fileEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	return e.f
}

// len returns the number of open files cached.
func (c *fileCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// close drops every file.
func (c *fileCache) close() { c.dropIf(func(fileKey) bool { return true }) }
