package shuffle

import (
	"bytes"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring"
)

// spark41Dir holds shuffle payload vectors written by Spark 4.1.4's own
// BlockTransferMessage encoders (internal/interop/jvm/golden/Generate.java).
// They are committed, so this test needs no Spark; the live test
// TestGolden41Regenerate in internal/interop/transport rewrites them with
// the installed Spark and checks they are unchanged.
const spark41Dir = "testdata/spark41"

// spark41Messages are the messages of the 4.1 vectors: the 3.1.2 set with
// the same values and file names, and the types 3.1.2 did not have (the
// push-based shuffle's, checksum diagnosis, RemoveShuffleMerge). Fresh
// values on every call: encoding run-optimises bitmaps.
func spark41Messages() map[string]Message {
	run := roaring.New()
	run.AddRange(0, 100)
	m := map[string]Message{
		"31_shuffle_push_block_stream.hex": &PushBlockStream{AppID: "app-1", AppAttemptID: 1, ShuffleID: 2,
			ShuffleMergeID: 3, MapIndex: 4, ReduceID: 5, Index: 6},
		"32_shuffle_finalize_shuffle_merge.hex": &FinalizeShuffleMerge{AppID: "app-1", AppAttemptID: 1,
			ShuffleID: 2, ShuffleMergeID: 3},
		"33_shuffle_merge_statuses.hex": &MergeStatuses{ShuffleID: 2, ShuffleMergeID: 3,
			Bitmaps: []*roaring.Bitmap{roaring.BitmapOf(1, 2, 3), run}, ReduceIDs: []int32{0, 1}, Sizes: []int64{100, 200}},
		"34_shuffle_fetch_shuffle_block_chunks.hex": &FetchShuffleBlockChunks{AppID: "app-1", ExecID: "exec-1",
			ShuffleID: 2, ShuffleMergeID: 3, ReduceIDs: []int32{0, 1}, ChunkIDs: [][]int32{{0, 1}, {2}}},
		"35_shuffle_diagnose_corruption.hex": &DiagnoseCorruption{AppID: "app-1", ExecID: "exec-1", ShuffleID: 2,
			MapID: 5, ReduceID: 3, Checksum: 0x1234567890, Algorithm: "ADLER32"},
		"36_shuffle_corruption_cause.hex":       &CorruptionCause{Cause: CauseChecksumVerifyPass},
		"37_shuffle_block_push_return_code.hex": &BlockPushReturnCode{ReturnCode: 1, FailureBlockID: "shufflePush_2_3_4_5"},
		"38_shuffle_remove_shuffle_merge.hex": &RemoveShuffleMerge{AppID: "app-1", AppAttemptID: 1, ShuffleID: 2,
			ShuffleMergeID: 3},
	}
	for name, msg := range goldenMessages {
		m[name] = msg
	}
	return m
}

// spark41TypeNames extends goldenTypeNames with the 4.x types.
var spark41TypeNames = map[MsgType]string{
	TypePushBlockStream: "PushBlockStream", TypeFinalizeShuffleMerge: "FinalizeShuffleMerge",
	TypeMergeStatuses: "MergeStatuses", TypeFetchShuffleBlockChunks: "FetchShuffleBlockChunks",
	TypeDiagnoseCorruption: "DiagnoseCorruption", TypeCorruptionCause: "CorruptionCause",
	TypeBlockPushReturnCode: "BlockPushReturnCode", TypeRemoveShuffleMerge: "RemoveShuffleMerge",
}

// TestSpark41ShuffleMessages checks every BlockTransferMessage type against
// Spark 4.1.4's bytes: Ember encodes each to exactly those bytes and
// decodes them back to the same message.
func TestSpark41ShuffleMessages(t *testing.T) {
	msgs := spark41Messages()
	files, _ := filepath.Glob(filepath.Join(spark41Dir, "*.hex"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	sort.Strings(names)
	if len(names) != len(msgs) {
		t.Fatalf("found vectors %v, the test knows %d", names, len(msgs))
	}
	seen := map[MsgType]bool{}
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".hex"), func(t *testing.T) {
			want, ok := msgs[name]
			if !ok {
				t.Fatalf("no expected message for vector %s", name)
			}
			seen[want.Type()] = true
			desc, golden := readVector(t, spark41Dir, name)
			tn := goldenTypeNames[want.Type()]
			if tn == "" {
				tn = spark41TypeNames[want.Type()]
			}
			if !strings.HasPrefix(desc, tn+"(type=") {
				t.Errorf("description %q does not describe a %s", desc, tn)
			}
			got, err := Decode(golden)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !msgEqual(got, want) {
				t.Errorf("Decode:\n got %#v\nwant %#v", got, want)
			}
			enc := Encode(spark41Messages()[name])
			if !bytes.Equal(enc, golden) {
				t.Errorf("Encode:\n got %x\nwant %x", enc, golden)
			}
			if again := Encode(got); !bytes.Equal(again, golden) {
				t.Errorf("decoded and re-encoded:\n got %x\nwant %x", again, golden)
			}
		})
	}
	// Every type Spark 4.1 can send has a vector (ids 4 and 5 are reserved).
	for ty := TypeOpenBlocks; ty <= TypeRemoveShuffleMerge; ty++ {
		if ty != 4 && ty != 5 && !seen[ty] {
			t.Errorf("no Spark 4.1 vector for message type %d", ty)
		}
	}
}

// TestSpark41MatchesSpark312Shuffle: the 3.1.2 payload vectors are byte for
// byte what Spark 4.1.4 writes.
func TestSpark41MatchesSpark312Shuffle(t *testing.T) {
	dir := goldenDir(t)
	n := 0
	for name := range goldenMessages {
		_, v312 := readVector(t, dir, name)
		_, v41 := readVector(t, spark41Dir, name)
		if !bytes.Equal(v41, v312) {
			t.Errorf("%s differs:\n 4.1.4 %x\n 3.1.2 %x", name, v41, v312)
		}
		n++
	}
	if n != 11 {
		t.Errorf("compared %d vectors, want 11", n)
	}
}
