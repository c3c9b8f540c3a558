package shuffle

import (
	"math"
	"strings"
	"testing"
)

func TestParseBlockIDValid(t *testing.T) {
	cases := []struct {
		id   string
		want BlockID
		name string // String(), if it differs from id
	}{
		{id: "shuffle_0_1_2", want: BlockID{Kind: KindShuffle, ShuffleID: 0, MapID: 1, ReduceID: 2}},
		{id: "shuffle_3_9223372036854775807_2147483647", want: BlockID{Kind: KindShuffle, ShuffleID: 3, MapID: math.MaxInt64, ReduceID: math.MaxInt32}},
		{id: "shuffle_1_2_3_4", want: BlockID{Kind: KindShuffleBatch, ShuffleID: 1, MapID: 2, ReduceID: 3, EndReduce: 4}},
		{id: "shuffleChunk_1_2_3_4", want: BlockID{Kind: KindShuffleChunk, ShuffleID: 1, MergeID: 2, ReduceID: 3, ChunkID: 4}},
		{id: "rdd_5_6", want: BlockID{Kind: KindRDD, RDDID: 5, SplitIdx: 6}},
		// The service splits on '_' and parses numbers, as Spark's handler does
		// (Integer.parseInt accepts a sign and leading zeros).
		{id: "shuffle_-1_2_3", want: BlockID{Kind: KindShuffle, ShuffleID: -1, MapID: 2, ReduceID: 3}},
		{id: "shuffle_007_08_09", want: BlockID{Kind: KindShuffle, ShuffleID: 7, MapID: 8, ReduceID: 9}, name: "shuffle_7_8_9"},
		{id: "rdd_-0_1", want: BlockID{Kind: KindRDD, RDDID: 0, SplitIdx: 1}, name: "rdd_0_1"},
	}
	for _, c := range cases {
		got, err := ParseBlockID(c.id)
		if err != nil {
			t.Errorf("ParseBlockID(%q): %v", c.id, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseBlockID(%q) = %+v, want %+v", c.id, got, c.want)
		}
		name := c.name
		if name == "" {
			name = c.id
		}
		if got.String() != name {
			t.Errorf("ParseBlockID(%q).String() = %q, want %q", c.id, got.String(), name)
		}
		again, err := ParseBlockID(got.String())
		if err != nil || again != got {
			t.Errorf("String() of %q does not re-parse: %+v, %v", c.id, again, err)
		}
	}
}

func TestParseBlockIDInvalid(t *testing.T) {
	for _, id := range []string{
		"", "_", "shuffle", "shuffle_", "shuffle_1", "shuffle_1_2", "shuffle_1_2_3_4_5", "shuffle_0_0_0_0_0",
		"shuffle_a_1_2", "shuffle_1__2", "shuffle__1_2", "shuffle_1_2_", "shuffle_+1_2_3", "shuffle_1_2_3 ", " shuffle_1_2_3",
		"shuffle_1_2_3.data", "shuffle_1_2_0.index", "shuffle_0x1_2_3", "shuffle_1_2_3e2",
		"shuffle_2147483648_0_0", "shuffle_-2147483649_0_0", "shuffle_0_9223372036854775808_0", "shuffle_0_0_2147483648",
		"shuffle_0_0_0_2147483648", "shuffleChunk_1_2_3", "shuffleChunk_1_2_3_4_5", "shuffleChunk_1_2147483648_3_4",
		"rdd_1", "rdd_1_2_3", "rdd_1_2147483648", "rdd_x_1", "broadcast_1", "taskresult_1", "shufflePush_1_2_3_4",
		"shuffleMerged_1_2_3", "SHUFFLE_1_2_3", "Shuffle_1_2_3",
		"../shuffle_0_0_0", "shuffle_0_0_../../etc", "rdd_../../x_1", "/etc/passwd", "shuffle_0_0_0/../../x",
		"shuffle_0_0_0\x00", "shuffle_１_2_3",
	} {
		if b, err := ParseBlockID(id); err == nil {
			t.Errorf("ParseBlockID(%q) = %+v, want an error", id, b)
		} else if !strings.Contains(err.Error(), "Unexpected block id format") {
			t.Errorf("ParseBlockID(%q): error %q should say 'Unexpected block id format'", id, err)
		}
	}
}

func TestBlockIDNames(t *testing.T) {
	if got := ShuffleBlockID(3, 1<<40, 7); got != "shuffle_3_1099511627776_7" {
		t.Errorf("ShuffleBlockID = %q", got)
	}
	if got := ShuffleBlockID(-1, -2, -3); got != "shuffle_-1_-2_-3" {
		t.Errorf("ShuffleBlockID(negative) = %q", got)
	}
	b := BlockID{Kind: KindShuffle, ShuffleID: 3, MapID: 1 << 40, ReduceID: 7}
	if b.String() != ShuffleBlockID(3, 1<<40, 7) {
		t.Errorf("BlockID.String %q differs from ShuffleBlockID", b.String())
	}
	if got := (BlockID{}).String(); got != "unknown block" {
		t.Errorf("zero BlockID String() = %q", got)
	}
}
