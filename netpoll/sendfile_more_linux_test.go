package netpoll

import (
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileChunkHeaderCoalesced: a chunk sent from a file leaves in one TCP
// segment with its frame header (the header is written with MSG_MORE), not
// as a 21-byte segment followed by the body. Counted with the server
// socket's tcpi_data_segs_out over 100 small chunks fetched one at a time:
// without MSG_MORE it is two segments a chunk.
func TestFileChunkHeaderCoalesced(t *testing.T) {
	const chunks, size = 100, 1000
	data := randBytes(chunks*size, 41)
	path := writeTempFile(t, data)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			sm := NewOneForOneStreamManager()
			var server atomic.Pointer[Client]
			h := &testHandler{sm: sm, receive: func(c *Client, msg []byte, r *Responder) {
				server.Store(c)
				r.Reply(nil)
			}}
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)
			if _, err := c.SendRpcSync([]byte("who"), safetyWait); err != nil {
				t.Fatal(err)
			}
			s, ok := server.Load().raw.(*sock)
			if !ok {
				t.Fatalf("server connection is a %T, not a plain socket", server.Load().raw)
			}
			var src BufferChunks
			for i := range chunks {
				src = append(src, fileSegment(t, path, int64(i*size), size))
			}
			sid := sm.RegisterStream("app", src, nil)
			before := dataSegsOut(t, s)
			cb := newChunks()
			for i := range chunks {
				c.FetchChunk(sid, int32(i), cb)
				if r := cb.wait(t); r.err != nil || len(r.data) != size {
					t.Fatalf("chunk %d: %d bytes, %v", i, len(r.data), r.err)
				}
			}
			segs := dataSegsOut(t, s) - before
			if segs > chunks+chunks/10 {
				t.Fatalf("%d chunks left in %d data segments: headers went out on their own", chunks, segs)
			}
		})
	}
}

func dataSegsOut(t *testing.T, s *sock) uint32 {
	t.Helper()
	var info *unix.TCPInfo
	var gerr error
	if err := s.rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return info.Data_segs_out
}
