package shuffle

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// goldenSeeds are the golden shuffle payloads (shared/spec/golden 20-30 and
// the body of 40), embedded so that fuzzing needs no shared/ checkout.
// TestGoldenShuffleMessages checks they equal the vectors.
var goldenSeeds = map[string]string{
	"20_shuffle_open_blocks.hex":                "00000000056170702d3100000006657865632d31000000020000000d73687566666c655f305f315f320000000d73687566666c655f305f315f33",
	"21_shuffle_upload_block.hex":               "01000000056170702d3100000006657865632d31000000077264645f315f32000000046d657461000000056461746121",
	"22_shuffle_register_executor.hex":          "02000000056170702d3100000006657865632d3100000002000000062f746d702f61000000062f746d702f6200000040000000306f72672e6170616368652e737061726b2e73687566666c652e736f72742e536f727453687566666c654d616e61676572",
	"23_shuffle_stream_handle.hex":              "03112233445566778800000005",
	"24_shuffle_upload_block_stream.hex":        "06000000077264645f315f32000000046d657461",
	"25_shuffle_remove_blocks.hex":              "07000000056170702d3100000006657865632d3100000001000000077264645f315f32",
	"26_shuffle_blocks_removed.hex":             "0800000001",
	"27_shuffle_fetch_shuffle_blocks.hex":       "09000000056170702d3100000006657865632d3100000000000000020000000000000001000000000000000200000002000000020000000000000001000000010000000200",
	"28_shuffle_fetch_shuffle_blocks_batch.hex": "09000000056170702d3100000006657865632d31000000030000000100000000000000050000000100000002000000000000000401",
	"29_shuffle_get_local_dirs.hex":             "0a000000056170702d310000000200000006657865632d3100000006657865632d32",
	"30_shuffle_local_dirs.hex":                 "0b0000000100000006657865632d31000000010000000100000001000000062f746d702f61",
	"40_body":                                   "00000000056170702d3100000006657865632d31000000010000000d73687566666c655f305f315f32",
}

// FuzzDecode: Decode never panics; an error is ErrUnknownMessage or
// codec.ErrMalformed; what decodes re-encodes to bytes that decode to an
// equal message (bitmaps compared by content), and re-encoding is stable.
func FuzzDecode(f *testing.F) {
	for _, h := range goldenSeeds {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, m := range sampleMessages() {
		// Large seeds (the bitmap-container sample) make the fuzzer spend
		// its time minimizing; the round-trip tests cover them.
		if b := Encode(m); len(b) <= 1024 {
			f.Add(b)
		}
	}
	for _, b := range boundSeeds() {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{4})
	f.Add([]byte{0x7f, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			if !errors.Is(err, ErrUnknownMessage) && !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("error %v is neither ErrUnknownMessage nor codec.ErrMalformed", err)
			}
			return
		}
		if MsgType(int8(data[0])) != m.Type() {
			t.Fatalf("type byte %d decoded as %T", data[0], m)
		}
		enc := Encode(m)
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%#v)): %v", m, err)
		}
		if !msgEqual(m, m2) {
			t.Fatalf("round trip differs:\n %#v\n %#v", m, m2)
		}
		if _, ok := m.(*MergeStatuses); ok {
			return // roaring's run optimisation is not idempotent on ties
		}
		if enc2 := Encode(m2); string(enc2) != string(enc) {
			t.Fatalf("re-encoding is not stable:\n %x\n %x", enc, enc2)
		}
	})
}

// boundSeeds are requests at the edges of the decoder's count checks:
// arrays that do not pair, empty arrays, counts past the end, and a
// truncated reduce array.
func boundSeeds() [][]byte {
	fetch := Encode(&FetchShuffleBlocks{AppID: "a", ExecID: "e", MapIDs: []int64{1, 2}, ReduceIDs: [][]int32{{}, {0, 1}}})
	chunks := Encode(&FetchShuffleBlockChunks{AppID: "a", ExecID: "e", ReduceIDs: []int32{1, 2}, ChunkIDs: [][]int32{{0}, {}}})
	unpaired := append(fetchHeader(1), 0, 0, 0, 0, 0, 0, 0, 5)
	unpaired = append(appendI32(unpaired, 3), make([]byte, 13)...)
	many := appendI32(fetchHeader(0), 1<<20)
	return [][]byte{fetch, chunks, unpaired, many, fetch[:len(fetch)-6], chunks[:len(chunks)-2]}
}

// FuzzDecodeRequest: with a cap of 4 ids, DecodeRequest never panics, its
// errors are ErrUnknownMessage or codec.ErrMalformed, and what it accepts
// names at most 4 ids per array (and 4 reduce ids in all).
func FuzzDecodeRequest(f *testing.F) {
	for _, b := range boundSeeds() {
		f.Add(b)
	}
	for _, h := range goldenSeeds {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4
		m, err := DecodeRequest(data, limit)
		if err != nil {
			if m != nil || (!errors.Is(err, ErrUnknownMessage) && !errors.Is(err, codec.ErrMalformed)) {
				t.Fatalf("DecodeRequest: %v, %v", m, err)
			}
			return
		}
		n := 0
		switch m := m.(type) {
		case *FetchShuffleBlocks:
			if len(m.MapIDs) != len(m.ReduceIDs) || len(m.MapIDs) > limit {
				t.Fatalf("accepted %d map ids, %d reduce arrays", len(m.MapIDs), len(m.ReduceIDs))
			}
			for _, r := range m.ReduceIDs {
				n += len(r)
			}
		case *FetchShuffleBlockChunks:
			if len(m.ReduceIDs) != len(m.ChunkIDs) || len(m.ReduceIDs) > limit {
				t.Fatalf("accepted %d reduce ids, %d chunk arrays", len(m.ReduceIDs), len(m.ChunkIDs))
			}
		case *OpenBlocks:
			n = len(m.BlockIDs)
		case *RemoveBlocks:
			n = len(m.BlockIDs)
		case *GetLocalDirsForExecutors:
			n = len(m.ExecIDs)
		}
		if n > limit {
			t.Fatalf("accepted %T with %d ids, cap %d", m, n, limit)
		}
	})
}

// FuzzParseBlockID: ParseBlockID never panics; a parsed id's String()
// re-parses to the same BlockID, and names built from it stay plain file
// names (no separators, no dots): block ids cannot steer paths.
func FuzzParseBlockID(f *testing.F) {
	for _, s := range []string{"shuffle_0_1_2", "shuffle_1_2_3_4", "shuffleChunk_1_2_3_4", "rdd_5_6",
		"shuffle_-1_9223372036854775807_2147483647", "shuffle_007_8_9", "shuffle_0_0_../../x", "rdd_1",
		"shuffle_2147483648_0_0", "", "_", "shuffle__1_2", "shuffle_+1_2_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBlockID(s)
		if err != nil {
			if b != (BlockID{}) {
				t.Fatalf("error %v with a non-zero BlockID %+v", err, b)
			}
			return
		}
		name := b.String()
		b2, err := ParseBlockID(name)
		if err != nil {
			t.Fatalf("ParseBlockID(%q) = %+v, but its String() %q does not parse: %v", s, b, name, err)
		}
		if b2 != b {
			t.Fatalf("ParseBlockID(%q) = %+v, re-parsed %q = %+v", s, b, name, b2)
		}
		if b2.String() != name {
			t.Fatalf("String() not stable: %q then %q", name, b2.String())
		}
		if strings.ContainsAny(name, "/\\.\x00") {
			t.Fatalf("block name %q could steer a path", name)
		}
		for _, fn := range []string{name, DataFileName(b.ShuffleID, b.MapID), IndexFileName(b.ShuffleID, b.MapID)} {
			p := FilePath([]string{"/root-a", "/root-b"}, 64, fn)
			if !strings.HasPrefix(p, "/root-a/") && !strings.HasPrefix(p, "/root-b/") || strings.Contains(p, "..") {
				t.Fatalf("FilePath(%q) = %q escapes the local dirs", fn, p)
			}
		}
	})
}
