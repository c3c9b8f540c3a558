package shuffle

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/netpoll"
	"go.uber.org/atomic"
)

// ErrNotAuthorized: an authenticated client named another application.
var ErrNotAuthorized = errors.New("shuffle: client not authorized")

// Metrics counts what the service does.
type Metrics struct {
	BlocksServed        atomic.Int64
	BytesServed         atomic.Int64
	StreamsOpened       atomic.Int64
	RegisteredExecutors func() int
	OpenStreams         func() int
}

// blockHandler serves the shuffle protocol (Spark's ExternalBlockHandler).
type blockHandler struct {
	res       *resolver
	streams   *netpoll.OneForOneStreamManager
	metrics   *Metrics
	maxBlocks int // per request (spark.shuffle.service.ember.maxBlocksPerRequest)
	budgets   *connBudgets
	warnings  *ratelog.Limiter // per-message warnings, one line per peer per interval
}

// warn logs a per-message warning about c's peer, rate-limited per host.
func (h *blockHandler) warn(c *netpoll.Client, msg string, args ...any) {
	remote := ""
	if c != nil {
		remote = c.RemoteAddr()
	}
	h.warnings.Warn(h.res.log, ratelog.PeerKey(remote), msg, append(args, "remote", remote)...)
}

// ErrConnectionBudget: a connection already has as many open streams, or
// as many blocks in its open streams, as the service allows
// (spark.shuffle.service.ember.maxStreamsPerConnection,
// maxBlocksPerConnection).
var ErrConnectionBudget = errors.New("shuffle: too many open streams or blocks on this connection")

// connBudgets counts, per connection, the streams it has open and the
// blocks they hold. A stream takes its share when opened and gives it back
// when its last chunk is handed out or its connection closes.
type connBudgets struct {
	maxStreams, maxBlocks int

	mu    sync.Mutex // guards conns and every connBudget's fields
	conns map[*netpoll.Client]*connBudget
}

type connBudget struct {
	client          *netpoll.Client
	streams, blocks int
}

func newConnBudgets(maxStreams, maxBlocks int) *connBudgets {
	return &connBudgets{maxStreams: maxStreams, maxBlocks: maxBlocks, conns: map[*netpoll.Client]*connBudget{}}
}

// acquire takes one stream of n blocks from c's budget.
func (cb *connBudgets) acquire(c *netpoll.Client, n int) (*connBudget, error) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	b := cb.conns[c]
	if b == nil {
		b = &connBudget{client: c}
	}
	if b.streams+1 > cb.maxStreams || b.blocks+n > cb.maxBlocks {
		return nil, fmt.Errorf("%w: %d streams holding %d blocks open, a new one of %d blocks "+
			"(spark.shuffle.service.ember.maxStreamsPerConnection=%d, maxBlocksPerConnection=%d)",
			ErrConnectionBudget, b.streams, b.blocks, n, cb.maxStreams, cb.maxBlocks)
	}
	b.streams++
	b.blocks += n
	cb.conns[c] = b
	return b, nil
}

// release gives back one stream of n blocks.
func (cb *connBudgets) release(b *connBudget, n int) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	b.streams--
	b.blocks -= n
	if b.streams == 0 && cb.conns[b.client] == b {
		delete(cb.conns, b.client)
	}
}

// open returns the streams and blocks c holds open.
func (cb *connBudgets) open(c *netpoll.Client) (streams, blocks int) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if b := cb.conns[c]; b != nil {
		return b.streams, b.blocks
	}
	return 0, 0
}

func (h *blockHandler) StreamManager() netpoll.StreamManager { return h.streams }

func (h *blockHandler) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	m, err := DecodeRequest(msg, h.maxBlocks)
	if err != nil {
		h.warn(c, "undecodable one-way shuffle message", "err", err)
		return
	}
	if _, ok := m.(*RemoveShuffleMerge); !ok {
		h.warn(c, "unexpected one-way shuffle message", "type", m.Type())
	}
}

func (h *blockHandler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	m, err := DecodeRequest(msg, h.maxBlocks)
	if err != nil {
		h.warn(c, "refused an undecodable shuffle request", "err", err)
		r.Fail(err)
		return
	}
	if app := appIDOf(m); app != "" {
		if id := c.ClientID(); id != "" && id != app {
			r.Fail(fmt.Errorf("%w: Client for %s not authorized for application %s.", ErrNotAuthorized, id, app))
			return
		}
	}
	switch m := m.(type) {
	case *OpenBlocks:
		h.openBlocks(c, m, r)
	case *FetchShuffleBlocks:
		h.fetchShuffleBlocks(c, m, r)
	case *RegisterExecutor:
		if err := h.res.register(AppExecID{m.AppID, m.ExecID}, m.Info); err != nil {
			h.warn(c, "refused an executor registration", "app", m.AppID, "exec", m.ExecID, "err", err)
			r.Fail(err)
			return
		}
		r.Reply([]byte{})
	case *RemoveBlocks:
		n, err := h.res.removeBlocks(m.AppID, m.ExecID, m.BlockIDs, func(msg string, args ...any) {
			h.warn(c, msg, args...)
		})
		if err != nil {
			r.Fail(err)
			return
		}
		r.Reply(Encode(&BlocksRemoved{NumRemovedBlocks: n}))
	case *GetLocalDirsForExecutors:
		out := &LocalDirsForExecutors{}
		for _, id := range m.ExecIDs {
			info, err := h.res.executor(m.AppID, id)
			if err != nil {
				r.Fail(err)
				return
			}
			out.ExecIDs = append(out.ExecIDs, id)
			out.NumLocalDirsByExec = append(out.NumLocalDirsByExec, int32(len(info.LocalDirs)))
			out.AllLocalDirs = append(out.AllLocalDirs, info.LocalDirs...)
		}
		r.Reply(Encode(out))
	case *DiagnoseCorruption:
		cause, err := h.res.diagnose(m)
		if err != nil {
			r.Fail(err)
			return
		}
		r.Reply(Encode(&CorruptionCause{Cause: cause}))
	case *FinalizeShuffleMerge, *FetchShuffleBlockChunks:
		r.Fail(fmt.Errorf("shuffle: push-based shuffle is not enabled on this service (%T)", m))
	default:
		r.Fail(fmt.Errorf("shuffle: Unexpected message: %T", m))
	}
}

func appIDOf(m Message) string {
	switch m := m.(type) {
	case *OpenBlocks:
		return m.AppID
	case *FetchShuffleBlocks:
		return m.AppID
	case *RegisterExecutor:
		return m.AppID
	case *RemoveBlocks:
		return m.AppID
	case *GetLocalDirsForExecutors:
		return m.AppID
	case *DiagnoseCorruption:
		return m.AppID
	case *FinalizeShuffleMerge:
		return m.AppID
	case *FetchShuffleBlockChunks:
		return m.AppID
	}
	return ""
}

// chunkKind says how a blockChunks stream finds chunk i.
type chunkKind uint8

const (
	chunksShuffle chunkKind = iota // map mapOf(i), reduce a[i]
	chunksBatch                    // map ids[i], reduces [a[i], b[i])
	chunksRDD                      // rdd a[i], split b[i]
)

// blockChunks is a stream whose chunks are resolved only when fetched, as
// Spark's ManagedBufferIterator does. It holds the request in compact
// arrays: at most 8 bytes per map id plus 8 per block (a shuffle fetch of
// one reduce id per map: 16 bytes per block; many reduce ids per map: 4).
type blockChunks struct {
	h             *blockHandler
	conn          *connBudget // released when the stream ends; nil: none
	appID, execID string
	shuffleID     int32
	kind          chunkKind
	n             int
	// ids: map ids. With starts (FetchShuffleBlocks), ids[k] covers chunks
	// starts[k] up to starts[k+1]; without, ids[i] is chunk i's map id.
	ids    []int64
	starts []int32
	a, b   []int32
	ended  atomic.Bool
}

func (b *blockChunks) NumChunks() int { return b.n }

// mapOf returns chunk i's map id.
func (b *blockChunks) mapOf(i int) int64 {
	if b.starts == nil {
		return b.ids[i]
	}
	k := sort.Search(len(b.starts), func(k int) bool { return int(b.starts[k]) > i }) - 1
	return b.ids[k]
}

func (b *blockChunks) Chunk(i int) (codec.ManagedBuffer, error) {
	if i == b.n-1 {
		b.end()
	}
	var buf codec.ManagedBuffer
	var err error
	switch b.kind {
	case chunksShuffle:
		buf, err = b.h.res.shuffleBlock(b.appID, b.execID, b.shuffleID, b.mapOf(i), b.a[i], b.a[i]+1)
	case chunksBatch:
		buf, err = b.h.res.shuffleBlock(b.appID, b.execID, b.shuffleID, b.ids[i], b.a[i], b.b[i])
	case chunksRDD:
		buf, err = b.h.res.rddBlock(b.appID, b.execID, BlockID{Kind: KindRDD, RDDID: b.a[i], SplitIdx: b.b[i]})
	}
	if err != nil {
		return nil, err
	}
	if buf == nil {
		return nil, errors.New("shuffle: Chunk was not found")
	}
	b.h.metrics.BlocksServed.Inc()
	b.h.metrics.BytesServed.Add(buf.Size())
	return buf, nil
}

// Discard ends the stream (its connection closed before the last chunk).
func (b *blockChunks) Discard(int) { b.end() }

// end returns the stream's share of its connection's budget, once.
func (b *blockChunks) end() {
	if b.ended.CompareAndSwap(false, true) && b.conn != nil {
		b.h.budgets.release(b.conn, b.n)
	}
}

// openBlocks serves the legacy fetch: the first id's kind decides.
func (h *blockHandler) openBlocks(c *netpoll.Client, m *OpenBlocks, r *netpoll.Responder) {
	if len(m.BlockIDs) == 0 {
		r.Fail(errors.New("shuffle: Zero-sized blockIds array"))
		return
	}
	first, err := ParseBlockID(m.BlockIDs[0])
	if err != nil {
		r.Fail(err)
		return
	}
	if first.Kind == KindShuffleChunk {
		r.Fail(fmt.Errorf("shuffle: push-based shuffle is not enabled on this service (merged block %s)", m.BlockIDs[0]))
		return
	}
	src, err := h.openBlocksChunks(m, first)
	if err != nil {
		r.Fail(err)
		return
	}
	h.openStream(c, src, r)
}

// openBlocksChunks builds the stream of an OpenBlocks whose first id
// parsed as first (a shuffle or RDD block).
func (h *blockHandler) openBlocksChunks(m *OpenBlocks, first BlockID) (*blockChunks, error) {
	n := len(m.BlockIDs)
	src := &blockChunks{h: h, appID: m.AppID, execID: m.ExecID, n: n, a: make([]int32, n)}
	if first.Kind == KindShuffle {
		src.kind, src.shuffleID, src.ids = chunksShuffle, first.ShuffleID, make([]int64, n)
	} else {
		src.kind, src.b = chunksRDD, make([]int32, n)
	}
	for i, id := range m.BlockIDs {
		b, err := ParseBlockID(id)
		if err != nil {
			return nil, err
		}
		switch {
		case first.Kind == KindShuffle && b.Kind == KindShuffle:
			if b.ShuffleID != first.ShuffleID {
				return nil, fmt.Errorf("shuffle: Expected shuffleId=%d, got: %s", first.ShuffleID, id)
			}
			src.ids[i], src.a[i] = b.MapID, b.ReduceID
		case first.Kind == KindRDD && b.Kind == KindRDD:
			src.a[i], src.b[i] = b.RDDID, b.SplitIdx
		default:
			return nil, fmt.Errorf("shuffle: Unexpected block id format: %s", id)
		}
	}
	return src, nil
}

// fetchShuffleBlocks serves FetchShuffleBlocks: chunk order is map by map,
// each map's reduce ids in order (or one batch range per map).
func (h *blockHandler) fetchShuffleBlocks(c *netpoll.Client, m *FetchShuffleBlocks, r *netpoll.Responder) {
	src, err := h.fetchChunks(m)
	if err != nil {
		r.Fail(err)
		return
	}
	h.openStream(c, src, r)
}

// fetchChunks builds the stream of a FetchShuffleBlocks. It keeps the
// message's map ids and copies its reduce ids into one array.
func (h *blockHandler) fetchChunks(m *FetchShuffleBlocks) (*blockChunks, error) {
	if len(m.MapIDs) != len(m.ReduceIDs) {
		return nil, fmt.Errorf("shuffle: %d map ids but %d reduce id lists", len(m.MapIDs), len(m.ReduceIDs))
	}
	src := &blockChunks{h: h, appID: m.AppID, execID: m.ExecID, shuffleID: m.ShuffleID, ids: m.MapIDs}
	if m.BatchFetchEnabled {
		n := len(m.MapIDs)
		src.kind, src.n, src.a, src.b = chunksBatch, n, make([]int32, n), make([]int32, n)
		for i, reduces := range m.ReduceIDs {
			if len(reduces) != 2 {
				return nil, fmt.Errorf("shuffle: batch fetch needs [start, end) reduce ids, got %v", reduces)
			}
			src.a[i], src.b[i] = reduces[0], reduces[1]
		}
		return src, nil
	}
	total := 0
	for _, reduces := range m.ReduceIDs {
		total += len(reduces)
	}
	if total > math.MaxInt32 || (h.maxBlocks > 0 && total > h.maxBlocks) {
		return nil, fmt.Errorf("%w: %d reduce ids (spark.shuffle.service.ember.maxBlocksPerRequest is %d)", ErrTooManyBlocks, total, h.maxBlocks)
	}
	src.kind, src.n = chunksShuffle, total
	src.starts, src.a = make([]int32, len(m.MapIDs)), make([]int32, 0, total)
	for i, reduces := range m.ReduceIDs {
		src.starts[i] = int32(len(src.a))
		src.a = append(src.a, reduces...)
	}
	return src, nil
}

func (h *blockHandler) openStream(c *netpoll.Client, src *blockChunks, r *netpoll.Responder) {
	if c != nil {
		b, err := h.budgets.acquire(c, src.n)
		if err != nil {
			h.warn(c, "refused a stream", "app", src.appID, "blocks", src.n, "err", err)
			r.Fail(err)
			return
		}
		src.conn = b
	}
	id := h.streams.RegisterStream(src.appID, src, c)
	h.metrics.StreamsOpened.Inc()
	r.Reply(Encode(&StreamHandle{StreamID: id, NumChunks: int32(src.n)}))
}
