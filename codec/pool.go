package codec

import (
	"sync"

	"github.com/valyala/bytebufferpool"
)

// headerPool holds the buffers frame headers are encoded into. bytebufferpool
// calibrates its default size from what is returned, so small headers stay
// small.
var headerPool bytebufferpool.Pool

// bytesBufs holds the BytesBuffers that GetPooledBytes hands out (encoded
// messages), each with its emptied bytes.
var bytesBufs = sync.Pool{New: func() any { return new(BytesBuffer) }}

// pooledBytesKeep is the largest capacity of bytes a released pooled
// BytesBuffer keeps: a rare huge message does not pin its memory in the
// pool.
const pooledBytesKeep = 64 << 10

// GetBuffer returns an empty pooled buffer. Give it back with PutBuffer once
// its bytes have been written out.
func GetBuffer() *bytebufferpool.ByteBuffer { return headerPool.Get() }

// PutBuffer returns a buffer from GetBuffer to the pool. The caller must not
// touch it afterwards.
func PutBuffer(b *bytebufferpool.ByteBuffer) { headerPool.Put(b) }

// EncodeHeader encodes m's frame header (for a body of bodyLen bytes) into a
// pooled buffer.
func EncodeHeader(m *Message, bodyLen int64) (*bytebufferpool.ByteBuffer, error) {
	bb := headerPool.Get()
	var err error
	bb.B, err = AppendHeader(bb.B[:0], m, bodyLen)
	if err != nil {
		headerPool.Put(bb)
		return nil, err
	}
	return bb, nil
}
