package auth

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func gcmPair(t testing.TB, keyLen int) (*gcmSealer, *gcmOpener) {
	t.Helper()
	key := bytes.Repeat([]byte{0x5a}, keyLen)
	seal, open, err := GCMLayer(&SessionKeys{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return seal.(*gcmSealer), open.(*gcmOpener)
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

// openSplit feeds wire to o in pieces of random sizes.
func openSplit(o *gcmOpener, wire []byte, r *rand.Rand) ([]byte, error) {
	var out []byte
	for len(wire) > 0 {
		n := 1 + r.IntN(min(len(wire), 70000))
		var err error
		if out, err = o.Open(out, wire[:n]); err != nil {
			return out, err
		}
		wire = wire[n:]
	}
	return out, nil
}

func TestGCMRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 15, 16, 17, gcmPlainSegment - 1, gcmPlainSegment, gcmPlainSegment + 1,
		2 * gcmPlainSegment, 2*gcmPlainSegment + 5, 1 << 20}
	for _, keyLen := range []int{16, 32} {
		s, o := gcmPair(t, keyLen)
		var wire, want []byte
		for _, n := range sizes {
			p := pattern(n)
			at := len(wire)
			var err error
			if wire, err = s.Seal(wire, p); err != nil {
				t.Fatal(err)
			}
			rec := wire[at:]
			if got := binary.BigEndian.Uint64(rec); got != uint64(len(rec)) || got != gcmRecordLen(keyLen, n) {
				t.Fatalf("key %d, %d bytes: length field %d, record %d, formula %d", keyLen, n, got, len(rec), gcmRecordLen(keyLen, n))
			}
			if int(rec[8]) != gcmHeaderLen(keyLen) {
				t.Fatalf("header length byte %d", rec[8])
			}
			if bytes.Contains(rec, p[:min(n, 64)]) && n >= 16 {
				t.Fatalf("plaintext visible in the record")
			}
			want = append(want, p...)
		}
		// Nothing for an empty write.
		if w2, _ := s.Seal(wire, nil); len(w2) != len(wire) {
			t.Fatal("an empty write made a record")
		}
		got, err := openSplit(o, wire, r)
		if err != nil {
			t.Fatalf("key %d: %v", keyLen, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("key %d: plaintext differs (%d vs %d bytes)", keyLen, len(got), len(want))
		}
		if len(o.pre) != 0 || o.aead != nil || cap(o.seg) > gcmSegment {
			t.Fatalf("opener state after whole records: pre %d, seg cap %d", len(o.pre), cap(o.seg))
		}
	}
}

// Each segment's plaintext comes out as soon as the segment is complete,
// before the record ends.
func TestGCMStreamsSegments(t *testing.T) {
	s, o := gcmPair(t, 16)
	wire, _ := s.Seal(nil, pattern(3*gcmPlainSegment))
	head := gcmLengthField + gcmHeaderLen(16)
	out, err := o.Open(nil, wire[:head+gcmSegment+10])
	if err != nil || len(out) != gcmPlainSegment {
		t.Fatalf("after one segment: %d bytes, %v", len(out), err)
	}
}

// An empty record (header only) is accepted: Spark's decoder completes it.
func TestGCMEmptyRecord(t *testing.T) {
	s, o := gcmPair(t, 16)
	rec := binary.BigEndian.AppendUint64(nil, uint64(gcmLengthField+gcmHeaderLen(16)))
	rec = append(rec, byte(gcmHeaderLen(16)))
	rec = append(rec, make([]byte, gcmHeaderLen(16)-1)...)
	rec, _ = s.Seal(rec, []byte("after"))
	out, err := o.Open(nil, rec)
	if err != nil || string(out) != "after" {
		t.Fatalf("%q %v", out, err)
	}
}

func TestGCMRejects(t *testing.T) {
	s, _ := gcmPair(t, 16)
	good, _ := s.Seal(nil, pattern(gcmPlainSegment+100))
	head := gcmLengthField + gcmHeaderLen(16)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"length below header": mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b, 10); return b }),
		"last segment below tag": mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b, uint64(head+gcmSegment+5))
			return b
		}),
		"too many segments": mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b, 1<<62); return b }),
		"header byte":       mutate(func(b []byte) []byte { b[8] = 40; return b }),
		"salt":              mutate(func(b []byte) []byte { b[9] ^= 1; return b }),
		"nonce prefix":      mutate(func(b []byte) []byte { b[head-1] ^= 1; return b }),
		"first segment":     mutate(func(b []byte) []byte { b[head+5] ^= 1; return b }),
		"tag":               mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		// A record cut after its first segment and relabelled as complete:
		// the first segment is not flagged last, so it fails.
		"truncated": mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b, uint64(head+gcmSegment))
			return b[:head+gcmSegment]
		}),
		// A longer length field changes the derived key.
		"length changed": mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b, uint64(len(b)+1))
			return append(b, 0)
		}),
	}
	for name, wire := range cases {
		_, o := gcmPair(t, 16)
		_, err := o.Open(nil, wire)
		if !errors.Is(err, ErrGCMRecord) {
			t.Errorf("%s: want ErrGCMRecord, got %v", name, err)
			continue
		}
		// The error is sticky.
		if _, err2 := o.Open(nil, good); !errors.Is(err2, ErrGCMRecord) {
			t.Errorf("%s: a later Open succeeded after an error", name)
		}
	}
	// A record sealed under a 32-byte key does not open under a 16-byte one.
	s32, _ := gcmPair(t, 32)
	w32, _ := s32.Seal(nil, []byte("x"))
	_, o16 := gcmPair(t, 16)
	if _, err := o16.Open(nil, w32); !errors.Is(err, ErrGCMRecord) {
		t.Errorf("key size mismatch: %v", err)
	}
	if _, _, err := GCMLayer(&SessionKeys{Key: make([]byte, 24)}); err == nil {
		t.Error("24-byte key accepted")
	}
}

// FuzzGCMOpener: any byte stream opens or fails with ErrGCMRecord, never
// panics, keeps its buffers bounded, and real records round-trip however
// they are split. The seeds stay small (records of one segment): the
// engine minimises slowly over inputs of several 32 KiB segments, which
// TestGCMRoundTrip covers.
func FuzzGCMOpener(f *testing.F) {
	s, _ := gcmPair(f, 16)
	two, _ := s.Seal(nil, []byte("hello"))
	two, _ = s.Seal(two, pattern(300))
	f.Add(two, uint16(1))
	f.Add(two, uint16(7))
	f.Add(two[:30], uint16(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 32, 24}, uint16(2))
	f.Add(bytes.Repeat([]byte{0xff}, 64), uint16(5))
	f.Fuzz(func(t *testing.T, wire []byte, split uint16) {
		_, o := gcmPair(t, 16)
		step := int(split)%4096 + 1
		var out []byte
		var err error
		for p := wire; len(p) > 0 && err == nil; {
			n := min(step, len(p))
			out, err = o.Open(out, p[:n])
			p = p[n:]
		}
		if err != nil && !errors.Is(err, ErrGCMRecord) {
			t.Fatalf("unexpected error type: %v", err)
		}
		if len(out) > len(wire) {
			t.Fatalf("%d plaintext bytes from %d wire bytes", len(out), len(wire))
		}
		if cap(o.seg) > gcmSegment || cap(o.pre) > gcmLengthField+o.hl {
			t.Fatalf("buffers grew: seg %d pre %d", cap(o.seg), cap(o.pre))
		}
		if bytes.Equal(wire, two) && (err != nil || !bytes.Equal(out, append([]byte("hello"), pattern(300)...))) {
			t.Fatalf("valid records did not round-trip: %v", err)
		}
	})
}

func BenchmarkGCMSeal64K(b *testing.B) {
	s, o := gcmPair(b, 16)
	p := pattern(64 << 10)
	var wire, out []byte
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		wire, _ = s.Seal(wire[:0], p)
		out, _ = o.Open(out[:0], wire)
	}
}

// TestGCMSparkGolden opens records that Spark 4.1.4's GcmTransportCipher
// sealed (testdata/spark41_gcm.txt, written by the live interop test
// internal/interop/auth with EMBER_WRITE_GOLDEN=1): one by one, and as one
// stream fed a byte at a time.
func TestGCMSparkGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "spark41_gcm.txt"))
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string][]byte{}
	wants := map[string][]byte{}
	records := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("bad line %q", line)
		}
		key, err1 := hex.DecodeString(f[0])
		n, err2 := strconv.Atoi(f[1])
		rec, err3 := hex.DecodeString(f[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		_, open, err := GCMLayer(&SessionKeys{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		got, err := open.Open(nil, rec)
		if err != nil || !bytes.Equal(got, pattern(n)) {
			t.Fatalf("key %d bytes, %d-byte record: %d bytes, %v", len(key), n, len(got), err)
		}
		streams[f[0]] = append(streams[f[0]], rec...)
		wants[f[0]] = append(wants[f[0]], pattern(n)...)
		records++
	}
	if records < 6 {
		t.Fatalf("only %d records in the golden file", records)
	}
	for k, stream := range streams {
		key, _ := hex.DecodeString(k)
		_, open, _ := GCMLayer(&SessionKeys{Key: key})
		var got []byte
		for i := range stream {
			if got, err = open.Open(got, stream[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, wants[k]) {
			t.Fatalf("key %d bytes: the stream opened to %d bytes, want %d", len(key), len(got), len(wants[k]))
		}
	}
}

// BenchmarkGCMSealSmall is the cost of one record for a small write (a
// frame header): a fresh salt, an HKDF and an AES-GCM key per record, as
// Spark's format requires.
func BenchmarkGCMSealSmall(b *testing.B) {
	s, _ := gcmPair(b, 16)
	p := pattern(21)
	var wire []byte
	b.ReportAllocs()
	for b.Loop() {
		wire, _ = s.Seal(wire[:0], p)
	}
}
