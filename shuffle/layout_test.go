package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJavaStringHash(t *testing.T) {
	// Values of java.lang.String.hashCode.
	for s, want := range map[string]int32{
		"":                   0,
		"a":                  97,
		"hello":              99162322,
		"Hello World":        -862545276,
		"é":                  233,
		"😀":                  1772899, // two UTF-16 code units: 31*0xD83D + 0xDE00
		"polygenelubricants": math.MinInt32,
		"shuffle_0_0_0.data": 581811660,
		"shuffle_1_2_0.data": -424048471,
	} {
		if got := JavaStringHash(s); got != want {
			t.Errorf("JavaStringHash(%q) = %d, want %d", s, got, want)
		}
	}
	if nonNegativeHash("polygenelubricants") != 0 {
		t.Errorf("nonNegativeHash(MinInt32) must be 0")
	}
	if nonNegativeHash("shuffle_1_2_0.data") != 424048471 {
		t.Errorf("nonNegativeHash of a negative hash must be its absolute value")
	}
}

func TestFilePath(t *testing.T) {
	dirs := []string{"/d0", "/d1", "/d2"}
	for _, c := range []struct {
		name string
		sub  int
		want string
	}{
		// h=581811660: 581811660%3=0, (581811660/3)%64=4
		{"shuffle_0_0_0.data", 64, "/d0/04/shuffle_0_0_0.data"},
		// h=-424048471 -> 424048471: %3=1, (424048471/3)%64=50=0x32
		{"shuffle_1_2_0.data", 64, "/d1/32/shuffle_1_2_0.data"},
		// h=MinInt32 -> 0
		{"polygenelubricants", 64, "/d0/00/polygenelubricants"},
		// more than 256 sub-dirs: at least two hex digits, lowercase
		{"shuffle_0_0_0.data", 1000, "/d0/" + hex3(193937220%1000) + "/shuffle_0_0_0.data"},
	} {
		if got := FilePath(dirs, c.sub, c.name); got != c.want {
			t.Errorf("FilePath(%q, %d) = %q, want %q", c.name, c.sub, got, c.want)
		}
	}
	// Every file lands in one of the dirs, in a two-digit sub-dir.
	for _, name := range []string{DataFileName(0, 1), IndexFileName(5, 1<<40), ChecksumFileName(2, 3, "CRC32C"), "rdd_1_2"} {
		p := FilePath(dirs, 64, name)
		sub := filepath.Base(filepath.Dir(p))
		if len(sub) != 2 || strings.ToLower(sub) != sub || filepath.Base(p) != name {
			t.Errorf("FilePath(%q) = %q", name, p)
		}
	}
}

func hex3(v int) string {
	const digits = "0123456789abcdef"
	if v < 256 {
		return string([]byte{digits[v>>4], digits[v&15]})
	}
	return string([]byte{digits[v>>8], digits[(v>>4)&15], digits[v&15]})
}

func TestShuffleFileNames(t *testing.T) {
	if got := DataFileName(1, 2); got != "shuffle_1_2_0.data" {
		t.Errorf("DataFileName = %q", got)
	}
	if got := IndexFileName(1, 1<<40); got != "shuffle_1_1099511627776_0.index" {
		t.Errorf("IndexFileName = %q", got)
	}
	if got := ChecksumFileName(3, 4, "ADLER32"); got != "shuffle_3_4_0.checksum.ADLER32" {
		t.Errorf("ChecksumFileName = %q", got)
	}
}

func writeIndex(t *testing.T, path string, offsets ...int64) {
	t.Helper()
	b := make([]byte, 8*len(offsets))
	for i, o := range offsets {
		binary.BigEndian.PutUint64(b[8*i:], uint64(o))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadIndex(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.index")
	writeIndex(t, p, 0, 10, 10, 35, 1<<40)
	info, err := ReadIndex(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Offsets, []int64{0, 10, 10, 35, 1 << 40}) {
		t.Errorf("offsets %v", info.Offsets)
	}
	if info.RetainedSize() != 8*5+176 {
		t.Errorf("RetainedSize = %d, want %d", info.RetainedSize(), 8*5+176)
	}
	for _, c := range []struct {
		start, end int32
		off, n     int64
	}{{0, 1, 0, 10}, {1, 2, 10, 0}, {2, 3, 10, 25}, {0, 4, 0, 1 << 40}, {1, 3, 10, 25}, {3, 3, 35, 0}} {
		off, n, err := info.Range(c.start, c.end)
		if err != nil || off != c.off || n != c.n {
			t.Errorf("Range(%d,%d) = %d,%d,%v want %d,%d", c.start, c.end, off, n, err, c.off, c.n)
		}
	}
	for _, r := range [][2]int32{{-1, 1}, {0, 5}, {4, 5}, {3, 2}, {0, math.MaxInt32}, {math.MinInt32, 0}, {math.MaxInt32, math.MinInt32}} {
		if _, _, err := info.Range(r[0], r[1]); err == nil {
			t.Errorf("Range(%d,%d) on 4 partitions should fail", r[0], r[1])
		}
	}
}

func TestReadIndexCorrupt(t *testing.T) {
	dir := t.TempDir()
	be := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	for name, content := range map[string][]byte{
		"empty":              {},
		"odd size":           append(be(0, 10), 1, 2, 3),
		"not a long":         {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"decreasing offsets": be(0, 10, 5),
		"first not zero":     be(3, 10, 20),
		"negative offset":    be(0, -1),
		"negative later":     be(0, 10, math.MinInt64),
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".index")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if info, err := ReadIndex(p); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: got (%v, %v), want ErrCorruptIndex", name, info, err)
		}
	}
	if _, err := ReadIndex(filepath.Join(dir, "missing.index")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing index: %v, want fs.ErrNotExist", err)
	}
}

func TestMapOutputWriter(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	parts := [][]byte{[]byte("first"), {}, bytes.Repeat([]byte("x"), 70000), []byte("last")}
	w, err := NewMapOutputWriter(dirs, 8, 4, 1<<33)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := w.WritePartition(bytes.NewReader(p)); err != nil {
			t.Fatal(err)
		}
	}
	lens, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lens, []int64{5, 0, 70000, 4}) {
		t.Errorf("lengths %v", lens)
	}
	dataPath := FilePath(dirs, 8, DataFileName(4, 1<<33))
	idxPath := FilePath(dirs, 8, IndexFileName(4, 1<<33))
	data, err := os.ReadFile(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, bytes.Join(parts, nil)) {
		t.Errorf("data file content differs")
	}
	info, err := ReadIndex(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Offsets, []int64{0, 5, 5, 70005, 70009}) {
		t.Errorf("index %v", info.Offsets)
	}
	// Only the two files are left: no temporaries.
	var files []string
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) != 2 {
		t.Errorf("files after Commit: %v", files)
	}

	// Abort leaves nothing.
	dirs2 := []string{t.TempDir()}
	w, err = NewMapOutputWriter(dirs2, 8, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.WritePartition(strings.NewReader("abc"))
	w.Abort()
	files = nil
	_ = filepath.WalkDir(dirs2[0], func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files after Abort: %v", files)
	}
}
