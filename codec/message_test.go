package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestTypeTable(t *testing.T) {
	cases := []struct {
		t                          Type
		name                       string
		request, body, bodyInFrame bool
	}{
		{TypeChunkFetchRequest, "ChunkFetchRequest", true, false, false},
		{TypeChunkFetchSuccess, "ChunkFetchSuccess", false, true, true},
		{TypeChunkFetchFailure, "ChunkFetchFailure", false, false, false},
		{TypeRpcRequest, "RpcRequest", true, true, true},
		{TypeRpcResponse, "RpcResponse", false, true, true},
		{TypeRpcFailure, "RpcFailure", false, false, false},
		{TypeStreamRequest, "StreamRequest", true, false, false},
		{TypeStreamResponse, "StreamResponse", false, true, false},
		{TypeStreamFailure, "StreamFailure", false, false, false},
		{TypeOneWayMessage, "OneWayMessage", true, true, true},
		{TypeUploadStream, "UploadStream", true, true, false},
		{TypeMergedBlockMetaRequest, "MergedBlockMetaRequest", true, false, false},
		{TypeMergedBlockMetaSuccess, "MergedBlockMetaSuccess", false, true, true},
	}
	if len(cases) != len(types) {
		t.Fatalf("%d types in the table, %d tested", len(types), len(cases))
	}
	for i, c := range cases {
		if int(c.t) != i {
			t.Errorf("%s has id %d, want %d", c.name, c.t, i)
		}
		if !c.t.Valid() || c.t.String() != c.name || c.t.IsRequest() != c.request ||
			c.t.HasBody() != c.body || c.t.BodyInFrame() != c.bodyInFrame {
			t.Errorf("%d: Valid=%v String=%q IsRequest=%v HasBody=%v BodyInFrame=%v", i,
				c.t.Valid(), c.t.String(), c.t.IsRequest(), c.t.HasBody(), c.t.BodyInFrame())
		}
	}
	for _, bad := range []Type{TypeUser, 13, 127, -128, -2} {
		if bad.Valid() || bad.IsRequest() || bad.HasBody() || bad.BodyInFrame() {
			t.Errorf("type %d should be invalid", bad)
		}
	}
	if TypeUser.String() != "User" || Type(13).String() != "Type(13)" || Type(-128).String() != "Type(-128)" {
		t.Errorf("String: %q %q %q", TypeUser, Type(13), Type(-128))
	}
}

func TestHeaderLen(t *testing.T) {
	cases := []struct {
		m    Message
		want int
	}{
		{Message{Type: TypeChunkFetchRequest}, 12},
		{Message{Type: TypeChunkFetchSuccess}, 12},
		{Message{Type: TypeChunkFetchFailure, Error: "abc"}, 12 + 4 + 3},
		{Message{Type: TypeRpcRequest}, 12},
		{Message{Type: TypeRpcResponse}, 12},
		{Message{Type: TypeRpcFailure, Error: "☃"}, 8 + 4 + 3},
		{Message{Type: TypeStreamRequest, Stream: "ab"}, 4 + 2},
		{Message{Type: TypeStreamResponse, Stream: "ab"}, 4 + 2 + 8},
		{Message{Type: TypeStreamFailure, Stream: "ab", Error: "xyz"}, 4 + 2 + 4 + 3},
		{Message{Type: TypeOneWayMessage}, 4},
		{Message{Type: TypeUploadStream, Meta: []byte{1, 2}}, 8 + 4 + 2 + 8},
		{Message{Type: TypeMergedBlockMetaRequest, AppID: "app"}, 8 + 4 + 3 + 12},
		{Message{Type: TypeMergedBlockMetaSuccess}, 12},
		{Message{Type: 13}, 0},
		{Message{Type: TypeUser}, 0},
	}
	for _, c := range cases {
		if got := c.m.HeaderLen(); got != c.want {
			t.Errorf("%s: HeaderLen = %d, want %d", c.m.Type, got, c.want)
		}
		if !c.m.Type.Valid() {
			continue
		}
		hdr, err := AppendHeader(nil, &c.m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hdr) != frameHeaderLen+c.want {
			t.Errorf("%s: header is %d bytes, want %d", c.m.Type, len(hdr), frameHeaderLen+c.want)
		}
	}
}

// TestBodyOffset: an in-frame body starts where DecodeFrame finds it, for
// every type with one; the others report 0.
func TestBodyOffset(t *testing.T) {
	body := []byte("the body")
	for ty := Type(0); ty.Valid(); ty++ {
		m := Message{Type: ty}
		if !ty.BodyInFrame() {
			if got := ty.BodyOffset(); got != 0 {
				t.Errorf("%s: BodyOffset = %d, want 0", ty, got)
			}
			continue
		}
		frame, err := AppendHeader(nil, &m, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		frame = append(frame, body...)
		var d Message
		if err := DecodeFrame(frame[8:], &d); err != nil {
			t.Fatal(err)
		}
		if got := ty.BodyOffset(); got != len(frame)-len(d.Body) || string(frame[got:]) != string(body) {
			t.Errorf("%s: BodyOffset = %d, body found at %d", ty, got, len(frame)-len(d.Body))
		}
	}
	if got := TypeUser.BodyOffset(); got != 0 {
		t.Errorf("TypeUser: BodyOffset = %d, want 0", got)
	}
}

func TestAppendHeaderErrors(t *testing.T) {
	prefix := []byte("prefix")
	check := func(name string, m Message, bodyLen int64, want error) {
		t.Helper()
		dst := append([]byte(nil), prefix...)
		out, err := AppendHeader(dst, &m, bodyLen)
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
		if !bytes.Equal(out, prefix) {
			t.Errorf("%s: dst changed on error: %q", name, out)
		}
	}
	check("unknown type 13", Message{Type: 13}, 0, ErrUnknownType)
	check("User type", Message{Type: TypeUser}, 0, ErrUnknownType)
	check("body on ChunkFetchRequest", Message{Type: TypeChunkFetchRequest}, 1, ErrNoBody)
	check("body on RpcFailure", Message{Type: TypeRpcFailure}, 10, ErrNoBody)
	check("body on MergedBlockMetaRequest", Message{Type: TypeMergedBlockMetaRequest}, 10, ErrNoBody)
	check("negative body", Message{Type: TypeRpcRequest}, -1, ErrNoBody)
	check("in-frame body past Spark's limit", Message{Type: TypeRpcRequest}, math.MaxInt32, ErrFrameTooLarge)
	check("in-frame body > 2^31", Message{Type: TypeChunkFetchSuccess}, 1<<40, ErrFrameTooLarge)

	// The largest in-frame body Spark accepts: frameLength == MaxFrameLength.
	m := Message{Type: TypeRpcRequest}
	limit := int64(MaxFrameLength - frameHeaderLen - m.HeaderLen())
	hdr, err := AppendHeader(nil, &m, limit)
	if err != nil {
		t.Fatalf("body of %d bytes: %v", limit, err)
	}
	if fl := binary.BigEndian.Uint64(hdr); fl != MaxFrameLength {
		t.Errorf("frame length %d, want %d", fl, MaxFrameLength)
	}
	if _, err := AppendHeader(nil, &m, limit+1); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("body of %d bytes: %v, want ErrFrameTooLarge", limit+1, err)
	}

	// After-frame bodies are not in the frame, so any length is fine.
	for _, typ := range []Type{TypeStreamResponse, TypeUploadStream} {
		m := Message{Type: typ}
		hdr, err := AppendHeader(nil, &m, math.MaxInt64)
		if err != nil {
			t.Fatalf("%s with a huge raw body: %v", typ, err)
		}
		var got Message
		if err := DecodeFrame(hdr[8:], &got); err != nil || got.ByteCount != math.MaxInt64 {
			t.Errorf("%s: ByteCount %d, %v", typ, got.ByteCount, err)
		}
	}
}

func TestAppendHeaderAppends(t *testing.T) {
	m := Message{Type: TypeRpcFailure, RequestID: 9, Error: "e"}
	dst := []byte("keep")
	out, err := AppendHeader(dst, &m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("keep")) || len(out) != 4+int(m.FrameLength(0)) {
		t.Errorf("AppendHeader did not append: %x", out)
	}
	var got Message
	if err := DecodeFrame(out[4+8:], &got); err != nil || got.Error != "e" || got.RequestID != 9 {
		t.Errorf("decoded %+v, %v", got, err)
	}
}

// TestEncoderIgnoresForeignFields: the encoder writes only the fields of the
// type (and the body length it is given, never Message.ByteCount or Body).
func TestEncoderIgnoresForeignFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for typ := range Type(len(types)) {
		full := randFrame(rng, 0).msg
		full.Type = typ
		var body []byte
		if typ.HasBody() {
			body = []byte("body")
		}
		bare := wantDecoded(&full, nil)
		a := encodeFrame(t, &full, body)
		b := encodeFrame(t, &bare, body)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: foreign fields changed the encoding\n%x\n%x", typ, a, b)
		}
	}
}

// protocolCases are ProtocolSuite's requests and responses plus the edge
// cases: empty bodies, empty strings, UTF-8 and extreme values.
func protocolCases() []frameSpec {
	utf8 := "bööm ☃ 日本語 🙂"
	long := strings.Repeat("stack trace line\n\tat org.apache.spark.Foo(Foo.java:1)\n", 200)
	return []frameSpec{
		// requests
		{Message{Type: TypeChunkFetchRequest, Chunk: StreamChunkID{1, 2}}, nil},
		{Message{Type: TypeChunkFetchRequest, Chunk: StreamChunkID{math.MinInt64, math.MaxInt32}}, nil},
		{Message{Type: TypeRpcRequest, RequestID: 12345}, []byte("abcde")},
		{Message{Type: TypeRpcRequest, RequestID: -1}, nil},
		{Message{Type: TypeRpcRequest, RequestID: 0}, []byte{}},
		{Message{Type: TypeStreamRequest, Stream: "abcde"}, nil},
		{Message{Type: TypeStreamRequest, Stream: ""}, nil},
		{Message{Type: TypeStreamRequest, Stream: utf8}, nil},
		{Message{Type: TypeOneWayMessage}, []byte("abcde")},
		{Message{Type: TypeOneWayMessage}, nil},
		{Message{Type: TypeUploadStream, RequestID: 1, Meta: []byte("meta")}, []byte("raw stream bytes")},
		{Message{Type: TypeUploadStream, RequestID: 2, Meta: []byte{}}, nil},
		{Message{Type: TypeUploadStream, RequestID: 3, Meta: []byte{0, 0, 0, 0xff}}, []byte{0}},
		{Message{Type: TypeMergedBlockMetaRequest, RequestID: 4, AppID: "app-1", ShuffleID: 1, ShuffleMergeID: 2, ReduceID: 3}, nil},
		{Message{Type: TypeMergedBlockMetaRequest, RequestID: 5, AppID: "", ShuffleID: -1, ShuffleMergeID: math.MinInt32, ReduceID: math.MaxInt32}, nil},
		{Message{Type: TypeMergedBlockMetaRequest, RequestID: 6, AppID: utf8}, nil},
		// responses
		{Message{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{1, 2}}, []byte("chunk")},
		{Message{Type: TypeChunkFetchSuccess, Chunk: StreamChunkID{1, 2}}, nil},
		{Message{Type: TypeChunkFetchFailure, Chunk: StreamChunkID{1, 2}, Error: "this is an error"}, nil},
		{Message{Type: TypeChunkFetchFailure, Chunk: StreamChunkID{1, 2}, Error: ""}, nil},
		{Message{Type: TypeChunkFetchFailure, Chunk: StreamChunkID{1, 2}, Error: utf8}, nil},
		{Message{Type: TypeRpcResponse, RequestID: 12345}, []byte("reply")},
		{Message{Type: TypeRpcResponse, RequestID: 12345}, nil},
		{Message{Type: TypeRpcFailure, RequestID: 0, Error: "this is an error"}, nil},
		{Message{Type: TypeRpcFailure, RequestID: 0, Error: ""}, nil},
		{Message{Type: TypeRpcFailure, RequestID: math.MaxInt64, Error: utf8}, nil},
		{Message{Type: TypeRpcFailure, RequestID: 1, Error: long}, nil},
		{Message{Type: TypeStreamResponse, Stream: "anId"}, []byte("abcde")},
		{Message{Type: TypeStreamResponse, Stream: "anId"}, nil},
		{Message{Type: TypeStreamResponse, Stream: ""}, []byte{1}},
		{Message{Type: TypeStreamFailure, Stream: "anId", Error: "this is an error"}, nil},
		{Message{Type: TypeStreamFailure, Stream: "", Error: ""}, nil},
		{Message{Type: TypeStreamFailure, Stream: utf8, Error: utf8}, nil},
		{Message{Type: TypeMergedBlockMetaSuccess, RequestID: 1, NumChunks: 2}, unhex(hexBitmap1 + hexBitmap23)},
		{Message{Type: TypeMergedBlockMetaSuccess, RequestID: 1, NumChunks: 0}, nil},
	}
}

// TestProtocolRoundTrip is ProtocolSuite.requests/responses: every case
// survives encode → frame → decode, with DecodeFrame and with the Decoder.
func TestProtocolRoundTrip(t *testing.T) {
	cases := protocolCases()
	seen := map[Type]bool{}
	for i := range cases {
		c := &cases[i]
		seen[c.msg.Type] = true
		frame := encodeFrame(t, &c.msg, c.body)
		fl := int64(binary.BigEndian.Uint64(frame))
		if fl != c.msg.FrameLength(int64(len(c.body))) {
			t.Errorf("case %d %s: frame length %d, FrameLength says %d", i, c.msg.Type, fl, c.msg.FrameLength(int64(len(c.body))))
		}
		if c.msg.Type.BodyInFrame() != (fl == int64(len(frame))) && len(c.body) > 0 {
			t.Errorf("case %d %s: frame length %d, %d bytes on the wire", i, c.msg.Type, fl, len(frame))
		}
		var got Message
		if err := DecodeFrame(frame[8:fl], &got); err != nil {
			t.Fatalf("case %d %s: DecodeFrame: %v", i, c.msg.Type, err)
		}
		want := wantDecoded(&c.msg, c.body)
		if d := diffMessage(&got, &want); d != "" {
			t.Errorf("case %d %s: %s", i, c.msg.Type, d)
		}
		// The in-frame bodySize fields hold the body length.
		switch c.msg.Type {
		case TypeRpcRequest, TypeRpcResponse:
			if n := binary.BigEndian.Uint32(frame[17:]); int(n) != len(c.body) {
				t.Errorf("case %d: bodySize %d, want %d", i, n, len(c.body))
			}
		case TypeOneWayMessage:
			if n := binary.BigEndian.Uint32(frame[9:]); int(n) != len(c.body) {
				t.Errorf("case %d: bodySize %d, want %d", i, n, len(c.body))
			}
		}
	}
	for typ := range Type(len(types)) {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
	// All of them back to back through the Decoder, one byte per read.
	rng := rand.New(rand.NewPCG(1, 2))
	checkDecodeSequence(t, NewBufReader(randomPieces(buildStream(t, cases), rng, 1), 16), cases, rng)
}

// TestDecodeFrameIgnoresBodySize: readers must not trust the i32 bodySize of
// RpcRequest/RpcResponse/OneWayMessage; the body is the rest of the frame.
func TestDecodeFrameIgnoresBodySize(t *testing.T) {
	for _, typ := range []Type{TypeRpcRequest, TypeRpcResponse, TypeOneWayMessage} {
		m := Message{Type: typ, RequestID: 3}
		frame := encodeFrame(t, &m, []byte("body"))
		off := 9 + 8
		if typ == TypeOneWayMessage {
			off = 9
		}
		for _, lie := range []uint32{0, 1, 1000, 0xffffffff} {
			binary.BigEndian.PutUint32(frame[off:], lie)
			var got Message
			if err := DecodeFrame(frame[8:], &got); err != nil || string(got.Body) != "body" {
				t.Errorf("%s with bodySize %d: body %q, %v", typ, lie, got.Body, err)
			}
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	cases := []struct {
		name  string
		frame string // after the length field
		want  error
	}{
		{"empty", "", ErrFrameLength},
		{"type 13", "0d", ErrUnknownType},
		{"type -1 (User)", "ff", ErrUnknownType},
		{"type 127", "7f", ErrUnknownType},
		{"type only", "03", ErrMalformed},
		{"short chunk id", "00 0000000000000001 0000", ErrMalformed},
		{"string past the frame", "05 0000000000000001 00000005 6162", ErrMalformed},
		{"string length past a huge frame", "06 7fffffff 61", ErrMalformed},
		{"negative string length", "06 ffffffff", ErrMalformed},
		{"negative error length", "08 00000001 61 80000000", ErrMalformed},
		{"negative meta length", "0a 0000000000000001 fffffffe 0000000000000000", ErrMalformed},
		{"meta past the frame", "0a 0000000000000001 00000010 00", ErrMalformed},
		{"missing byte count", "07 00000001 61 000000", ErrMalformed},
		{"negative byte count (StreamResponse)", "07 00000001 61 ffffffffffffffff", ErrMalformed},
		{"negative byte count (UploadStream)", "0a 0000000000000001 00000000 8000000000000000", ErrMalformed},
		{"negative NumChunks", "0c 0000000000000001 ffffffff", ErrMalformed},
		{"short merged request", "0b 0000000000000001 00000000 00000001 00000002", ErrMalformed},
	}
	for _, c := range cases {
		var m Message
		err := DecodeFrame(unhex(c.frame), &m)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	var m Message
	err := DecodeFrame([]byte{13}, &m)
	if err == nil || !strings.Contains(err.Error(), "13") {
		t.Errorf("unknown type error should name the type: %v", err)
	}
	err = DecodeFrame([]byte{0xff}, &m)
	if err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("unknown type error should name the type: %v", err)
	}
}

// TestDecodeFrameTruncatedHeaders cuts every frame of protocolCases inside
// its header: each cut must fail with ErrMalformed (ErrFrameLength at 0).
func TestDecodeFrameTruncatedHeaders(t *testing.T) {
	for _, c := range protocolCases() {
		frame := encodeFrame(t, &c.msg, nil)[8:]
		for cut := 0; cut < len(frame); cut++ {
			var m Message
			err := DecodeFrame(frame[:cut], &m)
			want := ErrMalformed
			if cut == 0 {
				want = ErrFrameLength
			}
			if !errors.Is(err, want) {
				t.Errorf("%s cut at %d/%d: err = %v, want %v", c.msg.Type, cut, len(frame), err, want)
			}
		}
	}
}

func TestItoa(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 9, 10, -128, 127, math.MaxInt64, math.MinInt64} {
		if got, want := itoa(v), strconv.FormatInt(v, 10); got != want {
			t.Errorf("itoa(%d) = %q, want %q", v, got, want)
		}
	}
}

// ---- primitives ----

func TestPrimitivesRoundTrip(t *testing.T) {
	var b []byte
	b = append(b, 7, 1, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(0xfffffffe))
	b = binary.BigEndian.AppendUint64(b, 1<<62)
	b = AppendString(b, "")
	b = AppendString(b, "bööm ☃")
	b = AppendByteArray(b, nil)
	b = AppendByteArray(b, []byte{1, 2, 3})
	b = AppendStringArray(b, nil)
	b = AppendStringArray(b, []string{"a", "", "日本"})
	b = AppendIntArray(b, []int32{})
	b = AppendIntArray(b, []int32{math.MinInt32, 0, math.MaxInt32})
	b = AppendLongArray(b, []int64{math.MinInt64, -1, math.MaxInt64})
	b = append(b, "tail"...)

	r := NewReader(b)
	if v := r.Byte(); v != 7 {
		t.Errorf("Byte = %d", v)
	}
	if !r.Bool() || r.Bool() {
		t.Error("Bool")
	}
	if v := r.Int32(); v != -2 {
		t.Errorf("Int32 = %d", v)
	}
	if v := r.Int64(); v != 1<<62 {
		t.Errorf("Int64 = %d", v)
	}
	if s := r.String(); s != "" {
		t.Errorf("String = %q", s)
	}
	if s := r.String(); s != "bööm ☃" {
		t.Errorf("String = %q", s)
	}
	if v := r.Bytes(); len(v) != 0 {
		t.Errorf("Bytes = %x", v)
	}
	if v := r.Bytes(); !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Errorf("Bytes = %x", v)
	}
	if v := r.StringArray(); len(v) != 0 || v == nil {
		t.Errorf("StringArray = %q", v)
	}
	if v := r.StringArray(); len(v) != 3 || v[0] != "a" || v[1] != "" || v[2] != "日本" {
		t.Errorf("StringArray = %q", v)
	}
	if v := r.IntArray(); len(v) != 0 {
		t.Errorf("IntArray = %v", v)
	}
	if v := r.IntArray(); len(v) != 3 || v[0] != math.MinInt32 || v[1] != 0 || v[2] != math.MaxInt32 {
		t.Errorf("IntArray = %v", v)
	}
	if v := r.LongArray(); len(v) != 3 || v[0] != math.MinInt64 || v[1] != -1 || v[2] != math.MaxInt64 {
		t.Errorf("LongArray = %v", v)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if string(r.Remaining()) != "tail" {
		t.Errorf("Remaining = %q", r.Remaining())
	}
	// Past the end: the error sticks and later reads return zero values.
	r.Int64()
	if err := r.Err(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("reading past the end: %v", err)
	}
	first := r.Err()
	if r.Byte() != 0 || r.Int32() != 0 || r.String() != "" || r.Bytes() != nil || r.StringArray() != nil ||
		r.IntArray() != nil || r.LongArray() != nil || len(r.Remaining()) != 0 || r.Err() != first {
		t.Error("reads after an error must return zero values and keep the first error")
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		read func(r *Reader) any
	}{
		{"negative string", "ffffffff", func(r *Reader) any { return r.String() }},
		{"string past end", "00000003 6162", func(r *Reader) any { return r.String() }},
		{"negative bytes", "80000000", func(r *Reader) any { return r.Bytes() }},
		{"negative string array", "ffffffff", func(r *Reader) any { return r.StringArray() }},
		{"string array count past end", "00000003 00000000 00000000", func(r *Reader) any { return r.StringArray() }},
		{"string array element past end", "00000002 00000000 00000005", func(r *Reader) any { return r.StringArray() }},
		{"int array count past end", "00000002 00000001", func(r *Reader) any { return r.IntArray() }},
		{"long array count past end", "00000001 00000001", func(r *Reader) any { return r.LongArray() }},
		{"huge int array", "7fffffff 00000001", func(r *Reader) any { return r.IntArray() }},
		{"huge long array", "10000000", func(r *Reader) any { return r.LongArray() }},
		{"short count", "000000", func(r *Reader) any { return r.IntArray() }},
	}
	for _, c := range cases {
		r := NewReader(unhex(c.in))
		c.read(r)
		if !errors.Is(r.Err(), ErrMalformed) {
			t.Errorf("%s: Err = %v, want ErrMalformed", c.name, r.Err())
		}
	}
}

// TestReaderHugeCountFailsFast: a count far beyond the remaining bytes must
// fail before allocating anything of that size.
func TestReaderHugeCountFailsFast(t *testing.T) {
	in := unhex("7fffffff 00000000 00000000")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		for _, read := range []func(*Reader){
			func(r *Reader) { r.StringArray() },
			func(r *Reader) { r.IntArray() },
			func(r *Reader) { r.LongArray() },
		} {
			r := NewReader(in)
			read(r)
			if r.Err() == nil {
				t.Fatal("huge count accepted")
			}
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("rejecting huge counts allocated %d bytes", d)
	}
}

func TestMessageReset(t *testing.T) {
	m := randFrame(rand.New(rand.NewPCG(3, 3)), 10).msg
	m.Reset()
	if diff := diffMessage(&m, &Message{}); diff != "" || m.Body != nil || m.Meta != nil {
		t.Errorf("Reset left %s", diff)
	}
}

func TestEncodeHeader(t *testing.T) {
	m := Message{Type: TypeRpcRequest, RequestID: goldenReqID}
	bb, err := EncodeHeader(&m, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(hexRpcRequest); !bytes.Equal(bb.B, want[:len(want)-5]) {
		t.Errorf("EncodeHeader = %x", bb.B)
	}
	PutBuffer(bb)
	// A reused pooled buffer starts empty.
	bb, err = EncodeHeader(&Message{Type: TypeOneWayMessage}, 0)
	if err != nil || bb.Len() != 13 {
		t.Errorf("EncodeHeader after reuse: %d bytes, %v", bb.Len(), err)
	}
	PutBuffer(bb)
	for _, bad := range []struct {
		m       Message
		bodyLen int64
		want    error
	}{
		{Message{Type: 13}, 0, ErrUnknownType},
		{Message{Type: TypeStreamRequest}, 1, ErrNoBody},
		{Message{Type: TypeRpcRequest}, math.MaxInt32, ErrFrameTooLarge},
	} {
		if bb, err := EncodeHeader(&bad.m, bad.bodyLen); bb != nil || !errors.Is(err, bad.want) {
			t.Errorf("EncodeHeader(%s, %d) = %v, %v; want nil, %v", bad.m.Type, bad.bodyLen, bb, err, bad.want)
		}
	}
}
