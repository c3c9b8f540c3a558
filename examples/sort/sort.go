// Package sortex is a TeraSort-style sort on the app runtime over the
// external shuffle service: map tasks generate 100-byte records (a 10-byte
// key and a 90-byte value) deterministically from a seed and their index,
// range-partition them by the key's first two bytes, sort each partition
// and write Spark's sort-shuffle files into the executor's local dirs,
// registered with the local worker's shuffle service. Reduce tasks fetch
// their partition from every map through the service, merge the sorted
// runs and verify the order. The driver checks the global order, the
// record count and that the checksum of the output equals the input's.
//
// Importing it registers the task kinds "sort.map" and "sort.reduce".
package sortex

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/shuffle"
)

// Record layout.
const (
	RecordSize = 100
	KeySize    = 10
	// SubDirs is the subdirectories per local dir of the shuffle files.
	SubDirs = 64
	// ShuffleManager is what executors register with the service.
	ShuffleManager = "org.apache.spark.shuffle.sort.SortShuffleManager"
)

// Task kinds.
const (
	MapKind    = "sort.map"
	ReduceKind = "sort.reduce"
)

func init() {
	app.RegisterTask(MapKind, mapTask)
	app.RegisterTask(ReduceKind, reduceTask)
}

// DirPort says that executors whose working directory is under Dir (a
// worker's work dir) use the shuffle service on Port.
type DirPort struct {
	Dir  string `json:"dir"`
	Port int    `json:"port"`
}

// Config configures Run.
type Config struct {
	// TotalBytes to sort (rounded down to whole records).
	TotalBytes int64
	// Maps and Reduces are the task counts (Reduces at most 65536).
	Maps, Reduces int
	// Seed of the generated data (0: 1).
	Seed uint64
	// ShufflePort is the workers' shuffle service port (default 7337);
	// WorkerPorts overrides it per worker work dir (several workers on
	// one host).
	ShufflePort int
	WorkerPorts []DirPort
	// OnStage, when set, is called as each stage starts ("map", "reduce")
	// with its task count and the bytes it processes.
	OnStage func(name string, tasks int, bytes int64)
}

// Summary is what Run measured.
type Summary struct {
	Records    int64
	Bytes      int64
	Checksum   uint64
	Duration   time.Duration
	MBps       float64
	MapTime    time.Duration
	ReduceTime time.Duration
	Maps       int
	Reduces    int
	Verified   bool
}

func (s Summary) String() string {
	v := "NOT verified"
	if s.Verified {
		v = "verified"
	}
	return fmt.Sprintf("sorted %d records (%.1f MB) in %v: %.1f MB/s (map %v, reduce %v; %d maps, %d reduces), checksum %016x, %s",
		s.Records, float64(s.Bytes)/1e6, s.Duration.Round(time.Millisecond), s.MBps,
		s.MapTime.Round(time.Millisecond), s.ReduceTime.Round(time.Millisecond), s.Maps, s.Reduces, s.Checksum, v)
}

// MapInput is a map task's input.
type MapInput struct {
	ShuffleID   int32     `json:"shuffleId"`
	MapID       int64     `json:"mapId"`
	Records     int64     `json:"records"`
	Seed        uint64    `json:"seed"`
	Reduces     int       `json:"reduces"`
	ShufflePort int       `json:"shufflePort"`
	WorkerPorts []DirPort `json:"workerPorts,omitempty"`
}

// MapStatus is a map task's output: where its blocks are and what it wrote.
type MapStatus struct {
	MapID    int64   `json:"mapId"`
	Host     string  `json:"host"`
	Port     int     `json:"port"`
	ExecID   string  `json:"execId"`
	Sizes    []int64 `json:"sizes"`
	Records  int64   `json:"records"`
	Checksum uint64  `json:"checksum"`
}

// ReduceInput is a reduce task's input.
type ReduceInput struct {
	ShuffleID int32       `json:"shuffleId"`
	Reduce    int         `json:"reduce"`
	Maps      []MapStatus `json:"maps"`
}

// ReduceOutput is a reduce task's output.
type ReduceOutput struct {
	Reduce   int    `json:"reduce"`
	Records  int64  `json:"records"`
	Bytes    int64  `json:"bytes"`
	Checksum uint64 `json:"checksum"`
	FirstKey []byte `json:"firstKey,omitempty"`
	LastKey  []byte `json:"lastKey,omitempty"`
}

// ---- records ----

// Generate returns n records for (seed, mapID): random keys, values
// holding the map id, the record number and filler.
func Generate(seed uint64, mapID int64, n int64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(mapID)*0x9e3779b97f4a7c15+1))
	buf := make([]byte, n*RecordSize)
	for i := int64(0); i < n; i++ {
		rec := buf[i*RecordSize : (i+1)*RecordSize]
		a, b := r.Uint64(), r.Uint64()
		binary.BigEndian.PutUint64(rec, a)
		binary.BigEndian.PutUint16(rec[8:], uint16(b))
		v := rec[KeySize:]
		binary.BigEndian.PutUint64(v, uint64(mapID))
		binary.BigEndian.PutUint64(v[8:], uint64(i))
		for j := 16; j < len(v); j++ {
			v[j] = 'A' + byte((b>>(j%48))%26)
		}
	}
	return buf
}

// Partition is the reduce partition of key among reduces: ranges of the
// key's first two bytes, so partition order is key order.
func Partition(key []byte, reduces int) int {
	return int(uint32(binary.BigEndian.Uint16(key)) * uint32(reduces) >> 16)
}

// Checksum is an order-independent checksum of records: the sum of their
// CRC32s (Castagnoli), each mixed with its index within the 100 bytes.
func Checksum(records []byte) uint64 {
	var sum uint64
	for off := 0; off+RecordSize <= len(records); off += RecordSize {
		sum += recordHash(records[off : off+RecordSize])
	}
	return sum
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordHash(rec []byte) uint64 {
	c := uint64(crc32.Checksum(rec, castagnoli))
	return c*0x9e3779b97f4a7c15 ^ c<<7
}

type sortEntry struct {
	hi  uint64
	lo  uint16
	idx int32
}

func entryOf(records []byte, i int) sortEntry {
	rec := records[i*RecordSize:]
	return sortEntry{hi: binary.BigEndian.Uint64(rec), lo: binary.BigEndian.Uint16(rec[8:]), idx: int32(i)}
}

func cmpEntry(a, b sortEntry) int {
	if a.hi != b.hi {
		if a.hi < b.hi {
			return -1
		}
		return 1
	}
	return int(a.lo) - int(b.lo)
}

// PartitionAndSort splits records into reduces partitions (by Partition)
// and sorts each by key, returning the partitions' bytes.
func PartitionAndSort(records []byte, reduces int) [][]byte {
	n := len(records) / RecordSize
	buckets := make([][]sortEntry, reduces)
	counts := make([]int, reduces)
	for i := 0; i < n; i++ {
		counts[Partition(records[i*RecordSize:], reduces)]++
	}
	for p := range buckets {
		buckets[p] = make([]sortEntry, 0, counts[p])
	}
	for i := 0; i < n; i++ {
		e := entryOf(records, i)
		p := Partition(records[i*RecordSize:], reduces)
		buckets[p] = append(buckets[p], e)
	}
	out := make([][]byte, reduces)
	for p, b := range buckets {
		slices.SortFunc(b, cmpEntry)
		part := make([]byte, 0, len(b)*RecordSize)
		for _, e := range b {
			part = append(part, records[int(e.idx)*RecordSize:(int(e.idx)+1)*RecordSize]...)
		}
		out[p] = part
	}
	return out
}

// Merge merges sorted runs of records into one sorted run.
func Merge(runs [][]byte) []byte {
	total := 0
	var live [][]byte
	for _, r := range runs {
		total += len(r)
		if len(r) >= RecordSize {
			live = append(live, r)
		}
	}
	out := make([]byte, 0, total)
	// A binary min-heap of run heads.
	h := live
	less := func(i, j int) bool { return bytes.Compare(h[i][:KeySize], h[j][:KeySize]) < 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(r, l) {
				m = r
			}
			if !less(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		out = append(out, h[0][:RecordSize]...)
		h[0] = h[0][RecordSize:]
		if len(h[0]) < RecordSize {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		if len(h) > 0 {
			down(0)
		}
	}
	return out
}

// IsSorted reports whether records are in key order.
func IsSorted(records []byte) bool {
	for off := RecordSize; off+RecordSize <= len(records); off += RecordSize {
		if bytes.Compare(records[off-RecordSize:off-RecordSize+KeySize], records[off:off+KeySize]) > 0 {
			return false
		}
	}
	return true
}

// ---- executor side ----

var (
	hostMu       sync.Mutex
	executorHost = "127.0.0.1"
)

// SetExecutorHost sets the host this process's executor runs on (its
// --hostname): the host of the shuffle service the map tasks register
// with and that reducers fetch from.
func SetExecutorHost(h string) {
	if h == "" {
		return
	}
	hostMu.Lock()
	executorHost = h
	hostMu.Unlock()
}

func hostName() string {
	hostMu.Lock()
	defer hostMu.Unlock()
	return executorHost
}

// servicePort picks the shuffle service port for this process.
func servicePort(def int, rules []DirPort) int {
	if wd, err := os.Getwd(); err == nil {
		for _, r := range rules {
			if rel, err := filepath.Rel(r.Dir, wd); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return r.Port
			}
		}
	}
	if def <= 0 {
		return shuffle.DefaultPort
	}
	return def
}

// localDirs are the executor's app local dirs (SPARK_EXECUTOR_DIRS).
func localDirs() ([]string, error) {
	v := os.Getenv("SPARK_EXECUTOR_DIRS")
	if v == "" {
		return nil, errors.New("sort.map: SPARK_EXECUTOR_DIRS is not set (not run by a worker?)")
	}
	return filepath.SplitList(v), nil
}

// The keys that put a shuffle service in every worker, named in errors.
const (
	keyShuffleServiceEnabled = "spark.shuffle.service.enabled"
	keyShuffleServicePort    = "spark.shuffle.service.port"
)

// registration: each executor process registers once per app and service.
var (
	regMu sync.Mutex
	regOK = map[string]bool{}
)

func registerOnce(conf *sparkconf.Conf, appID, execID, host string, port int, dirs []string) error {
	key := fmt.Sprintf("%s/%s@%s:%d", appID, execID, host, port)
	regMu.Lock()
	defer regMu.Unlock()
	if regOK[key] {
		return nil
	}
	c, err := shuffle.NewClient(shuffle.ClientConfig{AppID: appID, Conf: conf})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.RegisterWithShuffleServer(host, port, execID, shuffle.ExecutorShuffleInfo{
		LocalDirs: dirs, SubDirsPerLocalDir: SubDirs, ShuffleManager: ShuffleManager}); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			// Nothing listens: a retry on this or another worker will
			// not find a service either, so the driver stops at once.
			return app.Permanent(fmt.Errorf("sort.map: no external shuffle service at %s:%d (%w); the sort writes its map "+
				"output through the workers' shuffle services: start the workers with %s=true "+
				"(conf/spark-defaults.conf or --conf), or run ember shuffle-service on each worker's host, "+
				"on the port the sort is given (--shuffle-port, %s)", host, port, err, keyShuffleServiceEnabled, keyShuffleServicePort))
		}
		return fmt.Errorf("sort.map: registering with the shuffle service at %s:%d: %w", host, port, err)
	}
	regOK[key] = true
	return nil
}

func mapTask(ctx context.Context, tc app.TaskContext, in []byte) ([]byte, error) {
	var mi MapInput
	if err := json.Unmarshal(in, &mi); err != nil {
		return nil, fmt.Errorf("sort.map: bad input: %w", err)
	}
	if mi.Reduces < 1 || mi.Reduces > 1<<16 || mi.Records < 0 {
		return nil, fmt.Errorf("sort.map: bad input %+v", mi)
	}
	dirs, err := localDirs()
	if err != nil {
		return nil, err
	}
	host, port := hostName(), servicePort(mi.ShufflePort, mi.WorkerPorts)
	if err := registerOnce(tc.Conf, tc.AppID, tc.ExecutorID, host, port, dirs); err != nil {
		return nil, err
	}
	st, err := writeMapOutput(ctx, dirs, mi)
	if err != nil {
		return nil, err
	}
	st.Host, st.Port, st.ExecID = host, port, tc.ExecutorID
	return json.Marshal(st)
}

// writeMapOutput generates, partitions, sorts and writes one map's output.
func writeMapOutput(ctx context.Context, dirs []string, mi MapInput) (MapStatus, error) {
	records := Generate(mi.Seed, mi.MapID, mi.Records)
	sum := Checksum(records)
	if err := ctx.Err(); err != nil {
		return MapStatus{}, err
	}
	parts := PartitionAndSort(records, mi.Reduces)
	w, err := shuffle.NewMapOutputWriter(dirs, SubDirs, mi.ShuffleID, mi.MapID)
	if err != nil {
		return MapStatus{}, err
	}
	for _, p := range parts {
		if err := w.WritePartition(bytes.NewReader(p)); err != nil {
			w.Abort()
			return MapStatus{}, err
		}
	}
	sizes, err := w.Commit()
	if err != nil {
		return MapStatus{}, err
	}
	return MapStatus{MapID: mi.MapID, Sizes: sizes, Records: mi.Records, Checksum: sum}, nil
}

func reduceTask(ctx context.Context, tc app.TaskContext, in []byte) ([]byte, error) {
	var ri ReduceInput
	if err := json.Unmarshal(in, &ri); err != nil {
		return nil, fmt.Errorf("sort.reduce: bad input: %w", err)
	}
	c, err := shuffle.NewClient(shuffle.ClientConfig{AppID: tc.AppID, Conf: tc.Conf})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	runs, err := fetchRuns(ctx, c, ri)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// The service that holds the map output is gone; no reduce
		// attempt can fetch it (the sort does not rerun maps).
		return nil, app.Permanent(fmt.Errorf("sort.reduce: a shuffle service holding map output refuses connections "+
			"(did a worker with %s=true stop?): %w", keyShuffleServiceEnabled, err))
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(reduceRuns(ri.Reduce, runs))
}

// fetchRuns fetches partition ri.Reduce of every map; runs are in map order.
func fetchRuns(ctx context.Context, c *shuffle.Client, ri ReduceInput) ([][]byte, error) {
	runs := make([][]byte, len(ri.Maps))
	index := map[string]int{}
	var reqs []shuffle.FetchRequest
	for i, m := range ri.Maps {
		if ri.Reduce >= len(m.Sizes) {
			return nil, fmt.Errorf("sort.reduce: map %d has %d partitions, want > %d", m.MapID, len(m.Sizes), ri.Reduce)
		}
		size := m.Sizes[ri.Reduce]
		if size == 0 {
			continue
		}
		id := shuffle.ShuffleBlockID(ri.ShuffleID, m.MapID, int32(ri.Reduce))
		index[id] = i
		reqs = append(reqs, shuffle.FetchRequest{Host: m.Host, Port: m.Port, ExecID: m.ExecID,
			Blocks: []shuffle.BlockInfo{{ID: id, Size: size}}})
	}
	var mu sync.Mutex
	err := c.FetchAll(ctx, reqs, func(id string, data codec.ManagedBuffer) error {
		i, ok := index[id]
		if !ok {
			return fmt.Errorf("sort.reduce: unexpected block %s", id)
		}
		b, err := data.Bytes()
		if err != nil {
			return err
		}
		if int64(len(b)) != ri.Maps[i].Sizes[ri.Reduce] {
			return fmt.Errorf("sort.reduce: block %s is %d bytes, want %d", id, len(b), ri.Maps[i].Sizes[ri.Reduce])
		}
		cp := bytes.Clone(b)
		mu.Lock()
		runs[i] = cp
		mu.Unlock()
		return nil
	})
	return runs, err
}

// reduceRuns merges the runs and describes the result.
func reduceRuns(reduce int, runs [][]byte) ReduceOutput {
	merged := Merge(runs)
	out := ReduceOutput{Reduce: reduce, Records: int64(len(merged) / RecordSize), Bytes: int64(len(merged)),
		Checksum: Checksum(merged)}
	if !IsSorted(merged) {
		out.Records = -1 // the driver reports it
	}
	if len(merged) >= RecordSize {
		out.FirstKey = bytes.Clone(merged[:KeySize])
		out.LastKey = bytes.Clone(merged[len(merged)-RecordSize : len(merged)-RecordSize+KeySize])
	}
	return out
}

// ---- driver side ----

// Run sorts cfg.TotalBytes of generated records on d's executors.
func Run(ctx context.Context, d *app.Driver, cfg Config) (Summary, error) {
	if cfg.TotalBytes < RecordSize || cfg.Maps < 1 || cfg.Reduces < 1 || cfg.Reduces > 1<<16 {
		return Summary{}, fmt.Errorf("sortex: need at least one record, maps >= 1 and 1 <= reduces <= 65536 (got %d bytes, %d maps, %d reduces)",
			cfg.TotalBytes, cfg.Maps, cfg.Reduces)
	}
	if d == nil {
		return Summary{}, errors.New("sortex: no driver")
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	const shuffleID = 0
	records := cfg.TotalBytes / RecordSize
	maps := int(min(int64(cfg.Maps), records))
	start := time.Now()
	tasks := make([]app.Task, maps)
	for i := range tasks {
		n := records / int64(maps)
		if int64(i) < records%int64(maps) {
			n++
		}
		in, _ := json.Marshal(MapInput{ShuffleID: shuffleID, MapID: int64(i), Records: n, Seed: cfg.Seed,
			Reduces: cfg.Reduces, ShufflePort: cfg.ShufflePort, WorkerPorts: cfg.WorkerPorts})
		tasks[i] = app.Task{Kind: MapKind, Input: in}
	}
	if cfg.OnStage != nil {
		cfg.OnStage("map", maps, records*RecordSize)
	}
	res, err := d.RunTasks(ctx, tasks)
	if err != nil {
		return Summary{}, fmt.Errorf("sortex: map stage: %w", err)
	}
	mapTime := time.Since(start)
	statuses := make([]MapStatus, maps)
	var inSum uint64
	var inCount int64
	for i, r := range res {
		if err := json.Unmarshal(r.Output, &statuses[i]); err != nil {
			return Summary{}, fmt.Errorf("sortex: map %d: bad status: %w", i, err)
		}
		if len(statuses[i].Sizes) != cfg.Reduces {
			return Summary{}, fmt.Errorf("sortex: map %d wrote %d partitions, want %d", i, len(statuses[i].Sizes), cfg.Reduces)
		}
		inSum += statuses[i].Checksum
		inCount += statuses[i].Records
	}
	rstart := time.Now()
	tasks = make([]app.Task, cfg.Reduces)
	for r := range tasks {
		in, _ := json.Marshal(ReduceInput{ShuffleID: shuffleID, Reduce: r, Maps: statuses})
		tasks[r] = app.Task{Kind: ReduceKind, Input: in}
	}
	if cfg.OnStage != nil {
		cfg.OnStage("reduce", cfg.Reduces, records*RecordSize)
	}
	res, err = d.RunTasks(ctx, tasks)
	if err != nil {
		return Summary{}, fmt.Errorf("sortex: reduce stage: %w", err)
	}
	outs := make([]ReduceOutput, len(res))
	for i, r := range res {
		if err := json.Unmarshal(r.Output, &outs[i]); err != nil {
			return Summary{}, fmt.Errorf("sortex: reduce %d: bad output: %w", i, err)
		}
	}
	sum := Summary{Maps: maps, Reduces: cfg.Reduces, MapTime: mapTime, ReduceTime: time.Since(rstart)}
	if err := Verify(outs, inCount, inSum); err != nil {
		return sum, err
	}
	sum.Duration = time.Since(start)
	sum.Records, sum.Bytes, sum.Checksum, sum.Verified = inCount, inCount*RecordSize, inSum, true
	if s := sum.Duration.Seconds(); s > 0 {
		sum.MBps = float64(sum.Bytes) / 1e6 / s
	}
	return sum, nil
}

// Verify checks the reduce outputs: each sorted, in global order, with
// count records in all and the input's checksum.
func Verify(outs []ReduceOutput, count int64, checksum uint64) error {
	var n, bytesOut int64
	var sum uint64
	var last []byte
	for i, o := range outs {
		if o.Records < 0 {
			return fmt.Errorf("sortex: reduce %d's output is not sorted", i)
		}
		if o.Records > 0 {
			if last != nil && bytes.Compare(last, o.FirstKey) > 0 {
				return fmt.Errorf("sortex: reduce %d starts with key %x before the previous last key %x", i, o.FirstKey, last)
			}
			last = o.LastKey
		}
		n += o.Records
		bytesOut += o.Bytes
		sum += o.Checksum
	}
	if n != count || bytesOut != count*RecordSize {
		return fmt.Errorf("sortex: %d records (%d bytes) out, %d in", n, bytesOut, count)
	}
	if sum != checksum {
		return fmt.Errorf("sortex: output checksum %016x != input checksum %016x", sum, checksum)
	}
	return nil
}
