package netpoll

import (
	"github.com/ember-rpc/ember/codec"
)

// RpcHandler handles the requests that arrive on a connection: RPCs,
// one-way messages, and (through its StreamManager) chunk and stream
// requests. Both ends of a connection have one, since either side may send
// requests.
//
// Receive and ReceiveOneWay run on the connection's reading goroutine, in
// arrival order; msg is valid only during the call (copy what you keep).
// Long work belongs elsewhere: hand it off and answer through the Responder
// later.
type RpcHandler interface {
	// Receive handles an RpcRequest. Exactly one of reply.Reply,
	// reply.ReplyBuffer or reply.Fail should be called, now or later.
	Receive(c *Client, msg []byte, reply *Responder)
	// ReceiveOneWay handles a OneWayMessage. Nothing is sent back.
	ReceiveOneWay(c *Client, msg []byte)
	// StreamManager serves ChunkFetchRequest and StreamRequest. It may be
	// nil, and then every such request fails.
	StreamManager() StreamManager
}

// StreamReceiver is implemented by handlers that accept UploadStream
// requests. Without it, uploads fail with an RpcFailure.
type StreamReceiver interface {
	// ReceiveStream is called with the upload's meta bytes (valid only
	// during the call). It returns the sink for the raw body. The reply is
	// sent by the transport: an RpcResponse holding sink.Complete's bytes,
	// or an RpcFailure. An error from ReceiveStream fails the upload and
	// closes the connection, since the rest of the stream cannot be framed.
	ReceiveStream(c *Client, meta []byte) (StreamSink, error)
}

// StreamSink takes the raw body of an upload.
type StreamSink interface {
	// OnData gets the next piece of the body, valid during the call. An
	// error fails the upload; the remaining bytes are drained.
	OnData(p []byte) error
	// Complete is called when the whole body arrived; its bytes are the
	// reply payload.
	Complete() ([]byte, error)
	// Abort is called when the upload fails or the connection ends first.
	Abort(err error)
}

// ChannelObserver is implemented by handlers that want connection events.
type ChannelObserver interface {
	ChannelActive(c *Client)
	ChannelInactive(c *Client)
	ExceptionCaught(err error, c *Client)
}

// MergedBlockMetaRequest is the request of the push-based shuffle's merged
// block meta (message type 11).
type MergedBlockMetaRequest struct {
	RequestID      int64
	AppID          string
	ShuffleID      int32
	ShuffleMergeID int32
	ReduceID       int32
}

// MergedBlockMetaHandler is implemented by handlers that serve merged block
// meta. Without it, such requests fail with an RpcFailure.
type MergedBlockMetaHandler interface {
	// ReceiveMergedBlockMeta answers with numChunks and the concatenated
	// chunk bitmaps, or an error.
	ReceiveMergedBlockMeta(c *Client, req MergedBlockMetaRequest) (numChunks int32, bitmaps codec.ManagedBuffer, err error)
}

// StreamManager serves the chunks of registered streams and named streams.
type StreamManager interface {
	// GetChunk returns chunk chunkIndex of stream streamID. The transport
	// releases the buffer once it has been sent.
	GetChunk(streamID int64, chunkIndex int32) (codec.ManagedBuffer, error)
	// OpenStream returns the whole content of a named stream; (nil, nil)
	// means not found.
	OpenStream(streamID string) (codec.ManagedBuffer, error)
	// ConnectionTerminated frees the streams tied to c.
	ConnectionTerminated(c *Client)
}

// StreamAuthorizer is implemented by stream managers that check the
// authenticated client id against the stream's owner.
type StreamAuthorizer interface {
	CheckAuthorization(c *Client, streamID int64) error
}

// TransferTracker is implemented by stream managers that count chunks in
// flight, for spark.shuffle.maxChunksBeingTransferred.
type TransferTracker interface {
	ChunkBeingSent(streamID int64)
	ChunkSent(streamID int64)
	StreamBeingSent(streamID string)
	StreamSent(streamID string)
	ChunksBeingTransferred() int64
}

// RpcResponseCallback receives the answer to SendRpc. Exactly one method is
// called, once. resp is valid only during the call.
type RpcResponseCallback interface {
	OnSuccess(resp []byte)
	OnFailure(err error)
}

// ChunkReceivedCallback receives the answer to FetchChunk. buf is valid only
// during the call.
type ChunkReceivedCallback interface {
	OnSuccess(chunkIndex int32, buf []byte)
	OnFailure(chunkIndex int32, err error)
}

// StreamCallback receives a stream's bytes in order, then OnComplete, or
// OnFailure at any point. p is valid only during OnData.
type StreamCallback interface {
	OnData(streamID string, p []byte) error
	OnComplete(streamID string) error
	OnFailure(streamID string, err error)
}

// MergedBlockMetaCallback receives the answer to SendMergedBlockMetaReq.
type MergedBlockMetaCallback interface {
	OnSuccess(numChunks int32, bitmaps []byte)
	OnFailure(err error)
}

// ClientBootstrap runs on every new client connection before the client is
// handed out (authentication, for example). An error closes the connection.
// s gives it what only bootstraps may do (see Setup).
type ClientBootstrap interface {
	DoBootstrap(s *Setup) error
}

// ServerBootstrap wraps the handler of every accepted connection, in order.
// s gives it what only bootstraps may do (see Setup); it may keep s for
// the handshake the returned handler carries out.
type ServerBootstrap interface {
	DoBootstrap(s *Setup, h RpcHandler) RpcHandler
}

// RpcFunc adapts functions to RpcResponseCallback.
type RpcFunc struct {
	Success func(resp []byte)
	Failure func(err error)
}

// OnSuccess implements RpcResponseCallback.
func (f RpcFunc) OnSuccess(resp []byte) {
	if f.Success != nil {
		f.Success(resp)
	}
}

// OnFailure implements RpcResponseCallback.
func (f RpcFunc) OnFailure(err error) {
	if f.Failure != nil {
		f.Failure(err)
	}
}

// ChunkFunc adapts functions to ChunkReceivedCallback.
type ChunkFunc struct {
	Success func(chunkIndex int32, buf []byte)
	Failure func(chunkIndex int32, err error)
}

// OnSuccess implements ChunkReceivedCallback.
func (f ChunkFunc) OnSuccess(i int32, buf []byte) {
	if f.Success != nil {
		f.Success(i, buf)
	}
}

// OnFailure implements ChunkReceivedCallback.
func (f ChunkFunc) OnFailure(i int32, err error) {
	if f.Failure != nil {
		f.Failure(i, err)
	}
}
