package shuffle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/adler32"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
)

const (
	localhost = "127.0.0.1"
	appID     = "app-20260101000000-0001"
	secret    = "ember-shuffle-interop-secret"
	// subDirs is spark.diskStore.subDirectories for the test executors.
	subDirs = 8
)

var ioModes = []string{"EPOLL", "NIO"}

// security is a spark.authenticate or TLS setting the tests run under.
type security struct {
	name string
	conf []string // key=value
	// auth: spark.authenticate is on (a client with another secret, or
	// none, is refused); otherwise, with conf, TLS is (a plain client is).
	auth bool
	// blocks sizes the shuffle's blocks (big ones cost time under -race,
	// SASL encryption more).
	blocks blockSizes
}

// blockSizes is how large a test shuffle's blocks are.
type blockSizes int

const (
	lightBlocks  blockSizes = iota // up to 20 KB
	normalBlocks                   // up to 200 KB
	bigBlocks                      // up to 200 KB, and one of 3 MiB
)

// securities are the settings the service and client tests run under.
func securities() []security {
	return []security{
		{name: "plain", blocks: bigBlocks},
		{name: "auth", auth: true, blocks: bigBlocks,
			conf: []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true"}},
		{name: "auth-v2", auth: true, blocks: normalBlocks,
			conf: []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.network.crypto.enabled=true",
				"spark.network.crypto.authEngineVersion=2"}},
		{name: "sasl", auth: true, blocks: normalBlocks,
			conf: []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}},
		{name: "sasl-encrypted", auth: true, blocks: lightBlocks,
			conf: []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret, "spark.authenticate.enableSaslEncryption=true"}},
		{name: "tls", blocks: bigBlocks, conf: tlsConf()},
	}
}

// withSecret is conf with another spark.authenticate.secret.
func withSecret(conf []string, s string) []string {
	out := make([]string, 0, len(conf))
	for _, kv := range conf {
		if strings.HasPrefix(kv, "spark.authenticate.secret=") {
			kv = "spark.authenticate.secret=" + s
		}
		out = append(out, kv)
	}
	return out
}

// rddConf turns on RDD block fetch from the shuffle service.
const rddConf = "spark.shuffle.service.fetch.rdd.enabled=true"

// emberConf is a shuffle conf in mode with kv (key=value) on top.
func emberConf(mode string, kv ...string) *sparkconf.Conf {
	c := sparkconf.New().Set("spark.shuffle.io.mode", mode).
		Set("spark.shuffle.registration.maxAttempts", "1").
		Set("spark.shuffle.io.maxRetries", "0")
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		c.Set(k, v)
	}
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// testLogger collects a component's log and shows it if the test fails
// (or always, with SHUFFLE_TEST_LOG set).
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	log, _ := testLogBuffer(t)
	return log
}

// testLogBuffer is testLogger that also returns the log to search.
func testLogBuffer(t *testing.T) (*slog.Logger, *testutil.LogBuffer) {
	t.Helper()
	buf := &testutil.LogBuffer{}
	if os.Getenv("SHUFFLE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, buf), &slog.HandlerOptions{Level: slog.LevelDebug})), buf
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Ember log (tail):\n%s", tail(buf.String(), 6000))
		}
	})
	return buf.Logger(slog.LevelInfo), buf
}

// testShuffle is one shuffle's map outputs written with Ember's layout.
type testShuffle struct {
	dirs      []string
	shuffleID int32
	mapIDs    []int64
	reduces   int
	blocks    map[int64][][]byte // map id -> partitions
}

// writeShuffle writes the outputs of mapIDs, each with reduces partitions
// of known pseudo-random content (empty, tiny, small, mid-sized, and for
// bigBlocks one of 3 MiB), into two fresh executor local dirs.
func writeShuffle(t *testing.T, shuffleID int32, mapIDs []int64, reduces int, sizes blockSizes) *testShuffle {
	t.Helper()
	root := t.TempDir()
	sh := &testShuffle{dirs: []string{filepath.Join(root, "blockmgr-a"), filepath.Join(root, "blockmgr-b")},
		shuffleID: shuffleID, mapIDs: mapIDs, reduces: reduces, blocks: map[int64][][]byte{}}
	rng := rand.New(rand.NewSource(int64(shuffleID)))
	for mi, m := range mapIDs {
		w, err := shuffle.NewMapOutputWriter(sh.dirs, subDirs, shuffleID, m)
		if err != nil {
			t.Fatal(err)
		}
		parts := make([][]byte, reduces)
		for r := range parts {
			n := blockSize(rng, mi+r, sizes)
			if sizes == bigBlocks && mi == 1 && r == reduces-1 {
				n = 3<<20 + rng.Intn(1000) // one block of many frames and sendfile calls
			}
			parts[r] = make([]byte, n)
			rng.Read(parts[r])
			if err := w.WritePartition(bytes.NewReader(parts[r])); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		sh.blocks[m] = parts
	}
	return sh
}

// blockSize cycles through empty, tiny, small and mid-sized blocks.
func blockSize(rng *rand.Rand, k int, sizes blockSizes) int {
	var n int
	switch k % 4 {
	case 0:
		n = 0 // an empty block
	case 1:
		n = 1 + rng.Intn(100)
	case 2:
		n = 1000 + rng.Intn(5000)
	default:
		if sizes == lightBlocks {
			return 10_000 + rng.Intn(10_000)
		}
		n = 100_000 + rng.Intn(100_000)
	}
	return n
}

func (s *testShuffle) info() shuffle.ExecutorShuffleInfo {
	return shuffle.ExecutorShuffleInfo{LocalDirs: s.dirs, SubDirsPerLocalDir: subDirs, ShuffleManager: shuffle.SortShuffleManager}
}

// path is where the executor keeps file name.
func (s *testShuffle) path(name string) string { return shuffle.FilePath(s.dirs, subDirs, name) }

// ids is every plain block id, map by map.
func (s *testShuffle) ids() []string {
	var out []string
	for _, m := range s.mapIDs {
		for r := 0; r < s.reduces; r++ {
			out = append(out, shuffle.ShuffleBlockID(s.shuffleID, m, int32(r)))
		}
	}
	return out
}

// batchIDs is one batch id per map: reduces [1, reduces-1) of each.
func (s *testShuffle) batchIDs() []string {
	var out []string
	for _, m := range s.mapIDs {
		out = append(out, shuffle.BlockID{Kind: shuffle.KindShuffleBatch, ShuffleID: s.shuffleID, MapID: m,
			ReduceID: 1, EndReduce: int32(s.reduces - 1)}.String())
	}
	return out
}

// data is the content a block id (plain or batch) names.
func (s *testShuffle) data(t *testing.T, id string) []byte {
	t.Helper()
	b, err := shuffle.ParseBlockID(id)
	if err != nil {
		t.Fatal(err)
	}
	end := b.ReduceID + 1
	if b.Kind == shuffle.KindShuffleBatch {
		end = b.EndReduce
	}
	var out []byte
	for r := b.ReduceID; r < end; r++ {
		out = append(out, s.blocks[b.MapID][r]...)
	}
	return out
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// writeRDDs writes disk-persisted RDD blocks rdd_7_0 and rdd_7_1 of known
// content into the executor's dirs.
func (s *testShuffle) writeRDDs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"rdd_7_0": bytes.Repeat([]byte("rdd block 7/0 "), 50), "rdd_7_1": bytes.Repeat([]byte{7, 1}, 40_000)}
	for id, b := range out {
		p := s.path(id)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// writeChecksums writes map m's checksum file for algorithm: one
// big-endian long per partition, as Spark's writer does.
func (s *testShuffle) writeChecksums(t *testing.T, m int64, algorithm string, sums []int64) {
	t.Helper()
	b := make([]byte, 0, 8*len(sums))
	for _, v := range sums {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	p := s.path(shuffle.ChecksumFileName(s.shuffleID, m, algorithm))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checksum is Java's Checksum.getValue() of b under a supported algorithm.
func checksum(algorithm string, b []byte) int64 {
	switch algorithm {
	case "CRC32":
		return int64(crc32.ChecksumIEEE(b))
	case "CRC32C":
		return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	return int64(adler32.Checksum(b))
}

// sums is every partition's checksum of map m.
func (s *testShuffle) sums(m int64, algorithm string) []int64 {
	out := make([]int64, s.reduces)
	for r := range out {
		out[r] = checksum(algorithm, s.blocks[m][r])
	}
	return out
}

// emberBlock is one block as Ember's client received it.
type emberBlock struct {
	ok   bool
	size int64
	sha  string
	path string // the temp file, when fetched to disk
	err  error
}

// collector is a shuffle.BlockFetchingListener that hashes each block.
type collector struct {
	mu   sync.Mutex
	got  map[string]emberBlock
	want int
	done chan struct{}
}

func newCollector(n int) *collector {
	return &collector{got: map[string]emberBlock{}, want: n, done: make(chan struct{})}
}

func (c *collector) put(id string, b emberBlock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.got[id]; dup {
		b = emberBlock{err: errDuplicate}
	}
	c.got[id] = b
	if len(c.got) == c.want {
		close(c.done)
	}
}

type dupError struct{}

func (dupError) Error() string { return "block reported twice" }

var errDuplicate error = dupError{}

func (c *collector) OnBlockFetchSuccess(id string, data codec.ManagedBuffer) {
	b := emberBlock{ok: true}
	if p, ok := data.(interface{ Path() string }); ok {
		b.path = p.Path()
	}
	rd, err := data.Reader()
	if err != nil {
		c.put(id, emberBlock{err: err})
		return
	}
	defer rd.Close()
	h := sha256.New()
	n, err := io.Copy(h, rd)
	if err != nil {
		c.put(id, emberBlock{err: err})
		return
	}
	b.size, b.sha = n, hex.EncodeToString(h.Sum(nil))
	c.put(id, b)
}

func (c *collector) OnBlockFetchFailure(id string, err error) { c.put(id, emberBlock{err: err}) }

// wait returns every block's outcome once all are in.
func (c *collector) wait(t *testing.T) map[string]emberBlock {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(callTimeout):
		c.mu.Lock()
		n := len(c.got)
		c.mu.Unlock()
		t.Fatalf("fetch: %d of %d blocks after %v", n, c.want, callTimeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]emberBlock, len(c.got))
	for k, v := range c.got {
		out[k] = v
	}
	return out
}
