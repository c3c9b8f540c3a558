package codec

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// spark41Dir holds golden vectors written by Spark 4.1.4's own
// MessageEncoder (internal/interop/jvm/golden/Generate.java). They are
// committed, so this test needs no Spark; the live test
// TestGolden41Regenerate in internal/interop/transport rewrites them with
// the installed Spark and checks they are unchanged.
const spark41Dir = "testdata/spark41"

// spark41Cases are the messages the 4.1 vectors hold: the 3.1.2 set
// (same field values, so the same file names) and the push-based
// shuffle's merged block meta types, which 3.1.2 did not have.
func spark41Cases() []goldenCase {
	cases := goldenCases()
	return append(cases,
		goldenCase{"16_merged_block_meta_request.hex", Message{Type: TypeMergedBlockMetaRequest, RequestID: goldenReqID,
			AppID: "app-1", ShuffleID: 2, ShuffleMergeID: 3, ReduceID: 4}, nil, 38},
		goldenCase{"17_merged_block_meta_success.hex", Message{Type: TypeMergedBlockMetaSuccess, RequestID: goldenReqID,
			NumChunks: 2}, unhex(hexBitmap1 + hexBitmap23), 59},
		goldenCase{"18_merged_block_meta_success_empty.hex", Message{Type: TypeMergedBlockMetaSuccess,
			RequestID: goldenReqID}, nil, 21},
	)
}

// readSpark41 returns a vector's description (its '# ' line) and bytes.
func readSpark41(t testing.TB, name string) (string, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(spark41Dir, name))
	if err != nil {
		t.Fatalf("golden vector: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	desc, ok := strings.CutPrefix(sc.Text(), "# ")
	if !ok {
		t.Fatalf("%s: line 1 is not a '# description' line", name)
	}
	return desc, readGolden(t, spark41Dir, name)
}

// TestSpark41TransportVectors checks every message type against Spark
// 4.1.4's bytes: Ember encodes each to exactly those bytes and decodes them
// back, whole and split into one-byte reads.
func TestSpark41TransportVectors(t *testing.T) {
	cases := spark41Cases()
	files, _ := filepath.Glob(filepath.Join(spark41Dir, "*.hex"))
	var names, known []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for _, gc := range cases {
		known = append(known, gc.file)
	}
	sort.Strings(names)
	sort.Strings(known)
	if strings.Join(names, " ") != strings.Join(known, " ") {
		t.Fatalf("vectors in %s:\n %v\nthe test knows:\n %v", spark41Dir, names, known)
	}
	seen := map[Type]bool{}
	for _, gc := range cases {
		t.Run(strings.TrimSuffix(gc.file, ".hex"), func(t *testing.T) {
			desc, golden := readSpark41(t, gc.file)
			if want := fmt.Sprintf("%s(type=%d) ", gc.msg.Type, gc.msg.Type); !strings.HasPrefix(desc, want) {
				t.Errorf("description %q does not start with %q", desc, want)
			}
			checkVector(t, golden, gc)
			seen[gc.msg.Type] = true
		})
	}
	for ty := TypeChunkFetchRequest; ty <= TypeMergedBlockMetaSuccess; ty++ {
		if !seen[ty] {
			t.Errorf("no Spark 4.1 vector for %v", ty)
		}
	}
}

// TestSpark41MatchesHandVectors: the merged block meta vectors computed by
// hand from PROTOCOL.md (golden_test.go) are what Spark 4.1 writes,
// bitmaps included (Spark's Encoders.Bitmaps, run-optimised).
func TestSpark41MatchesHandVectors(t *testing.T) {
	for file, hx := range map[string]string{
		"16_merged_block_meta_request.hex":       hexMergedBlockMetaRequest,
		"17_merged_block_meta_success.hex":       hexMergedBlockMetaSuccess,
		"18_merged_block_meta_success_empty.hex": hexMergedBlockMetaSuccessEmpty,
		"01_rpc_request.hex":                     hexRpcRequest,
		"15_upload_stream.hex":                   hexUploadStream,
		"40_rpc_request_open_blocks.hex":         hexRpcOpenBlocks,
	} {
		if _, got := readSpark41(t, file); !bytes.Equal(got, unhex(hx)) {
			t.Errorf("%s:\n spark 4.1 %x\n hand      %x", file, got, unhex(hx))
		}
	}
}

// TestSpark41MatchesSpark312: the wire format did not change between Spark
// 3.1.2 and 4.1.4; every vector both sets have is byte for byte the same.
func TestSpark41MatchesSpark312(t *testing.T) {
	dir := goldenDir(t)
	n := 0
	for _, gc := range spark41Cases() {
		if _, err := os.Stat(filepath.Join(dir, gc.file)); err != nil {
			continue
		}
		n++
		_, v41 := readSpark41(t, gc.file)
		if v312 := readGolden(t, dir, gc.file); !bytes.Equal(v41, v312) {
			t.Errorf("%s differs:\n 4.1.4 %x\n 3.1.2 %x", gc.file, v41, v312)
		}
	}
	if n != 16 {
		t.Errorf("compared %d vectors with 3.1.2's, want 16", n)
	}
}

// TestSpark41StreamRandomSplits decodes all the 4.1 vectors sent back to
// back through random-sized reads, interceptors included.
func TestSpark41StreamRandomSplits(t *testing.T) {
	var frames []frameSpec
	var stream []byte
	for _, gc := range spark41Cases() {
		frames = append(frames, frameSpec{msg: gc.msg, body: gc.body})
		_, b := readSpark41(t, gc.file)
		stream = append(stream, b...)
	}
	if !bytes.Equal(stream, buildStream(t, frames)) {
		t.Fatal("concatenated vectors differ from the encoded frames")
	}
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 41))
		br := NewBufReader(randomPieces(stream, rng, 1+int(seed)*3), 16)
		checkDecodeSequence(t, br, frames, rng)
	}
}
