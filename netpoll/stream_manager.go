package netpoll

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/ember-rpc/ember/codec"
	"go.uber.org/atomic"
)

// ChunkSource yields the chunks of one registered stream, in order. Chunks
// are built only when asked for, so a stream can describe blocks that are
// looked up at fetch time.
type ChunkSource interface {
	// NumChunks is the number of chunks in the stream.
	NumChunks() int
	// Chunk returns chunk i; it is called at most once per i, in order.
	Chunk(i int) (codec.ManagedBuffer, error)
	// Discard frees whatever chunks next.. hold; it is called once if the
	// stream ends before every chunk was handed out.
	Discard(next int)
}

// BufferChunks is a ChunkSource over buffers built in advance; unsent ones
// are released by Discard.
type BufferChunks []codec.ManagedBuffer

// NumChunks implements ChunkSource.
func (b BufferChunks) NumChunks() int { return len(b) }

// Chunk implements ChunkSource.
func (b BufferChunks) Chunk(i int) (codec.ManagedBuffer, error) { return b[i], nil }

// Discard implements ChunkSource.
func (b BufferChunks) Discard(next int) {
	for _, buf := range b[next:] {
		if buf != nil {
			buf.Release()
		}
	}
}

// ErrStreamAuthorization: an authenticated client asked for a stream that
// belongs to another application.
var ErrStreamAuthorization = errors.New("netpoll: client not authorized for stream")

// OneForOneStreamManager serves streams whose chunks are fetched one by
// one, in order, each once (Spark's OneForOneStreamManager). A stream is
// tied to the connection it was registered for and freed when that
// connection closes or its last chunk is handed out.
type OneForOneStreamManager struct {
	nextID atomic.Int64
	// inFlight counts chunks and streams queued or being sent.
	inFlight atomic.Int64

	mu      sync.Mutex // guards streams
	streams map[int64]*streamState
}

type streamState struct {
	appID  string
	client *Client
	src    ChunkSource
	n      int
	next   int // the next chunk index expected
}

// NewOneForOneStreamManager returns an empty manager. Stream ids start at a
// random multiple of 1000, as Spark's do.
func NewOneForOneStreamManager() *OneForOneStreamManager {
	m := &OneForOneStreamManager{streams: make(map[int64]*streamState)}
	m.nextID.Store(rand.Int64N(1<<31-1) * 1000)
	return m
}

// RegisterStream registers src for appID, tied to connection c (which may
// be nil: the stream then lives until fully read or removed), and returns
// its stream id.
func (m *OneForOneStreamManager) RegisterStream(appID string, src ChunkSource, c *Client) int64 {
	id := m.nextID.Inc()
	m.mu.Lock()
	m.streams[id] = &streamState{appID: appID, client: c, src: src, n: src.NumChunks()}
	m.mu.Unlock()
	if c != nil && !c.IsActive() {
		// The connection went away while we registered: free it now.
		m.ConnectionTerminated(c)
	}
	return id
}

// NumStreams returns the number of registered streams.
func (m *OneForOneStreamManager) NumStreams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}

// GetChunk implements StreamManager.
func (m *OneForOneStreamManager) GetChunk(streamID int64, chunkIndex int32) (codec.ManagedBuffer, error) {
	m.mu.Lock()
	st := m.streams[streamID]
	if st == nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("Requested chunk not available since streamId %d is closed", streamID)
	}
	if int(chunkIndex) != st.next {
		m.mu.Unlock()
		return nil, fmt.Errorf("Received out-of-order chunk index %d (expected %d)", chunkIndex, st.next)
	}
	if int(chunkIndex) >= st.n {
		m.mu.Unlock()
		return nil, fmt.Errorf("Requested chunk index beyond end %d", chunkIndex)
	}
	st.next++
	if st.next == st.n {
		delete(m.streams, streamID)
	}
	m.mu.Unlock()
	return st.src.Chunk(int(chunkIndex))
}

// OpenStream implements StreamManager for names "<streamId>_<chunkIndex>":
// such a chunk is served like GetChunk (used to fetch large blocks to disk).
func (m *OneForOneStreamManager) OpenStream(streamChunkID string) (codec.ManagedBuffer, error) {
	id, err := ParseStreamChunkID(streamChunkID)
	if err != nil {
		return nil, err
	}
	return m.GetChunk(id.StreamID, id.ChunkIndex)
}

// CheckAuthorization implements StreamAuthorizer: an authenticated client
// may read only its own application's streams.
func (m *OneForOneStreamManager) CheckAuthorization(c *Client, streamID int64) error {
	id := c.ClientID()
	if id == "" {
		return nil
	}
	m.mu.Lock()
	st := m.streams[streamID]
	m.mu.Unlock()
	if st == nil {
		return fmt.Errorf("Unknown stream ID %d", streamID)
	}
	if st.appID != id {
		return fmt.Errorf("%w: client %s is not authorized to read stream %d (application %s)",
			ErrStreamAuthorization, id, streamID, st.appID)
	}
	return nil
}

// ConnectionTerminated implements StreamManager: the connection's streams
// are removed and their unsent chunks freed (even if freeing one fails).
func (m *OneForOneStreamManager) ConnectionTerminated(c *Client) {
	var dead []*streamState
	m.mu.Lock()
	for id, st := range m.streams {
		if st.client == c {
			delete(m.streams, id)
			dead = append(dead, st)
		}
	}
	m.mu.Unlock()
	for _, st := range dead {
		func() {
			defer func() { _ = recover() }()
			st.src.Discard(st.next)
		}()
	}
}

// ChunkBeingSent implements TransferTracker.
func (m *OneForOneStreamManager) ChunkBeingSent(int64) { m.inFlight.Inc() }

// ChunkSent implements TransferTracker.
func (m *OneForOneStreamManager) ChunkSent(int64) { m.inFlight.Dec() }

// StreamBeingSent implements TransferTracker.
func (m *OneForOneStreamManager) StreamBeingSent(string) { m.inFlight.Inc() }

// StreamSent implements TransferTracker.
func (m *OneForOneStreamManager) StreamSent(string) { m.inFlight.Dec() }

// ChunksBeingTransferred implements TransferTracker.
func (m *OneForOneStreamManager) ChunksBeingTransferred() int64 { return m.inFlight.Load() }
