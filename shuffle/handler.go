package shuffle

import (
	"errors"
	"fmt"

	"github.com/ember-rpc/ember/codec"
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
	res     *resolver
	streams *netpoll.OneForOneStreamManager
	metrics *Metrics
}

func (h *blockHandler) StreamManager() netpoll.StreamManager { return h.streams }

func (h *blockHandler) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	m, err := Decode(msg)
	if err != nil {
		h.res.log.Warn("undecodable one-way shuffle message", "remote", c.RemoteAddr(), "err", err)
		return
	}
	if _, ok := m.(*RemoveShuffleMerge); !ok {
		h.res.log.Warn("unexpected one-way shuffle message", "type", m.Type(), "remote", c.RemoteAddr())
	}
}

func (h *blockHandler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	m, err := Decode(msg)
	if err != nil {
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
			r.Fail(err)
			return
		}
		r.Reply([]byte{})
	case *RemoveBlocks:
		n, err := h.res.removeBlocks(m.AppID, m.ExecID, m.BlockIDs)
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

// blockChunks is a stream whose chunks are looked up only when fetched.
type blockChunks struct {
	h      *blockHandler
	lookup []func() (codec.ManagedBuffer, error)
}

func (b *blockChunks) NumChunks() int { return len(b.lookup) }

func (b *blockChunks) Chunk(i int) (codec.ManagedBuffer, error) {
	buf, err := b.lookup[i]()
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

func (b *blockChunks) Discard(int) {}

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
	src := &blockChunks{h: h}
	for _, id := range m.BlockIDs {
		b, err := ParseBlockID(id)
		if err != nil {
			r.Fail(err)
			return
		}
		switch {
		case first.Kind == KindShuffle && b.Kind == KindShuffle:
			if b.ShuffleID != first.ShuffleID {
				r.Fail(fmt.Errorf("shuffle: Expected shuffleId=%d, got: %s", first.ShuffleID, id))
				return
			}
			src.lookup = append(src.lookup, func() (codec.ManagedBuffer, error) {
				return h.res.shuffleBlock(m.AppID, m.ExecID, b.ShuffleID, b.MapID, b.ReduceID, b.ReduceID+1)
			})
		case first.Kind == KindRDD && b.Kind == KindRDD:
			src.lookup = append(src.lookup, func() (codec.ManagedBuffer, error) {
				return h.res.rddBlock(m.AppID, m.ExecID, b)
			})
		default:
			r.Fail(fmt.Errorf("shuffle: Unexpected block id format: %s", id))
			return
		}
	}
	h.openStream(c, m.AppID, src, r)
}

// fetchShuffleBlocks serves FetchShuffleBlocks: chunk order is map by map,
// each map's reduce ids in order (or one batch range per map).
func (h *blockHandler) fetchShuffleBlocks(c *netpoll.Client, m *FetchShuffleBlocks, r *netpoll.Responder) {
	if len(m.MapIDs) != len(m.ReduceIDs) {
		r.Fail(fmt.Errorf("shuffle: %d map ids but %d reduce id lists", len(m.MapIDs), len(m.ReduceIDs)))
		return
	}
	src := &blockChunks{h: h}
	for i, mapID := range m.MapIDs {
		mapID, reduces := mapID, m.ReduceIDs[i]
		if m.BatchFetchEnabled {
			if len(reduces) != 2 {
				r.Fail(fmt.Errorf("shuffle: batch fetch needs [start, end) reduce ids, got %v", reduces))
				return
			}
			start, end := reduces[0], reduces[1]
			src.lookup = append(src.lookup, func() (codec.ManagedBuffer, error) {
				return h.res.shuffleBlock(m.AppID, m.ExecID, m.ShuffleID, mapID, start, end)
			})
			continue
		}
		for _, red := range reduces {
			red := red
			src.lookup = append(src.lookup, func() (codec.ManagedBuffer, error) {
				return h.res.shuffleBlock(m.AppID, m.ExecID, m.ShuffleID, mapID, red, red+1)
			})
		}
	}
	h.openStream(c, m.AppID, src, r)
}

func (h *blockHandler) openStream(c *netpoll.Client, appID string, src *blockChunks, r *netpoll.Responder) {
	id := h.streams.RegisterStream(appID, src, c)
	h.metrics.StreamsOpened.Inc()
	r.Reply(Encode(&StreamHandle{StreamID: id, NumChunks: int32(len(src.lookup))}))
}
