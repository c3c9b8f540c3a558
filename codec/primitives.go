package codec

import (
	"encoding/binary"
	"math"
)

// AppendString appends Spark's String encoding: i32 byte length + UTF-8.
func AppendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// AppendByteArray appends Spark's ByteArray encoding: i32 length + bytes.
func AppendByteArray(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendStringArray appends i32 count + each String.
func AppendStringArray(dst []byte, ss []string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ss)))
	for _, s := range ss {
		dst = AppendString(dst, s)
	}
	return dst
}

// AppendIntArray appends i32 count + each i32.
func AppendIntArray(dst []byte, vs []int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(vs)))
	for _, v := range vs {
		dst = binary.BigEndian.AppendUint32(dst, uint32(v))
	}
	return dst
}

// AppendLongArray appends i32 count + each i64.
func AppendLongArray(dst []byte, vs []int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(vs)))
	for _, v := range vs {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// Reader reads Spark's primitive encodings from a byte slice. The first
// error sticks: later reads return zero values, and Err reports it.
// Decoders of higher-level messages (shuffle, auth) build on it.
type Reader struct{ r reader }

// NewReader returns a Reader over b; what it returns aliases b.
func NewReader(b []byte) *Reader { return &Reader{reader{b: b, t: -2}} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.r.err }

// Remaining returns the bytes not read yet.
func (r *Reader) Remaining() []byte { return r.r.b }

// Byte reads one byte.
func (r *Reader) Byte() byte { return r.r.byte() }

// Bool reads a one-byte boolean (non-zero is true).
func (r *Reader) Bool() bool { return r.r.byte() != 0 }

// Int32 reads a big-endian i32.
func (r *Reader) Int32() int32 { return r.r.int32() }

// Int64 reads a big-endian i64.
func (r *Reader) Int64() int64 { return r.r.int64() }

// String reads i32 length + UTF-8.
func (r *Reader) String() string { return r.r.string() }

// Bytes reads i32 length + bytes (aliasing the input).
func (r *Reader) Bytes() []byte { return r.r.bytes() }

// StringArray reads i32 count + Strings.
func (r *Reader) StringArray() []string {
	n := r.r.count(4)
	if n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.r.string()
	}
	if r.r.err != nil {
		return nil
	}
	return out
}

// IntArray reads i32 count + i32 values.
func (r *Reader) IntArray() []int32 {
	n := r.r.count(4)
	if n < 0 {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = r.r.int32()
	}
	return out
}

// LongArray reads i32 count + i64 values.
func (r *Reader) LongArray() []int64 {
	n := r.r.count(8)
	if n < 0 {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = r.r.int64()
	}
	return out
}

// reader is the allocation-free core shared by DecodeFrame and Reader.
type reader struct {
	b   []byte
	t   Type // for error messages; -2 outside frames
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		if r.t == -2 {
			r.err = malformedPayload(format, args...)
		} else {
			r.err = malformed(r.t, format, args...)
		}
	}
	r.b = nil
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < n {
		r.fail("need %d bytes, have %d", n, len(r.b))
		return false
	}
	return true
}

func (r *reader) byte() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) int32() int32 {
	if !r.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) int64() int64 {
	if !r.need(8) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// count reads an i32 element count and checks that count elements of at
// least minSize bytes each can still fit; it returns -1 on error.
func (r *reader) count(minSize int) int {
	n := r.int32()
	if r.err != nil {
		return -1
	}
	if n < 0 {
		r.fail("negative count %d", n)
		return -1
	}
	if int64(n)*int64(minSize) > int64(len(r.b)) || n > math.MaxInt32/8 {
		r.fail("count %d past the end (%d bytes left)", n, len(r.b))
		return -1
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.int32()
	if r.err != nil {
		return nil
	}
	if n < 0 {
		r.fail("negative length %d", n)
		return nil
	}
	if !r.need(int(n)) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

// Count reads an i32 element count and checks that that many elements of
// at least minElemSize bytes can still fit; on failure it records the error
// and returns 0.
func (r *Reader) Count(minElemSize int) int {
	n := r.r.count(minElemSize)
	if n < 0 {
		return 0
	}
	return n
}
