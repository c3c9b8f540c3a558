package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fuzzSeedFrames are complete frames (raw after-frame bytes included) from
// the golden vectors and this package's own MergedBlockMeta vectors,
// embedded so the fuzz targets need no shared/ directory.
func fuzzSeedFrames() [][]byte {
	var out [][]byte
	for _, hx := range []string{
		hexRpcRequest, hexRpcResponseEmpty, hexRpcFailureUTF8, hexOneWay,
		hexChunkFetchSuccess, hexChunkFetchFailure, hexStreamResponse,
		hexStreamFailure, hexUploadStream, hexRpcOpenBlocks,
		hexMergedBlockMetaRequest, hexMergedBlockMetaSuccess, hexMergedBlockMetaSuccessEmpty,
		"000000000000001500112233445566778800000003",               // ChunkFetchRequest
		"000000000000001c060000000f66696c653a2f746d702f782e62696e", // StreamRequest
		"00000000000000160700000001730000000000000000",             // StreamResponse, no raw bytes
	} {
		out = append(out, unhex(hx))
	}
	return out
}

// frameContent returns the bytes after the length field of a complete frame.
func frameContent(full []byte) []byte {
	return full[8:binary.BigEndian.Uint64(full)]
}

// bodySizeOffset is where the ignored i32 bodySize sits in a frame's content
// (after the length field), or -1.
func bodySizeOffset(t Type) int {
	switch t {
	case TypeRpcRequest, TypeRpcResponse:
		return 1 + 8
	case TypeOneWayMessage:
		return 1
	}
	return -1
}

// checkReencode re-encodes a decoded message and checks that the result
// decodes to the same fields. It returns the re-encoded frame content.
func checkReencode(t *testing.T, m *Message) []byte {
	t.Helper()
	var body []byte
	var bodyLen int64
	switch {
	case m.Type.BodyInFrame():
		body, bodyLen = m.Body, int64(len(m.Body))
	case m.Type.HasBody():
		bodyLen = m.ByteCount
	}
	enc, err := AppendHeader(nil, m, bodyLen)
	if err != nil {
		t.Fatalf("re-encoding a decoded %s: %v", m.Type, err)
	}
	enc = append(enc, body...)
	if fl := binary.BigEndian.Uint64(enc); fl != uint64(len(enc)) || int64(fl) != m.FrameLength(bodyLen) {
		t.Fatalf("%s: frame length field %d, %d bytes encoded, FrameLength %d", m.Type, fl, len(enc), m.FrameLength(bodyLen))
	}
	var m2 Message
	if err := DecodeFrame(enc[8:], &m2); err != nil {
		t.Fatalf("decoding the re-encoded %s: %v", m.Type, err)
	}
	if d := diffMessage(&m2, m); d != "" {
		t.Fatalf("re-encoded %s decodes differently: %s", m.Type, d)
	}
	return enc[8:]
}

func isDecodeError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownType) || errors.Is(err, ErrFrameLength)
}

// FuzzDecodeFrame: DecodeFrame never panics; what it accepts re-encodes to
// the same fields, and to the same bytes apart from the ignored bodySize and
// trailing bytes after a body-less header.
func FuzzDecodeFrame(f *testing.F) {
	for _, full := range fuzzSeedFrames() {
		frame := frameContent(full)
		f.Add(frame)
		f.Add(frame[:len(frame)/2])
		f.Add(frame[:1])
		f.Add(append(append([]byte(nil), frame...), 0xff, 0xff, 0xff, 0xff))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add([]byte{13})
	f.Add(unhex("07 00000001 61 ffffffffffffffff"))
	f.Add(unhex("0a 0000000000000001 ffffffff"))
	f.Add(unhex("0c 0000000000000001 80000000"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m Message
		if err := DecodeFrame(frame, &m); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("DecodeFrame error %v wraps no sentinel", err)
			}
			return
		}
		if len(frame) == 0 || m.Type != Type(int8(frame[0])) || !m.Type.Valid() {
			t.Fatalf("decoded type %d from %x", m.Type, frame)
		}
		if m.ByteCount < 0 || m.NumChunks < 0 {
			t.Fatalf("negative counts accepted: %d %d", m.ByteCount, m.NumChunks)
		}
		enc := checkReencode(t, &m)
		got := frame
		if !m.Type.BodyInFrame() {
			if len(got) < len(enc) {
				t.Fatalf("%s: decoded from %d bytes, its encoding needs %d", m.Type, len(got), len(enc))
			}
			got = got[:len(enc)]
		}
		if off := bodySizeOffset(m.Type); off >= 0 {
			got = append([]byte(nil), got...)
			copy(got[off:off+4], enc[off:off+4])
		}
		if !bytes.Equal(got, enc) {
			t.Fatalf("%s: re-encoding differs\n  input %x\nencoded %x", m.Type, got, enc)
		}
	})
}

// xorshift32 is a tiny deterministic generator for read sizes.
type xorshift32 uint32

func (x *xorshift32) next() uint32 {
	v := uint32(*x)
	v ^= v << 13
	v ^= v >> 17
	v ^= v << 5
	*x = xorshift32(v)
	return v
}

// FuzzDecoderStream: arbitrary bytes through Decoder+BufReader, read in
// pieces whose sizes derive from the first input byte. No panic; decoding
// stops at the first error, which must be a decoding or EOF error; raw
// after-frame bytes go to interceptors that end exactly once; frames stay
// intact until Release.
func FuzzDecoderStream(f *testing.F) {
	seeds := fuzzSeedFrames()
	var all []byte
	for _, s := range seeds {
		all = append(all, s...)
	}
	for _, ctl := range []byte{0x00, 0x07, 0x3f, 0x40, 0xc1} {
		f.Add(append([]byte{ctl}, all...))
		f.Add(append([]byte{ctl}, all[:len(all)*2/3]...))
	}
	for i, s := range seeds {
		f.Add(append([]byte{byte(i * 37)}, s...))
		f.Add(append([]byte{byte(i * 11)}, s[:len(s)-1]...))
		f.Add(append([]byte{byte(i)}, s[:5]...))
	}
	f.Add(append([]byte{1}, unhex("ffffffffffffffff 03")...))
	f.Add(append([]byte{2}, unhex("0000000000000008 03")...))
	f.Add(append([]byte{3}, unhex("7fffffffffffffff 03")...))
	f.Add(append([]byte{4}, unhex("0000000000000016 07 00000001 61 7fffffffffffffff 0102")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ctl, stream := data[0], data[1:]
		maxPiece := uint32(ctl&0x3f) + 1
		releaseEvery := int(ctl>>6) + 1
		rng := xorshift32(uint32(ctl)*2654435761 | 1)
		rd := &pieceReader{data: stream, next: func() int { return 1 + int(rng.next()%maxPiece) }}
		br := NewBufReader(rd, 16)
		d := NewDecoder()
		d.MaxFrameLength = 1 << 20 // keep memory bounded: 8 bytes may claim 2 GiB

		type held struct{ body, meta, wantBody, wantMeta []byte }
		var retained []held
		checkRetained := func() {
			for i, h := range retained {
				if !bytes.Equal(h.body, h.wantBody) || !bytes.Equal(h.meta, h.wantMeta) {
					t.Fatalf("retained frame %d changed before Release", i)
				}
			}
			retained = retained[:0]
		}
		type icWant struct {
			c *collector
			n int64
		}
		var ics []icWant
		for i := 0; ; i++ {
			m, err := d.Decode(br)
			if err != nil {
				if !isDecodeError(err) && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("Decode: unexpected error %v", err)
				}
				intercepting := d.Intercepting()
				d.Fail(err)
				for j, ic := range ics {
					cutOff := intercepting && j == len(ics)-1
					switch {
					case cutOff && (ic.c.failed != 1 || ic.c.completed != 0 || int64(len(ic.c.data)) >= ic.n):
						t.Fatalf("cut-off interceptor: failed=%d completed=%d got %d of %d bytes",
							ic.c.failed, ic.c.completed, len(ic.c.data), ic.n)
					case !cutOff && (ic.c.failed != 0 || ic.c.completed != 1 || int64(len(ic.c.data)) != ic.n):
						t.Fatalf("interceptor %d: failed=%d completed=%d got %d of %d bytes",
							j, ic.c.failed, ic.c.completed, len(ic.c.data), ic.n)
					}
				}
				break
			}
			checkReencode(t, m)
			retained = append(retained, held{m.Body, m.Meta,
				append([]byte(nil), m.Body...), append([]byte(nil), m.Meta...)})
			if m.Type.HasBody() && !m.Type.BodyInFrame() {
				c := &collector{}
				if err := d.SetInterceptor(m.ByteCount, c); err != nil {
					t.Fatalf("SetInterceptor(%d): %v", m.ByteCount, err)
				}
				if m.ByteCount == 0 {
					if c.completed != 1 {
						t.Fatal("empty raw body: no OnComplete")
					}
				} else {
					ics = append(ics, icWant{c, m.ByteCount})
				}
			}
			if i%releaseEvery == 0 {
				checkRetained()
				if err := br.Release(); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkRetained()
	})
}

// FuzzReader: the primitive readers on arbitrary input, driven by ops. No
// panic, errors stick, and arrays are never larger than the bytes that
// could hold them: a count past the remaining bytes fails before allocating.
func FuzzReader(f *testing.F) {
	openBlocks := openBlocksPayload()
	f.Add([]byte{7, 3, 3, 0}, openBlocks)
	f.Add([]byte{0}, unhex("7fffffff 00000000"))
	f.Add([]byte{1}, unhex("7fffffff 00000000"))
	f.Add([]byte{2}, unhex("10000000 0000000000000000"))
	f.Add([]byte{1, 2}, AppendLongArray(AppendIntArray(nil, []int32{1, -1, 3}), []int64{-5, 1 << 40}))
	f.Add([]byte{0, 0}, AppendStringArray(AppendStringArray(nil, []string{"a", "bööm"}), nil))
	f.Add([]byte{3, 4, 5, 6, 8}, unhex("00000001 61 00000002 0102 00000003 0000000000000004 01"))
	f.Add([]byte{0}, unhex("00000002 00000001 61 ffffffff"))
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		r := NewReader(data)
		for _, op := range ops {
			before := r.Remaining()
			hadErr := r.Err() != nil
			// The count prefix, when there is one.
			count := int64(-1)
			if len(before) >= 4 {
				count = int64(int32(binary.BigEndian.Uint32(before)))
			}
			rest := max(int64(len(before))-4, 0) // bytes after a length or count prefix
			var n int                            // elements returned
			var minSize int64
			var isArray bool
			switch op % 9 {
			case 0:
				v := r.StringArray()
				n, minSize, isArray = len(v), 4, true
			case 1:
				v := r.IntArray()
				n, minSize, isArray = len(v), 4, true
			case 2:
				v := r.LongArray()
				n, minSize, isArray = len(v), 8, true
			case 3:
				if s := r.String(); int64(len(s)) > rest {
					t.Fatalf("String of %d bytes from %d", len(s), rest)
				}
			case 4:
				if b := r.Bytes(); int64(len(b)) > rest {
					t.Fatalf("Bytes of %d bytes from %d", len(b), rest)
				}
			case 5:
				r.Int32()
			case 6:
				r.Int64()
			case 7:
				r.Byte()
			case 8:
				r.Bool()
			}
			err := r.Err()
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Reader error %v is not ErrMalformed", err)
			}
			if hadErr && (n != 0 || len(r.Remaining()) != 0) {
				t.Fatal("reads after an error returned data")
			}
			if len(r.Remaining()) > len(before) {
				t.Fatal("Remaining grew")
			}
			if isArray {
				if int64(n)*minSize > rest {
					t.Fatalf("array of %d elements from %d bytes", n, rest)
				}
				if !hadErr && count >= 0 && count*minSize > rest && err == nil {
					t.Fatalf("count %d past the remaining %d bytes accepted", count, rest)
				}
				if err == nil && int64(n) != count {
					t.Fatalf("array of %d elements, count %d", n, count)
				}
			}
		}
	})
}
