package shuffle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
)

// BlockFetchingListener receives the outcome of each block, once.
//
// data passed to OnBlockFetchSuccess is valid only during the call; to keep
// it, call data.Retain(), which returns a buffer the listener owns (and must
// Release).
type BlockFetchingListener interface {
	OnBlockFetchSuccess(blockID string, data codec.ManagedBuffer)
	OnBlockFetchFailure(blockID string, err error)
}

// transient is a chunk body that lives only during a callback. Retain
// copies it into a buffer the caller owns.
type transient struct{ b []byte }

func (t *transient) Size() int64                    { return int64(len(t.b)) }
func (t *transient) Bytes() ([]byte, error)         { return t.b, nil }
func (t *transient) Reader() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(t.b)), nil }
func (t *transient) Retain() codec.ManagedBuffer    { return codec.NewBytes(bytes.Clone(t.b)) }
func (t *transient) Release()                       {}

// tempFile is a block fetched to disk; the last Release deletes it (a
// listener that retained it can still read it after the callback).
type tempFile struct {
	*codec.FileSegment
	refs *atomic.Int32 // shared by the retained copies
}

func newTempFile(seg *codec.FileSegment) tempFile {
	t := tempFile{seg, new(atomic.Int32)}
	t.refs.Store(1)
	return t
}

func (t tempFile) Retain() codec.ManagedBuffer {
	t.FileSegment.Retain()
	t.refs.Add(1)
	return t
}

func (t tempFile) Release() {
	path := t.Path()
	t.FileSegment.Release()
	if t.refs.Add(-1) == 0 {
		os.Remove(path)
	}
}

// errEmptyBlocks: a fetch of no blocks.
var errEmptyBlocks = errors.New("shuffle: Zero-sized blockIds array")

// buildFetchMessage turns block ids into FetchShuffleBlocks (when all are
// shuffle blocks and the new protocol is allowed) or OpenBlocks. For
// FetchShuffleBlocks the ids are grouped by map id in first-seen order, and
// the returned ids are in that order: chunk i answers ids[i].
func buildFetchMessage(appID, execID string, ids []string, useOld bool) (Message, []string, error) {
	if len(ids) == 0 {
		return nil, nil, errEmptyBlocks
	}
	allShuffle := true
	for _, id := range ids {
		if !strings.HasPrefix(id, "shuffle_") {
			allShuffle = false
			break
		}
	}
	if !allShuffle || useOld {
		for _, id := range ids {
			if strings.HasPrefix(id, "shuffle") {
				if _, err := ParseBlockID(id); err != nil {
					return nil, nil, err
				}
			}
		}
		return &OpenBlocks{AppID: appID, ExecID: execID, BlockIDs: ids}, ids, nil
	}
	first, err := ParseBlockID(ids[0])
	if err != nil {
		return nil, nil, err
	}
	batch := first.Kind == KindShuffleBatch
	type group struct {
		mapID   int64
		reduces []int32
		ids     []string
	}
	var order []*group
	byMap := map[int64]*group{}
	for _, id := range ids {
		b, err := ParseBlockID(id)
		if err != nil {
			return nil, nil, err
		}
		if b.ShuffleID != first.ShuffleID {
			return nil, nil, fmt.Errorf("shuffle: Expected shuffleId=%d, got: %s", first.ShuffleID, id)
		}
		if (b.Kind == KindShuffleBatch) != batch {
			return nil, nil, fmt.Errorf("shuffle: mixed batch and plain shuffle block ids: %s", id)
		}
		g := byMap[b.MapID]
		if g == nil {
			g = &group{mapID: b.MapID}
			byMap[b.MapID] = g
			order = append(order, g)
		}
		if batch {
			g.reduces = append(g.reduces, b.ReduceID, b.EndReduce)
		} else {
			g.reduces = append(g.reduces, b.ReduceID)
		}
		g.ids = append(g.ids, id)
	}
	m := &FetchShuffleBlocks{AppID: appID, ExecID: execID, ShuffleID: first.ShuffleID, BatchFetchEnabled: batch}
	reordered := make([]string, 0, len(ids))
	for _, g := range order {
		m.MapIDs = append(m.MapIDs, g.mapID)
		m.ReduceIDs = append(m.ReduceIDs, g.reduces)
		reordered = append(reordered, g.ids...)
	}
	return m, reordered, nil
}

// oneForOneFetch runs one fetch of blocks over client c: one RPC for the
// stream handle, then every chunk at once (Spark's OneForOneBlockFetcher).
// A failed chunk fails its block and every later one.
type oneForOneFetch struct {
	c        *netpoll.Client
	ids      []string
	listener BlockFetchingListener
	// toDisk says whether block i must go to a temp file. If any must,
	// every chunk is fetched with a stream: the service serves chunk
	// fetches and streams on different paths, so mixing them within one
	// stream lets a later index reach it first ("out-of-order chunk").
	toDisk func(i int) bool
	tmpDir string

	mu     sync.Mutex
	failed int // index from which blocks have been failed; len(ids) if none
}

func (f *oneForOneFetch) start(msg Message) {
	f.failed = len(f.ids)
	f.c.SendRpc(Encode(msg), netpoll.RpcFunc{
		Success: func(resp []byte) {
			m, err := Decode(resp)
			h, ok := m.(*StreamHandle)
			if err != nil || !ok {
				f.failFrom(0, fmt.Errorf("shuffle: expected a StreamHandle, got %T (%v)", m, err))
				return
			}
			if int(h.NumChunks) != len(f.ids) {
				f.failFrom(0, fmt.Errorf("shuffle: stream has %d chunks for %d blocks", h.NumChunks, len(f.ids)))
				return
			}
			stream := false
			for i := range f.ids {
				if f.toDisk != nil && f.toDisk(i) {
					stream = true
					break
				}
			}
			for i := range f.ids {
				if stream {
					f.c.Stream(strconv.FormatInt(h.StreamID, 10)+"_"+strconv.Itoa(i), f.newDiskSink(i))
				} else {
					f.c.FetchChunk(h.StreamID, int32(i), f)
				}
			}
		},
		Failure: func(err error) { f.failFrom(0, err) },
	})
}

// OnSuccess implements netpoll.ChunkReceivedCallback.
func (f *oneForOneFetch) OnSuccess(i int32, buf []byte) {
	if !f.live(int(i)) {
		return
	}
	f.listener.OnBlockFetchSuccess(f.ids[i], &transient{b: buf})
}

// OnFailure implements netpoll.ChunkReceivedCallback.
func (f *oneForOneFetch) OnFailure(i int32, err error) { f.failFrom(int(i), err) }

func (f *oneForOneFetch) live(i int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return i < f.failed
}

// failFrom fails blocks i.. that have not been failed yet.
func (f *oneForOneFetch) failFrom(i int, err error) {
	f.mu.Lock()
	if i >= f.failed {
		f.mu.Unlock()
		return
	}
	end := f.failed
	f.failed = i
	f.mu.Unlock()
	for j := i; j < end; j++ {
		f.listener.OnBlockFetchFailure(f.ids[j], err)
	}
}

// diskSink writes one streamed chunk into a temp file.
type diskSink struct {
	f    *oneForOneFetch
	i    int
	file *os.File
	err  error
}

func (f *oneForOneFetch) newDiskSink(i int) *diskSink {
	file, err := os.CreateTemp(f.tmpDir, "shuffle-fetch-*.tmp")
	return &diskSink{f: f, i: i, file: file, err: err}
}

func (d *diskSink) OnData(_ string, p []byte) error {
	if d.err != nil {
		return nil
	}
	_, d.err = d.file.Write(p)
	return nil
}

func (d *diskSink) OnComplete(string) error {
	if d.err != nil {
		d.fail(d.err)
		return nil
	}
	st, err := d.file.Stat()
	path := d.file.Name()
	d.file.Close()
	if err != nil {
		os.Remove(path)
		d.f.failFrom(d.i, err)
		return nil
	}
	seg, err := codec.NewFileSegment(path, 0, st.Size(), codec.DefaultFileOptions)
	if err != nil {
		os.Remove(path)
		d.f.failFrom(d.i, err)
		return nil
	}
	if !d.f.live(d.i) {
		newTempFile(seg).Release()
		return nil
	}
	buf := newTempFile(seg)
	d.f.listener.OnBlockFetchSuccess(d.f.ids[d.i], buf)
	buf.Release()
	return nil
}

func (d *diskSink) OnFailure(_ string, err error) { d.fail(err) }

func (d *diskSink) fail(err error) {
	if d.file != nil {
		d.file.Close()
		os.Remove(d.file.Name())
	}
	d.f.failFrom(d.i, err)
}

// IsRetryable reports whether a fetch failure is an I/O failure worth
// retrying (Spark retries IOExceptions only): connection failures, closed
// connections, timeouts. Failures the server reported are not retried.
func IsRetryable(err error) bool {
	var remote *netpoll.RemoteError
	if errors.As(err, &remote) {
		return false
	}
	var ce *netpoll.ConnError
	var ne net.Error
	var se *os.SyscallError
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.As(err, &se) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, netpoll.ErrClosed)
}
