package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ember-rpc/ember/codec"
	"go.uber.org/atomic"
)

// Responder answers one RpcRequest. The first of Reply, ReplyBuffer or Fail
// wins; later calls are ignored.
type Responder struct {
	c       *Client
	id      int64
	done    atomic.Bool
	counted bool // counted in c.unanswered until the answer is on the wire
}

// RequestID returns the id of the request being answered.
func (r *Responder) RequestID() int64 { return r.id }

// Client returns the connection the request came in on.
func (r *Responder) Client() *Client { return r.c }

// Reply sends body as the RpcResponse. body must not be changed afterwards.
func (r *Responder) Reply(body []byte) {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	m := codec.Message{Type: codec.TypeRpcResponse, RequestID: r.id}
	r.c.answer(&m, body, nil, r.counted)
}

// ReplyBuffer sends buf as the RpcResponse and releases it once written.
func (r *Responder) ReplyBuffer(buf codec.ManagedBuffer) {
	if !r.done.CompareAndSwap(false, true) {
		buf.Release()
		return
	}
	m := codec.Message{Type: codec.TypeRpcResponse, RequestID: r.id}
	r.c.answer(&m, nil, buf, r.counted)
}

// Fail sends an RpcFailure carrying err's text.
func (r *Responder) Fail(err error) {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	m := codec.Message{Type: codec.TypeRpcFailure, RequestID: r.id, Error: errorText(err)}
	r.c.answer(&m, nil, nil, r.counted)
}

func errorText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// answer queues a response to the connection's writer (it never waits on
// the socket, whoever calls it); counted answers leave the unanswered
// count once written or dropped. A failure is logged: nobody else waits
// for it.
func (c *Client) answer(m *codec.Message, body []byte, buf codec.ManagedBuffer, counted bool) {
	if err := c.writeMsg(m, body, buf, counted); err != nil {
		c.log.Debug("could not send response", "type", m.Type, "remote", c.remote, "err", err)
	}
}

// handleRequest carries out what decideRequest (protocol_dispatch.go)
// decided for an incoming request.
func (c *Client) handleRequest(m *codec.Message) error {
	d := decideRequest(m, c, &c.bounds, c.ctx.conf.MaxChunksBeingTransferred)
	switch d.kind {
	case inRpc:
		// Past maxOutstandingRequests unanswered, the reading pass stops
		// reading this connection (reader.go) until answers leave.
		c.receive(m.Body, &Responder{c: c, id: m.RequestID, counted: d.counted})
	case inOneWay:
		c.receiveOneWay(m.Body)
	case inChunk:
		c.ctx.submitChunk(chunkTask{c: c, id: m.Chunk})
	case inStream:
		c.serveStream(m.Stream)
	case inUpload:
		return c.receiveUpload(m)
	case inMeta:
		c.serveMergedMeta(m, d.counted)
	case inRefuse:
		fm := codec.Message{Type: d.answer, RequestID: m.RequestID, Error: d.text}
		c.answer(&fm, nil, nil, d.counted)
		if d.discard {
			return c.dec.SetInterceptor(d.discardN, discard{})
		}
	case inClose:
		c.warn("too many chunks being transferred; closing connection",
			"inFlight", d.inFlight, "limit", d.chunkCap, "remote", c.remote)
		return fmt.Errorf("%w: closing connection from %s", ErrTooManyChunks, c.remote)
	}
	return nil
}

func (c *Client) receive(body []byte, r *Responder) {
	defer func() {
		if p := recover(); p != nil {
			c.limited(slog.LevelError, "RPC handler panicked", "panic", p, "remote", c.remote)
			r.Fail(fmt.Errorf("handler panicked: %v", p))
		}
	}()
	c.handler.Receive(c, body, r)
}

func (c *Client) receiveOneWay(body []byte) {
	defer func() {
		if p := recover(); p != nil {
			c.limited(slog.LevelError, "one-way handler panicked", "panic", p, "remote", c.remote)
		}
	}()
	c.handler.ReceiveOneWay(c, body)
}

// chunkTask is one ChunkFetchRequest waiting for a chunk-fetch worker.
type chunkTask struct {
	c  *Client
	id codec.StreamChunkID
}

// serveChunk runs on a chunk-fetch worker: it resolves the chunk and
// queues the answer. File chunks are opened here, before their header is
// queued, so that a missing file becomes a ChunkFetchFailure and not a
// broken frame.
func (c *Client) serveChunk(id codec.StreamChunkID) {
	buf, err := c.resolveChunk(id)
	if err != nil {
		m := codec.Message{Type: codec.TypeChunkFetchFailure, Chunk: id, Error: errorText(err)}
		c.answer(&m, nil, nil, true)
		return
	}
	hdr, err := codec.EncodeHeader(&codec.Message{Type: codec.TypeChunkFetchSuccess, Chunk: id}, buf.Size())
	if err != nil {
		buf.Release()
		m := codec.Message{Type: codec.TypeChunkFetchFailure, Chunk: id, Error: errorText(err)}
		c.answer(&m, nil, nil, true)
		return
	}
	// Queued to the connection's writer: the chunk-fetch worker never
	// waits on the peer's socket.
	o := outMsg{hdr: hdr, buf: buf, answer: true}
	if tt, ok := c.streamManager().(TransferTracker); ok {
		tt.ChunkBeingSent(id.StreamID)
		o.tracked, o.chunkStream = trackChunk, id.StreamID
	}
	_ = c.queue1(o)
}

func (c *Client) resolveChunk(id codec.StreamChunkID) (buf codec.ManagedBuffer, err error) {
	sm := c.streamManager()
	if sm == nil {
		return nil, errors.New("no stream manager")
	}
	defer func() {
		if p := recover(); p != nil {
			c.limited(slog.LevelError, "stream manager panicked", "panic", p, "remote", c.remote)
			err = fmt.Errorf("stream manager panicked: %v", p)
		}
	}()
	if a, ok := sm.(StreamAuthorizer); ok {
		if err := a.CheckAuthorization(c, id.StreamID); err != nil {
			return nil, err
		}
	}
	buf, err = sm.GetChunk(id.StreamID, id.ChunkIndex)
	if err != nil {
		return nil, err
	}
	if buf == nil {
		return nil, errors.New("chunk was not found")
	}
	if fs, ok := buf.(*codec.FileSegment); ok {
		if _, err := fs.File(); err != nil {
			buf.Release()
			return nil, err
		}
	}
	return buf, nil
}

// serveStream answers a StreamRequest on the reading goroutine, so stream
// answers leave in request order (clients match them FIFO).
func (c *Client) serveStream(id string) {
	buf, err := c.openStream(id)
	if err != nil {
		m := codec.Message{Type: codec.TypeStreamFailure, Stream: id, Error: errorText(err)}
		c.answer(&m, nil, nil, true)
		return
	}
	hdr, err := codec.EncodeHeader(&codec.Message{Type: codec.TypeStreamResponse, Stream: id}, buf.Size())
	if err != nil {
		buf.Release()
		m := codec.Message{Type: codec.TypeStreamFailure, Stream: id, Error: errorText(err)}
		c.answer(&m, nil, nil, true)
		return
	}
	o := outMsg{hdr: hdr, buf: buf, answer: true}
	if tt, ok := c.streamManager().(TransferTracker); ok {
		tt.StreamBeingSent(id)
		o.tracked, o.streamName = trackStream, id
	}
	_ = c.queue1(o)
}

func (c *Client) openStream(id string) (buf codec.ManagedBuffer, err error) {
	sm := c.streamManager()
	if sm == nil {
		return nil, fmt.Errorf("Stream '%s' was not found.", id)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("stream manager panicked: %v", p)
		}
	}()
	buf, err = sm.OpenStream(id)
	if err != nil {
		return nil, err
	}
	if buf == nil {
		return nil, fmt.Errorf("Stream '%s' was not found.", id)
	}
	if fs, ok := buf.(*codec.FileSegment); ok {
		if _, err := fs.File(); err != nil {
			buf.Release()
			return nil, err
		}
	}
	return buf, nil
}

// receiveUpload starts an UploadStream the handler accepts: it gives a
// sink, and the raw body that follows the frame is fed to it.
func (c *Client) receiveUpload(m *codec.Message) error {
	recv := c.handler.(StreamReceiver) // decideRequest checked
	sink, err := c.callReceiveStream(recv, m.Meta)
	if err != nil {
		d := decideUploadFailed(err, &c.bounds)
		fm := codec.Message{Type: d.answer, RequestID: m.RequestID, Error: d.text}
		c.answer(&fm, nil, nil, d.counted)
		c.log.Debug("upload setup failed; closing the connection", "remote", c.remote, "err", err)
		c.closeAfterWrites(fmt.Errorf("netpoll: upload setup failed: %w", err))
		return nil
	}
	r := &Responder{c: c, id: m.RequestID}
	return c.dec.SetInterceptor(m.ByteCount, &uploadInterceptor{r: r, sink: sink})
}

func (c *Client) callReceiveStream(recv StreamReceiver, meta []byte) (sink StreamSink, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("upload handler panicked: %v", p)
		}
	}()
	sink, err = recv.ReceiveStream(c, meta)
	if err == nil && sink == nil {
		err = errors.New("upload handler returned no sink")
	}
	return sink, err
}

// uploadInterceptor feeds an upload's body to its sink. A sink failure is
// remembered and the rest of the body drained, so the connection stays
// usable; the failure is the answer.
type uploadInterceptor struct {
	r    *Responder
	sink StreamSink
	err  error
}

func (u *uploadInterceptor) OnData(p []byte) error {
	if u.err == nil {
		if err := u.sink.OnData(p); err != nil {
			u.err = err
			u.sink.Abort(err)
		}
	}
	return nil
}

func (u *uploadInterceptor) OnComplete() error {
	if u.err != nil {
		u.r.Fail(u.err)
		return nil
	}
	resp, err := u.sink.Complete()
	if err != nil {
		u.r.Fail(err)
		return nil
	}
	u.r.Reply(resp)
	return nil
}

func (u *uploadInterceptor) OnFailure(err error) {
	if u.err == nil {
		u.sink.Abort(err)
	}
}

// serveMergedMeta answers a merged block meta request the handler
// serves (decideRequest checked), on the reading pass.
func (c *Client) serveMergedMeta(m *codec.Message, counted bool) {
	r := &Responder{c: c, id: m.RequestID, counted: counted}
	h := c.handler.(MergedBlockMetaHandler)
	req := MergedBlockMetaRequest{RequestID: m.RequestID, AppID: m.AppID, ShuffleID: m.ShuffleID,
		ShuffleMergeID: m.ShuffleMergeID, ReduceID: m.ReduceID}
	var (
		n   int32
		buf codec.ManagedBuffer
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("merged meta handler panicked: %v", p)
			}
		}()
		n, buf, err = h.ReceiveMergedBlockMeta(c, req)
	}()
	if err != nil {
		if buf != nil {
			buf.Release()
		}
		r.Fail(err)
		return
	}
	r.done.Store(true)
	out := codec.Message{Type: codec.TypeMergedBlockMetaSuccess, RequestID: m.RequestID, NumChunks: n}
	if buf == nil {
		buf = codec.NewBytes(nil)
	}
	c.answer(&out, nil, buf, counted)
}

// ParseStreamChunkID parses Spark's "<streamId>_<chunkIndex>" stream name.
func ParseStreamChunkID(s string) (codec.StreamChunkID, error) {
	parts := strings.Split(s, "_")
	if len(parts) != 2 {
		return codec.StreamChunkID{}, fmt.Errorf("netpoll: stream chunk id %q is not <streamId>_<chunkIndex>", s)
	}
	sid, err1 := strconv.ParseInt(parts[0], 10, 64)
	idx, err2 := strconv.ParseInt(parts[1], 10, 32)
	if err1 != nil || err2 != nil {
		return codec.StreamChunkID{}, fmt.Errorf("netpoll: stream chunk id %q is not <streamId>_<chunkIndex>", s)
	}
	return codec.StreamChunkID{StreamID: sid, ChunkIndex: int32(idx)}, nil
}
