package rpcenv

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ember-rpc/ember/codec"
)

// msgBuf is an encoded message (a request or a reply) on its way to the
// transport: a codec.ManagedBuffer that is its own pooled storage. Its
// last Release puts it back in msgBufs, wrapper and bytes together, so
// handing a message to the transport allocates nothing once the pool is
// warm (codec.NewPooledBytes would wrap a pooled buffer in a new object
// each time).
type msgBuf struct {
	refs atomic.Int32
	// B is the content; encoders append to it through &B (see
	// appendContentTo).
	B []byte
}

// msgBufKeep is the largest capacity a released msgBuf keeps: a rare huge
// message does not pin its memory in the pool.
const msgBufKeep = 64 << 10

var msgBufs = sync.Pool{New: func() any { return new(msgBuf) }}

// getMsgBuf returns an empty buffer holding one reference.
func getMsgBuf() *msgBuf {
	b := msgBufs.Get().(*msgBuf)
	b.B = b.B[:0]
	b.refs.Store(1)
	return b
}

var _ codec.ManagedBuffer = (*msgBuf)(nil)

// Size implements codec.ManagedBuffer.
func (b *msgBuf) Size() int64 { return int64(len(b.B)) }

// Bytes implements codec.ManagedBuffer; it never fails.
func (b *msgBuf) Bytes() ([]byte, error) { return b.B, nil }

// Reader implements codec.ManagedBuffer.
func (b *msgBuf) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.B)), nil
}

// Retain implements codec.ManagedBuffer.
func (b *msgBuf) Retain() codec.ManagedBuffer {
	if b.refs.Add(1) <= 1 {
		panic("rpcenv: Retain of a released message buffer")
	}
	return b
}

// Release implements codec.ManagedBuffer: the last one returns the buffer
// to the pool.
func (b *msgBuf) Release() {
	n := b.refs.Add(-1)
	if n < 0 {
		panic("rpcenv: Release of a released message buffer")
	}
	if n > 0 {
		return
	}
	if cap(b.B) > msgBufKeep {
		b.B = nil
	}
	msgBufs.Put(b)
}
