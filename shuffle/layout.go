package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf16"
)

// JavaStringHash is Java's String.hashCode: h = 31*h + c over the UTF-16
// code units, with 32-bit wrap-around.
func JavaStringHash(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

// nonNegativeHash is Spark's Utils.nonNegativeHash of a string.
func nonNegativeHash(s string) int {
	h := JavaStringHash(s)
	if h == math.MinInt32 {
		return 0
	}
	if h < 0 {
		h = -h
	}
	return int(h)
}

// FilePath returns where Spark keeps filename among localDirs: the dir and
// the two-hex-digit sub-directory both chosen from the name's hash
// (ExecutorDiskUtils.getFilePath).
func FilePath(localDirs []string, subDirsPerLocalDir int, filename string) string {
	i, sub := fileLocation(len(localDirs), subDirsPerLocalDir, filename)
	return filepath.Join(localDirs[i], sub, filename)
}

// fileLocation returns which of n local dirs holds filename, and the name
// of its sub-dir there.
func fileLocation(n, subDirsPerLocalDir int, filename string) (dir int, sub string) {
	h := nonNegativeHash(filename)
	return h % n, fmt.Sprintf("%02x", (h/n)%subDirsPerLocalDir)
}

// DataFileName is shuffle_<s>_<m>_0.data.
func DataFileName(shuffleID int32, mapID int64) string {
	return "shuffle_" + strconv.Itoa(int(shuffleID)) + "_" + strconv.FormatInt(mapID, 10) + "_0.data"
}

// IndexFileName is shuffle_<s>_<m>_0.index.
func IndexFileName(shuffleID int32, mapID int64) string {
	return "shuffle_" + strconv.Itoa(int(shuffleID)) + "_" + strconv.FormatInt(mapID, 10) + "_0.index"
}

// ChecksumFileName is shuffle_<s>_<m>_0.checksum.<ALGORITHM>.
func ChecksumFileName(shuffleID int32, mapID int64, algorithm string) string {
	return "shuffle_" + strconv.Itoa(int(shuffleID)) + "_" + strconv.FormatInt(mapID, 10) + "_0.checksum." + algorithm
}

// ErrCorruptIndex: an index file that is not a non-decreasing series of
// non-negative big-endian longs starting at 0.
var ErrCorruptIndex = errors.New("shuffle: corrupt index file")

// IndexInfo is a parsed index file: numPartitions+1 offsets.
type IndexInfo struct {
	Offsets []int64
}

// RetainedSize is Spark's cache weight of an index: 8×entries + 176.
func (i *IndexInfo) RetainedSize() int64 { return int64(len(i.Offsets))*8 + 176 }

// Range returns the data-file bytes of partitions [start, end).
func (i *IndexInfo) Range(start, end int32) (offset, length int64, err error) {
	if start < 0 || end < start || int(end) >= len(i.Offsets) {
		return 0, 0, fmt.Errorf("shuffle: partition range [%d,%d) outside the index (%d partitions)", start, end, len(i.Offsets)-1)
	}
	return i.Offsets[start], i.Offsets[end] - i.Offsets[start], nil
}

// ReadIndex parses an index file.
func ReadIndex(path string) (*IndexInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseIndex(b, path)
}

// maxIndexBytes bounds the index files the service reads: 2^28 bytes is
// 32 M partitions, far past any shuffle Spark runs (its partition count
// is an int, and a map status of 2^25 partitions is already hundreds of
// MB on the driver).
const maxIndexBytes = 1 << 28

// readIndexFile parses an open index file of size bytes.
func readIndexFile(f *os.File, size int64) (*IndexInfo, error) {
	if size < 16 || size%8 != 0 || size > maxIndexBytes {
		return nil, fmt.Errorf("%w: %s has %d bytes", ErrCorruptIndex, f.Name(), size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("shuffle: reading %s: %w", f.Name(), err)
	}
	return parseIndex(b, f.Name())
}

func parseIndex(b []byte, path string) (*IndexInfo, error) {
	if len(b) < 16 || len(b)%8 != 0 {
		return nil, fmt.Errorf("%w: %s has %d bytes", ErrCorruptIndex, path, len(b))
	}
	offs := make([]int64, len(b)/8)
	for i := range offs {
		offs[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
		if offs[i] < 0 || (i > 0 && offs[i] < offs[i-1]) || (i == 0 && offs[0] != 0) {
			return nil, fmt.Errorf("%w: %s: bad offset %d at entry %d", ErrCorruptIndex, path, offs[i], i)
		}
	}
	return &IndexInfo{Offsets: offs}, nil
}

// MapOutputWriter writes one map task's sort-shuffle output the way Spark
// lays it out: partitions concatenated in a data file, and an index file of
// cumulative offsets, both placed by FilePath and committed atomically
// (written to temporary names, then renamed, index last).
type MapOutputWriter struct {
	dataPath, indexPath string
	tmp                 *os.File
	offsets             []int64
	written             int64
}

// NewMapOutputWriter starts the output of map task mapID of shuffleID.
func NewMapOutputWriter(localDirs []string, subDirs int, shuffleID int32, mapID int64) (*MapOutputWriter, error) {
	w := &MapOutputWriter{
		dataPath:  FilePath(localDirs, subDirs, DataFileName(shuffleID, mapID)),
		indexPath: FilePath(localDirs, subDirs, IndexFileName(shuffleID, mapID)),
		offsets:   []int64{0},
	}
	if err := os.MkdirAll(filepath.Dir(w.dataPath), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(w.indexPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(w.dataPath), "shuffle-data-*.tmp")
	if err != nil {
		return nil, err
	}
	w.tmp = f
	return w, nil
}

// WritePartition appends the next partition's bytes from r (partitions are
// written in order, 0, 1, 2, ...).
func (w *MapOutputWriter) WritePartition(r io.Reader) error {
	n, err := io.Copy(w.tmp, r)
	w.written += n
	w.offsets = append(w.offsets, w.written)
	return err
}

// Commit syncs and renames the files into place and returns the partition
// lengths.
func (w *MapOutputWriter) Commit() ([]int64, error) {
	defer os.Remove(w.tmp.Name())
	if err := w.tmp.Sync(); err != nil {
		w.tmp.Close()
		return nil, err
	}
	if err := w.tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(w.tmp.Name(), w.dataPath); err != nil {
		return nil, err
	}
	idx := make([]byte, 8*len(w.offsets))
	for i, o := range w.offsets {
		binary.BigEndian.PutUint64(idx[8*i:], uint64(o))
	}
	tmpIdx := w.indexPath + ".tmp"
	if err := os.WriteFile(tmpIdx, idx, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpIdx, w.indexPath); err != nil {
		return nil, err
	}
	lens := make([]int64, len(w.offsets)-1)
	for i := range lens {
		lens[i] = w.offsets[i+1] - w.offsets[i]
	}
	return lens, nil
}

// Abort discards the output.
func (w *MapOutputWriter) Abort() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}
