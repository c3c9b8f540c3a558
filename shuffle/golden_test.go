package shuffle

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// goldenDir finds the shared golden vectors: walk up from the working
// directory to the module root (the directory holding go.mod), then
// ../shared/spec/golden.
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
			t.Skipf("golden vectors: no go.mod in %s or above it, so ../shared/spec/golden cannot be located", wd)
		}
		root = parent
	}
	dir := filepath.Clean(filepath.Join(root, "..", "shared", "spec", "golden"))
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("golden vectors not available: no directory %s (shared/spec/golden beside the module root)", dir)
	}
	return dir
}

// readVector returns a .hex vector's description (line 1, without '# ')
// and bytes (line 2).
func readVector(t testing.TB, dir, name string) (string, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("golden vector: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("%s: want a '# description' line and a hex line, got %d lines", name, len(lines))
	}
	b, err := hex.DecodeString(lines[1])
	if err != nil {
		t.Fatalf("%s: bad hex: %v", name, err)
	}
	return strings.TrimPrefix(lines[0], "# "), b
}

// goldenMessages are the messages the vectors 20-30 describe (see
// index.txt), by file name.
var goldenMessages = map[string]Message{
	"20_shuffle_open_blocks.hex": &OpenBlocks{AppID: "app-1", ExecID: "exec-1",
		BlockIDs: []string{"shuffle_0_1_2", "shuffle_0_1_3"}},
	"21_shuffle_upload_block.hex": &UploadBlock{AppID: "app-1", ExecID: "exec-1", BlockID: "rdd_1_2",
		Metadata: []byte("meta"), BlockData: []byte("data!")},
	"22_shuffle_register_executor.hex": &RegisterExecutor{AppID: "app-1", ExecID: "exec-1",
		Info: ExecutorShuffleInfo{LocalDirs: []string{"/tmp/a", "/tmp/b"}, SubDirsPerLocalDir: 64,
			ShuffleManager: "org.apache.spark.shuffle.sort.SortShuffleManager"}},
	"23_shuffle_stream_handle.hex":       &StreamHandle{StreamID: 0x1122334455667788, NumChunks: 5},
	"24_shuffle_upload_block_stream.hex": &UploadBlockStream{BlockID: "rdd_1_2", Metadata: []byte("meta")},
	"25_shuffle_remove_blocks.hex":       &RemoveBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{"rdd_1_2"}},
	"26_shuffle_blocks_removed.hex":      &BlocksRemoved{NumRemovedBlocks: 1},
	"27_shuffle_fetch_shuffle_blocks.hex": &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 0,
		MapIDs: []int64{1, 2}, ReduceIDs: [][]int32{{0, 1}, {2}}, BatchFetchEnabled: false},
	"28_shuffle_fetch_shuffle_blocks_batch.hex": &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", ShuffleID: 3,
		MapIDs: []int64{5}, ReduceIDs: [][]int32{{0, 4}}, BatchFetchEnabled: true},
	"29_shuffle_get_local_dirs.hex": &GetLocalDirsForExecutors{AppID: "app-1", ExecIDs: []string{"exec-1", "exec-2"}},
	"30_shuffle_local_dirs.hex": &LocalDirsForExecutors{ExecIDs: []string{"exec-1"}, NumLocalDirsByExec: []int32{1},
		AllLocalDirs: []string{"/tmp/a"}},
}

// goldenTypeNames is the message name each description starts with.
var goldenTypeNames = map[MsgType]string{
	TypeOpenBlocks: "OpenBlocks", TypeUploadBlock: "UploadBlock", TypeRegisterExecutor: "RegisterExecutor",
	TypeStreamHandle: "StreamHandle", TypeUploadBlockStream: "UploadBlockStream", TypeRemoveBlocks: "RemoveBlocks",
	TypeBlocksRemoved: "BlocksRemoved", TypeFetchShuffleBlocks: "FetchShuffleBlocks",
	TypeGetLocalDirsForExecutors: "GetLocalDirsForExecutors", TypeLocalDirsForExecutors: "LocalDirsForExecutors",
}

func TestGoldenShuffleMessages(t *testing.T) {
	dir := goldenDir(t)
	// Every shuffle payload vector 20-30 in the directory has a message here.
	files, _ := filepath.Glob(filepath.Join(dir, "[0-9][0-9]_*.hex"))
	var names []string
	for _, f := range files {
		n := filepath.Base(f)
		if num, err := strconv.Atoi(n[:2]); err == nil && num >= 20 && num <= 30 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) != len(goldenMessages) {
		t.Errorf("found vectors %v, the test knows %d", names, len(goldenMessages))
	}
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".hex"), func(t *testing.T) {
			want, ok := goldenMessages[name]
			if !ok {
				t.Fatalf("no expected message for vector %s", name)
			}
			desc, golden := readVector(t, dir, name)
			if tn := goldenTypeNames[want.Type()]; !strings.HasPrefix(desc, tn+"(type=") {
				t.Errorf("description %q does not describe a %s", desc, tn)
			}
			if got := Encode(want); !bytes.Equal(got, golden) {
				t.Errorf("Encode:\n got %x\nwant %x", got, golden)
			}
			got, err := Decode(golden)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode:\n got %#v\nwant %#v", got, want)
			}
			// The hex constant embedded for fuzz seeding is the same vector.
			if seed, ok := goldenSeeds[name]; ok && seed != hex.EncodeToString(golden) {
				t.Errorf("fuzz seed constant for %s differs from the vector", name)
			}
		})
	}
}

func TestGoldenRpcRequestOpenBlocks(t *testing.T) {
	dir := goldenDir(t)
	_, frame := readVector(t, dir, "40_rpc_request_open_blocks.hex")
	const hdr = 8 + 1 + 8 + 4 // frameLength, type, requestId, bodySize
	if len(frame) < hdr {
		t.Fatalf("vector is %d bytes", len(frame))
	}
	if n := binary.BigEndian.Uint64(frame); n != uint64(len(frame)) {
		t.Errorf("frameLength %d, vector has %d bytes", n, len(frame))
	}
	var m codec.Message
	if err := codec.DecodeFrame(frame[8:], &m); err != nil {
		t.Fatalf("DecodeFrame: %v", err)
	}
	if m.Type != codec.TypeRpcRequest || m.RequestID != 0x0102030405060708 {
		t.Errorf("frame is %v id %#x, want an RpcRequest with id 0x0102030405060708", m.Type, m.RequestID)
	}
	body := frame[hdr:]
	if !bytes.Equal(m.Body, body) {
		t.Errorf("the frame's body is not the bytes after the 21-byte header")
	}
	if size := binary.BigEndian.Uint32(frame[17:]); int(size) != len(body) {
		t.Errorf("bodySize field %d, body has %d bytes", size, len(body))
	}
	got, err := Decode(body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := &OpenBlocks{AppID: "app-1", ExecID: "exec-1", BlockIDs: []string{"shuffle_0_1_2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode: got %#v, want %#v", got, want)
	}
	if !bytes.Equal(Encode(want), body) {
		t.Errorf("Encode(%v) = %x, want %x", want, Encode(want), body)
	}
	if seed := goldenSeeds["40_body"]; seed != hex.EncodeToString(body) {
		t.Errorf("fuzz seed constant for vector 40's body differs from the vector")
	}
}
