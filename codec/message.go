package codec

import (
	"encoding/binary"
	"math"
)

// MaxFrameLength is the largest frame length field Spark's decoder accepts:
// the bytes after the 8-byte length must be fewer than 2^31-1.
const MaxFrameLength = 8 + math.MaxInt32 - 1

// frameHeaderLen is the length field plus the type byte.
const frameHeaderLen = 8 + 1

// StreamChunkID names one chunk of a registered stream.
type StreamChunkID struct {
	StreamID   int64
	ChunkIndex int32
}

// Message is a transport message of any type: a tagged union whose
// meaningful fields depend on Type.
//
//	ChunkFetchRequest       Chunk
//	ChunkFetchSuccess       Chunk, Body
//	ChunkFetchFailure       Chunk, Error
//	RpcRequest              RequestID, Body
//	RpcResponse             RequestID, Body
//	RpcFailure              RequestID, Error
//	StreamRequest           Stream
//	StreamResponse          Stream, ByteCount (body follows the frame)
//	StreamFailure           Stream, Error
//	OneWayMessage           Body
//	UploadStream            RequestID, Meta, ByteCount (body follows the frame)
//	MergedBlockMetaRequest  RequestID, AppID, ShuffleID, ShuffleMergeID, ReduceID
//	MergedBlockMetaSuccess  RequestID, NumChunks, Body (NumChunks bitmaps)
//
// A decoded Message's byte slices (Body, Meta) point into the source's buffer
// and are valid only until the source is released.
type Message struct {
	Type      Type
	RequestID int64
	Chunk     StreamChunkID
	// Stream is the string stream id of the Stream* messages.
	Stream string
	// Error is the failure text of the *Failure messages.
	Error string
	// ByteCount is the number of raw bytes that follow a StreamResponse or
	// UploadStream frame. It is set by the decoder; the encoder writes the
	// body length it is given instead.
	ByteCount      int64
	Meta           []byte
	AppID          string
	ShuffleID      int32
	ShuffleMergeID int32
	ReduceID       int32
	NumChunks      int32
	// Body is the in-frame body of a decoded message. The encoder never
	// reads it: bodies are written after the header by the caller.
	Body []byte
}

// Reset clears m for reuse.
func (m *Message) Reset() { *m = Message{} }

// HeaderLen returns the encoded length of m's header fields: the bytes after
// the type byte and before any body.
func (m *Message) HeaderLen() int {
	if !m.Type.Valid() {
		return 0
	}
	n := types[m.Type].fixedLen
	switch m.Type {
	case TypeChunkFetchFailure, TypeRpcFailure:
		n += len(m.Error)
	case TypeStreamRequest, TypeStreamResponse:
		n += len(m.Stream)
	case TypeStreamFailure:
		n += len(m.Stream) + len(m.Error)
	case TypeUploadStream:
		n += len(m.Meta)
	case TypeMergedBlockMetaRequest:
		n += len(m.AppID)
	}
	return n
}

// FrameLength returns the value of the frame length field for m with a body
// of bodyLen bytes.
func (m *Message) FrameLength(bodyLen int64) int64 {
	n := int64(frameHeaderLen + m.HeaderLen())
	if m.Type.BodyInFrame() {
		n += bodyLen
	}
	return n
}

// AppendHeader appends the frame header of m (length, type and header
// fields) to dst and returns the extended slice. bodyLen is the length of the
// body the caller sends right after the header: for in-frame bodies it is
// counted in the frame length and in the size fields; for StreamResponse and
// UploadStream it is written as the byte count of the raw bytes that follow.
func AppendHeader(dst []byte, m *Message, bodyLen int64) ([]byte, error) {
	t := m.Type
	if !t.Valid() {
		return dst, ErrUnknownType
	}
	if bodyLen < 0 || (bodyLen > 0 && !t.HasBody()) {
		return dst, ErrNoBody
	}
	frameLen := m.FrameLength(bodyLen)
	if frameLen > MaxFrameLength || (t.BodyInFrame() && bodyLen > math.MaxInt32) {
		return dst, ErrFrameTooLarge
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(frameLen))
	dst = append(dst, byte(t))
	switch t {
	case TypeChunkFetchRequest, TypeChunkFetchSuccess:
		dst = appendChunk(dst, m.Chunk)
	case TypeChunkFetchFailure:
		dst = appendChunk(dst, m.Chunk)
		dst = AppendString(dst, m.Error)
	case TypeRpcRequest, TypeRpcResponse:
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.RequestID))
		dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	case TypeRpcFailure:
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.RequestID))
		dst = AppendString(dst, m.Error)
	case TypeStreamRequest:
		dst = AppendString(dst, m.Stream)
	case TypeStreamResponse:
		dst = AppendString(dst, m.Stream)
		dst = binary.BigEndian.AppendUint64(dst, uint64(bodyLen))
	case TypeStreamFailure:
		dst = AppendString(dst, m.Stream)
		dst = AppendString(dst, m.Error)
	case TypeOneWayMessage:
		dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	case TypeUploadStream:
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.RequestID))
		dst = AppendByteArray(dst, m.Meta)
		dst = binary.BigEndian.AppendUint64(dst, uint64(bodyLen))
	case TypeMergedBlockMetaRequest:
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.RequestID))
		dst = AppendString(dst, m.AppID)
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.ShuffleID))
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.ShuffleMergeID))
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.ReduceID))
	case TypeMergedBlockMetaSuccess:
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.RequestID))
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.NumChunks))
	}
	return dst, nil
}

func appendChunk(dst []byte, c StreamChunkID) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.StreamID))
	return binary.BigEndian.AppendUint32(dst, uint32(c.ChunkIndex))
}

// DecodeFrame decodes one frame into m. frame is everything after the 8-byte
// length field: the type byte, the header fields and any in-frame body.
// m's slices alias frame.
func DecodeFrame(frame []byte, m *Message) error {
	if len(frame) == 0 {
		return ErrFrameLength
	}
	t := Type(int8(frame[0]))
	if !t.Valid() {
		return &typeError{t}
	}
	*m = Message{Type: t}
	r := reader{b: frame[1:], t: t}
	switch t {
	case TypeChunkFetchRequest, TypeChunkFetchSuccess, TypeChunkFetchFailure:
		m.Chunk.StreamID = r.int64()
		m.Chunk.ChunkIndex = r.int32()
		if t == TypeChunkFetchFailure {
			m.Error = r.string()
		}
	case TypeRpcRequest, TypeRpcResponse:
		m.RequestID = r.int64()
		r.int32() // bodySize: written for compatibility, never trusted
	case TypeRpcFailure:
		m.RequestID = r.int64()
		m.Error = r.string()
	case TypeStreamRequest:
		m.Stream = r.string()
	case TypeStreamResponse:
		m.Stream = r.string()
		m.ByteCount = r.int64()
	case TypeStreamFailure:
		m.Stream = r.string()
		m.Error = r.string()
	case TypeOneWayMessage:
		r.int32() // bodySize, ignored like Spark does
	case TypeUploadStream:
		m.RequestID = r.int64()
		m.Meta = r.bytes()
		m.ByteCount = r.int64()
	case TypeMergedBlockMetaRequest:
		m.RequestID = r.int64()
		m.AppID = r.string()
		m.ShuffleID = r.int32()
		m.ShuffleMergeID = r.int32()
		m.ReduceID = r.int32()
	case TypeMergedBlockMetaSuccess:
		m.RequestID = r.int64()
		m.NumChunks = r.int32()
	}
	if r.err != nil {
		return r.err
	}
	if m.ByteCount < 0 {
		return malformed(t, "negative byte count %d", m.ByteCount)
	}
	if m.NumChunks < 0 {
		return malformed(t, "negative chunk count %d", m.NumChunks)
	}
	if t.BodyInFrame() {
		m.Body = r.b
	}
	return nil
}

type typeError struct{ t Type }

func (e *typeError) Error() string {
	return "codec: unknown message type " + itoa(int64(e.t))
}
func (e *typeError) Unwrap() error { return ErrUnknownType }

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
