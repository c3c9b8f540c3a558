package netpoll

import (
	"github.com/ember-rpc/ember/codec"
	"go.uber.org/atomic"
)

// The socket-free part of the protocol: which requests a connection awaits
// answers to, what an incoming response resolves, and the bounds that stop
// its reading. The Client drives these with decoded frames and carries out
// what they decide (callbacks, interceptors, pausing); they never touch a
// socket, so protocol_test.go plays scenarios against them in tables.

// pending is a table of requests awaiting an answer, keyed by request id.
type pending[K comparable, V any] struct{ m map[K]V }

func newPending[K comparable, V any]() pending[K, V] { return pending[K, V]{m: make(map[K]V)} }

func (p *pending[K, V]) put(k K, v V) { p.m[k] = v }

// take removes and returns the entry for k.
func (p *pending[K, V]) take(k K) (V, bool) {
	v, ok := p.m[k]
	if ok {
		delete(p.m, k)
	}
	return v, ok
}

func (p *pending[K, V]) len() int { return len(p.m) }

// drain returns every entry and leaves the table empty.
func (p *pending[K, V]) drain() map[K]V {
	m := p.m
	p.m = make(map[K]V)
	return m
}

type streamWait struct {
	id string
	cb StreamCallback
}

// requests is what one connection has asked and awaits. The Client guards
// it with its mu.
type requests struct {
	closed       bool
	rpcs         pending[int64, RpcResponseCallback]
	fetches      pending[codec.StreamChunkID, ChunkReceivedCallback]
	metas        pending[int64, MergedBlockMetaCallback]
	streams      []streamWait // FIFO: stream responses are matched in order
	streamActive bool         // a stream body is being received
}

func newRequests() requests {
	return requests{rpcs: newPending[int64, RpcResponseCallback](),
		fetches: newPending[codec.StreamChunkID, ChunkReceivedCallback](),
		metas:   newPending[int64, MergedBlockMetaCallback]()}
}

// count is the number of answers awaited, a stream being received
// included.
func (r *requests) count() int {
	n := r.rpcs.len() + r.fetches.len() + r.metas.len() + len(r.streams)
	if r.streamActive {
		n++
	}
	return n
}

// matchKind is what an incoming response resolves.
type matchKind uint8

const (
	matchNone        matchKind = iota // nobody asked: log and drop
	matchRpc                          // rpc: OnSuccess or OnFailure
	matchChunk                        // fetch: OnSuccess or OnFailure
	matchMeta                         // meta: OnSuccess or OnFailure
	matchStreamFail                   // stream: OnFailure
	matchStreamStart                  // stream: its body follows (ByteCount bytes)
	matchStreamEmpty                  // stream: an empty body, complete at once
	matchStreamDrop                   // a stream nobody asked for: discard its body
)

// match is a response's resolution.
type match struct {
	kind   matchKind
	failed bool // RpcFailure / ChunkFetchFailure
	rpc    RpcResponseCallback
	fetch  ChunkReceivedCallback
	meta   MergedBlockMetaCallback
	stream streamWait
}

// resolve matches a response frame to the request it answers and takes
// that request off the books.
func (r *requests) resolve(m *codec.Message) match {
	switch m.Type {
	case codec.TypeChunkFetchSuccess, codec.TypeChunkFetchFailure:
		cb, ok := r.fetches.take(m.Chunk)
		if !ok {
			return match{}
		}
		return match{kind: matchChunk, fetch: cb, failed: m.Type == codec.TypeChunkFetchFailure}
	case codec.TypeRpcResponse, codec.TypeRpcFailure:
		if cb, ok := r.rpcs.take(m.RequestID); ok {
			return match{kind: matchRpc, rpc: cb, failed: m.Type == codec.TypeRpcFailure}
		}
		if m.Type == codec.TypeRpcFailure {
			// A failed merged block meta request is answered with an
			// RpcFailure carrying its request id (Spark keeps both kinds
			// in one table).
			if cb, ok := r.metas.take(m.RequestID); ok {
				return match{kind: matchMeta, meta: cb, failed: true}
			}
		}
		return match{}
	case codec.TypeMergedBlockMetaSuccess:
		if cb, ok := r.metas.take(m.RequestID); ok {
			return match{kind: matchMeta, meta: cb}
		}
		return match{}
	case codec.TypeStreamResponse, codec.TypeStreamFailure:
		if len(r.streams) == 0 {
			if m.Type == codec.TypeStreamResponse && m.ByteCount > 0 {
				return match{kind: matchStreamDrop}
			}
			return match{}
		}
		w := r.streams[0]
		r.streams[0] = streamWait{}
		r.streams = r.streams[1:]
		switch {
		case m.Type == codec.TypeStreamFailure:
			return match{kind: matchStreamFail, stream: w}
		case m.ByteCount > 0:
			r.streamActive = true
			return match{kind: matchStreamStart, stream: w}
		}
		return match{kind: matchStreamEmpty, stream: w}
	}
	return match{}
}

// closeAll marks the books closed and returns what was awaited, for
// failing.
func (r *requests) closeAll() (rpcs map[int64]RpcResponseCallback, fetches map[codec.StreamChunkID]ChunkReceivedCallback,
	metas map[int64]MergedBlockMetaCallback, streams []streamWait) {
	r.closed = true
	streams, r.streams = r.streams, nil
	return r.rpcs.drain(), r.fetches.drain(), r.metas.drain(), streams
}

// bounds decides when a connection stops reading: while the requests it
// received and has not answered on the wire reach the limit, or for good
// once a close after pending writes was asked for.
type bounds struct {
	limit      int64 // maxOutstandingRequests; 0: no bound
	unanswered atomic.Int64
	stop       atomic.Bool
}

// received counts a request whose answer is owed.
func (b *bounds) received() { b.unanswered.Inc() }

// answered counts an answer written or dropped.
func (b *bounds) answered() { b.unanswered.Dec() }

// over reports whether reading must stop.
func (b *bounds) over() bool {
	return b.stop.Load() || (b.limit > 0 && b.unanswered.Load() >= b.limit)
}
