package netpoll

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// fuzzConn is a socket that yields fixed bytes in pieces and discards
// what is written.
type fuzzConn struct {
	data  []byte
	piece int
}

func (f *fuzzConn) read(p []byte, block bool) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), f.piece, len(f.data))
	copy(p, f.data[:n])
	f.data = f.data[n:]
	return n, nil
}
func (f *fuzzConn) nonBlocking() bool { return true }
func (f *fuzzConn) writevNB(bufs [][]byte) (int64, error) {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n, nil
}
func (f *fuzzConn) sendFileNB(_ *os.File, _, n int64) (int64, error) { return n, nil }
func (f *fuzzConn) writev([][]byte) error                            { return nil }
func (f *fuzzConn) sendFile(*os.File, int64, int64) error            { return nil }
func (f *fuzzConn) close() error                                     { return nil }
func (f *fuzzConn) remoteAddr() net.Addr                             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fuzzConn) localAddr() net.Addr                              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

// FuzzReadPass feeds arbitrary bytes, in arbitrary pieces, through the one
// read loop (framing, large frames, interceptors, dispatch, the
// pre-authentication cap): it must end with a clear error or EOF, never a
// panic or a hang.
func FuzzReadPass(f *testing.F) {
	mk := func(m *codec.Message, body []byte) []byte {
		b, _ := codec.AppendHeader(nil, m, int64(len(body)))
		return append(b, body...)
	}
	f.Add(mk(&codec.Message{Type: codec.TypeRpcRequest, RequestID: 7}, []byte("hello")), 3, false)
	f.Add(append(mk(&codec.Message{Type: codec.TypeOneWayMessage}, make([]byte, 70000)),
		mk(&codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, nil)...), 4096, false)
	f.Add(mk(&codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, make([]byte, 20000)), 1000, true)
	f.Add(mk(&codec.Message{Type: codec.TypeUploadStream, RequestID: 2, Meta: []byte("m")}, []byte("body")), 2, false)
	f.Add(mk(&codec.Message{Type: codec.TypeStreamResponse, Stream: "s", ByteCount: 5}, nil), 1, false)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3}, 9, false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 9}, 8, true)
	conf := DefaultConf("fuzz")
	conf.ConnectionTimeout = 0
	conf.MaxOutstandingRequests = 0
	conf.MaxFrameLength = 1 << 20 // large frames, without allocating gigabytes
	f.Fuzz(func(t *testing.T, data []byte, piece int, preAuth bool) {
		if piece <= 0 || piece > 1<<20 {
			piece = 1 + (piece&0xffff+0xffff)%4096
		}
		ctx := NewContext(conf, &testHandler{})
		defer ctx.Close()
		c := newClient(ctx, &fuzzConn{data: data, piece: piece}, ctx.handler, nil)
		if preAuth {
			(&Setup{c}).RequireAuthentication()
		}
		for i := 0; i < len(data)+2; i++ {
			if c.readPass(false) == passEnded {
				break
			}
		}
		c.Close()
		c.readerClosed(ErrClosed)
		if c.Err() == nil {
			t.Fatal("connection not torn down")
		}
	})
}
