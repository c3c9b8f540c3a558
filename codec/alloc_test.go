package codec

import (
	"bytes"
	"testing"
)

// The hot paths allocate nothing: encoding a header into a buffer with room,
// pooled header encoding, and decoding frames without strings.

func skipAllocUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
}

func TestAllocAppendHeader(t *testing.T) {
	skipAllocUnderRace(t)
	cases := []struct {
		m       Message
		bodyLen int64
	}{
		{Message{Type: TypeRpcRequest, RequestID: 7}, 64},
		{Message{Type: TypeRpcResponse, RequestID: 7}, 64},
		{Message{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{1, 2}}, 1 << 20},
		{Message{Type: TypeOneWayMessage}, 64},
		// The others too: strings are copied into the buffer, not allocated.
		{Message{Type: TypeChunkFetchRequest, Chunk: StreamChunkID{1, 2}}, 0},
		{Message{Type: TypeChunkFetchFailure, Error: "error text"}, 0},
		{Message{Type: TypeRpcFailure, RequestID: 1, Error: "error text"}, 0},
		{Message{Type: TypeStreamRequest, Stream: "stream"}, 0},
		{Message{Type: TypeStreamResponse, Stream: "stream"}, 1 << 30},
		{Message{Type: TypeStreamFailure, Stream: "stream", Error: "e"}, 0},
		{Message{Type: TypeUploadStream, RequestID: 1, Meta: []byte("meta")}, 10},
		{Message{Type: TypeMergedBlockMetaRequest, AppID: "app"}, 0},
		{Message{Type: TypeMergedBlockMetaSuccess, NumChunks: 3}, 100},
	}
	buf := make([]byte, 0, 256)
	for i := range cases {
		c := &cases[i]
		allocs := testing.AllocsPerRun(1000, func() {
			out, err := AppendHeader(buf[:0], &c.m, c.bodyLen)
			if err != nil || len(out) == 0 {
				panic("AppendHeader failed")
			}
		})
		if allocs != 0 {
			t.Errorf("AppendHeader(%s): %v allocs, want 0", c.m.Type, allocs)
		}
	}
}

func TestAllocEncodeHeaderPooled(t *testing.T) {
	skipAllocUnderRace(t)
	m := Message{Type: TypeRpcRequest, RequestID: 99}
	for range 10 { // warm the pool
		bb, err := EncodeHeader(&m, 64)
		if err != nil {
			t.Fatal(err)
		}
		PutBuffer(bb)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		bb, err := EncodeHeader(&m, 64)
		if err != nil || bb.Len() != 21 {
			panic("EncodeHeader failed")
		}
		PutBuffer(bb)
	})
	if allocs != 0 {
		t.Errorf("EncodeHeader+PutBuffer: %v allocs, want 0", allocs)
	}
}

// TestAllocPooledBytes: once the pools are warm, a pooled message buffer
// (written, retained, released twice) costs nothing.
func TestAllocPooledBytes(t *testing.T) {
	skipAllocUnderRace(t)
	payload := bytes.Repeat([]byte{'m'}, 200)
	use := func() {
		b := GetPooledBytes()
		bb := b.Buf()
		bb.B = append(bb.B, payload...)
		r := b.Retain()
		b.Release()
		if r.Size() != 200 {
			panic("pooled bytes lost their content")
		}
		r.Release()
	}
	for range 10 {
		use()
	}
	if allocs := testing.AllocsPerRun(1000, use); allocs != 0 {
		t.Errorf("GetPooledBytes+Release: %v allocs, want 0", allocs)
	}
}

func TestAllocDecode(t *testing.T) {
	skipAllocUnderRace(t)
	body := bytes.Repeat([]byte{0x5a}, 64)
	for _, m := range []Message{
		{Type: TypeRpcRequest, RequestID: 7},
		{Type: TypeRpcResponse, RequestID: 7},
		{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{3, 4}},
		{Type: TypeOneWayMessage},
		{Type: TypeMergedBlockMetaSuccess, RequestID: 7, NumChunks: 1},
	} {
		frame := encodeFrame(t, &m, body)
		rd := bytes.NewReader(frame)
		br := NewBufReader(rd, DefaultReadBufferSize)
		d := NewDecoder()
		decode := func() {
			rd.Reset(frame)
			got, err := d.Decode(br)
			if err != nil || got.Type != m.Type || len(got.Body) != len(body) {
				panic("Decode failed")
			}
			if err := br.Release(); err != nil {
				panic(err)
			}
		}
		decode() // steady state: buffers exist
		if allocs := testing.AllocsPerRun(1000, decode); allocs != 0 {
			t.Errorf("Decode(%s): %v allocs per frame, want 0", m.Type, allocs)
		}
	}
}

// TestAllocDecodeStream: decoding a continuous stream of frames (partial
// frames at buffer boundaries, compaction on Release) allocates nothing.
func TestAllocDecodeStream(t *testing.T) {
	skipAllocUnderRace(t)
	var frames []frameSpec
	for i := range 7 {
		frames = append(frames, frameSpec{Message{Type: TypeRpcResponse, RequestID: int64(i)}, make([]byte, 100*i)})
	}
	br := NewBufReader(&loopReader{data: buildStream(t, frames)}, 4096)
	d := NewDecoder()
	decode := func() {
		if _, err := d.Decode(br); err != nil {
			panic(err)
		}
		_ = br.Release()
	}
	for range 100 {
		decode()
	}
	if allocs := testing.AllocsPerRun(2000, decode); allocs != 0 {
		t.Errorf("Decode over a stream: %v allocs per frame, want 0", allocs)
	}
}
