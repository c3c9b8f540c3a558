package codec

import (
	"bytes"
	"testing"
)

func BenchmarkAppendHeaderRpcRequest(b *testing.B) {
	m := Message{Type: TypeRpcRequest, RequestID: 42}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(frameHeaderLen + m.HeaderLen()))
	for b.Loop() {
		var err error
		buf, err = AppendHeader(buf[:0], &m, 64)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHeaderPooled(b *testing.B) {
	m := Message{Type: TypeRpcRequest, RequestID: 42}
	b.ReportAllocs()
	b.SetBytes(int64(frameHeaderLen + m.HeaderLen()))
	for b.Loop() {
		bb, err := EncodeHeader(&m, 64)
		if err != nil {
			b.Fatal(err)
		}
		PutBuffer(bb)
	}
}

// benchDecode decodes frame over and over from a BufReader over an endless
// stream of copies of it, releasing after each frame like a connection that
// handles one frame per batch.
func benchDecode(b *testing.B, frame []byte, bodyLen int) {
	br := NewBufReader(&loopReader{data: frame}, DefaultReadBufferSize)
	d := NewDecoder()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		m, err := d.Decode(br)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Body) != bodyLen {
			b.Fatalf("body of %d bytes", len(m.Body))
		}
		_ = br.Release()
	}
}

func BenchmarkDecodeRpcRequest64B(b *testing.B) {
	m := Message{Type: TypeRpcRequest, RequestID: 42}
	frame := encodeFrame(b, &m, bytes.Repeat([]byte{0xab}, 64))
	benchDecode(b, frame, 64)
}

func BenchmarkDecodeChunk1MiB(b *testing.B) {
	m := Message{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{StreamID: 1, ChunkIndex: 2}}
	frame := encodeFrame(b, &m, bytes.Repeat([]byte{0xcd}, 1<<20))
	benchDecode(b, frame, 1<<20)
}

func BenchmarkDecodeFrameRpcFailure(b *testing.B) {
	m := Message{Type: TypeRpcFailure, RequestID: 42, Error: "java.lang.RuntimeException: boom"}
	frame := encodeFrame(b, &m, nil)[8:]
	var got Message
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := DecodeFrame(frame, &got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPooledBytes is the life of an encoded message's buffer: taken
// from the pool, written, retained by the transport, released twice.
func BenchmarkPooledBytes(b *testing.B) {
	payload := bytes.Repeat([]byte{'m'}, 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mb := GetPooledBytes()
			bb := mb.Buf()
			bb.B = append(bb.B, payload...)
			mb.Retain()
			mb.Release()
			mb.Release()
		}
	})
}
