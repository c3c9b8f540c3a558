package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// OneForOneStreamManagerSuite, and ParseStreamChunkID.

func countingChunks(n int) ([]*countingBuffer, BufferChunks) {
	bufs := make([]*countingBuffer, n)
	src := make(BufferChunks, n)
	for i := range bufs {
		bufs[i] = newCounting([]byte(fmt.Sprintf("chunk %d", i)))
		src[i] = bufs[i]
	}
	return bufs, src
}

func releases(bufs []*countingBuffer) []int32 {
	out := make([]int32, len(bufs))
	for i, b := range bufs {
		out[i] = b.releases.Load()
	}
	return out
}

func TestStreamManagerChunkRules(t *testing.T) {
	m := NewOneForOneStreamManager()
	conn := &Client{} // a stand-in connection: open, never used for I/O
	_, src := countingChunks(3)
	sid := m.RegisterStream("app", src, conn)
	if next := m.RegisterStream("app", BufferChunks{}, nil); next != sid+1 {
		t.Fatalf("stream ids do not count up: %d then %d", sid, next)
	}

	if _, err := m.GetChunk(sid+12345, 0); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("streamId %d is closed", sid+12345)) {
		t.Fatalf("unknown stream: %v", err)
	}
	if _, err := m.GetChunk(sid, 1); err == nil || !strings.Contains(err.Error(), "Received out-of-order chunk index 1 (expected 0)") {
		t.Fatalf("out of order: %v", err)
	}
	for i := range 3 {
		b, err := m.GetChunk(sid, int32(i))
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if got, _ := b.Bytes(); string(got) != fmt.Sprintf("chunk %d", i) {
			t.Fatalf("chunk %d is %q", i, got)
		}
		// A chunk is served once.
		if _, err := m.GetChunk(sid, int32(i)); err == nil {
			t.Fatalf("chunk %d served twice", i)
		}
	}
	if _, err := m.GetChunk(sid, 3); err == nil || !strings.Contains(err.Error(), "is closed") {
		t.Fatalf("a fully read stream must be gone: %v", err)
	}
	empty := m.RegisterStream("app", BufferChunks{}, conn)
	if _, err := m.GetChunk(empty, 0); err == nil || !strings.Contains(err.Error(), "Requested chunk index beyond end 0") {
		t.Fatalf("beyond end: %v", err)
	}
}

// TestStreamManagerMissingChunk: Spark's testMissingChunk: a chunk the
// source cannot give (nil) is not a buffer, later chunks are still served,
// and the connection's end frees what was not handed out.
func TestStreamManagerMissingChunk(t *testing.T) {
	m := NewOneForOneStreamManager()
	conn := &Client{}
	b1, b2, b3 := newCounting([]byte("1")), newCounting([]byte("2")), newCounting([]byte("3"))
	sid := m.RegisterStream("appId", BufferChunks{b1, nil, b2, nil, b3}, conn)
	if m.NumStreams() != 1 {
		t.Fatalf("%d streams", m.NumStreams())
	}
	if b, err := m.GetChunk(sid, 0); err != nil || b != codec.ManagedBuffer(b1) {
		t.Fatalf("chunk 0: %v %v", b, err)
	}
	if b, _ := m.GetChunk(sid, 1); b != nil {
		t.Fatalf("chunk 1 should be missing, got %v", b)
	}
	if b, err := m.GetChunk(sid, 2); err != nil || b != codec.ManagedBuffer(b2) {
		t.Fatalf("chunk 2: %v %v", b, err)
	}
	m.ConnectionTerminated(conn)
	if m.NumStreams() != 0 {
		t.Fatal("stream survived its connection")
	}
	// Handed-out chunks belong to their takers; the unsent one is freed.
	if got := releases([]*countingBuffer{b1, b2, b3}); got[0] != 0 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("releases %v, want [0 0 1]", got)
	}
}

func TestStreamManagerFreesBuffersOnConnectionClose(t *testing.T) {
	m := NewOneForOneStreamManager()
	conn := &Client{}
	bufs, src := countingChunks(2)
	m.RegisterStream("appId", src, conn)
	m.ConnectionTerminated(conn)
	if got := releases(bufs); got[0] != 1 || got[1] != 1 {
		t.Fatalf("releases %v, want each buffer released once", got)
	}
	if m.NumStreams() != 0 {
		t.Fatal("stream state not freed")
	}
	// Registering for a connection that is already gone frees at once.
	closed := &Client{}
	closed.closed.Store(true)
	bufs, src = countingChunks(2)
	m.RegisterStream("appId", src, closed)
	if got := releases(bufs); got[0] != 1 || got[1] != 1 || m.NumStreams() != 0 {
		t.Fatalf("stream of a closed connection kept: releases %v, %d streams", got, m.NumStreams())
	}
}

type panickingSource struct{ discards int }

func (p *panickingSource) NumChunks() int                         { return 3 }
func (p *panickingSource) Chunk(int) (codec.ManagedBuffer, error) { return nil, errors.New("no") }
func (p *panickingSource) Discard(int)                            { p.discards++; panic("cannot free") }

// TestStreamManagerFreesStateEvenIfDiscardPanics: Spark's
// streamStatesAreFreedWhenConnectionIsClosedEvenIfBufferIteratorThrowsException.
func TestStreamManagerFreesStateEvenIfDiscardPanics(t *testing.T) {
	m := NewOneForOneStreamManager()
	conn := &Client{}
	bad1, bad2 := &panickingSource{}, &panickingSource{}
	bufs, good := countingChunks(2)
	m.RegisterStream("appId", bad1, conn)
	m.RegisterStream("appId", good, conn)
	m.RegisterStream("appId", bad2, conn)
	if m.NumStreams() != 3 {
		t.Fatalf("%d streams", m.NumStreams())
	}
	m.ConnectionTerminated(conn) // must not panic
	if m.NumStreams() != 0 {
		t.Fatalf("%d stream states left", m.NumStreams())
	}
	if bad1.discards != 1 || bad2.discards != 1 {
		t.Fatalf("Discard called %d / %d times", bad1.discards, bad2.discards)
	}
	if got := releases(bufs); got[0] != 1 || got[1] != 1 {
		t.Fatalf("the good stream's buffers: releases %v", got)
	}
}

// TestStreamManagerOnlyClosedChannelsStreams: Spark's
// streamStatesAreFreeOrNotWhenConnectionIsClosed.
func TestStreamManagerOnlyClosedChannelsStreams(t *testing.T) {
	m := NewOneForOneStreamManager()
	c1, c2 := &Client{}, &Client{}
	b1, s1 := countingChunks(2)
	b2, s2 := countingChunks(2)
	id1 := m.RegisterStream("a1", s1, c1)
	id2 := m.RegisterStream("a2", s2, c2)
	unowned := m.RegisterStream("a3", BufferChunks{codec.NewBytes([]byte("x"))}, nil)
	m.ConnectionTerminated(c1)
	if m.NumStreams() != 2 {
		t.Fatalf("%d streams left, want 2", m.NumStreams())
	}
	if got := releases(b1); got[0] != 1 || got[1] != 1 {
		t.Fatalf("closed channel's buffers: %v", got)
	}
	if got := releases(b2); got[0] != 0 || got[1] != 0 {
		t.Fatalf("other channel's buffers released: %v", got)
	}
	if _, err := m.GetChunk(id1, 0); err == nil {
		t.Fatal("the closed channel's stream is still served")
	}
	if _, err := m.GetChunk(id2, 0); err != nil {
		t.Fatalf("the other channel's stream: %v", err)
	}
	if _, err := m.GetChunk(unowned, 0); err != nil {
		t.Fatalf("a stream without channel: %v", err)
	}
}

func TestStreamManagerCheckAuthorization(t *testing.T) {
	m := NewOneForOneStreamManager()
	c := &Client{}
	sid := m.RegisterStream("app-1", BufferChunks{codec.NewBytes(nil)}, nil)
	// Not authenticated: no check.
	if err := m.CheckAuthorization(c, sid); err != nil {
		t.Fatalf("unauthenticated client: %v", err)
	}
	(&Setup{c}).SetClientID("app-1")
	if c.ClientID() != "app-1" {
		t.Fatalf("ClientID = %q", c.ClientID())
	}
	if err := m.CheckAuthorization(c, sid); err != nil {
		t.Fatalf("owner refused: %v", err)
	}
	(&Setup{c}).SetClientID("app-2")
	err := m.CheckAuthorization(c, sid)
	if !errors.Is(err, ErrStreamAuthorization) {
		t.Fatalf("other application: %v", err)
	}
	mustContain(t, err, "app-2", "app-1")
	if err := m.CheckAuthorization(c, sid+99); err == nil || errors.Is(err, ErrStreamAuthorization) {
		t.Fatalf("unknown stream: %v", err)
	}
}

// TestStreamManagerTransferCount: the in-flight counter follows the
// TransferTracker calls.
func TestStreamManagerTransferCount(t *testing.T) {
	m := NewOneForOneStreamManager()
	m.ChunkBeingSent(1)
	m.StreamBeingSent("1_0")
	m.ChunkBeingSent(2)
	if n := m.ChunksBeingTransferred(); n != 3 {
		t.Fatalf("%d in flight, want 3", n)
	}
	m.ChunkSent(1)
	m.StreamSent("1_0")
	if n := m.ChunksBeingTransferred(); n != 1 {
		t.Fatalf("%d in flight, want 1", n)
	}
}

func TestParseStreamChunkID(t *testing.T) {
	good := map[string]codec.StreamChunkID{
		"123_4":                          {StreamID: 123, ChunkIndex: 4},
		"0_0":                            {},
		"9223372036854775807_2147483647": {StreamID: math.MaxInt64, ChunkIndex: math.MaxInt32},
	}
	for s, want := range good {
		if got, err := ParseStreamChunkID(s); err != nil || got != want {
			t.Errorf("ParseStreamChunkID(%q) = %+v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "123", "_", "1_", "_1", "1_2_3", "a_1", "1_b", "1_2147483648", "9223372036854775808_1", "1.5_2", " 1_2"} {
		if _, err := ParseStreamChunkID(s); err == nil {
			t.Errorf("ParseStreamChunkID(%q) accepted", s)
		}
	}
}

// TestStreamManagerFreesOnRealClose: over the network, the streams a
// handler registers for a connection are freed when that connection closes
// (sent chunks by the transport, unsent ones by the manager), and only
// those.
func TestStreamManagerFreesOnRealClose(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			type reg struct{ bufs []*countingBuffer }
			regs := make(chan reg, 4)
			h := &testHandler{sm: sm, receive: func(c *Client, msg []byte, r *Responder) {
				bufs, src := countingChunks(3)
				regs <- reg{bufs}
				sid := sm.RegisterStream(string(msg), src, c)
				r.Reply(binary.BigEndian.AppendUint64(nil, uint64(sid)))
			}}
			e := newEnv(t, testConf(t, mode), h)
			c1 := e.client(t)
			c2, err := e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c2.Close() })
			open := func(c *Client) (int64, []*countingBuffer) {
				resp, err := c.SendRpcSync([]byte("app"), safetyWait)
				if err != nil {
					t.Fatal(err)
				}
				return int64(binary.BigEndian.Uint64(resp)), recv(t, regs, "registration").bufs
			}
			sid1, bufs1 := open(c1)
			_, bufs2 := open(c2)
			cb := newChunks()
			c1.FetchChunk(sid1, 0, cb)
			if r := cb.wait(t); r.err != nil || string(r.data) != "chunk 0" {
				t.Fatalf("chunk 0: %q %v", r.data, r.err)
			}
			if sm.NumStreams() != 2 {
				t.Fatalf("%d streams", sm.NumStreams())
			}
			c1.Close()
			waitFor(t, "the closed connection's buffers to be freed", func() bool {
				got := releases(bufs1)
				return got[0] == 1 && got[1] == 1 && got[2] == 1
			})
			waitFor(t, "the closed connection's stream to go", func() bool { return sm.NumStreams() == 1 })
			if got := releases(bufs2); got[0]+got[1]+got[2] != 0 {
				t.Fatalf("the open connection's buffers were released: %v", got)
			}
		})
	}
}
