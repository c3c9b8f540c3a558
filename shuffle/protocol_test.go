package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring"
	"github.com/ember-rpc/ember/codec"
)

func bitmapOf(vals ...uint32) *roaring.Bitmap { return roaring.BitmapOf(vals...) }

// sampleMessages returns one or more messages of every type, with edge
// values. Fresh values on every call (encoding run-optimises bitmaps).
func sampleMessages() []Message {
	dense := roaring.New()
	dense.AddRange(0, 100000) // a run container
	sparse := bitmapOf(1, 7, 65536, 1<<20, math.MaxUint32)
	mixed := roaring.New()
	mixed.AddRange(10, 5000)
	mixed.Add(200000)
	for i := uint32(300000); i < 310000; i += 3 {
		mixed.Add(i) // an array/bitmap container
	}
	return []Message{
		&OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{"shuffle_0_1_2", "shuffle_0_1_3"}},
		&OpenBlocks{AppID: "", ExecID: "", BlockIDs: []string{}},
		&UploadBlock{AppID: "app-ü", ExecID: "e", BlockID: "rdd_1_2", Metadata: []byte{0, 1, 2}, BlockData: bytes.Repeat([]byte{0xff}, 300)},
		&RegisterExecutor{AppID: "app-1", ExecID: "exec-1", Info: ExecutorShuffleInfo{LocalDirs: []string{"/a", "/b/c"},
			SubDirsPerLocalDir: 64, ShuffleManager: SortShuffleManager}},
		&RegisterExecutor{AppID: "a", ExecID: "☃", Info: ExecutorShuffleInfo{LocalDirs: []string{}, SubDirsPerLocalDir: -1, ShuffleManager: ""}},
		&StreamHandle{StreamID: math.MinInt64, NumChunks: math.MaxInt32},
		&StreamHandle{StreamID: 0x1122334455667788, NumChunks: 0},
		&UploadBlockStream{BlockID: "rdd_1_2", Metadata: []byte("meta")},
		&RemoveBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{"rdd_1_2", "rdd_3_4"}},
		&BlocksRemoved{NumRemovedBlocks: -7},
		&FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 9, MapIDs: []int64{1, math.MaxInt64, -1},
			ReduceIDs: [][]int32{{0, 1}, {2}, {}}, BatchFetchEnabled: false},
		&FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 3, MapIDs: []int64{5},
			ReduceIDs: [][]int32{{0, 4}}, BatchFetchEnabled: true},
		// The decoder does not check mapIds.length == reduceIds.length.
		&FetchShuffleBlocks{AppID: "x", ExecID: "y", MapIDs: []int64{1, 2}, ReduceIDs: [][]int32{{1}, {}}},
		&GetLocalDirsForExecutors{AppID: "app-1", ExecIDs: []string{"exec-1", "exec-2"}},
		&LocalDirsForExecutors{ExecIDs: []string{"e1", "e2"}, NumLocalDirsByExec: []int32{2, 1}, AllLocalDirs: []string{"/a", "/b", "/c"}},
		&PushBlockStream{AppID: "app-1", AppAttemptID: 1, ShuffleID: 2, ShuffleMergeID: 3, MapIndex: 4, ReduceID: 5, Index: 6},
		&PushBlockStream{AppID: "", AppAttemptID: -1, ShuffleID: math.MaxInt32, ShuffleMergeID: math.MinInt32},
		&FinalizeShuffleMerge{AppID: "app-1", AppAttemptID: 2, ShuffleID: 3, ShuffleMergeID: 4},
		&MergeStatuses{ShuffleID: 1, ShuffleMergeID: 2, Bitmaps: []*roaring.Bitmap{bitmapOf(1, 2, 3), dense, sparse, roaring.New(), mixed},
			ReduceIDs: []int32{0, 1, 2, 3, 4}, Sizes: []int64{10, 20, 0, math.MaxInt64, 5}},
		&MergeStatuses{ShuffleID: 0, ShuffleMergeID: 0, ReduceIDs: []int32{}, Sizes: []int64{}},
		&FetchShuffleBlockChunks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 1, ShuffleMergeID: 2,
			ReduceIDs: []int32{3, 4}, ChunkIDs: [][]int32{{0, 1, 2}, {5}}},
		&DiagnoseCorruption{AppID: "app-1", ExecID: "exec-1", ShuffleID: 1, MapID: math.MaxInt64, ReduceID: 3,
			Checksum: -1, Algorithm: "ADLER32"},
		&CorruptionCause{Cause: CauseDiskIssue},
		&CorruptionCause{Cause: CauseUnsupportedChecksumAlgorithm},
		&BlockPushReturnCode{ReturnCode: 2, FailureBlockID: "shufflePush_1_2_3_4"},
		&BlockPushReturnCode{ReturnCode: 0, FailureBlockID: ""},
		&RemoveShuffleMerge{AppID: "app-1", AppAttemptID: 1, ShuffleID: 2, ShuffleMergeID: -1},
	}
}

func TestRoundTripEveryMessageType(t *testing.T) {
	covered := map[MsgType]bool{}
	for i, m := range sampleMessages() {
		t.Run(fmt.Sprintf("%02d_%T", i, m), func(t *testing.T) {
			covered[m.Type()] = true
			b := Encode(m)
			if MsgType(int8(b[0])) != m.Type() {
				t.Fatalf("type byte %d, want %d", b[0], m.Type())
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(%#v)): %v", m, err)
			}
			if !msgEqual(got, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
			// AppendMessage appends exactly Encode's bytes.
			fresh := sampleMessages()[i]
			prefix := []byte("prefix")
			if app := AppendMessage(bytes.Clone(prefix), fresh); !bytes.Equal(app, append(prefix, b...)) {
				t.Errorf("AppendMessage does not append Encode's bytes")
			}
			// Re-encoding gives the same bytes. (Not for bitmaps: roaring's
			// run optimisation flips a run/array tie each time it runs, and
			// both forms are valid.)
			b2 := Encode(got)
			if _, ok := m.(*MergeStatuses); ok {
				if again, err := Decode(b2); err != nil || !msgEqual(again, m) {
					t.Errorf("re-encoded MergeStatuses decodes as %#v, %v", again, err)
				}
			} else if !bytes.Equal(b2, b) {
				t.Errorf("re-encoding differs:\n %x\n %x", b2, b)
			}
		})
	}
	for ty := TypeOpenBlocks; ty <= TypeRemoveShuffleMerge; ty++ {
		if ty == TypeRegisterDriver || ty == TypeHeartbeat {
			continue
		}
		if !covered[ty] {
			t.Errorf("no sample message of type %d", ty)
		}
	}
}

// TestMergeStatusesBitmapLayout: the bitmaps are RoaringBitmap's portable
// format, run-optimised, with no length prefix, so the decoder finds where
// each ends by parsing it.
func TestMergeStatusesBitmapLayout(t *testing.T) {
	a := roaring.New()
	a.AddRange(0, 70000)
	b := bitmapOf(3, 1000000)
	m := &MergeStatuses{ShuffleID: 7, ShuffleMergeID: 8, Bitmaps: []*roaring.Bitmap{a, b}, ReduceIDs: []int32{1, 2}, Sizes: []int64{3, 4}}
	enc := Encode(m)

	ra, rb := a.Clone(), b.Clone()
	ra.RunOptimize()
	rb.RunOptimize()
	ab, _ := ra.ToBytes()
	bb, _ := rb.ToBytes()
	var want []byte
	want = append(want, byte(TypeMergeStatuses))
	want = binary.BigEndian.AppendUint32(want, 7)
	want = binary.BigEndian.AppendUint32(want, 8)
	want = binary.BigEndian.AppendUint32(want, 2)
	want = append(want, ab...)
	want = append(want, bb...)
	want = codec.AppendIntArray(want, []int32{1, 2})
	want = codec.AppendLongArray(want, []int64{3, 4})
	if !bytes.Equal(enc, want) {
		t.Fatalf("MergeStatuses encoding:\n got %x\nwant %x", enc, want)
	}
	if !ra.HasRunCompression() {
		t.Errorf("the dense bitmap should be run-compressed when encoded")
	}

	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	ms := got.(*MergeStatuses)
	if !ms.Bitmaps[0].Equals(a) || !ms.Bitmaps[1].Equals(b) || ms.Bitmaps[0].GetCardinality() != 70000 {
		t.Errorf("bitmaps changed in the round trip")
	}
	if !reflect.DeepEqual(ms.ReduceIDs, []int32{1, 2}) || !reflect.DeepEqual(ms.Sizes, []int64{3, 4}) {
		t.Errorf("fields after the bitmaps: %v %v", ms.ReduceIDs, ms.Sizes)
	}

	// A nil bitmap is written as an empty one.
	got, err = Decode(Encode(&MergeStatuses{Bitmaps: []*roaring.Bitmap{nil}, ReduceIDs: []int32{0}, Sizes: []int64{0}}))
	if err != nil {
		t.Fatal(err)
	}
	if bms := got.(*MergeStatuses).Bitmaps; len(bms) != 1 || !bms[0].IsEmpty() {
		t.Errorf("nil bitmap decoded as %v", bms)
	}
}

func TestDecodeReservedAndUnknownTypes(t *testing.T) {
	for _, id := range []int{4, 5, 20, 21, 99, 127, -1, -128} {
		payload := []byte{byte(int8(id)), 0, 0, 0, 0, 0, 0, 0, 0}
		m, err := Decode(payload)
		if !errors.Is(err, ErrUnknownMessage) {
			t.Errorf("type %d: got (%v, %v), want ErrUnknownMessage", id, m, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("Unknown message type: %d", id)) {
			t.Errorf("type %d: error %q does not name the type", id, err)
		}
		if m != nil {
			t.Errorf("type %d: a message came back with the error", id)
		}
	}
	if _, err := Decode(nil); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("empty payload: %v, want codec.ErrMalformed", err)
	}
}

// TestDecodeTruncated: every strict prefix of every message is an error
// (each field needs at least one byte), never a panic.
func TestDecodeTruncated(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		for i := 1; i < len(b); i++ {
			got, err := decodeNoPanic(t, b[:i])
			if err == nil {
				t.Errorf("%T truncated to %d of %d bytes decoded as %#v", m, i, len(b), got)
				break
			}
			if !errors.Is(err, codec.ErrMalformed) {
				t.Errorf("%T truncated to %d bytes: %v, want codec.ErrMalformed", m, i, err)
				break
			}
		}
	}
}

// TestDecodeCorrupted flips and overwrites bytes of every message: Decode
// must never panic, and what it accepts must re-encode and decode equal.
func TestDecodeCorrupted(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		for i := 1; i < len(b); i++ {
			for _, v := range []byte{0x00, 0xff, 0x7f, 0x80, b[i] ^ 0x01} {
				c := bytes.Clone(b)
				c[i] = v
				got, err := decodeNoPanic(t, c)
				if err != nil {
					if !errors.Is(err, codec.ErrMalformed) {
						t.Fatalf("%T with byte %d = %#x: error %v is not ErrMalformed", m, i, v, err)
					}
					continue
				}
				again, err := Decode(Encode(got))
				if err != nil || !msgEqual(again, got) {
					t.Fatalf("%T with byte %d = %#x: decoded %#v does not round-trip (%v)", m, i, v, got, err)
				}
			}
		}
	}
}

func decodeNoPanic(t *testing.T, b []byte) (m Message, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Decode(%x) panicked: %v", b, p)
		}
	}()
	return Decode(b)
}

// TestDecodeHostileCounts: negative or huge lengths and counts are
// rejected without allocating what they claim.
func TestDecodeHostileCounts(t *testing.T) {
	app := codec.AppendString(nil, "a")
	cases := map[string][]byte{
		"negative string length": append([]byte{byte(TypeOpenBlocks)}, 0xff, 0xff, 0xff, 0xfe),
		"huge string length":     append([]byte{byte(TypeOpenBlocks)}, 0x7f, 0xff, 0xff, 0xff),
		"huge block id count":    append(append(append([]byte{byte(TypeOpenBlocks)}, app...), app...), 0x7f, 0xff, 0xff, 0xff),
		"negative block count":   append(append(append([]byte{byte(TypeOpenBlocks)}, app...), app...), 0x80, 0, 0, 0),
		"huge map id count": append(binary.BigEndian.AppendUint32(append(append([]byte{byte(TypeFetchShuffleBlocks)}, app...), app...), 1),
			0x10, 0, 0, 0),
		"huge reduce list count": binary.BigEndian.AppendUint32(codec.AppendLongArray(
			binary.BigEndian.AppendUint32(append(append([]byte{byte(TypeFetchShuffleBlocks)}, app...), app...), 1), []int64{1}), 0x7fffffff),
		"negative bitmap count": {byte(TypeMergeStatuses), 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff},
		"huge bitmap count":     {byte(TypeMergeStatuses), 0, 0, 0, 1, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff},
		"garbage bitmap":        {byte(TypeMergeStatuses), 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0},
		"bitmap claiming many containers": append([]byte{byte(TypeMergeStatuses), 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1,
			0x3a, 0x30, 0, 0, 0xff, 0xff, 0, 0}, make([]byte, 16)...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := decodeNoPanic(t, b)
			if err == nil {
				t.Fatalf("decoded %#v", m)
			}
			if !errors.Is(err, codec.ErrMalformed) {
				t.Errorf("error %v is not codec.ErrMalformed", err)
			}
		})
	}
}

func TestCauseNames(t *testing.T) {
	want := map[Cause]string{
		CauseDiskIssue: "DISK_ISSUE", CauseNetworkIssue: "NETWORK_ISSUE", CauseUnknownIssue: "UNKNOWN_ISSUE",
		CauseChecksumVerifyPass: "CHECKSUM_VERIFY_PASS", CauseUnsupportedChecksumAlgorithm: "UNSUPPORTED_CHECKSUM_ALGORITHM",
		Cause(9): "Cause(9)",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Cause(%d).String() = %q, want %q", int8(c), c.String(), s)
		}
	}
	// The ordinals are Spark's.
	for i, c := range []Cause{CauseDiskIssue, CauseNetworkIssue, CauseUnknownIssue, CauseChecksumVerifyPass, CauseUnsupportedChecksumAlgorithm} {
		if int(c) != i {
			t.Errorf("%v has ordinal %d, want %d", c, c, i)
		}
		if b := Encode(&CorruptionCause{Cause: c}); !bytes.Equal(b, []byte{byte(TypeCorruptionCause), byte(i)}) {
			t.Errorf("CorruptionCause(%v) encodes as %x", c, b)
		}
	}
}

// TestMessageTypeIDs pins the one-byte ids to Spark's numbering.
func TestMessageTypeIDs(t *testing.T) {
	want := []Message{&OpenBlocks{}, &UploadBlock{}, &RegisterExecutor{}, &StreamHandle{}, nil, nil,
		&UploadBlockStream{}, &RemoveBlocks{}, &BlocksRemoved{}, &FetchShuffleBlocks{}, &GetLocalDirsForExecutors{},
		&LocalDirsForExecutors{}, &PushBlockStream{}, &FinalizeShuffleMerge{}, &MergeStatuses{},
		&FetchShuffleBlockChunks{}, &DiagnoseCorruption{}, &CorruptionCause{}, &BlockPushReturnCode{}, &RemoveShuffleMerge{}}
	for id, m := range want {
		if m == nil {
			continue
		}
		if int(m.Type()) != id {
			t.Errorf("%T has type id %d, want %d", m, m.Type(), id)
		}
	}
}

// containerKinds parses the header of a portable-format bitmap and returns
// each container's kind: run, array or bitmap.
func containerKinds(t *testing.T, b []byte) []string {
	t.Helper()
	cookie := binary.LittleEndian.Uint32(b)
	var size int
	var flags []byte
	p := 4
	if cookie&0xffff == 12347 {
		size = int(cookie>>16) + 1
		flags = b[p : p+(size+7)/8]
		p += len(flags)
	} else {
		size = int(binary.LittleEndian.Uint32(b[p:]))
		p += 4
	}
	var kinds []string
	for i := 0; i < size; i++ {
		card := int(binary.LittleEndian.Uint16(b[p+4*i+2:])) + 1
		switch {
		case flags != nil && flags[i/8]&(1<<(i%8)) != 0:
			kinds = append(kinds, "run")
		case card <= 4096:
			kinds = append(kinds, "array")
		default:
			kinds = append(kinds, "bitmap")
		}
	}
	return kinds
}

// TestAppendBitmapContainerChoice: a container becomes a run container
// only when that is strictly smaller, as RoaringBitmap's runOptimize
// decides (Go roaring's converts on a tie), and every encoding decodes to
// the same set with its length found by portableBitmapSize.
func TestAppendBitmapContainerChoice(t *testing.T) {
	runsOf := func(n, length, gap int) *roaring.Bitmap {
		bm := roaring.New()
		for i := 0; i < n; i++ {
			bm.AddRange(uint64(i*(length+gap)), uint64(i*(length+gap)+length))
		}
		return bm
	}
	cases := []struct {
		name string
		bm   *roaring.Bitmap
		want []string
	}{
		{"empty", roaring.New(), nil},
		{"tie: 3 values in 1 run, 6 bytes either way", bitmapOf(1, 2, 3), []string{"array"}},
		{"4 values in 1 run", bitmapOf(1, 2, 3, 4), []string{"run"}},
		{"no runs", bitmapOf(1, 3, 5), []string{"array"}},
		{"tie: 5 values in 2 runs", bitmapOf(1, 2, 3, 10, 11), []string{"array"}},
		{"a dense range", runsOf(1, 5000, 0), []string{"run"}},
		{"2047 runs of a bitmap: 8190 bytes", runsOf(2047, 3, 1), []string{"run"}},
		{"2048 runs of a bitmap: 8194 bytes", runsOf(2048, 3, 1), []string{"bitmap"}},
		{"many containers", func() *roaring.Bitmap {
			bm := runsOf(2048, 3, 1)
			bm.Or(bitmapOf(1<<16|5, 2<<16|1, 2<<16|2, 2<<16|3, 2<<16|4))
			bm.AddRange(3<<16, 3<<16+6000)
			return bm
		}(), []string{"bitmap", "array", "run", "run"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := appendBitmap(nil, c.bm)
			if got := containerKinds(t, b); !reflect.DeepEqual(got, c.want) {
				t.Errorf("containers %v, want %v", got, c.want)
			}
			n, err := portableBitmapSize(b)
			if err != nil || n != len(b) {
				t.Fatalf("portableBitmapSize = %d, %v; encoded %d bytes", n, err, len(b))
			}
			got := roaring.New()
			if _, err := got.ReadFrom(bytes.NewReader(b)); err != nil || !got.Equals(c.bm) {
				t.Errorf("decodes to %v (%v), want the encoded set", got.GetCardinality(), err)
			}
		})
	}
}
