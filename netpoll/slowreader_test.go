package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// A peer that reads, but slowly: a few KiB per read, one read per tick.
// It aims asks and chunk fetches at a server whose answers come from one
// shared goroutine (an endpoint's message loop) and the chunk-fetch
// workers, while a legitimate client on the same server asks throughout.
// Asserted by events only: every legitimate ask is answered while the
// slow peer is being served; a slow peer that keeps reading gets every
// answer, in order, none lost; one that stalls is closed with one log
// line naming it and the key.

const (
	slowAsks      = 200
	slowChunks    = 40
	slowReplySize = 8 << 10
	slowChunkSize = 32 << 10
	slowReadSize  = 4 << 10
)

// idReplier answers every RPC from one shared goroutine, as an
// endpoint's message loop does, with slowReplySize bytes starting with
// the request id; it serves chunks from indexChunks.
type idReplier struct {
	ch   chan *Responder
	done chan struct{}
	wg   sync.WaitGroup
}

func newIDReplier() *idReplier {
	h := &idReplier{ch: make(chan *Responder, 1<<16), done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case r := <-h.ch:
				b := make([]byte, slowReplySize)
				binary.BigEndian.PutUint64(b, uint64(r.RequestID()))
				r.Reply(b)
			case <-h.done:
				return
			}
		}
	}()
	return h
}

func (h *idReplier) stop() { close(h.done); h.wg.Wait() }

func (h *idReplier) Receive(c *Client, msg []byte, r *Responder) { h.ch <- r }
func (h *idReplier) ReceiveOneWay(*Client, []byte)               {}
func (h *idReplier) StreamManager() StreamManager                { return indexChunks{} }

// indexChunks serves chunk i of any stream as slowChunkSize bytes of
// byte(i).
type indexChunks struct{}

func (indexChunks) GetChunk(_ int64, idx int32) (codec.ManagedBuffer, error) {
	return codec.NewBytes(bytes.Repeat([]byte{byte(idx)}, slowChunkSize)), nil
}
func (indexChunks) OpenStream(string) (codec.ManagedBuffer, error) { return nil, nil }
func (indexChunks) ConnectionTerminated(*Client)                   {}

// tickReader reads at most slowReadSize bytes per tick; stallAfter > 0
// stops reading (blocks until stop) once that many bytes were read.
type tickReader struct {
	conn       net.Conn
	tick       *time.Ticker
	read       int
	stallAfter int
	stop       chan struct{}
}

func (r *tickReader) Read(p []byte) (int, error) {
	if r.stallAfter > 0 && r.read >= r.stallAfter {
		<-r.stop
		return 0, io.EOF
	}
	select {
	case <-r.tick.C:
	case <-r.stop:
		return 0, io.EOF
	}
	if len(p) > slowReadSize {
		p = p[:slowReadSize]
	}
	n, err := r.conn.Read(p)
	r.read += n
	return n, err
}

// slowRequests is the slow peer's burst: asks and chunk fetches,
// interleaved.
func slowRequests(t *testing.T) []byte {
	var b []byte
	for i := range slowAsks {
		b = append(b, frame(t, &codec.Message{Type: codec.TypeRpcRequest, RequestID: int64(i)}, []byte("ask"))...)
		if i%(slowAsks/slowChunks) == 0 {
			idx := int32(i / (slowAsks / slowChunks))
			b = append(b, frame(t, &codec.Message{Type: codec.TypeChunkFetchRequest, Chunk: codec.StreamChunkID{StreamID: 1, ChunkIndex: idx}}, nil)...)
		}
	}
	return b
}

// legitimateAsks asks from a normal client until stop closes (at most
// 100000 asks), failing the test on any error; it returns how many were
// answered.
func legitimateAsks(t *testing.T, c *Client, stop <-chan struct{}) int {
	n := 0
	for n < 100000 {
		select {
		case <-stop:
			return n
		default:
		}
		if _, err := c.SendRpcSync([]byte("hi"), safetyWait); err != nil {
			t.Errorf("legitimate ask %d while the slow peer is served: %v", n, err)
			return n
		}
		n++
	}
	return n
}

func TestSlowReaderServedInOrder(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newIDReplier()
			defer h.stop()
			// A generous write deadline: a peer that keeps reading, however
			// slowly, makes progress long before it.
			e := newEnv(t, testConf(t, mode, "connectionTimeout=60s", "sendBuffer=16384"), h)
			good := e.client(t)
			slow := dialSlow(t, e.srv.Port())
			if _, err := slow.Write(slowRequests(t)); err != nil {
				t.Fatal(err)
			}
			tr := &tickReader{conn: slow, tick: time.NewTicker(time.Millisecond), stop: make(chan struct{})}
			defer tr.tick.Stop()

			slowDone := make(chan struct{})
			var asks, chunks []int64
			var slowErr error
			go func() {
				defer close(slowDone)
				br := codec.NewBufReader(tr, 64<<10)
				dec := codec.NewDecoder()
				for len(asks) < slowAsks || len(chunks) < slowChunks {
					m, err := dec.Decode(br)
					if err != nil {
						slowErr = err
						return
					}
					switch m.Type {
					case codec.TypeRpcResponse:
						if len(m.Body) != slowReplySize {
							slowErr = errors.New("short reply")
							return
						}
						asks = append(asks, int64(binary.BigEndian.Uint64(m.Body)))
					case codec.TypeChunkFetchSuccess:
						if len(m.Body) != slowChunkSize || m.Body[0] != byte(m.Chunk.ChunkIndex) {
							slowErr = errors.New("wrong chunk body")
							return
						}
						chunks = append(chunks, int64(m.Chunk.ChunkIndex))
					default:
						slowErr = errors.New("unexpected " + m.Type.String() + ": " + m.Error)
						return
					}
					_ = br.Release()
				}
			}()
			n := legitimateAsks(t, good, slowDone)
			<-slowDone
			if slowErr != nil {
				t.Fatalf("the slow peer: %v (after %d answers and %d chunks)", slowErr, len(asks), len(chunks))
			}
			for i, id := range asks {
				if id != int64(i) {
					t.Fatalf("answer %d is for ask %d: lost or out of order", i, id)
				}
			}
			for i, idx := range chunks {
				if idx != int64(i) {
					t.Fatalf("chunk answer %d is chunk %d: lost or out of order", i, idx)
				}
			}
			t.Logf("%s: the slow peer read %d bytes; %d legitimate asks answered meanwhile", mode, tr.read, n)
			if _, err := good.SendRpcSync([]byte("after"), safetyWait); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSlowReaderThatStallsIsClosed(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			logs, opt := captureLog()
			h := newIDReplier()
			defer h.stop()
			e := newEnv(t, testConf(t, mode, "connectionTimeout=1s", "sendBuffer=16384"), h, opt)
			good := e.client(t)
			slow := dialSlow(t, e.srv.Port())
			if _, err := slow.Write(slowRequests(t)); err != nil {
				t.Fatal(err)
			}
			// It reads slowly for a while (a few write deadlines' worth of
			// bytes would take far longer), then stops reading.
			tr := &tickReader{conn: slow, tick: time.NewTicker(time.Millisecond), stallAfter: 64 << 10, stop: make(chan struct{})}
			defer tr.tick.Stop()
			readerDone := make(chan struct{})
			go func() {
				defer close(readerDone)
				_, _ = io.Copy(io.Discard, tr)
			}()
			closed := make(chan struct{})
			asked := make(chan int, 1)
			go func() { asked <- legitimateAsks(t, good, closed) }()
			waitFor(t, "the stalled peer closed", func() bool { return strings.Contains(logs.String(), "write deadline") })
			close(closed)
			n := <-asked
			close(tr.stop)
			<-readerDone
			line := logLine(logs.String(), "write deadline")
			if !strings.Contains(line, slow.LocalAddr().String()) || !strings.Contains(line, "spark.test.io.connectionTimeout") {
				t.Fatalf("the log line does not name the peer and the key: %s", line)
			}
			if k := strings.Count(logs.String(), "write deadline"); k != 1 {
				t.Fatalf("%d log lines for one stalled peer", k)
			}
			waitFor(t, "the stalled peer's connection freed", func() bool { return e.srv.NumConnections() == 1 })
			t.Logf("%s: %d legitimate asks answered while the peer stalled", mode, n)
			if _, err := good.SendRpcSync([]byte("after"), safetyWait); err != nil {
				t.Fatal(err)
			}
		})
	}
}
