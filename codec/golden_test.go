package codec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// goldenDir finds the shared golden vectors: walk up from the working
// directory to the module root (the directory holding go.mod), then
// ../shared/spec/golden. CI checks shared/ out beside the module; the dev
// machine has /work/shared next to /work/main.
func goldenDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Skipf("golden vectors: no go.mod found in %s or above it, so ../shared/spec/golden cannot be located", wd)
		}
		root = parent
	}
	dir := filepath.Join(root, "..", "shared", "spec", "golden")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("golden vectors not available: looked for directory %s (shared/spec/golden beside the module root)", filepath.Clean(dir))
	}
	return dir
}

// readGolden returns the bytes of a .hex vector: '#' lines are comments, the
// other lines are hex.
func readGolden(t testing.TB, dir, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("golden vector: %v", err)
	}
	defer f.Close()
	var hx strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hx.WriteString(line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(hx.String())
	if err != nil {
		t.Fatalf("golden vector %s: %v", name, err)
	}
	return b
}

const (
	goldenReqID    = 0x0102030405060708
	goldenStreamID = 0x1122334455667788
)

// openBlocksPayload is the body of vector 40: the shuffle OpenBlocks message
// (type byte 0, appId, execId, blockIds), built with this package's
// primitives.
func openBlocksPayload() []byte {
	b := []byte{0}
	b = AppendString(b, "app-1")
	b = AppendString(b, "exec-1")
	return AppendStringArray(b, []string{"shuffle_0_1_2"})
}

type goldenCase struct {
	file     string
	msg      Message
	body     []byte // in-frame body, or the raw bytes after the frame
	frameLen int64
}

func goldenCases() []goldenCase {
	chunk := StreamChunkID{StreamID: goldenStreamID, ChunkIndex: 3}
	seq := make([]byte, 16)
	for i := range seq {
		seq[i] = byte(i)
	}
	return []goldenCase{
		{"01_rpc_request.hex", Message{Type: TypeRpcRequest, RequestID: goldenReqID}, []byte("hello"), 26},
		{"02_rpc_request_empty.hex", Message{Type: TypeRpcRequest, RequestID: 42}, nil, 21},
		{"03_rpc_response.hex", Message{Type: TypeRpcResponse, RequestID: goldenReqID}, []byte("world"), 26},
		{"04_rpc_response_empty.hex", Message{Type: TypeRpcResponse, RequestID: 42}, nil, 21},
		{"05_rpc_failure.hex", Message{Type: TypeRpcFailure, RequestID: goldenReqID, Error: "boom"}, nil, 25},
		{"06_rpc_failure_utf8.hex", Message{Type: TypeRpcFailure, RequestID: 7, Error: "b\u00f6\u00f6m \u2603"}, nil, 31},
		{"07_oneway.hex", Message{Type: TypeOneWayMessage}, []byte("ping"), 17},
		{"08_chunk_fetch_request.hex", Message{Type: TypeChunkFetchRequest, Chunk: chunk}, nil, 21},
		{"09_chunk_fetch_success.hex", Message{Type: TypeChunkFetchSuccess, Chunk: chunk}, seq, 37},
		{"10_chunk_fetch_failure.hex", Message{Type: TypeChunkFetchFailure, Chunk: chunk, Error: "no such chunk"}, nil, 38},
		{"11_stream_request.hex", Message{Type: TypeStreamRequest, Stream: "file:/tmp/x.bin"}, nil, 28},
		{"12_stream_response.hex", Message{Type: TypeStreamResponse, Stream: "file:/tmp/x.bin"}, []byte("0123456789"), 36},
		{"13_stream_response_empty.hex", Message{Type: TypeStreamResponse, Stream: "s"}, nil, 22},
		{"14_stream_failure.hex", Message{Type: TypeStreamFailure, Stream: "file:/tmp/x.bin", Error: "not found"}, nil, 41},
		{"15_upload_stream.hex", Message{Type: TypeUploadStream, RequestID: goldenReqID, Meta: []byte("meta")}, []byte("upload-data"), 33},
		{"40_rpc_request_open_blocks.hex", Message{Type: TypeRpcRequest, RequestID: goldenReqID}, openBlocksPayload(), 62},
	}
}

func TestGoldenTransportVectors(t *testing.T) {
	dir := goldenDir(t)
	for _, gc := range goldenCases() {
		t.Run(strings.TrimSuffix(gc.file, ".hex"), func(t *testing.T) {
			golden := readGolden(t, dir, gc.file)
			checkVector(t, golden, gc)
		})
	}
}

// checkVector asserts that gc encodes to exactly golden and that golden
// decodes back to gc, whole and one byte per read.
func checkVector(t *testing.T, golden []byte, gc goldenCase) {
	t.Helper()
	m := gc.msg
	bodyLen := int64(len(gc.body))

	// Encode.
	if got := m.FrameLength(bodyLen); got != gc.frameLen {
		t.Errorf("FrameLength = %d, want %d", got, gc.frameLen)
	}
	inFrame := int64(0)
	if m.Type.BodyInFrame() {
		inFrame = bodyLen
	}
	if got := int64(frameHeaderLen+m.HeaderLen()) + inFrame; got != gc.frameLen {
		t.Errorf("9 + HeaderLen + in-frame body = %d, want frame length %d", got, gc.frameLen)
	}
	enc, err := AppendHeader(nil, &m, bodyLen)
	if err != nil {
		t.Fatalf("AppendHeader: %v", err)
	}
	enc = append(enc, gc.body...)
	if !bytes.Equal(enc, golden) {
		t.Fatalf("encoding differs from Spark's bytes\n got %x\nwant %x", enc, golden)
	}
	if fl := int64(binary.BigEndian.Uint64(golden)); fl != gc.frameLen {
		t.Fatalf("vector frameLength field = %d, want %d", fl, gc.frameLen)
	}
	if extra := int64(len(golden)) - gc.frameLen; extra != bodyLen-inFrame {
		t.Fatalf("vector has %d bytes after the frame, body is %d bytes", extra, bodyLen)
	}

	want := wantDecoded(&m, gc.body)

	// DecodeFrame on the frame alone.
	var got Message
	if err := DecodeFrame(golden[8:gc.frameLen], &got); err != nil {
		t.Fatalf("DecodeFrame: %v", err)
	}
	if d := diffMessage(&got, &want); d != "" {
		t.Errorf("DecodeFrame: %s", d)
	}

	// Decoder over a BufReader, all at once and one byte per read.
	readers := map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(golden) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(golden)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(golden)) },
	}
	for name, mk := range readers {
		d := NewDecoder()
		br := NewBufReader(mk(), 16)
		dm, err := d.Decode(br)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if diff := diffMessage(dm, &want); diff != "" {
			t.Errorf("%s: Decode: %s", name, diff)
		}
		var c collector
		if !m.Type.BodyInFrame() && m.Type.HasBody() {
			if err := d.SetInterceptor(dm.ByteCount, &c); err != nil {
				t.Fatalf("%s: SetInterceptor(%d): %v", name, dm.ByteCount, err)
			}
			if dm.ByteCount == 0 && (c.completed != 1 || d.Intercepting()) {
				t.Errorf("%s: zero-length interceptor: completed=%d intercepting=%v", name, c.completed, d.Intercepting())
			}
		}
		if _, err := d.Decode(br); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Errorf("%s: Decode at end of stream: %v, want EOF", name, err)
		}
		if !m.Type.BodyInFrame() && m.Type.HasBody() {
			if !bytes.Equal(c.data, gc.body) || c.completed != 1 || c.failed != 0 {
				t.Errorf("%s: interceptor got %q (completed %d, failed %d), want %q", name, c.data, c.completed, c.failed, gc.body)
			}
		}
		if err := br.Release(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoldenOpenBlocksPayload checks the body of vector 40 with Reader, the
// way the shuffle package will parse it.
func TestGoldenOpenBlocksPayload(t *testing.T) {
	dir := goldenDir(t)
	golden := readGolden(t, dir, "40_rpc_request_open_blocks.hex")
	var m Message
	if err := DecodeFrame(golden[8:], &m); err != nil {
		t.Fatal(err)
	}
	if size := binary.BigEndian.Uint32(golden[17:21]); int(size) != len(m.Body) {
		t.Errorf("bodySize field %d, body is %d bytes", size, len(m.Body))
	}
	r := NewReader(m.Body)
	typ, app, exec, ids := r.Byte(), r.String(), r.String(), r.StringArray()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if typ != 0 || app != "app-1" || exec != "exec-1" || len(ids) != 1 || ids[0] != "shuffle_0_1_2" || len(r.Remaining()) != 0 {
		t.Errorf("OpenBlocks = %d %q %q %q (+%d bytes)", typ, app, exec, ids, len(r.Remaining()))
	}
}

// TestGoldenStreamRandomSplits sends every transport vector back to back
// through random-sized reads, interceptors included.
func TestGoldenStreamRandomSplits(t *testing.T) {
	dir := goldenDir(t)
	var frames []frameSpec
	var stream []byte
	for _, gc := range goldenCases() {
		frames = append(frames, frameSpec{msg: gc.msg, body: gc.body})
		stream = append(stream, readGolden(t, dir, gc.file)...)
	}
	if !bytes.Equal(stream, buildStream(t, frames)) {
		t.Fatal("concatenated vectors differ from the encoded frames")
	}
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 40))
		br := NewBufReader(randomPieces(stream, rng, 1+int(seed)*3), 16)
		checkDecodeSequence(t, br, frames, rng)
	}
}

// Embedded copies of a few vectors, for fuzz seeds and tests that must run
// without shared/. TestEmbeddedVectorsMatchGolden keeps them honest.
const (
	hexRpcRequest        = "000000000000001a0301020304050607080000000568656c6c6f"
	hexRpcResponseEmpty  = "000000000000001504000000000000002a00000000"
	hexRpcFailureUTF8    = "000000000000001f0500000000000000070000000a62c3b6c3b66d20e29883"
	hexOneWay            = "0000000000000011090000000470696e67"
	hexChunkFetchSuccess = "000000000000002501112233445566778800000003000102030405060708090a0b0c0d0e0f"
	hexChunkFetchFailure = "0000000000000026021122334455667788000000030000000d6e6f2073756368206368756e6b"
	hexStreamResponse    = "0000000000000024070000000f66696c653a2f746d702f782e62696e000000000000000a30313233343536373839"
	hexStreamFailure     = "0000000000000029080000000f66696c653a2f746d702f782e62696e000000096e6f7420666f756e64"
	hexUploadStream      = "00000000000000210a0102030405060708000000046d657461000000000000000b75706c6f61642d64617461"
	hexRpcOpenBlocks     = "000000000000003e0301020304050607080000002900000000056170702d3100000006657865632d31000000010000000d73687566666c655f305f315f32"
)

func TestEmbeddedVectorsMatchGolden(t *testing.T) {
	dir := goldenDir(t)
	for file, hx := range map[string]string{
		"01_rpc_request.hex":             hexRpcRequest,
		"04_rpc_response_empty.hex":      hexRpcResponseEmpty,
		"06_rpc_failure_utf8.hex":        hexRpcFailureUTF8,
		"07_oneway.hex":                  hexOneWay,
		"09_chunk_fetch_success.hex":     hexChunkFetchSuccess,
		"10_chunk_fetch_failure.hex":     hexChunkFetchFailure,
		"12_stream_response.hex":         hexStreamResponse,
		"14_stream_failure.hex":          hexStreamFailure,
		"15_upload_stream.hex":           hexUploadStream,
		"40_rpc_request_open_blocks.hex": hexRpcOpenBlocks,
	} {
		if got := readGolden(t, dir, file); !bytes.Equal(got, unhex(hx)) {
			t.Errorf("embedded copy of %s is stale", file)
		}
	}
}

// MergedBlockMetaRequest and MergedBlockMetaSuccess are Spark 3.2+/4.x types,
// so the 3.1.2 golden dump has none. These vectors are computed by hand from
// PROTOCOL.md §2–3.
//
// MergedBlockMetaRequest(requestId=0x0102030405060708, appId="app-1",
// shuffleId=2, shuffleMergeId=3, reduceId=4):
//
//	header = i64 requestId (8) + String appId (4+5) + 3 × i32 (12) = 29
//	frameLength = 8 + 1 + 29 = 38 = 0x26
//	00 00 00 00 00 00 00 26 | 0b | 01 02 03 04 05 06 07 08 | 00 00 00 05 61 70 70 2d 31
//	| 00 00 00 02 | 00 00 00 03 | 00 00 00 04
const hexMergedBlockMetaRequest = "0000000000000026 0b 0102030405060708 00000005 6170702d31 00000002 00000003 00000004"

// MergedBlockMetaSuccess(requestId=0x0102030405060708, numChunks=2, body =
// two RoaringBitmaps in the portable format, {1} and {2,3}). The codec treats
// the bitmaps as opaque body bytes; they are written out to make the vector
// realistic. Portable format, little-endian, no run containers:
//
//	{1}:   cookie 3a300000 | 1 container 01000000 | key 0000, card-1 0000
//	       | offset 10000000 (=16) | values 0100                      = 18 bytes
//	{2,3}: 3a300000 | 01000000 | 0000 0100 | 10000000 | 0200 0300     = 20 bytes
//
//	header = i64 requestId (8) + i32 numChunks (4) = 12, body = 38
//	frameLength = 8 + 1 + 12 + 38 = 59 = 0x3b
//	00 00 00 00 00 00 00 3b | 0c | 01 02 03 04 05 06 07 08 | 00 00 00 02 | bitmaps
const (
	hexBitmap1                = "3a300000 01000000 0000 0000 10000000 0100"
	hexBitmap23               = "3a300000 01000000 0000 0100 10000000 0200 0300"
	hexMergedBlockMetaSuccess = "000000000000003b 0c 0102030405060708 00000002 " + hexBitmap1 + hexBitmap23
	// numChunks=0, no bitmaps: frameLength = 8 + 1 + 12 = 21 = 0x15.
	hexMergedBlockMetaSuccessEmpty = "0000000000000015 0c 0102030405060708 00000000"
)

func TestMergedBlockMetaVectors(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		gc   goldenCase
	}{
		{"request", hexMergedBlockMetaRequest, goldenCase{
			msg: Message{Type: TypeMergedBlockMetaRequest, RequestID: goldenReqID, AppID: "app-1",
				ShuffleID: 2, ShuffleMergeID: 3, ReduceID: 4},
			frameLen: 38,
		}},
		{"success", hexMergedBlockMetaSuccess, goldenCase{
			msg:      Message{Type: TypeMergedBlockMetaSuccess, RequestID: goldenReqID, NumChunks: 2},
			body:     unhex(hexBitmap1 + hexBitmap23),
			frameLen: 59,
		}},
		{"success_empty", hexMergedBlockMetaSuccessEmpty, goldenCase{
			msg:      Message{Type: TypeMergedBlockMetaSuccess, RequestID: goldenReqID},
			frameLen: 21,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.gc.body) > 0 && len(c.gc.body) != 38 {
				t.Fatalf("bitmaps are %d bytes, the comment says 38", len(c.gc.body))
			}
			checkVector(t, unhex(c.hex), c.gc)
		})
	}
}

// TestSpecWorkedExamples checks the two worked examples of PROTOCOL.md §3.
func TestSpecWorkedExamples(t *testing.T) {
	checkVector(t, unhex("00 00 00 00 00 00 00 18 | 03 | 00 00 00 00 00 00 00 05 | 00 00 00 03 | AA BB CC"), goldenCase{
		msg: Message{Type: TypeRpcRequest, RequestID: 5}, body: []byte{0xaa, 0xbb, 0xcc}, frameLen: 24,
	})
	checkVector(t, unhex("00 00 00 00 00 00 00 16 | 07 | 00 00 00 01 61 | 00 00 00 00 00 00 00 05 | 0102030405"), goldenCase{
		msg: Message{Type: TypeStreamResponse, Stream: "a"}, body: []byte{1, 2, 3, 4, 5}, frameLen: 22,
	})
}
