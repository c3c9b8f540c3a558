package javaser_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
)

func hdr(b ...byte) []byte { return append([]byte{0xAC, 0xED, 0x00, 0x05}, b...) }

// Every prefix of every golden stream is a clean ErrTruncated (or, for
// the bare header, "no object"), never a panic.
func TestTruncatedGolden(t *testing.T) {
	for _, g := range loadGolden(t) {
		for n := 0; n < len(g.data); n++ {
			// Every cut of small streams; of the long ones, the first and
			// last bytes and a sample between (each cut decodes the prefix).
			if n > 512 && n < len(g.data)-64 && n%11 != 0 {
				continue
			}
			_, err := javaser.Unmarshal(g.data[:n])
			var je *javaser.Error
			if !errors.As(err, &je) || !errors.Is(err, javaser.ErrTruncated) {
				t.Fatalf("%s[:%d]: %v", g.name, n, err)
			}
			if je.Offset > n {
				t.Fatalf("%s[:%d]: offset %d past the end", g.name, n, je.Offset)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	ce := goldenBytes(t, "check-existence")
	deep := hdr()
	for i := 0; i < 300; i++ { // nested arrays of Object: [[[...
		deep = append(deep, 0x75, 0x72)
		name := strings.Repeat("[", 1) + "Ljava.lang.Object;"
		deep = binary.BigEndian.AppendUint16(deep, uint16(len(name)))
		deep = append(deep, name...)
		deep = append(deep, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 0, 0x78, 0x70, 0, 0, 0, 1)
	}
	bigArray := hdr(0x75, 0x72, 0, 2, '[', 'I', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 0, 0x78, 0x70, 0x7F, 0xFF, 0xFF, 0xFF)
	hugeLongString := hdr(0x7C, 0x7F, 0, 0, 0, 0, 0, 0, 0)
	cases := []struct {
		name     string
		in       []byte
		opts     []javaser.Option
		sentinel error
		msg      string
	}{
		{"empty", nil, nil, javaser.ErrTruncated, "no stream header"},
		{"bad magic", []byte{0xCA, 0xFE, 0, 5, 0x70}, nil, javaser.ErrMalformed, "ACED0005"},
		{"no object", hdr(), nil, javaser.ErrTruncated, "no object"},
		{"unknown type code", hdr(0x42), nil, javaser.ErrMalformed, "unknown type code 0x42"},
		{"dangling reference", hdr(0x71, 0, 0x7E, 0, 5), nil, javaser.ErrMalformed, "unknown handle"},
		{"reset only", hdr(0x79), nil, javaser.ErrTruncated, "no object"},
		{"reset inside", hdr(0x75, 0x72, 0, 3, '[', 'L', 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 0, 0x78, 0x70, 0, 0, 0, 1, 0x79), nil, javaser.ErrMalformed, "TC_RESET"},
		{"end block as object", hdr(0x78), nil, javaser.ErrMalformed, "TC_ENDBLOCKDATA"},
		{"block data as object", hdr(0x77, 1, 0), nil, javaser.ErrMalformed, "block data where an object"},
		{"trailing", append(append([]byte{}, ce...), 0x70), nil, javaser.ErrTrailing, "1 bytes follow"},
		{"array length", bigArray, nil, javaser.ErrLimit, "MaxArrayLength"},
		{"array longer than the input", bigArray, []javaser.Option{javaser.WithMaxArrayLength(math.MaxInt32)}, javaser.ErrTruncated, "need"},
		{"long string", hugeLongString, nil, javaser.ErrLimit, "long string"},
		{"depth", deep, nil, javaser.ErrLimit, "MaxDepth"},
		{"string length", ce, []javaser.Option{javaser.WithMaxStringLength(4)}, javaser.ErrLimit, "MaxStringLength"},
		{"handles", ce, []javaser.Option{javaser.WithMaxHandles(2)}, javaser.ErrLimit, "MaxHandles"},
		{"stream length", ce, []javaser.Option{javaser.WithMaxBytes(10)}, javaser.ErrLimit, "MaxBytes"},
		{"allocation", goldenBytes(t, "register-application"), []javaser.Option{javaser.WithMaxAlloc(1000)}, javaser.ErrLimit, "MaxAlloc"},
		{"protocol 1 externalizable", hdr(0x73, 0x72, 0, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0, 0, 0x78, 0x70), nil, javaser.ErrUnsupported, "protocol version 1"},
		{"field order", hdr(0x73, 0x72, 0, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 2,
			'L', 0, 1, 'a', 0x74, 0, 3, 'L', 'X', ';', 'I', 0, 1, 'b'), nil, javaser.ErrMalformed, "illegal field order"},
		{"bad field type", hdr(0x73, 0x72, 0, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 1, 'Q', 0, 1, 'a'), nil, javaser.ErrMalformed, "unknown type code 0x51"},
		{"bad utf", hdr(0x74, 0, 2, 0xC3, 0x41), nil, javaser.ErrMalformed, "modified UTF-8"},
		{"four-byte utf", hdr(0x74, 0, 4, 0xF0, 0x9F, 0x98, 0x80), nil, javaser.ErrMalformed, "modified UTF-8"},
		{"enum of non-enum", hdr(0x7E, 0x72, 0, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 0, 0x78, 0x70, 0x74, 0, 1, 'A'), nil, javaser.ErrMalformed, "non-enum class X"},
		{"flags conflict", hdr(0x73, 0x72, 0, 1, 'X', 0, 0, 0, 0, 0, 0, 0, 1, 0x06, 0, 0, 0x78, 0x70), nil, javaser.ErrMalformed, "conflict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := javaser.Unmarshal(c.in, c.opts...)
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v containing %q", err, c.sentinel, c.msg)
			}
		})
	}
}

// An error inside a class names the class and the offset.
func TestErrorNamesClass(t *testing.T) {
	b := goldenBytes(t, "check-existence")
	// Cut the stream inside CheckExistence's name field.
	_, err := javaser.Unmarshal(b[:len(b)-2])
	var je *javaser.Error
	if !errors.As(err, &je) || je.Class != "org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence" || je.Offset <= 4 {
		t.Fatalf("%#v", err)
	}
	if !strings.Contains(err.Error(), "CheckExistence") || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("message %q", err)
	}
}

// Top-level block data and resets survive ReadStream/WriteStream.
func TestStreamContents(t *testing.T) {
	e := javaser.NewEncoder(nil)
	s := javaser.Str("shared")
	e.WriteBlock([]byte{1, 2, 3})
	if err := e.WriteObject(s); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteObject(s); err != nil { // a back reference
		t.Fatal(err)
	}
	e.Reset()
	if err := e.WriteObject(s); err != nil { // written again after the reset
		t.Fatal(err)
	}
	e.WriteBlock(bytes.Repeat([]byte{7}, 2500)) // 1024 + 1024 + 452
	out := e.Bytes()
	st, err := javaser.ReadStream(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Contents) != 8 {
		t.Fatalf("%d contents: %#v", len(st.Contents), st.Contents)
	}
	if st.Contents[1] != st.Contents[2] || st.Contents[2] == st.Contents[4] {
		t.Errorf("sharing across the reset is wrong")
	}
	if _, ok := st.Contents[3].(javaser.Reset); !ok {
		t.Errorf("content 3 is %T", st.Contents[3])
	}
	if n := len(st.Contents[5].(javaser.BlockData)); n != 1024 {
		t.Errorf("first long block %d bytes", n)
	}
	back, err := javaser.WriteStream(st)
	if err != nil || !bytes.Equal(back, out) {
		t.Fatalf("stream round trip: %v", err)
	}
}

// Modified UTF-8: NUL, two- and three-byte characters, a surrogate pair
// and an unpaired surrogate survive a round trip; long strings use
// TC_LONGSTRING.
func TestStrings(t *testing.T) {
	for _, s := range []string{"", "plain", "a\x00b", "é", "€", "\U0001F600", "\xed\xa0\x80x", strings.Repeat("ab", 40000)} {
		out, err := javaser.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) > 65535 && out[4] != 0x7C {
			t.Errorf("long string written with type 0x%02x", out[4])
		}
		v, err := javaser.Unmarshal(out)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got, _ := javaser.AsString(v); got != s {
			t.Errorf("%q came back as %q", s, got)
		}
	}
}

func TestPrimitiveArraysRoundTrip(t *testing.T) {
	tab := loadTable(t)
	for _, c := range []struct {
		class string
		elems any
	}{
		{"[I", []int32{1, -2, 3}}, {"[J", []int64{1 << 40}}, {"[D", []float64{2.5}}, {"[Z", []bool{true, false}},
		{"[B", []int8{-1, 2}}, {"[C", []uint16{'x'}}, {"[S", []int16{-3}}, {"[F", []float32{1.5}},
		{"[Ljava.lang.String;", []any{"a", nil, javaser.Str("b")}},
	} {
		d, err := tab.Desc(c.class)
		if err != nil {
			t.Fatal(err)
		}
		out, err := javaser.Marshal(&javaser.Array{Class: d, Elems: c.elems})
		if err != nil {
			t.Fatalf("%s: %v", c.class, err)
		}
		v, err := javaser.Unmarshal(out)
		if err != nil {
			t.Fatalf("%s: %v", c.class, err)
		}
		again, _ := javaser.Marshal(v)
		if !bytes.Equal(again, out) || v.(*javaser.Array).Len() != reflect.ValueOf(c.elems).Len() {
			t.Errorf("%s: round trip differs", c.class)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tab := loadTable(t)
	d, _ := tab.Desc("org.apache.spark.deploy.DeployMessages$ExecutorAdded")
	o := javaser.NewObject(d)
	if err := o.Set("id", "seven"); err == nil {
		t.Error("a string set into an int field")
	}
	if err := o.Set("id", int64(1)<<40); err == nil {
		t.Error("an out-of-range int accepted")
	}
	if err := o.Set("nope", 1); err == nil {
		t.Error("an unknown field accepted")
	}
	if err := o.Set("workerId", o); err == nil || !strings.Contains(err.Error(), "String field") {
		t.Errorf("an object set into a String field: %v", err)
	}
	if err := o.Set("workerId", 3); err == nil {
		t.Error("a Go int set into an object field")
	}
	o.Data[0].Values = o.Data[0].Values[:1]
	_, err := javaser.Marshal(o)
	var ee *javaser.EncodeError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "ExecutorAdded") {
		t.Errorf("short values: %v", err)
	}
	if _, err := javaser.Marshal(struct{}{}); err == nil {
		t.Error("a Go struct written")
	}
}

// A tiny object of a class with a long superclass chain costs a ClassData
// per class: thousands of 6-byte back references to such a class must hit
// MaxAlloc, not allocate hundreds of megabytes.
func TestHierarchyAmplification(t *testing.T) {
	var d *javaser.ClassDesc
	for i := 0; i < 200; i++ {
		d = javaser.NewClassDesc("C"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)), 1, javaser.SCSerializable, d)
	}
	ad := javaser.NewClassDesc("[Ljava.lang.Object;", 2, javaser.SCSerializable, nil)
	two, err := javaser.Marshal(&javaser.Array{Class: ad, Elems: []any{javaser.NewObject(d), javaser.NewObject(d)}})
	if err != nil {
		t.Fatal(err)
	}
	last := two[len(two)-6:] // TC_OBJECT, TC_REFERENCE to the descriptor
	if last[0] != 0x73 || last[1] != 0x71 {
		t.Fatalf("unexpected tail %x", last)
	}
	lenAt := bytes.Index(two, []byte{0, 0, 0, 2, 0x73})
	mk := func(n int) []byte {
		b := append([]byte{}, two...)
		for i := 2; i < n; i++ {
			b = append(b, last...)
		}
		binary.BigEndian.PutUint32(b[lenAt:], uint32(n))
		return b
	}
	if _, err := javaser.Unmarshal(mk(50)); err != nil {
		t.Fatalf("the stream itself is valid: %v", err)
	}
	// 15000 objects x 200 classes x 56 bytes is over the default MaxAlloc.
	_, err = javaser.Unmarshal(mk(15000))
	if !errors.Is(err, javaser.ErrLimit) || !strings.Contains(err.Error(), "MaxAlloc") {
		t.Fatalf("default limits: %v", err)
	}
	_, err = javaser.Unmarshal(mk(5000), javaser.WithMaxAlloc(8<<20))
	if !errors.Is(err, javaser.ErrLimit) || !strings.Contains(err.Error(), "MaxAlloc") {
		t.Fatalf("got %v", err)
	}
}

func TestIsStream(t *testing.T) {
	if !javaser.IsStream(goldenBytes(t, "check-existence")) {
		t.Error("a golden stream is not a stream")
	}
	for _, b := range [][]byte{nil, {0xAC, 0xED, 0}, []byte(`{"type":"CheckExistence"}`), {0xAC, 0xED, 0, 4}} {
		if javaser.IsStream(b) {
			t.Errorf("%q taken for a stream", b)
		}
	}
}
