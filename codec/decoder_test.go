package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// checkDecodeSequence decodes frames from src and checks each against
// frames, in order. After-frame bodies are collected by an interceptor and
// compared; src is released at random points, and before each release every
// Body and Meta handed out since the previous one must still hold its bytes
// (Spark's testRetainedFrames). The stream must end right after the frames.
func checkDecodeSequence(t *testing.T, src Source, frames []frameSpec, rng *rand.Rand) {
	t.Helper()
	type held struct {
		idx        int
		body, meta []byte
	}
	var retained []held
	verifyRetained := func(when string) {
		t.Helper()
		for _, h := range retained {
			f := &frames[h.idx]
			want := wantDecoded(&f.msg, f.body)
			if !bytes.Equal(h.body, want.Body) || !bytes.Equal(h.meta, want.Meta) {
				t.Fatalf("%s: frame %d (%s) changed before Release: body %s meta %s",
					when, h.idx, f.msg.Type, short(h.body), short(h.meta))
			}
		}
	}
	d := NewDecoder()
	var pending *collector
	pendingIdx := -1
	checkPending := func() {
		t.Helper()
		if pending == nil {
			return
		}
		want := frames[pendingIdx].body
		if pending.completed != 1 || pending.failed != 0 || !bytes.Equal(pending.data, want) {
			t.Fatalf("interceptor after frame %d: completed=%d failed=%d got %s want %s",
				pendingIdx, pending.completed, pending.failed, short(pending.data), short(want))
		}
		pending = nil
	}
	for i := range frames {
		f := &frames[i]
		m, err := d.Decode(src)
		if err != nil {
			t.Fatalf("frame %d (%s): Decode: %v", i, f.msg.Type, err)
		}
		checkPending()
		want := wantDecoded(&f.msg, f.body)
		if diff := diffMessage(m, &want); diff != "" {
			t.Fatalf("frame %d (%s): %s", i, f.msg.Type, diff)
		}
		retained = append(retained, held{i, m.Body, m.Meta})
		if f.msg.Type.HasBody() && !f.msg.Type.BodyInFrame() {
			c := &collector{}
			if err := d.SetInterceptor(m.ByteCount, c); err != nil {
				t.Fatalf("frame %d: SetInterceptor(%d): %v", i, m.ByteCount, err)
			}
			if m.ByteCount == 0 {
				if c.completed != 1 || d.Intercepting() {
					t.Fatalf("frame %d: empty raw body: completed=%d intercepting=%v", i, c.completed, d.Intercepting())
				}
			} else {
				pending, pendingIdx = c, i
			}
		}
		if rng.IntN(4) == 0 {
			verifyRetained(fmt.Sprintf("release after frame %d", i))
			retained = retained[:0]
			if err := src.Release(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := d.Decode(src)
	checkPending()
	verifyRetained("end of stream")
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Decode after the last frame: %v, want EOF", err)
	}
	if err := src.Release(); err != nil {
		t.Fatal(err)
	}
}

func randFrames(rng *rand.Rand, n, maxBody int) []frameSpec {
	frames := make([]frameSpec, n)
	for i := range frames {
		frames[i] = randFrame(rng, maxBody)
	}
	return frames
}

// TestDecoderRandomSplits is TransportFrameDecoderSuite.testFrameDecoding:
// many frames of random types with bodies up to 64 KiB, read in random pieces
// of 1..max bytes, decode into exactly the frames sent.
func TestDecoderRandomSplits(t *testing.T) {
	cases := []struct {
		seed             uint64
		frames, maxBody  int
		maxPiece, bufLen int
	}{
		{1, 60, 4 << 10, 1, 16}, // one byte per read
		{2, 150, 64 << 10, 3, 16},
		{3, 150, 64 << 10, 17, 64},
		{4, 150, 64 << 10, 256, DefaultReadBufferSize},
		{5, 150, 64 << 10, 4096, 1024},
		{6, 150, 64 << 10, 100_000, DefaultReadBufferSize},
		{7, 300, 1 << 10, 9, 16},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("seed%d_max%d", c.seed, c.maxPiece), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(c.seed, 0x5eed))
			frames := randFrames(rng, c.frames, c.maxBody)
			stream := buildStream(t, frames)
			rd := randomPieces(stream, rng, c.maxPiece)
			checkDecodeSequence(t, NewBufReader(rd, c.bufLen), frames, rng)
			if c.maxPiece == 1 && rd.reads != len(stream) {
				t.Errorf("%d reads for %d bytes", rd.reads, len(stream))
			}
		})
	}
}

// TestDecoderSplitLengthField is testSplitLengthField: the 8-byte length
// arrives split at every possible point, and byte by byte.
func TestDecoderSplitLengthField(t *testing.T) {
	frames := []frameSpec{
		{Message{Type: TypeRpcRequest, RequestID: 1}, bytes.Repeat([]byte{0xab}, 300)},
		{Message{Type: TypeRpcResponse, RequestID: 1}, []byte("ok")},
	}
	stream := buildStream(t, frames)
	first := len(encodeFrame(t, &frames[0].msg, frames[0].body))
	schedules := [][]int{{1, 1, 1, 1, 1, 1, 1, 1}}
	for k := 1; k < 8; k++ {
		schedules = append(schedules, []int{k, 8 - k})                  // first frame's length split
		schedules = append(schedules, []int{first + k, 8 - k})          // second frame's length split
		schedules = append(schedules, []int{k, first - k + 3, 5 - k%5}) // both
	}
	for _, s := range schedules {
		rng := rand.New(rand.NewPCG(uint64(len(s)), 1))
		checkDecodeSequence(t, NewBufReader(schedulePieces(stream, s...), 16), frames, rng)
	}
}

// TestDecoderLargeFrame is testConsolidationPerf: a 16 MiB frame arriving in
// small pieces is put back together, and so are frames around it.
func TestDecoderLargeFrame(t *testing.T) {
	body := make([]byte, 16<<20)
	for i := range body {
		body[i] = byte(i*7 + i>>16)
	}
	frames := []frameSpec{
		{Message{Type: TypeRpcRequest, RequestID: 1}, []byte("before")},
		{Message{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{9, 1}}, body},
		{Message{Type: TypeRpcRequest, RequestID: 2}, []byte("after")},
	}
	stream := buildStream(t, frames)
	rng := rand.New(rand.NewPCG(16, 16))
	rd := randomPieces(stream, rng, 8192)
	br := NewBufReader(rd, DefaultReadBufferSize)
	checkDecodeSequence(t, br, frames, rand.New(rand.NewPCG(0, 0)))
	if rd.reads < len(stream)/8192 {
		t.Errorf("only %d reads: the frame did not arrive in small pieces", rd.reads)
	}
	if len(br.buf) > shrinkAbove {
		t.Errorf("buffer still %d bytes after the big frame was released", len(br.buf))
	}
}

// TestDecoderInterception is testInterception: after a StreamResponse (or
// UploadStream) with ByteCount n the interceptor gets exactly the next n raw
// bytes, in pieces, then framing resumes.
func TestDecoderInterception(t *testing.T) {
	raw := make([]byte, 100_000)
	for i := range raw {
		raw[i] = byte(i % 251)
	}
	frames := []frameSpec{
		{Message{Type: TypeStreamResponse, Stream: "s1"}, raw},
		{Message{Type: TypeRpcRequest, RequestID: 1}, []byte("next frame")},
		{Message{Type: TypeUploadStream, RequestID: 2, Meta: []byte("m")}, raw[:5]},
		{Message{Type: TypeStreamResponse, Stream: "empty"}, nil},
		{Message{Type: TypeOneWayMessage}, []byte("after empty")},
		{Message{Type: TypeStreamResponse, Stream: "one"}, []byte{0}},
		{Message{Type: TypeStreamResponse, Stream: "back to back"}, raw[:3]},
	}
	stream := buildStream(t, frames)
	for _, max := range []int{1, 2, 7, 1000, 1 << 20} {
		rng := rand.New(rand.NewPCG(uint64(max), 3))
		checkDecodeSequence(t, NewBufReader(randomPieces(stream, rng, max), 16), frames, rng)
	}

	// The interceptor gets pieces, never more than n bytes, even when the
	// next frame is already buffered.
	d := NewDecoder()
	br := NewBufReader(bytes.NewReader(stream), 1<<20)
	m, err := d.Decode(br)
	if err != nil || m.ByteCount != int64(len(raw)) {
		t.Fatalf("Decode: %v %d", err, m.ByteCount)
	}
	var c collector
	if err := d.SetInterceptor(m.ByteCount, &c); err != nil {
		t.Fatal(err)
	}
	if !d.Intercepting() {
		t.Fatal("Intercepting = false after SetInterceptor")
	}
	m, err = d.Decode(br)
	if err != nil || m.Type != TypeRpcRequest || string(m.Body) != "next frame" {
		t.Fatalf("frame after the raw bytes: %v %v", m, err)
	}
	if !bytes.Equal(c.data, raw) || c.completed != 1 || c.failed != 0 || d.Intercepting() {
		t.Fatalf("interceptor: %d bytes, completed=%d failed=%d", len(c.data), c.completed, c.failed)
	}
}

func TestSetInterceptorErrors(t *testing.T) {
	d := NewDecoder()
	var a, b collector
	if err := d.SetInterceptor(10, &a); err != nil {
		t.Fatal(err)
	}
	if err := d.SetInterceptor(10, &b); !errors.Is(err, ErrInterceptorInstalled) {
		t.Errorf("second interceptor: %v, want ErrInterceptorInstalled", err)
	}
	// Even a zero-length one: nothing may be called on it.
	if err := d.SetInterceptor(0, &b); !errors.Is(err, ErrInterceptorInstalled) || b.completed != 0 {
		t.Errorf("second zero-length interceptor: %v, completed=%d", err, b.completed)
	}
	d.Fail(io.ErrClosedPipe)
	if a.failed != 1 || !errors.Is(a.failErr, io.ErrClosedPipe) || d.Intercepting() {
		t.Errorf("Fail: failed=%d err=%v", a.failed, a.failErr)
	}
	d.Fail(io.ErrClosedPipe) // nothing installed: no-op
	if a.failed != 1 {
		t.Errorf("second Fail called OnFailure again")
	}
	if err := d.SetInterceptor(-1, &b); !errors.Is(err, ErrMalformed) || d.Intercepting() {
		t.Errorf("negative length: %v", err)
	}
	// OnComplete's error comes back from SetInterceptor(0).
	boom := errors.New("boom")
	c := collector{completeErr: boom}
	if err := d.SetInterceptor(0, &c); !errors.Is(err, boom) || c.completed != 1 {
		t.Errorf("SetInterceptor(0) = %v, completed=%d", err, c.completed)
	}
}

// TestDecoderInterceptionTruncated: the stream ends in the middle of the raw
// bytes. Decode returns an error, and the owner's Fail delivers OnFailure
// exactly once (never OnComplete).
func TestDecoderInterceptionTruncated(t *testing.T) {
	m := Message{Type: TypeStreamResponse, Stream: "s"}
	hdr, err := AppendHeader(nil, &m, 100)
	if err != nil {
		t.Fatal(err)
	}
	stream := append(hdr, make([]byte, 40)...)
	for _, max := range []int{1, 10, 1000} {
		d := NewDecoder()
		br := NewBufReader(randomPieces(stream, rand.New(rand.NewPCG(1, 1)), max), 16)
		got, err := d.Decode(br)
		if err != nil || got.ByteCount != 100 {
			t.Fatalf("Decode: %v", err)
		}
		var c collector
		if err := d.SetInterceptor(got.ByteCount, &c); err != nil {
			t.Fatal(err)
		}
		_, err = d.Decode(br)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Decode with the stream cut: %v, want ErrUnexpectedEOF", err)
		}
		if c.failed != 0 || c.completed != 0 || len(c.data) != 40 || !d.Intercepting() {
			t.Fatalf("before Fail: failed=%d completed=%d data=%d", c.failed, c.completed, len(c.data))
		}
		d.Fail(err)
		d.Fail(err)
		if c.failed != 1 || c.completed != 0 || !errors.Is(c.failErr, io.ErrUnexpectedEOF) || d.Intercepting() {
			t.Fatalf("after Fail: failed=%d completed=%d err=%v", c.failed, c.completed, c.failErr)
		}
		// Decode keeps failing, it does not hang or panic.
		if _, err := d.Decode(br); err == nil {
			t.Fatal("Decode after the end succeeded")
		}
	}
}

// TestInterceptorCallbackErrors: an error from OnData is fatal and the
// interceptor hears of it once through OnFailure, whether it is the last
// piece or not; an error from OnComplete is returned by Decode.
func TestInterceptorCallbackErrors(t *testing.T) {
	m := Message{Type: TypeStreamResponse, Stream: "s"}
	hdr, err := AppendHeader(nil, &m, 10)
	if err != nil {
		t.Fatal(err)
	}
	next := Message{Type: TypeOneWayMessage}
	stream := append(append(hdr, "0123456789"...), encodeFrame(t, &next, []byte("x"))...)
	boom := errors.New("boom")
	cases := []struct {
		name         string
		pieces       []int // read schedule
		failAt       int
		completeErr  error
		wantFailed   int
		wantComplete int
	}{
		{"first of several pieces", []int{len(hdr), 3, 3, 4}, 1, nil, 1, 0},
		{"middle piece", []int{len(hdr), 3, 3, 4}, 5, nil, 1, 0},
		{"last of several pieces", []int{len(hdr), 3, 3, 4}, 10, nil, 1, 0},
		{"only piece", nil, 10, nil, 1, 0},
		{"OnComplete fails", nil, 0, boom, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			br := NewBufReader(schedulePieces(stream, c.pieces...), 64)
			got, err := d.Decode(br)
			if err != nil {
				t.Fatal(err)
			}
			ic := &collector{failAt: c.failAt, completeErr: c.completeErr}
			if c.failAt > 0 {
				ic.dataErr = boom
			}
			if err := d.SetInterceptor(got.ByteCount, ic); err != nil {
				t.Fatal(err)
			}
			_, err = d.Decode(br)
			if !errors.Is(err, boom) {
				t.Fatalf("Decode: %v, want boom", err)
			}
			if ic.failed != c.wantFailed || ic.completed != c.wantComplete {
				t.Fatalf("OnFailure called %d times, OnComplete %d; want %d and %d",
					ic.failed, ic.completed, c.wantFailed, c.wantComplete)
			}
			if c.wantFailed == 1 && !errors.Is(ic.failErr, boom) {
				t.Errorf("OnFailure(%v), want boom", ic.failErr)
			}
			if d.Intercepting() {
				t.Error("interceptor still installed after its failure")
			}
			d.Fail(io.ErrClosedPipe) // must not reach the finished interceptor
			if ic.failed != c.wantFailed {
				t.Error("Fail reached an interceptor that was already done")
			}
		})
	}
}

// TestDecoderRetainedFrames is testRetainedFrames: Decode many frames before
// one Release; each earlier Body must keep its bytes while the buffer fills,
// grows and reads more.
func TestDecoderRetainedFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	var frames []frameSpec
	for i := range 200 {
		frames = append(frames, frameSpec{
			Message{Type: TypeRpcRequest, RequestID: int64(i)},
			bytes.Repeat([]byte{byte(i)}, 1+rng.IntN(3000)),
		})
	}
	stream := buildStream(t, frames)
	br := NewBufReader(randomPieces(stream, rng, 5000), 256)
	d := NewDecoder()
	var bodies [][]byte
	for i := range frames {
		m, err := d.Decode(br)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, m.Body)
		for j, b := range bodies {
			if !bytes.Equal(b, frames[j].body) {
				t.Fatalf("after decoding frame %d, frame %d's body changed", i, j)
			}
		}
	}
	if err := br.Release(); err != nil {
		t.Fatal(err)
	}
}

func lengthFrame(fl int64, rest ...byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(fl)), rest...)
}

// TestDecoderFrameLength covers testNegativeFrameSize, testEmptyFrame and the
// size limits.
func TestDecoderFrameLength(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		max  int64
		want error
	}{
		{"-1", lengthFrame(-1, 3, 0, 0), 0, ErrFrameLength},
		{"min int64", lengthFrame(math.MinInt64), 0, ErrFrameLength},
		{"0", lengthFrame(0), 0, ErrFrameLength},
		{"7", lengthFrame(7), 0, ErrFrameLength},
		{"8 (empty frame)", lengthFrame(8, 3), 0, ErrFrameLength},
		{"Spark limit + 1", lengthFrame(MaxFrameLength + 1), 0, ErrFrameTooLarge},
		{"max int64", lengthFrame(math.MaxInt64), 0, ErrFrameTooLarge},
		{"2^32", lengthFrame(1 << 32), 0, ErrFrameTooLarge},
		{"decoder limit + 1", lengthFrame(101), 100, ErrFrameTooLarge},
		{"decoder limit above Spark's", lengthFrame(MaxFrameLength + 1), math.MaxInt64, ErrFrameTooLarge},
		{"both limits", lengthFrame(MaxFrameLength + 1), 100, ErrFrameTooLarge},
	}
	for _, c := range cases {
		d := NewDecoder()
		d.MaxFrameLength = c.max
		_, err := d.Decode(NewBufReader(bytes.NewReader(c.in), 16))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// At the decoder's limit exactly, the frame is accepted.
	m := Message{Type: TypeRpcRequest, RequestID: 1}
	frame := encodeFrame(t, &m, make([]byte, 100-21))
	d := NewDecoder()
	d.MaxFrameLength = 100
	if got, err := d.Decode(NewBufReader(bytes.NewReader(frame), 16)); err != nil || len(got.Body) != 79 {
		t.Errorf("frame of exactly MaxFrameLength: %v", err)
	}
}

func TestDecoderUnknownTypes(t *testing.T) {
	for _, typ := range []byte{13, 0xff, 0x80, 0x7f} {
		_, err := NewDecoder().Decode(NewBufReader(bytes.NewReader(lengthFrame(9+12, append([]byte{typ}, make([]byte, 12)...)...)), 16))
		if !errors.Is(err, ErrUnknownType) {
			t.Errorf("type %d: %v, want ErrUnknownType", int8(typ), err)
		}
	}
}

func TestDecoderMalformed(t *testing.T) {
	cases := map[string][]byte{
		"string length past the frame": append(lengthFrame(9+4+1, 6), unhex("00000002 61")...),
		"negative string length":       append(lengthFrame(9+4, 6), unhex("ffffffff")...),
		"negative ByteCount":           append(lengthFrame(9+4+1+8, 7), unhex("00000001 61 fffffffffffffff6")...),
		"negative NumChunks":           append(lengthFrame(9+12, 12), unhex("0000000000000001 ffffffff")...),
		"negative meta length":         append(lengthFrame(9+8+4+8, 10), unhex("0000000000000001 ffffffff 0000000000000000")...),
		"header shorter than its type": append(lengthFrame(9+4, 3), unhex("00000000")...),
	}
	for name, in := range cases {
		// Trailing frames must not rescue a malformed one.
		in = append(in, unhex(hexRpcRequest)...)
		_, err := NewDecoder().Decode(NewBufReader(bytes.NewReader(in), 16))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestDecoderTruncatedStreams cuts a stream of frames (with raw bodies) at
// every byte: decoding yields the complete frames, then an error — never a
// panic or a hang — and an interceptor cut off hears OnFailure once.
func TestDecoderTruncatedStreams(t *testing.T) {
	frames := []frameSpec{
		{Message{Type: TypeRpcRequest, RequestID: 1}, []byte("hello")},
		{Message{Type: TypeStreamResponse, Stream: "s"}, []byte("0123456789")},
		{Message{Type: TypeRpcFailure, RequestID: 1, Error: "bööm"}, nil},
		{Message{Type: TypeUploadStream, RequestID: 2, Meta: []byte("meta")}, []byte("up")},
		{Message{Type: TypeMergedBlockMetaSuccess, RequestID: 3, NumChunks: 1}, unhex(hexBitmap1)},
	}
	stream := buildStream(t, frames)
	var ends []int // where each frame (with its raw bytes) ends
	off := 0
	for i := range frames {
		off += len(encodeFrame(t, &frames[i].msg, frames[i].body))
		ends = append(ends, off)
	}
	for cut := 0; cut < len(stream); cut++ {
		for _, rdFor := range []func([]byte) io.Reader{
			func(b []byte) io.Reader { return bytes.NewReader(b) },
			func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		} {
			d := NewDecoder()
			br := NewBufReader(rdFor(stream[:cut]), 16)
			var ics []*collector
			n := 0
			var err error
			for {
				var m *Message
				m, err = d.Decode(br)
				if err != nil {
					break
				}
				n++
				if m.Type.HasBody() && !m.Type.BodyInFrame() {
					c := &collector{}
					ics = append(ics, c)
					if err := d.SetInterceptor(m.ByteCount, c); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut %d: %v, want ErrUnexpectedEOF", cut, err)
			}
			complete := 0
			for _, e := range ends {
				if e <= cut {
					complete++
				}
			}
			// A frame whose raw bytes are cut off still decodes itself.
			if n < complete || n > complete+1 {
				t.Fatalf("cut %d: decoded %d frames, %d complete", cut, n, complete)
			}
			cutOff := d.Intercepting()
			d.Fail(err)
			for i, c := range ics {
				last := i == len(ics)-1
				if last && cutOff {
					if c.failed != 1 || c.completed != 0 {
						t.Fatalf("cut %d: cut-off interceptor failed=%d completed=%d", cut, c.failed, c.completed)
					}
				} else if c.failed != 0 || c.completed != 1 {
					t.Fatalf("cut %d: interceptor %d failed=%d completed=%d", cut, i, c.failed, c.completed)
				}
			}
		}
	}
}

// errAfterReader returns data, then err.
type errAfterReader struct {
	data []byte
	err  error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecoderReadError(t *testing.T) {
	broken := errors.New("connection reset")
	full := unhex(hexRpcRequest)
	// The first frame decodes, the cut second one reports the read error.
	in := append(append([]byte(nil), full...), full[:12]...)
	br := NewBufReader(&errAfterReader{in, broken}, 16)
	d := NewDecoder()
	if _, err := d.Decode(br); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(br); !errors.Is(err, broken) {
		t.Fatalf("Decode: %v, want the read error", err)
	}
	if _, err := d.Decode(br); !errors.Is(err, broken) {
		t.Fatalf("Decode again: %v, want the read error", err)
	}
	// A timeout after a whole frame: the frame is still delivered.
	br = NewBufReader(iotest.TimeoutReader(bytes.NewReader(full)), 64)
	if m, err := d.Decode(br); err != nil || string(m.Body) != "hello" {
		t.Fatalf("Decode: %v", err)
	}
	if _, err := d.Decode(br); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("Decode: %v, want ErrTimeout", err)
	}
}

// TestDecoderReusesMessage: Decode returns the same *Message each time and
// clears the fields of the previous frame.
func TestDecoderReusesMessage(t *testing.T) {
	in := append(unhex(hexUploadStream), unhex(hexOneWay)...)
	d := NewDecoder()
	br := NewBufReader(bytes.NewReader(in), 16)
	m1, err := d.Decode(br)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetInterceptor(m1.ByteCount, &collector{}); err != nil {
		t.Fatal(err)
	}
	m2, err := d.Decode(br)
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Error("Decode returned a new Message")
	}
	want := Message{Type: TypeOneWayMessage, Body: []byte("ping")}
	if diff := diffMessage(m2, &want); diff != "" {
		t.Error(diff)
	}
}

// countingSource wraps a Source and counts the calls that may block.
type countingSource struct {
	Source
	blocking int
}

func (s *countingSource) Peek(n int) ([]byte, error) { s.blocking++; return s.Source.Peek(n) }
func (s *countingSource) Next(n int) ([]byte, error) {
	if n > s.Source.Len() {
		s.blocking++
	}
	return s.Source.Next(n)
}

// TestDecoderFeed: Feed hands the interceptor only what is already buffered,
// never blocks, and is a no-op without an interceptor.
func TestDecoderFeed(t *testing.T) {
	m := Message{Type: TypeStreamResponse, Stream: "s"}
	hdr, err := AppendHeader(nil, &m, 10)
	if err != nil {
		t.Fatal(err)
	}
	next := Message{Type: TypeOneWayMessage}
	stream := append(append(hdr, "0123456789"...), encodeFrame(t, &next, []byte("x"))...)
	br := NewBufReader(schedulePieces(stream, len(hdr)+4, 3, 100), 64)
	src := &countingSource{Source: br}
	d := NewDecoder()
	if err := d.Feed(src); err != nil || src.blocking != 0 {
		t.Fatalf("Feed without an interceptor: %v, %d blocking calls", err, src.blocking)
	}
	got, err := d.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	if err := d.SetInterceptor(got.ByteCount, c); err != nil {
		t.Fatal(err)
	}
	src.blocking = 0
	if err := d.Feed(src); err != nil || string(c.data) != "0123" || src.blocking != 0 {
		t.Fatalf("Feed: %v, got %q, %d blocking calls", err, c.data, src.blocking)
	}
	if err := d.Feed(src); err != nil || string(c.data) != "0123" || src.blocking != 0 {
		t.Fatalf("Feed with nothing buffered: %v, got %q, %d blocking calls", err, c.data, src.blocking)
	}
	if err := br.Fill(); err != nil { // 3 more bytes
		t.Fatal(err)
	}
	if err := d.Feed(src); err != nil || string(c.data) != "0123456" || c.completed != 0 {
		t.Fatalf("Feed: %v, got %q", err, c.data)
	}
	if err := br.Fill(); err != nil { // the rest and the next frame
		t.Fatal(err)
	}
	if err := d.Feed(src); err != nil || string(c.data) != "0123456789" || c.completed != 1 || d.Intercepting() {
		t.Fatalf("Feed: %v, got %q completed=%d", err, c.data, c.completed)
	}
	if br.Len() != len(stream)-len(hdr)-10 {
		t.Fatalf("Feed took %d bytes of the next frame", len(stream)-len(hdr)-10-br.Len())
	}
	if got, err := d.Decode(src); err != nil || got.Type != TypeOneWayMessage || string(got.Body) != "x" {
		t.Fatalf("frame after the raw bytes: %v", err)
	}
}
