package transport

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring"
	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// modes pairs each Ember io mode with the same Spark io mode.
var modes = []netpoll.IOMode{netpoll.EPOLL, netpoll.NIO}

// sparkChannel is the Netty channel class Spark uses in each io mode.
var sparkChannel = map[netpoll.IOMode]string{
	netpoll.EPOLL: "io.netty.channel.epoll.EpollSocketChannel",
	netpoll.NIO:   "io.netty.channel.socket.nio.NioSocketChannel",
}

// cmdPrefix starts the RPC bodies both sides' handlers treat as commands:
// "fail:<text>" fails the RPC with text, "open:<chunkSize>:<path>" registers
// the file as a stream of chunkSize-byte segments and answers
// "<streamId> <numChunks>". Any other body is echoed.
const cmdPrefix = "ember-interop:"

// The sizes of the RPC bodies both directions send.
var rpcSizes = []struct {
	name string
	size int
}{
	{"empty", 0},
	{"small", 13},
	{"2MiB", 2 << 20},
	{"32MiB", 32 << 20},
}

const (
	chunkSize     = 1 << 20
	streamFileLen = 5<<20 + 12345 // six chunks, the last one short
	numConcurrent = 500
	// bigLen is the file of the large transfers: a 48 MiB stream, and
	// three 16 MiB chunks.
	bigLen   = 48 << 20
	bigChunk = 16 << 20
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// files are the stream sources: a multi-chunk file, an empty one and a
// path that does not exist.
type files struct {
	data    []byte
	path    string
	empty   string
	missing string
	big     []byte // bigLen bytes at bigPath
	bigPath string
}

func newFiles(t testing.TB) *files {
	t.Helper()
	dir := t.TempDir()
	f := &files{data: randomBytes(streamFileLen, 77), path: filepath.Join(dir, "stream.bin"),
		empty: filepath.Join(dir, "empty.bin"), missing: filepath.Join(dir, "missing.bin"),
		big: randomBytes(bigLen, 78), bigPath: filepath.Join(dir, "big.bin")}
	if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.bigPath, f.big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// chunkLens are the chunk lengths of a stream of n bytes.
func chunkLens(n int) []string {
	var out []string
	for off := 0; off < n; off += chunkSize {
		out = append(out, strconv.Itoa(min(chunkSize, n-off)))
	}
	return out
}

func emberConf(t testing.TB, mode netpoll.IOMode) netpoll.Conf {
	t.Helper()
	sc := sparkconf.New().
		Set("spark.test.io.mode", string(mode)).
		Set("spark.test.io.serverThreads", "2").
		Set("spark.test.io.clientThreads", "2")
	c, err := netpoll.NewConf("test", sc, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handler is the Ember twin of the Java peer's handler.
type handler struct {
	streams *fileStreams

	mu       sync.Mutex // guards the following
	received map[string]int
	oneWay   []string
}

func newHandler() *handler {
	return &handler{streams: &fileStreams{netpoll.NewOneForOneStreamManager()}, received: map[string]int{}}
}

// Receive implements netpoll.RpcHandler.
func (h *handler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	if rest, ok := strings.CutPrefix(string(msg), cmdPrefix+"fail:"); ok {
		r.Fail(errors.New(rest))
		return
	}
	if rest, ok := strings.CutPrefix(string(msg), cmdPrefix+"open:"); ok {
		id, n, err := h.open(c, rest)
		if err != nil {
			r.Fail(err)
			return
		}
		r.Reply(fmt.Appendf(nil, "%d %d", id, n))
		return
	}
	h.mu.Lock()
	h.received[sha(msg)]++
	h.mu.Unlock()
	r.Reply(append([]byte(nil), msg...))
}

// open registers "<chunkSize>:<path>" as a stream of file segments tied to c.
func (h *handler) open(c *netpoll.Client, spec string) (int64, int, error) {
	size, path, _ := strings.Cut(spec, ":")
	chunk, err := strconv.ParseInt(size, 10, 64)
	if err != nil || chunk <= 0 {
		return 0, 0, fmt.Errorf("bad chunk size %q", size)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	var bufs netpoll.BufferChunks
	for off := int64(0); off < st.Size(); off += chunk {
		seg, err := codec.NewFileSegment(path, off, min(chunk, st.Size()-off), codec.DefaultFileOptions)
		if err != nil {
			bufs.Discard(0)
			return 0, 0, err
		}
		bufs = append(bufs, seg)
	}
	return h.streams.RegisterStream("interop", bufs, c), len(bufs), nil
}

// ReceiveOneWay implements netpoll.RpcHandler.
func (h *handler) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	h.mu.Lock()
	h.oneWay = append(h.oneWay, sha(msg))
	h.mu.Unlock()
}

// StreamManager implements netpoll.RpcHandler.
func (h *handler) StreamManager() netpoll.StreamManager { return h.streams }

// ReceiveStream implements netpoll.StreamReceiver: the upload's reply is
// "<meta> <length> <sha256>", as the Java peer's. As there, meta
// "fail-setup..." is refused at once and "fail-data..." at its first bytes.
func (h *handler) ReceiveStream(c *netpoll.Client, meta []byte) (netpoll.StreamSink, error) {
	id := string(meta)
	if strings.HasPrefix(id, "fail-setup") {
		return nil, fmt.Errorf("upload refused: %s", id)
	}
	return &hashSink{id: id, h: sha256.New(), failData: strings.HasPrefix(id, "fail-data")}, nil
}

func (h *handler) gotRPC(s string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received[s]
}

func (h *handler) oneWays() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.oneWay...)
}

type hashSink struct {
	id       string
	n        int64
	h        hash.Hash
	failData bool
}

func (s *hashSink) OnData(p []byte) error {
	if s.failData {
		return fmt.Errorf("upload data refused: %s", s.id)
	}
	s.n += int64(len(p))
	s.h.Write(p)
	return nil
}

func (s *hashSink) Complete() ([]byte, error) {
	return fmt.Appendf(nil, "%s %d %x", s.id, s.n, s.h.Sum(nil)), nil
}

func (s *hashSink) Abort(error) {}

// fileStreams serves registered chunk streams, and absolute paths as named
// streams (a missing file is not found).
type fileStreams struct {
	*netpoll.OneForOneStreamManager
}

func (f *fileStreams) OpenStream(id string) (codec.ManagedBuffer, error) {
	if !strings.HasPrefix(id, "/") {
		return f.OneForOneStreamManager.OpenStream(id)
	}
	st, err := os.Stat(id)
	if err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	return codec.NewFileSegment(id, 0, st.Size(), codec.DefaultFileOptions)
}

// ReceiveMergedBlockMeta implements netpoll.MergedBlockMetaHandler with
// the Java peer's answer: two chunks, bitmaps {shuffleId} and
// {shuffleMergeId, reduceId}; app id "fail" fails.
func (h *handler) ReceiveMergedBlockMeta(c *netpoll.Client, req netpoll.MergedBlockMetaRequest) (int32, codec.ManagedBuffer, error) {
	if req.AppID == "fail" {
		return 0, nil, errors.New("no merged block meta for fail")
	}
	return 2, codec.NewBytes(mergedMeta(req.ShuffleID, req.ShuffleMergeID, req.ReduceID)), nil
}

// mergedMeta is the body of the merged block meta both sides answer: the
// bitmaps in RoaringBitmap's portable format, back to back. (The values the
// tests use make array containers, which Ember and Spark write alike.)
func mergedMeta(shuffleID, mergeID, reduceID int32) []byte {
	var out []byte
	for _, bm := range []*roaring.Bitmap{roaring.BitmapOf(uint32(shuffleID)), roaring.BitmapOf(uint32(mergeID), uint32(reduceID))} {
		b, err := bm.ToBytes()
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

// uploadReply is what both sides answer an upload with.
func uploadReply(meta string, body []byte) string {
	return fmt.Sprintf("%s %d %s", meta, len(body), sha(body))
}
