package netpoll

import "github.com/ember-rpc/ember/codec"

// Dispatch by type: what an incoming request frame makes the connection
// do, decided without a socket. decideRequest takes the frame, what the
// connection's handler serves (servedBy) and the reading bounds, does the
// accounting (an answer owed counts in the bounds until it is on the
// wire) and returns the decision; the Client carries it out (calls the
// handler, queues the chunk or stream, sets the interceptor, queues the
// failure frame, closes). protocol_dispatch_test.go plays it in scenario
// tables.

// inKind is what an incoming request asks of the connection.
type inKind uint8

const (
	inIgnore      inKind = iota // not a request this end serves: dropped
	inRpc                       // the handler's Receive; the answer is owed
	inOneWay                    // the handler's ReceiveOneWay; nothing is owed
	inChunk                     // queued to the connection's chunk-fetch worker; the answer is owed
	inStream                    // opened on the reading pass (answers leave in order); the answer is owed
	inUpload                    // the handler gives a sink, the body (ByteCount raw bytes) is fed to it
	inMeta                      // the handler's ReceiveMergedBlockMeta; the answer is owed
	inRefuse                    // answered at once with a failure frame; an upload's body is swallowed
	inClose                     // fatal for the connection
	inAnswerClose               // answered with a failure frame, reading stops, closed once it is written
)

// closeReason says why a request closes its connection.
type closeReason uint8

const (
	closeNone         closeReason = iota
	closeTooManyChunk             // over spark.shuffle.maxChunksBeingTransferred (Spark closes too)
)

// inbound is the decision for one incoming request.
type inbound struct {
	kind    inKind
	counted bool // counted in bounds until its answer is on the wire (or dropped)
	// inRefuse, inAnswerClose: the failure frame's type and text (the
	// request's own id).
	answer codec.Type
	text   string
	// inRefuse of an upload: the body's raw bytes to swallow, so the
	// framing stays intact.
	discard   bool
	discardN  int64
	reason    closeReason // inClose
	inFlight  int64       // closeTooManyChunk: chunks being transferred
	chunkCap  int64       // closeTooManyChunk: the limit
	uploadLen int64       // inUpload: the body's length
}

// servedBy is what a connection's handler serves besides RPCs and
// one-way messages, asked only when a request needs it (so an RPC costs
// no type assertion). *Client answers from its handler; tests use fakes.
type servedBy interface {
	acceptsUploads() bool
	answersMetas() bool
	// chunksInFlight reports the chunks and streams being sent by the
	// stream manager, if it keeps count (a TransferTracker).
	chunksInFlight() (n int64, tracked bool)
}

const (
	textNoUploads = "this endpoint does not accept uploaded streams"
	textNoMetas   = "merged block meta requests are not supported here"
)

// decideRequest decides what request m does on a connection served by s
// with reading bounds b and chunkLimit (spark.shuffle.maxChunksBeingTransferred).
//
// Accounting: RPCs, chunk and stream requests and merged meta requests
// owe an answer that does not depend on reading more, so they count in
// b (past maxOutstandingRequests the connection stops reading until
// answers leave). An upload is not counted: its answer waits for its body,
// which a paused connection would never read.
func decideRequest(m *codec.Message, s servedBy, b *bounds, chunkLimit int64) inbound {
	switch m.Type {
	case codec.TypeRpcRequest:
		b.received()
		return inbound{kind: inRpc, counted: true}
	case codec.TypeOneWayMessage:
		return inbound{kind: inOneWay}
	case codec.TypeChunkFetchRequest, codec.TypeStreamRequest:
		if n, ok := s.chunksInFlight(); ok && n >= chunkLimit {
			return inbound{kind: inClose, reason: closeTooManyChunk, inFlight: n, chunkCap: chunkLimit}
		}
		b.received()
		if m.Type == codec.TypeStreamRequest {
			return inbound{kind: inStream, counted: true}
		}
		return inbound{kind: inChunk, counted: true}
	case codec.TypeUploadStream:
		if !s.acceptsUploads() {
			return inbound{kind: inRefuse, answer: codec.TypeRpcFailure, text: textNoUploads,
				discard: true, discardN: m.ByteCount}
		}
		return inbound{kind: inUpload, uploadLen: m.ByteCount}
	case codec.TypeMergedBlockMetaRequest:
		b.received()
		if !s.answersMetas() {
			return inbound{kind: inRefuse, counted: true, answer: codec.TypeRpcFailure, text: textNoMetas}
		}
		return inbound{kind: inMeta, counted: true}
	}
	return inbound{kind: inIgnore}
}

// decideUploadFailed decides what an upload whose sink could not be set
// up does: its body's bytes cannot be skipped reliably once setup failed
// (Spark closes the channel too), so it is answered with the failure,
// reading stops, and the connection closes once the answer is written.
func decideUploadFailed(err error, b *bounds) inbound {
	b.stop.Store(true)
	return inbound{kind: inAnswerClose, answer: codec.TypeRpcFailure, text: errorText(err)}
}

// The Client's side of servedBy.

func (c *Client) acceptsUploads() bool {
	_, ok := c.handler.(StreamReceiver)
	return ok
}

func (c *Client) answersMetas() bool {
	_, ok := c.handler.(MergedBlockMetaHandler)
	return ok
}

func (c *Client) chunksInFlight() (int64, bool) {
	tt, ok := c.streamManager().(TransferTracker)
	if !ok {
		return 0, false
	}
	return tt.ChunksBeingTransferred(), true
}
