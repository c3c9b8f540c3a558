package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/RoaringBitmap/roaring"
	"github.com/ember-rpc/ember/codec"
)

// MsgType is the one-byte id of a BlockTransferMessage, as Spark numbers
// them.
type MsgType int8

// BlockTransferMessage type ids.
const (
	TypeOpenBlocks               MsgType = 0
	TypeUploadBlock              MsgType = 1
	TypeRegisterExecutor         MsgType = 2
	TypeStreamHandle             MsgType = 3
	TypeRegisterDriver           MsgType = 4 // reserved (removed Mesos message)
	TypeHeartbeat                MsgType = 5 // reserved (removed Mesos message)
	TypeUploadBlockStream        MsgType = 6
	TypeRemoveBlocks             MsgType = 7
	TypeBlocksRemoved            MsgType = 8
	TypeFetchShuffleBlocks       MsgType = 9
	TypeGetLocalDirsForExecutors MsgType = 10
	TypeLocalDirsForExecutors    MsgType = 11
	TypePushBlockStream          MsgType = 12
	TypeFinalizeShuffleMerge     MsgType = 13
	TypeMergeStatuses            MsgType = 14
	TypeFetchShuffleBlockChunks  MsgType = 15
	TypeDiagnoseCorruption       MsgType = 16
	TypeCorruptionCause          MsgType = 17
	TypeBlockPushReturnCode      MsgType = 18
	TypeRemoveShuffleMerge       MsgType = 19
)

// Message is a BlockTransferMessage: the payload of an RpcRequest or
// RpcResponse (or of an UploadStream meta) on a shuffle connection.
type Message interface {
	Type() MsgType
	// appendFields appends the fields after the type byte.
	appendFields(dst []byte) []byte
}

// Encode returns the message's bytes: type id + fields.
func Encode(m Message) []byte { return AppendMessage(nil, m) }

// AppendMessage appends the message's encoding to dst.
func AppendMessage(dst []byte, m Message) []byte {
	dst = append(dst, byte(m.Type()))
	return m.appendFields(dst)
}

// ErrUnknownMessage: a payload whose type id is not a BlockTransferMessage.
var ErrUnknownMessage = errors.New("shuffle: unknown message type")

// ExecutorShuffleInfo is where an executor keeps its shuffle files.
type ExecutorShuffleInfo struct {
	LocalDirs          []string `json:"localDirs"`
	SubDirsPerLocalDir int32    `json:"subDirsPerLocalDir"`
	ShuffleManager     string   `json:"shuffleManager"`
}

func (i *ExecutorShuffleInfo) append(dst []byte) []byte {
	dst = codec.AppendStringArray(dst, i.LocalDirs)
	dst = binary.BigEndian.AppendUint32(dst, uint32(i.SubDirsPerLocalDir))
	return codec.AppendString(dst, i.ShuffleManager)
}

// SortShuffleManager is the shuffle manager name of Spark's sort shuffle.
const SortShuffleManager = "org.apache.spark.shuffle.sort.SortShuffleManager"

type (
	// OpenBlocks asks to open a stream over blocks (the legacy fetch).
	OpenBlocks struct {
		AppID, ExecID string
		BlockIDs      []string
	}
	// UploadBlock pushes a block to a block manager.
	UploadBlock struct {
		AppID, ExecID, BlockID string
		Metadata, BlockData    []byte
	}
	// RegisterExecutor registers an executor's shuffle dirs.
	RegisterExecutor struct {
		AppID, ExecID string
		Info          ExecutorShuffleInfo
	}
	// StreamHandle answers OpenBlocks / FetchShuffleBlocks.
	StreamHandle struct {
		StreamID  int64
		NumChunks int32
	}
	// UploadBlockStream is the meta of a block uploaded as a stream.
	UploadBlockStream struct {
		BlockID  string
		Metadata []byte
	}
	// RemoveBlocks deletes (RDD) blocks.
	RemoveBlocks struct {
		AppID, ExecID string
		BlockIDs      []string
	}
	// BlocksRemoved answers RemoveBlocks.
	BlocksRemoved struct{ NumRemovedBlocks int32 }
	// FetchShuffleBlocks opens a stream over shuffle blocks: for each map
	// id, its reduce ids (or, in batch mode, [start, end) pairs).
	FetchShuffleBlocks struct {
		AppID, ExecID     string
		ShuffleID         int32
		MapIDs            []int64
		ReduceIDs         [][]int32
		BatchFetchEnabled bool
	}
	// GetLocalDirsForExecutors asks for executors' local dirs.
	GetLocalDirsForExecutors struct {
		AppID   string
		ExecIDs []string
	}
	// LocalDirsForExecutors answers GetLocalDirsForExecutors.
	LocalDirsForExecutors struct {
		ExecIDs            []string
		NumLocalDirsByExec []int32
		AllLocalDirs       []string
	}
	// PushBlockStream is the meta of a pushed block (push-based shuffle).
	PushBlockStream struct {
		AppID                                                              string
		AppAttemptID, ShuffleID, ShuffleMergeID, MapIndex, ReduceID, Index int32
	}
	// FinalizeShuffleMerge ends a shuffle merge.
	FinalizeShuffleMerge struct {
		AppID                                   string
		AppAttemptID, ShuffleID, ShuffleMergeID int32
	}
	// MergeStatuses answers FinalizeShuffleMerge.
	MergeStatuses struct {
		ShuffleID, ShuffleMergeID int32
		Bitmaps                   []*roaring.Bitmap
		ReduceIDs                 []int32
		Sizes                     []int64
	}
	// FetchShuffleBlockChunks opens a stream over merged-block chunks.
	FetchShuffleBlockChunks struct {
		AppID, ExecID             string
		ShuffleID, ShuffleMergeID int32
		ReduceIDs                 []int32
		ChunkIDs                  [][]int32
	}
	// DiagnoseCorruption asks why a fetched block failed its checksum.
	DiagnoseCorruption struct {
		AppID, ExecID string
		ShuffleID     int32
		MapID         int64
		ReduceID      int32
		Checksum      int64
		Algorithm     string
	}
	// CorruptionCause answers DiagnoseCorruption.
	CorruptionCause struct{ Cause Cause }
	// BlockPushReturnCode answers a pushed block.
	BlockPushReturnCode struct {
		ReturnCode     int8
		FailureBlockID string
	}
	// RemoveShuffleMerge removes merged shuffle data (sent one way).
	RemoveShuffleMerge struct {
		AppID                                   string
		AppAttemptID, ShuffleID, ShuffleMergeID int32
	}
)

// Cause is a corruption diagnosis.
type Cause int8

// The causes, by Spark's ordinals.
const (
	CauseDiskIssue                    Cause = 0
	CauseNetworkIssue                 Cause = 1
	CauseUnknownIssue                 Cause = 2
	CauseChecksumVerifyPass           Cause = 3
	CauseUnsupportedChecksumAlgorithm Cause = 4
)

func (c Cause) String() string {
	switch c {
	case CauseDiskIssue:
		return "DISK_ISSUE"
	case CauseNetworkIssue:
		return "NETWORK_ISSUE"
	case CauseUnknownIssue:
		return "UNKNOWN_ISSUE"
	case CauseChecksumVerifyPass:
		return "CHECKSUM_VERIFY_PASS"
	case CauseUnsupportedChecksumAlgorithm:
		return "UNSUPPORTED_CHECKSUM_ALGORITHM"
	}
	return fmt.Sprintf("Cause(%d)", int8(c))
}

// Type implementations.
func (*OpenBlocks) Type() MsgType               { return TypeOpenBlocks }
func (*UploadBlock) Type() MsgType              { return TypeUploadBlock }
func (*RegisterExecutor) Type() MsgType         { return TypeRegisterExecutor }
func (*StreamHandle) Type() MsgType             { return TypeStreamHandle }
func (*UploadBlockStream) Type() MsgType        { return TypeUploadBlockStream }
func (*RemoveBlocks) Type() MsgType             { return TypeRemoveBlocks }
func (*BlocksRemoved) Type() MsgType            { return TypeBlocksRemoved }
func (*FetchShuffleBlocks) Type() MsgType       { return TypeFetchShuffleBlocks }
func (*GetLocalDirsForExecutors) Type() MsgType { return TypeGetLocalDirsForExecutors }
func (*LocalDirsForExecutors) Type() MsgType    { return TypeLocalDirsForExecutors }
func (*PushBlockStream) Type() MsgType          { return TypePushBlockStream }
func (*FinalizeShuffleMerge) Type() MsgType     { return TypeFinalizeShuffleMerge }
func (*MergeStatuses) Type() MsgType            { return TypeMergeStatuses }
func (*FetchShuffleBlockChunks) Type() MsgType  { return TypeFetchShuffleBlockChunks }
func (*DiagnoseCorruption) Type() MsgType       { return TypeDiagnoseCorruption }
func (*CorruptionCause) Type() MsgType          { return TypeCorruptionCause }
func (*BlockPushReturnCode) Type() MsgType      { return TypeBlockPushReturnCode }
func (*RemoveShuffleMerge) Type() MsgType       { return TypeRemoveShuffleMerge }

func appendI32(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }
func appendI64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }
func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (m *OpenBlocks) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	return codec.AppendStringArray(d, m.BlockIDs)
}

func (m *UploadBlock) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	d = codec.AppendString(d, m.BlockID)
	d = codec.AppendByteArray(d, m.Metadata)
	return codec.AppendByteArray(d, m.BlockData)
}

func (m *RegisterExecutor) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	return m.Info.append(d)
}

func (m *StreamHandle) appendFields(d []byte) []byte {
	return appendI32(appendI64(d, m.StreamID), m.NumChunks)
}

func (m *UploadBlockStream) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.BlockID)
	return codec.AppendByteArray(d, m.Metadata)
}

func (m *RemoveBlocks) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	return codec.AppendStringArray(d, m.BlockIDs)
}

func (m *BlocksRemoved) appendFields(d []byte) []byte { return appendI32(d, m.NumRemovedBlocks) }

func (m *FetchShuffleBlocks) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	d = appendI32(d, m.ShuffleID)
	d = codec.AppendLongArray(d, m.MapIDs)
	d = appendI32(d, int32(len(m.ReduceIDs)))
	for _, r := range m.ReduceIDs {
		d = codec.AppendIntArray(d, r)
	}
	return appendBool(d, m.BatchFetchEnabled)
}

func (m *GetLocalDirsForExecutors) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	return codec.AppendStringArray(d, m.ExecIDs)
}

func (m *LocalDirsForExecutors) appendFields(d []byte) []byte {
	d = codec.AppendStringArray(d, m.ExecIDs)
	d = codec.AppendIntArray(d, m.NumLocalDirsByExec)
	return codec.AppendStringArray(d, m.AllLocalDirs)
}

func (m *PushBlockStream) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	for _, v := range [...]int32{m.AppAttemptID, m.ShuffleID, m.ShuffleMergeID, m.MapIndex, m.ReduceID, m.Index} {
		d = appendI32(d, v)
	}
	return d
}

func (m *FinalizeShuffleMerge) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	return appendI32(appendI32(appendI32(d, m.AppAttemptID), m.ShuffleID), m.ShuffleMergeID)
}

func (m *MergeStatuses) appendFields(d []byte) []byte {
	d = appendI32(appendI32(d, m.ShuffleID), m.ShuffleMergeID)
	d = appendI32(d, int32(len(m.Bitmaps)))
	for _, bm := range m.Bitmaps {
		d = appendBitmap(d, bm)
	}
	d = codec.AppendIntArray(d, m.ReduceIDs)
	return codec.AppendLongArray(d, m.Sizes)
}

func (m *FetchShuffleBlockChunks) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	d = appendI32(appendI32(d, m.ShuffleID), m.ShuffleMergeID)
	d = codec.AppendIntArray(d, m.ReduceIDs)
	d = appendI32(d, int32(len(m.ChunkIDs)))
	for _, c := range m.ChunkIDs {
		d = codec.AppendIntArray(d, c)
	}
	return d
}

func (m *DiagnoseCorruption) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	d = codec.AppendString(d, m.ExecID)
	d = appendI32(d, m.ShuffleID)
	d = appendI64(d, m.MapID)
	d = appendI32(d, m.ReduceID)
	d = appendI64(d, m.Checksum)
	return codec.AppendString(d, m.Algorithm)
}

func (m *CorruptionCause) appendFields(d []byte) []byte { return append(d, byte(m.Cause)) }

func (m *BlockPushReturnCode) appendFields(d []byte) []byte {
	d = append(d, byte(m.ReturnCode))
	return codec.AppendString(d, m.FailureBlockID)
}

func (m *RemoveShuffleMerge) appendFields(d []byte) []byte {
	d = codec.AppendString(d, m.AppID)
	return appendI32(appendI32(appendI32(d, m.AppAttemptID), m.ShuffleID), m.ShuffleMergeID)
}

// appendBitmap writes a bitmap in RoaringBitmap's portable format, run
// optimised first as Spark does (RoaringBitmap's runOptimize, then
// serialize). Each container of 2^16 values is chosen as Java's
// RoaringBitmap chooses it for a bitmap built by adding values: an array
// (up to 4096 values) or a bitmap becomes a run container only when the
// runs are strictly smaller (2+4×runs bytes, against 2×values for an
// array, 8192 for a bitmap). Go roaring's RunOptimize converts on a tie
// too, so its bytes differ from Spark's (an array of {1,2,3} is 6 bytes
// either way); the set is the same.
func appendBitmap(d []byte, bm *roaring.Bitmap) []byte {
	const (
		cookieRuns   = 12347
		cookieNoRuns = 12346
		maxArray     = 4096
		bitmapBytes  = 8192
	)
	cs := bitmapRuns(bm)
	hasRun := false
	for i := range cs {
		c := &cs[i]
		runSize := 2 + 4*len(c.runs)
		if c.card <= maxArray {
			c.asRun = 2*c.card > runSize
		} else {
			c.asRun = bitmapBytes > runSize
		}
		hasRun = hasRun || c.asRun
	}
	size := len(cs)
	start := len(d)
	le := binary.LittleEndian
	if hasRun {
		d = le.AppendUint32(d, uint32(cookieRuns)|uint32(size-1)<<16)
		flags := make([]byte, (size+7)/8)
		for i, c := range cs {
			if c.asRun {
				flags[i/8] |= 1 << (i % 8)
			}
		}
		d = append(d, flags...)
	} else {
		d = le.AppendUint32(d, cookieNoRuns)
		d = le.AppendUint32(d, uint32(size))
	}
	for _, c := range cs {
		d = le.AppendUint16(d, c.key)
		d = le.AppendUint16(d, uint16(c.card-1))
	}
	if !hasRun || size >= 4 {
		// Each container's offset from the bitmap's first byte.
		off := len(d) - start + 4*size
		for _, c := range cs {
			d = le.AppendUint32(d, uint32(off))
			switch {
			case c.asRun:
				off += 2 + 4*len(c.runs)
			case c.card <= maxArray:
				off += 2 * c.card
			default:
				off += bitmapBytes
			}
		}
	}
	for _, c := range cs {
		switch {
		case c.asRun:
			d = le.AppendUint16(d, uint16(len(c.runs)))
			for _, r := range c.runs {
				d = le.AppendUint16(d, r[0])
				d = le.AppendUint16(d, r[1]-r[0])
			}
		case c.card <= maxArray:
			for _, r := range c.runs {
				for v := int(r[0]); v <= int(r[1]); v++ {
					d = le.AppendUint16(d, uint16(v))
				}
			}
		default:
			var words [bitmapBytes / 8]uint64
			for _, r := range c.runs {
				for v := int(r[0]); v <= int(r[1]); {
					if v%64 == 0 && v+63 <= int(r[1]) {
						words[v/64] = ^uint64(0)
						v += 64
						continue
					}
					words[v/64] |= 1 << (v % 64)
					v++
				}
			}
			for _, w := range words {
				d = le.AppendUint64(d, w)
			}
		}
	}
	return d
}

// runContainer is one container of a bitmap (the values sharing their
// upper 16 bits) as its runs of consecutive lower 16 bits, inclusive.
type runContainer struct {
	key   uint16
	card  int
	runs  [][2]uint16
	asRun bool
}

// bitmapRuns returns bm's containers as runs, read from Go roaring's own
// portable serialization container by container (a bitmap of 2^32 values
// is 65536 runs, never 2^32 values).
func bitmapRuns(bm *roaring.Bitmap) []runContainer {
	if bm == nil {
		return nil
	}
	var buf bytes.Buffer
	if _, err := bm.WriteTo(&buf); err != nil {
		return nil
	}
	b := buf.Bytes()
	le := binary.LittleEndian
	cookie := le.Uint32(b)
	p := 4
	var size int
	var flags []byte
	if cookie&0xffff == 12347 {
		size = int(cookie>>16) + 1
		flags = b[p : p+(size+7)/8]
		p += len(flags)
	} else {
		size = int(le.Uint32(b[p:]))
		p += 4
	}
	cs := make([]runContainer, size)
	for i := range cs {
		cs[i].key = le.Uint16(b[p+4*i:])
		cs[i].card = int(le.Uint16(b[p+4*i+2:])) + 1
	}
	p += 4 * size
	if flags == nil || size >= 4 {
		p += 4 * size
	}
	for i := range cs {
		c := &cs[i]
		switch {
		case flags != nil && flags[i/8]&(1<<(i%8)) != 0:
			n := int(le.Uint16(b[p:]))
			p += 2
			c.runs = make([][2]uint16, n)
			for j := range c.runs {
				start := le.Uint16(b[p:])
				c.runs[j] = [2]uint16{start, start + le.Uint16(b[p+2:])}
				p += 4
			}
		case c.card <= 4096:
			for j := 0; j < c.card; j++ {
				v := le.Uint16(b[p:])
				p += 2
				if k := len(c.runs) - 1; k >= 0 && c.runs[k][1]+1 == v {
					c.runs[k][1] = v
				} else {
					c.runs = append(c.runs, [2]uint16{v, v})
				}
			}
		default:
			for w := 0; w < 1024; w++ {
				for x := le.Uint64(b[p+8*w:]); x != 0; x &= x - 1 {
					v := w*64 + bits.TrailingZeros64(x)
					if k := len(c.runs) - 1; k >= 0 && int(c.runs[k][1])+1 == v {
						c.runs[k][1] = uint16(v)
					} else {
						c.runs = append(c.runs, [2]uint16{uint16(v), uint16(v)})
					}
				}
			}
			p += 8192
		}
	}
	return cs
}

// Decode parses a BlockTransferMessage. Unknown and reserved ids give
// ErrUnknownMessage; malformed fields give a codec.ErrMalformed error.
// Every count is checked against the bytes left before anything is
// allocated, so a message never costs more than a small multiple of its
// own size; the service decodes with a cap on blocks per request too
// (DecodeRequest).
func Decode(b []byte) (Message, error) { return DecodeRequest(b, 0) }

// ErrTooManyBlocks: a request names more blocks (or map ids) than the
// service's spark.shuffle.service.ember.maxBlocksPerRequest allows. It
// wraps codec.ErrMalformed.
var ErrTooManyBlocks = fmt.Errorf("%w: too many blocks in one request", codec.ErrMalformed)

// DecodeRequest is Decode with a cap on the block ids, map ids, reduce ids,
// chunk ids and executor ids one message may carry (maxBlocks <= 0: no cap
// beyond the bytes present). The cap is checked from the counts, before
// the arrays are allocated.
func DecodeRequest(b []byte, maxBlocks int) (m Message, err error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty payload", codec.ErrMalformed)
	}
	defer func() {
		if p := recover(); p != nil { // the bitmap decoder on hostile bytes
			m, err = nil, fmt.Errorf("%w: %v", codec.ErrMalformed, p)
		}
	}()
	d := &decoder{r: codec.NewReader(b[1:]), maxBlocks: maxBlocks}
	r := d.r
	switch MsgType(int8(b[0])) {
	case TypeOpenBlocks:
		m = &OpenBlocks{AppID: r.String(), ExecID: r.String(), BlockIDs: d.strings("block ids")}
	case TypeUploadBlock:
		m = &UploadBlock{AppID: r.String(), ExecID: r.String(), BlockID: r.String(),
			Metadata: bytes.Clone(r.Bytes()), BlockData: bytes.Clone(r.Bytes())}
	case TypeRegisterExecutor:
		m = &RegisterExecutor{AppID: r.String(), ExecID: r.String(),
			Info: ExecutorShuffleInfo{LocalDirs: d.strings("local dirs"), SubDirsPerLocalDir: r.Int32(), ShuffleManager: r.String()}}
	case TypeStreamHandle:
		m = &StreamHandle{StreamID: r.Int64(), NumChunks: r.Int32()}
	case TypeUploadBlockStream:
		m = &UploadBlockStream{BlockID: r.String(), Metadata: bytes.Clone(r.Bytes())}
	case TypeRemoveBlocks:
		m = &RemoveBlocks{AppID: r.String(), ExecID: r.String(), BlockIDs: d.strings("block ids")}
	case TypeBlocksRemoved:
		m = &BlocksRemoved{NumRemovedBlocks: r.Int32()}
	case TypeFetchShuffleBlocks:
		f := &FetchShuffleBlocks{AppID: r.String(), ExecID: r.String(), ShuffleID: r.Int32()}
		f.MapIDs, f.ReduceIDs = paired(d, 8, (*codec.Reader).Int64, "map ids", "reduce ids")
		f.BatchFetchEnabled = r.Bool()
		m = f
	case TypeGetLocalDirsForExecutors:
		m = &GetLocalDirsForExecutors{AppID: r.String(), ExecIDs: d.strings("executor ids")}
	case TypeLocalDirsForExecutors:
		m = &LocalDirsForExecutors{ExecIDs: r.StringArray(), NumLocalDirsByExec: r.IntArray(), AllLocalDirs: r.StringArray()}
	case TypePushBlockStream:
		m = &PushBlockStream{AppID: r.String(), AppAttemptID: r.Int32(), ShuffleID: r.Int32(),
			ShuffleMergeID: r.Int32(), MapIndex: r.Int32(), ReduceID: r.Int32(), Index: r.Int32()}
	case TypeFinalizeShuffleMerge:
		m = &FinalizeShuffleMerge{AppID: r.String(), AppAttemptID: r.Int32(), ShuffleID: r.Int32(), ShuffleMergeID: r.Int32()}
	case TypeMergeStatuses:
		ms := &MergeStatuses{ShuffleID: r.Int32(), ShuffleMergeID: r.Int32()}
		n := r.Int32()
		if r.Err() == nil && (n < 0 || int(n) > len(r.Remaining())) {
			return nil, fmt.Errorf("%w: bitmap count %d", codec.ErrMalformed, n)
		}
		rest := r.Remaining()
		for i := int32(0); i < n && r.Err() == nil; i++ {
			size, err := portableBitmapSize(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: bitmap %d: %v", codec.ErrMalformed, i, err)
			}
			bm := roaring.New()
			if _, err := bm.ReadFrom(bytes.NewReader(rest[:size])); err != nil {
				return nil, fmt.Errorf("%w: bitmap %d: %v", codec.ErrMalformed, i, err)
			}
			ms.Bitmaps = append(ms.Bitmaps, bm)
			rest = rest[size:]
		}
		r = codec.NewReader(rest)
		d.r = r
		ms.ReduceIDs = r.IntArray()
		ms.Sizes = r.LongArray()
		m = ms
	case TypeFetchShuffleBlockChunks:
		f := &FetchShuffleBlockChunks{AppID: r.String(), ExecID: r.String(), ShuffleID: r.Int32(),
			ShuffleMergeID: r.Int32()}
		f.ReduceIDs, f.ChunkIDs = paired(d, 4, (*codec.Reader).Int32, "reduce ids", "chunk ids")
		m = f
	case TypeDiagnoseCorruption:
		m = &DiagnoseCorruption{AppID: r.String(), ExecID: r.String(), ShuffleID: r.Int32(), MapID: r.Int64(),
			ReduceID: r.Int32(), Checksum: r.Int64(), Algorithm: r.String()}
	case TypeCorruptionCause:
		m = &CorruptionCause{Cause: Cause(int8(r.Byte()))}
	case TypeBlockPushReturnCode:
		m = &BlockPushReturnCode{ReturnCode: int8(r.Byte()), FailureBlockID: r.String()}
	case TypeRemoveShuffleMerge:
		m = &RemoveShuffleMerge{AppID: r.String(), AppAttemptID: r.Int32(), ShuffleID: r.Int32(), ShuffleMergeID: r.Int32()}
	default:
		return nil, fmt.Errorf("%w: Unknown message type: %d", ErrUnknownMessage, int8(b[0]))
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := d.r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// portableBitmapSize checks that b starts with a well-formed bitmap in
// RoaringBitmap's portable format and returns its length. The roaring
// decoder trusts its input: a bitmap whose keys or values are not sorted
// and distinct, or whose cardinalities do not match its content, is
// accepted and later panics (run-optimising it for encoding).
func portableBitmapSize(b []byte) (int, error) {
	const (
		cookieRuns   = 12347 // runs, arrays and bitmaps; size in the cookie
		cookieNoRuns = 12346 // arrays and bitmaps only; size follows
		maxArray     = 4096  // containers with more values are bitmaps
	)
	p := 0
	short := func(n int) bool { return len(b)-p < n }
	u16 := func() int { v := binary.LittleEndian.Uint16(b[p:]); p += 2; return int(v) }
	if short(4) {
		return 0, errors.New("truncated cookie")
	}
	cookie := binary.LittleEndian.Uint32(b)
	p = 4
	var size int
	var runFlags []byte
	switch {
	case cookie&0xffff == cookieRuns:
		size = int(cookie>>16) + 1
		if short((size + 7) / 8) {
			return 0, errors.New("truncated run flags")
		}
		runFlags = b[p : p+(size+7)/8]
		p += len(runFlags)
	case cookie == cookieNoRuns:
		if short(4) {
			return 0, errors.New("truncated container count")
		}
		s := binary.LittleEndian.Uint32(b[p:])
		p += 4
		if s > 1<<16 {
			return 0, fmt.Errorf("%d containers", s)
		}
		size = int(s)
	default:
		return 0, fmt.Errorf("bad cookie %#x", cookie)
	}
	if short(4 * size) {
		return 0, errors.New("truncated container header")
	}
	keycard := b[p : p+4*size]
	p += 4 * size
	if runFlags == nil || size >= 4 { // offsets, not needed
		if short(4 * size) {
			return 0, errors.New("truncated container offsets")
		}
		p += 4 * size
	}
	prevKey := -1
	for i := 0; i < size; i++ {
		key := int(binary.LittleEndian.Uint16(keycard[4*i:]))
		card := int(binary.LittleEndian.Uint16(keycard[4*i+2:])) + 1
		if key <= prevKey {
			return 0, fmt.Errorf("container key %d after %d", key, prevKey)
		}
		prevKey = key
		switch {
		case runFlags != nil && runFlags[i/8]&(1<<(i%8)) != 0:
			if short(2) {
				return 0, errors.New("truncated run container")
			}
			nr := u16()
			if short(4 * nr) {
				return 0, errors.New("truncated run container")
			}
			sum, prevEnd := 0, -1
			for j := 0; j < nr; j++ {
				start := u16()
				end := start + u16()
				if start <= prevEnd || end > 0xffff {
					return 0, fmt.Errorf("run [%d,%d] after %d", start, end, prevEnd)
				}
				sum += end - start + 1
				prevEnd = end
			}
			if sum != card {
				return 0, fmt.Errorf("run container of %d values says %d", sum, card)
			}
		case card > maxArray:
			if short(8192) {
				return 0, errors.New("truncated bitmap container")
			}
			n := 0
			for j := 0; j < 8192; j += 8 {
				n += bits.OnesCount64(binary.LittleEndian.Uint64(b[p+j:]))
			}
			p += 8192
			if n != card {
				return 0, fmt.Errorf("bitmap container of %d values says %d", n, card)
			}
		default:
			if short(2 * card) {
				return 0, errors.New("truncated array container")
			}
			prev := -1
			for j := 0; j < card; j++ {
				v := u16()
				if v <= prev {
					return 0, fmt.Errorf("array value %d after %d", v, prev)
				}
				prev = v
			}
		}
	}
	return p, nil
}

// decoder adds, to a codec.Reader, the checks of counts that depend on
// one another (arrays that must pair up, totals under a cap). Its first
// error, or the reader's, is the message's.
type decoder struct {
	r         *codec.Reader
	maxBlocks int // cap on ids per message; <= 0: none
	err       error
}

func (d *decoder) failed() bool { return d.err != nil || d.r.Err() != nil }

// capped records ErrTooManyBlocks if n exceeds the cap.
func (d *decoder) capped(what string, n int) bool {
	if d.maxBlocks > 0 && n > d.maxBlocks {
		d.err = fmt.Errorf("%w: %d %s (spark.shuffle.service.ember.maxBlocksPerRequest is %d)", ErrTooManyBlocks, n, what, d.maxBlocks)
		return true
	}
	return false
}

// strings reads a string array whose count is under the cap.
func (d *decoder) strings(what string) []string {
	if d.failed() {
		return nil
	}
	n := d.r.Count(4)
	if d.failed() || d.capped(what, n) {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.r.String()
	}
	if d.failed() {
		return nil
	}
	return out
}

// paired reads an array of ids (longs or ints, each width bytes, read by
// read) and an array of int arrays with one entry per id:
// FetchShuffleBlocks' map ids and reduce ids, FetchShuffleBlockChunks'
// reduce ids and chunk ids. Counts are checked against the bytes left
// before allocating: each id needs width bytes plus 4 for its int array's
// count. The int arrays share one backing array.
func paired[T int32 | int64](d *decoder, width int, read func(*codec.Reader) T, whatA, whatB string) ([]T, [][]int32) {
	if d.failed() {
		return nil, nil
	}
	n := d.r.Count(width + 4)
	if d.failed() || d.capped(whatA, n) {
		return nil, nil
	}
	ids := make([]T, n)
	for i := range ids {
		ids[i] = read(d.r)
	}
	return ids, d.intArrays(n, whatA, whatB)
}

// intArrays reads an array of want int arrays. It walks the counts first,
// without allocating, so the total is known (and capped) before the one
// backing array is made.
func (d *decoder) intArrays(want int, whatA, whatB string) [][]int32 {
	n := d.r.Count(4)
	if d.failed() {
		return nil
	}
	if n != want {
		d.err = fmt.Errorf("%w: %d %s but %d arrays of %s", codec.ErrMalformed, want, whatA, n, whatB)
		return nil
	}
	rest := d.r.Remaining()
	total, p := 0, 0
	for i := 0; i < n; i++ {
		if len(rest)-p < 4 {
			d.err = fmt.Errorf("%w: %s array %d truncated", codec.ErrMalformed, whatB, i)
			return nil
		}
		c := int(int32(binary.BigEndian.Uint32(rest[p:])))
		if c < 0 || c > (len(rest)-p-4)/4 {
			d.err = fmt.Errorf("%w: %s array %d: count %d past the end", codec.ErrMalformed, whatB, i, c)
			return nil
		}
		p += 4 + 4*c
		total += c
	}
	if d.capped(whatB, total) {
		return nil
	}
	flat := make([]int32, total)
	out := make([][]int32, n)
	for i := range out {
		c := d.r.Count(4)
		out[i] = flat[:c:c]
		for j := range out[i] {
			out[i][j] = d.r.Int32()
		}
		flat = flat[c:]
	}
	if d.failed() {
		return nil
	}
	return out
}
