package netpoll

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

type streamCollector struct {
	buf  bytes.Buffer
	done chan error
}

func (s *streamCollector) OnData(_ string, p []byte) error { s.buf.Write(p); return nil }
func (s *streamCollector) OnComplete(string) error         { s.done <- nil; return nil }
func (s *streamCollector) OnFailure(_ string, err error)   { s.done <- err }

type namedStreams struct {
	*OneForOneStreamManager
	files map[string]codec.ManagedBuffer
}

func (n *namedStreams) OpenStream(id string) (codec.ManagedBuffer, error) {
	if b, ok := n.files[id]; ok {
		return b.Retain(), nil
	}
	return nil, nil
}

func TestSmoke(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			data := make([]byte, 3<<20+17)
			for i := range data {
				data[i] = byte(rand.IntN(256))
			}
			path := writeTempFile(t, data)
			fs, err := codec.NewFileSegment(path, 0, int64(len(data)), codec.DefaultFileOptions)
			if err != nil {
				t.Fatal(err)
			}
			sm := &namedStreams{NewOneForOneStreamManager(), map[string]codec.ManagedBuffer{"file": fs}}
			defer fs.Release()
			h := newEchoHandler(sm)
			e := newEnv(t, testConf(t, mode), h)
			c := e.client(t)

			resp, err := c.SendRpcSync([]byte("hello"), 10*time.Second)
			if err != nil || string(resp) != "hello" {
				t.Fatalf("rpc: %q %v", resp, err)
			}

			// A file-backed chunk, sent with sendfile.
			seg, _ := codec.NewFileSegment(path, 1000, 2<<20, codec.DefaultFileOptions)
			sid := sm.RegisterStream("app", BufferChunks{seg}, nil)
			got := make(chan []byte, 1)
			c.FetchChunk(sid, 0, ChunkFunc{
				Success: func(_ int32, b []byte) { got <- append([]byte(nil), b...) },
				Failure: func(_ int32, err error) { t.Error(err); got <- nil },
			})
			if b := <-got; !bytes.Equal(b, data[1000:1000+2<<20]) {
				t.Fatalf("chunk mismatch: %d bytes", len(b))
			}

			sc := &streamCollector{done: make(chan error, 1)}
			c.Stream("file", sc)
			if err := <-sc.done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sc.buf.Bytes(), data) {
				t.Fatalf("stream mismatch: %d bytes", sc.buf.Len())
			}

			if err := c.Send([]byte("one-way")); err != nil {
				t.Fatal(err)
			}
			<-h.got
		})
	}
}
