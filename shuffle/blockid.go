package shuffle

import (
	"fmt"
	"strconv"
	"strings"
)

// BlockKind says what a block id names.
type BlockKind int

// Block kinds the shuffle service understands.
const (
	KindShuffle      BlockKind = iota + 1 // shuffle_<s>_<m>_<r>
	KindShuffleBatch                      // shuffle_<s>_<m>_<start>_<end>
	KindShuffleChunk                      // shuffleChunk_<s>_<mergeId>_<r>_<chunk>
	KindRDD                               // rdd_<rdd>_<split>
)

// BlockID is a parsed block id.
type BlockID struct {
	Kind      BlockKind
	ShuffleID int32
	MapID     int64 // shuffle: the map task attempt id
	ReduceID  int32 // shuffle; start reduce id for a batch
	EndReduce int32 // batch: end reduce id (exclusive)
	MergeID   int32 // shuffleChunk
	ChunkID   int32 // shuffleChunk
	RDDID     int32
	SplitIdx  int32
}

// String formats the id as Spark names it.
func (b BlockID) String() string {
	switch b.Kind {
	case KindShuffle:
		return fmt.Sprintf("shuffle_%d_%d_%d", b.ShuffleID, b.MapID, b.ReduceID)
	case KindShuffleBatch:
		return fmt.Sprintf("shuffle_%d_%d_%d_%d", b.ShuffleID, b.MapID, b.ReduceID, b.EndReduce)
	case KindShuffleChunk:
		return fmt.Sprintf("shuffleChunk_%d_%d_%d_%d", b.ShuffleID, b.MergeID, b.ReduceID, b.ChunkID)
	case KindRDD:
		return fmt.Sprintf("rdd_%d_%d", b.RDDID, b.SplitIdx)
	}
	return "unknown block"
}

// ShuffleBlockID returns shuffle_<s>_<m>_<r>.
func ShuffleBlockID(shuffleID int32, mapID int64, reduceID int32) string {
	return "shuffle_" + strconv.Itoa(int(shuffleID)) + "_" + strconv.FormatInt(mapID, 10) + "_" + strconv.Itoa(int(reduceID))
}

// ParseBlockID parses shuffle, shuffle batch, shuffle chunk and RDD block
// ids. Ids are numbers joined by underscores; anything else is an error.
func ParseBlockID(id string) (BlockID, error) {
	parts := strings.Split(id, "_")
	bad := func(why string) (BlockID, error) {
		return BlockID{}, fmt.Errorf("shuffle: Unexpected block id format: %q (%s)", id, why)
	}
	nums := make([]int64, 0, 4)
	for _, p := range parts[1:] {
		if p == "" || (len(p) > 1 && p[0] == '+') {
			return bad("empty or signed part")
		}
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return bad("not a number: " + p)
		}
		nums = append(nums, v)
	}
	i32 := func(v int64) (int32, bool) { return int32(v), v >= -1<<31 && v < 1<<31 }
	switch {
	case parts[0] == "shuffle" && (len(nums) == 3 || len(nums) == 4):
		s, ok1 := i32(nums[0])
		r, ok2 := i32(nums[2])
		if !ok1 || !ok2 {
			return bad("id out of range")
		}
		b := BlockID{Kind: KindShuffle, ShuffleID: s, MapID: nums[1], ReduceID: r}
		if len(nums) == 4 {
			e, ok := i32(nums[3])
			if !ok {
				return bad("id out of range")
			}
			b.Kind, b.EndReduce = KindShuffleBatch, e
		}
		return b, nil
	case parts[0] == "shuffleChunk" && len(nums) == 4:
		s, ok1 := i32(nums[0])
		m, ok2 := i32(nums[1])
		r, ok3 := i32(nums[2])
		c, ok4 := i32(nums[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return bad("id out of range")
		}
		return BlockID{Kind: KindShuffleChunk, ShuffleID: s, MergeID: m, ReduceID: r, ChunkID: c}, nil
	case parts[0] == "rdd" && len(nums) == 2:
		r, ok1 := i32(nums[0])
		s, ok2 := i32(nums[1])
		if !ok1 || !ok2 {
			return bad("id out of range")
		}
		return BlockID{Kind: KindRDD, RDDID: r, SplitIdx: s}, nil
	}
	return bad("unknown kind or wrong number of parts")
}
