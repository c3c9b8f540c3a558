package codec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// unhex decodes hex text; spaces, '|' and newlines are ignored so vectors can
// be written field by field.
func unhex(s string) []byte {
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(fmt.Sprintf("bad hex %q: %v", s, err))
	}
	return b
}

// wantDecoded is what decoding the frame of m must yield when body is sent
// with it: only the fields meaningful for m.Type survive the wire, in-frame
// bodies come back as Body and after-frame bodies as ByteCount.
func wantDecoded(m *Message, body []byte) Message {
	w := Message{Type: m.Type}
	switch m.Type {
	case TypeChunkFetchRequest:
		w.Chunk = m.Chunk
	case TypeChunkFetchSuccess:
		w.Chunk, w.Body = m.Chunk, body
	case TypeChunkFetchFailure:
		w.Chunk, w.Error = m.Chunk, m.Error
	case TypeRpcRequest, TypeRpcResponse:
		w.RequestID, w.Body = m.RequestID, body
	case TypeRpcFailure:
		w.RequestID, w.Error = m.RequestID, m.Error
	case TypeStreamRequest:
		w.Stream = m.Stream
	case TypeStreamResponse:
		w.Stream, w.ByteCount = m.Stream, int64(len(body))
	case TypeStreamFailure:
		w.Stream, w.Error = m.Stream, m.Error
	case TypeOneWayMessage:
		w.Body = body
	case TypeUploadStream:
		w.RequestID, w.Meta, w.ByteCount = m.RequestID, m.Meta, int64(len(body))
	case TypeMergedBlockMetaRequest:
		w.RequestID, w.AppID = m.RequestID, m.AppID
		w.ShuffleID, w.ShuffleMergeID, w.ReduceID = m.ShuffleID, m.ShuffleMergeID, m.ReduceID
	case TypeMergedBlockMetaSuccess:
		w.RequestID, w.NumChunks, w.Body = m.RequestID, m.NumChunks, body
	}
	return w
}

// diffMessage returns "" when got equals want field by field, or a
// description of the first differences. Body and Meta compare by content, but
// a type without an in-frame body must decode with a nil Body (and only
// UploadStream may have Meta).
func diffMessage(got, want *Message) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.Type != want.Type {
		add("Type", got.Type, want.Type)
	}
	if got.RequestID != want.RequestID {
		add("RequestID", got.RequestID, want.RequestID)
	}
	if got.Chunk != want.Chunk {
		add("Chunk", got.Chunk, want.Chunk)
	}
	if got.Stream != want.Stream {
		add("Stream", fmt.Sprintf("%q", got.Stream), fmt.Sprintf("%q", want.Stream))
	}
	if got.Error != want.Error {
		add("Error", fmt.Sprintf("%q", got.Error), fmt.Sprintf("%q", want.Error))
	}
	if got.ByteCount != want.ByteCount {
		add("ByteCount", got.ByteCount, want.ByteCount)
	}
	if !bytes.Equal(got.Meta, want.Meta) || (want.Type != TypeUploadStream && got.Meta != nil) {
		add("Meta", short(got.Meta), short(want.Meta))
	}
	if got.AppID != want.AppID {
		add("AppID", got.AppID, want.AppID)
	}
	if got.ShuffleID != want.ShuffleID || got.ShuffleMergeID != want.ShuffleMergeID || got.ReduceID != want.ReduceID {
		add("ShuffleID/MergeID/ReduceID",
			[3]int32{got.ShuffleID, got.ShuffleMergeID, got.ReduceID},
			[3]int32{want.ShuffleID, want.ShuffleMergeID, want.ReduceID})
	}
	if got.NumChunks != want.NumChunks {
		add("NumChunks", got.NumChunks, want.NumChunks)
	}
	if !bytes.Equal(got.Body, want.Body) || (!want.Type.BodyInFrame() && got.Body != nil) {
		add("Body", short(got.Body), short(want.Body))
	}
	return strings.Join(d, "; ")
}

func short(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 32 {
		return fmt.Sprintf("%x... (%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%x (%d bytes)", b, len(b))
}

// encodeFrame returns m's frame header followed by body (the in-frame body, or
// the raw bytes that follow a StreamResponse/UploadStream frame).
func encodeFrame(t testing.TB, m *Message, body []byte) []byte {
	t.Helper()
	hdr, err := AppendHeader(nil, m, int64(len(body)))
	if err != nil {
		t.Fatalf("AppendHeader(%s, %d): %v", m.Type, len(body), err)
	}
	return append(hdr, body...)
}

// pieceReader returns data in pieces whose sizes next chooses, then io.EOF.
type pieceReader struct {
	data  []byte
	next  func() int
	reads int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.next()
	if n < 1 {
		n = 1
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	r.reads++
	return n, nil
}

// randomPieces reads data in random pieces of 1..max bytes.
func randomPieces(data []byte, rng *rand.Rand, max int) *pieceReader {
	return &pieceReader{data: data, next: func() int { return 1 + rng.IntN(max) }}
}

// schedulePieces reads data in pieces of the given sizes, then the rest at once.
func schedulePieces(data []byte, sizes ...int) *pieceReader {
	i := 0
	return &pieceReader{data: data, next: func() int {
		if i < len(sizes) {
			i++
			return sizes[i-1]
		}
		return len(data)
	}}
}

// loopReader repeats data forever, filling every read completely.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// collector is an Interceptor that keeps what it is given.
type collector struct {
	data      []byte
	pieces    int
	completed int
	failed    int
	failErr   error

	// dataErr is returned by the OnData call that brings the bytes received
	// to failAt or more.
	dataErr     error
	failAt      int
	completeErr error
}

func (c *collector) OnData(p []byte) error {
	c.pieces++
	c.data = append(c.data, p...)
	if c.dataErr != nil && len(c.data) >= c.failAt && len(c.data)-len(p) < c.failAt {
		return c.dataErr
	}
	return nil
}

func (c *collector) OnComplete() error { c.completed++; return c.completeErr }

func (c *collector) OnFailure(err error) { c.failed++; c.failErr = err }

// frameSpec is one frame of a test stream: a message and its body (in-frame
// or raw after the frame).
type frameSpec struct {
	msg  Message
	body []byte
}

func buildStream(t testing.TB, frames []frameSpec) []byte {
	t.Helper()
	var out []byte
	for i := range frames {
		out = append(out, encodeFrame(t, &frames[i].msg, frames[i].body)...)
	}
	return out
}

var utf8Samples = []string{"", "a", "bööm ☃", "日本語", "🙂 emoji", "x\x00y", "plain ascii text"}

func randString(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return ""
	case 1:
		return utf8Samples[rng.IntN(len(utf8Samples))]
	}
	var sb strings.Builder
	n := rng.IntN(40)
	for range n {
		if rng.IntN(5) == 0 {
			sb.WriteRune(rune(0xa0 + rng.IntN(0x2000)))
		} else {
			sb.WriteByte(byte('a' + rng.IntN(26)))
		}
	}
	return sb.String()
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// randFrame returns a frame of a random type. Every field is filled (the
// encoder must ignore the ones that do not belong to the type); bodies are
// mostly small, sometimes up to maxBody bytes.
func randFrame(rng *rand.Rand, maxBody int) frameSpec {
	m := Message{
		Type:           Type(rng.IntN(len(types))),
		RequestID:      int64(rng.Uint64()),
		Chunk:          StreamChunkID{int64(rng.Uint64()), int32(rng.Uint32())},
		Stream:         randString(rng),
		Error:          randString(rng),
		ByteCount:      int64(rng.Uint64()), // ignored by the encoder
		Meta:           randBytes(rng, rng.IntN(16)),
		AppID:          randString(rng),
		ShuffleID:      int32(rng.Uint32()),
		ShuffleMergeID: int32(rng.Uint32()),
		ReduceID:       int32(rng.Uint32()),
		NumChunks:      rng.Int32N(1000),
		Body:           []byte("ignored by the encoder"),
	}
	var body []byte
	if m.Type.HasBody() {
		n := 0
		switch rng.IntN(8) {
		case 0:
			n = 0
		case 1:
			n = rng.IntN(maxBody + 1)
		default:
			n = rng.IntN(257)
		}
		body = randBytes(rng, n)
	}
	return frameSpec{msg: m, body: body}
}
