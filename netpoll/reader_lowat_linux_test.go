package netpoll

import (
	"bytes"
	"testing"

	"github.com/ember-rpc/ember/codec"
	"golang.org/x/sys/unix"
)

// rcvLowatOf reads the SO_RCVLOWAT of a plain TCP client's socket.
func rcvLowatOf(t *testing.T, c *Client) int {
	t.Helper()
	s, ok := c.raw.(*sock)
	if !ok {
		t.Fatalf("client socket is %T, want *sock", c.raw)
	}
	v := -1
	var gerr error
	if err := s.control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// A large frame raises SO_RCVLOWAT while it is received, never above
// the bytes it still lacks (else its last bytes would never be read), and
// the default comes back once it is whole. The frame arrives in three
// pieces; each step waits for the socket option the reader must have set.
func TestLargeFrameRcvLowat(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			peer := newFakePeer(t)
			c, _ := clientTo(t, testConf(t, mode), newEchoHandler(nil), peer.port())
			chunks := newChunks()
			c.FetchChunk(7, 0, chunks)
			req := peer.next()
			if req.Type != codec.TypeChunkFetchRequest {
				t.Fatalf("peer got %v, want a chunk fetch request", req.Type)
			}
			body := randBytes(1<<20, 11)
			f := frame(t, &codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: req.Chunk}, body)
			const tail = 10
			first := 100 << 10

			peer.write(f[:first])
			waitFor(t, "SO_RCVLOWAT raised for the rest of the frame", func() bool { return rcvLowatOf(t, c) == lowatCap })

			peer.write(f[first : len(f)-tail])
			waitFor(t, "SO_RCVLOWAT lowered to the last bytes", func() bool { return rcvLowatOf(t, c) == tail })

			peer.write(f[len(f)-tail:])
			got := chunks.wait(t)
			if got.err != nil || !bytes.Equal(got.data, body) {
				t.Fatalf("chunk: err %v, %d bytes (want %d, equal %v)", got.err, len(got.data), len(body), bytes.Equal(got.data, body))
			}
			waitFor(t, "SO_RCVLOWAT back to the default", func() bool { return rcvLowatOf(t, c) == 1 })

			// A small answer after it is read at once.
			rpc := newRPC()
			c.SendRpc([]byte("x"), rpc)
			r := peer.next()
			peer.send(&codec.Message{Type: codec.TypeRpcResponse, RequestID: r.RequestID}, []byte("ok"))
			if b := rpc.waitOK(t); string(b) != "ok" {
				t.Fatalf("rpc answer %q", b)
			}
		})
	}
}

// Frames that follow a large frame in the same read land in the pass
// buffer (readv) and are handled in order: two large chunks and a small
// answer written at once arrive whole.
func TestLargeFrameSpill(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			peer := newFakePeer(t)
			c, _ := clientTo(t, testConf(t, mode), newEchoHandler(nil), peer.port())
			chunks := newChunks()
			c.FetchChunk(7, 0, chunks)
			c.FetchChunk(7, 1, chunks)
			rpc := newRPC()
			c.SendRpc([]byte("x"), rpc)
			var out []byte
			bodies := [][]byte{randBytes(100<<10, 1), randBytes(70<<10, 2)}
			var rpcID int64
			for range 3 {
				m := peer.next()
				switch m.Type {
				case codec.TypeChunkFetchRequest:
					out = append(out, frame(t, &codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: m.Chunk}, bodies[m.Chunk.ChunkIndex])...)
				case codec.TypeRpcRequest:
					rpcID = m.RequestID
				}
			}
			out = append(out, frame(t, &codec.Message{Type: codec.TypeRpcResponse, RequestID: rpcID}, []byte("ok"))...)
			peer.write(out)
			got := chunks.waitN(t, 2)
			for i, b := range bodies {
				if r := got[int32(i)]; r.err != nil || !bytes.Equal(r.data, b) {
					t.Fatalf("chunk %d: err %v, %d bytes, want %d", i, r.err, len(r.data), len(b))
				}
			}
			if b := rpc.waitOK(t); string(b) != "ok" {
				t.Fatalf("rpc answer %q", b)
			}
		})
	}
}
