package rpcenv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Test-only types for the registry tests.
type (
	regA         struct{ X int }
	regB         struct{ Y int }
	unregistered struct{ Z int }
	withRefs     struct {
		Refs []*Ref          `json:"refs"`
		ByID map[string]*Ref `json:"by_id"`
		P    *ping           `json:"p"`
	}
)

func init() {
	Register[withRefs]("rpcenv.test.withRefs")
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Java's DataOutputStream.writeUTF output for a few strings.
func TestAppendUTFMatchesJava(t *testing.T) {
	cases := []struct {
		s    string
		java string
	}{
		{"", "0000"},
		{"ep", "0002 6570"},
		{"\x00", "0002 C080"},
		{"a\x00b", "0004 61 C080 62"},
		{"é", "0002 C3A9"},
		{"€", "0003 E282AC"},
		{"\U0001F600", "0006 EDA0BD EDB880"}, // U+1F600 = surrogates D83D DE00
		{"x\U00010000", "0007 78 EDA080 EDB080"},
		{"\uFFFF", "0003 EFBFBF"},
	}
	for _, c := range cases {
		got, err := appendUTF(nil, c.s)
		if err != nil {
			t.Fatalf("appendUTF(%q): %v", c.s, err)
		}
		if want := mustHex(t, c.java); !bytes.Equal(got, want) {
			t.Errorf("appendUTF(%q) = % X, want % X", c.s, got, want)
		}
		back, rest, err := readUTF(append(got, 0xAB))
		if err != nil || back != c.s || !bytes.Equal(rest, []byte{0xAB}) {
			t.Errorf("readUTF(appendUTF(%q)) = %q, % X, %v", c.s, back, rest, err)
		}
	}
}

func TestUTFLengthLimit(t *testing.T) {
	if _, err := appendUTF(nil, strings.Repeat("a", 65535)); err != nil {
		t.Errorf("65535 bytes must fit: %v", err)
	}
	for _, s := range []string{
		strings.Repeat("a", 65536),
		strings.Repeat("\x00", 32768),         // 2 bytes each in modified UTF-8
		strings.Repeat("\U0001F600", 10923),   // 6 bytes each
		strings.Repeat("€", 21845) + "ab",     // 65537
		strings.Repeat("a", 65534) + "\x00",   // 65536
		strings.Repeat("a", 65533) + "\u00e9", // 65535: fits
	} {
		n := 0
		for _, r := range s {
			n += mutf8Len(r)
		}
		out, err := appendUTF([]byte{1}, s)
		if n > 65535 {
			if err == nil {
				t.Errorf("%d encoded bytes accepted", n)
			}
			continue
		}
		if err != nil || len(out) != 1+2+n {
			t.Errorf("%d encoded bytes: len %d, %v", n, len(out), err)
		}
	}
}

func TestReadUTFRejects(t *testing.T) {
	bad := []string{
		"",              // no length
		"00",            // half a length
		"0002 61",       // body shorter than the length
		"0001 80",       // stray continuation byte
		"0001 C3",       // 2-byte sequence cut short
		"0002 E282",     // 3-byte sequence cut short
		"0004 F09F9880", // 4-byte UTF-8 is not modified UTF-8
		"0001 FF",
	}
	for _, h := range bad {
		if s, _, err := readUTF(mustHex(t, h)); err == nil {
			t.Errorf("readUTF(%s) = %q, want an error", h, s)
		}
	}
	// A raw NUL byte is read as U+0000, as Java's readUTF does.
	if s, _, err := readUTF(mustHex(t, "0003 610062")); err != nil || s != "a\x00b" {
		t.Errorf("raw NUL: %q %v", s, err)
	}
}

func roundTrip(t *testing.T, m *requestMessage) (requestMessage, any) {
	t.Helper()
	b, err := appendRequest(nil, m)
	if err != nil {
		t.Fatalf("appendRequest(%+v): %v", m, err)
	}
	got, rest, err := decodeRequestHeader(b)
	if err != nil {
		t.Fatalf("decodeRequestHeader: %v", err)
	}
	content, _, err := decodeContent(rest)
	if err != nil {
		t.Fatalf("decodeContent: %v", err)
	}
	return got, content
}

// NettyRpcEnvSuite "RequestMessage serialization".
func TestRequestMessageRoundTrip(t *testing.T) {
	from := &Ref{addr: EndpointAddress{Addr: NewAddress("10.0.0.9", 4040), Name: "driver"}}
	cases := []struct {
		name string
		m    requestMessage
	}{
		{"all present", requestMessage{sender: NewAddress("localhost", 12345),
			receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 7077), Name: "Master"}, content: ping{N: 7, From: from}}},
		{"no sender (client mode)", requestMessage{
			receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 7077), Name: "Master"}, content: "hello"}},
		{"no receiver address (client-mode endpoint)", requestMessage{sender: NewAddress("::1", 1),
			receiver: EndpointAddress{Name: "AppClient"}, content: pong{N: -3}}},
		{"nil content", requestMessage{sender: NewAddress("h", 2),
			receiver: EndpointAddress{Addr: NewAddress("h", 3), Name: "x"}}},
		{"nothing", requestMessage{}},
		{"modified UTF-8 names", requestMessage{sender: NewAddress("h\x00st\U0001F600", 65535),
			receiver: EndpointAddress{Addr: NewAddress("ré\x00cv", 1024), Name: "na\x00me\U0001F600"}, content: "v\x00\U0001F600"}},
		// Header bytes that are HTML-special in JSON ('<' 0x3C, '>' 0x3E,
		// '&' 0x26) must come through untouched by the content encoder.
		{"HTML-special bytes", requestMessage{sender: NewAddress("h<&>", 0x3C3E),
			receiver: EndpointAddress{Addr: NewAddress("r", 0x263E), Name: "a<b>&c"}, content: "<&>\u2028"}},
		{"HTML-special bytes, ref content", requestMessage{sender: NewAddress("h", 0x3E3E),
			receiver: EndpointAddress{Addr: NewAddress("r", 0x2626), Name: "n"}, content: ping{N: 0x3C, From: from}}},
		{"builtin types", requestMessage{receiver: EndpointAddress{Name: "b"}, content: []byte{0, 1, 2}}},
		{"bool", requestMessage{receiver: EndpointAddress{Name: "b"}, content: true}},
		{"int64", requestMessage{receiver: EndpointAddress{Name: "b"}, content: int64(-1 << 40)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, content := roundTrip(t, &c.m)
			if got.sender != c.m.sender || got.receiver != c.m.receiver {
				t.Errorf("header = %+v, want %+v", got, c.m)
			}
			if p, ok := c.m.content.(ping); ok {
				gp, ok := content.(ping)
				if !ok || gp.N != p.N || gp.From == nil || gp.From.Address() != p.From.Address() {
					t.Errorf("content = %#v, want %#v", content, c.m.content)
				}
				return
			}
			if !reflect.DeepEqual(content, c.m.content) {
				t.Errorf("content = %#v, want %#v", content, c.m.content)
			}
		})
	}
}

// The header layout is Java's DataOutputStream's, byte for byte.
func TestRequestHeaderLayout(t *testing.T) {
	m := requestMessage{sender: NewAddress("localhost", 12345),
		receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 7077), Name: "ep"}}
	got, err := appendRequest(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "01 0009 6C6F63616C686F7374 00003039"+
		" 01 0009 3132372E302E302E31 00001BA5"+
		" 0002 6570"+
		" 0000") // nil content: empty type name
	if !bytes.Equal(got, want) {
		t.Errorf("header\n got % X\nwant % X", got, want)
	}
	client := requestMessage{receiver: EndpointAddress{Name: "ep"}, content: "s"}
	got, _ = appendRequest(nil, &client)
	want = mustHex(t, "00 00 0002 6570 0006 737472696E67 22 73 22") // "string" + JSON "s"
	if !bytes.Equal(got, want) {
		t.Errorf("client-mode header\n got % X\nwant % X", got, want)
	}
}

func TestDecodeRequestTruncated(t *testing.T) {
	m := requestMessage{sender: NewAddress("localhost", 12345),
		receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 7077), Name: "ep"}}
	b, _ := appendRequest(nil, &m)
	header := len(b) - 2 // without the (empty) content
	for i := 0; i < header; i++ {
		if _, _, err := decodeRequestHeader(b[:i]); err == nil {
			t.Errorf("decodeRequestHeader of %d/%d bytes succeeded", i, header)
		}
	}
}

func TestContentErrors(t *testing.T) {
	if _, err := appendContent(nil, unregistered{}); !errors.Is(err, errNoReg) {
		t.Errorf("unregistered type: %v", err)
	}
	b, _ := appendUTF(nil, "no.such.type")
	if _, _, err := decodeContent(append(b, "{}"...)); err == nil || !strings.Contains(err.Error(), "unknown message type") {
		t.Errorf("unknown type name: %v", err)
	}
	b, _ = appendUTF(nil, "rpcenv.test.ping")
	if _, _, err := decodeContent(append(b, `{"n":"x"`...)); err == nil {
		t.Error("bad JSON decoded")
	}
	if _, _, err := decodeContent(nil); err == nil {
		t.Error("empty content decoded")
	}
}

func TestRegister(t *testing.T) {
	if err := Register[regA]("rpcenv.test.regA"); err != nil {
		t.Fatal(err)
	}
	if err := Register[regA]("rpcenv.test.regA"); err != nil { // the same pair again is harmless
		t.Fatalf("registering the same pair again: %v", err)
	}
	for what, err := range map[string]error{
		"name taken by another type": Register[regB]("rpcenv.test.regA"),
		"type under a second name":   Register[regA]("rpcenv.test.regA2"),
		"no name":                    Register[regB](""),
	} {
		if err == nil {
			t.Errorf("%s: accepted", what)
		} else if what != "no name" && !errors.Is(err, ErrNameConflict) {
			t.Errorf("%s: %v does not wrap ErrNameConflict", what, err)
		}
	}
	// A refused registration leaves the registry as it was.
	if r := byName["rpcenv.test.regA"]; r == nil || r.typ != reflect.TypeFor[regA]() {
		t.Errorf("the first registration was replaced: %+v", r)
	}
	if _, ok := byName["rpcenv.test.regA2"]; ok {
		t.Error("a refused name was registered")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustRegister did not panic on a clash")
			}
		}()
		MustRegister[regB]("rpcenv.test.regA")
	}()

	for typ, want := range map[reflect.Type]bool{
		reflect.TypeFor[ping]():            true,
		reflect.TypeFor[pong]():            false,
		reflect.TypeFor[map[string]*Ref](): true,
		reflect.TypeFor[[]any]():           true,
		reflect.TypeFor[withRefs]():        true,
		reflect.TypeFor[[]string]():        false,
	} {
		if got := containsRef(typ, map[reflect.Type]bool{}); got != want {
			t.Errorf("containsRef(%v) = %v", typ, got)
		}
	}
}

// Refs travel as their URI and are bound to the receiving env, wherever
// they sit in the value.
func TestRefsInContent(t *testing.T) {
	srv := &Ref{addr: EndpointAddress{Addr: NewAddress("h", 1), Name: "a"}}
	cli := &Ref{addr: EndpointAddress{Name: "b"}}
	v := withRefs{Refs: []*Ref{srv, nil, cli}, ByID: map[string]*Ref{"x": cli}, P: &ping{N: 1, From: srv}}
	b, err := appendContent(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"spark://a@h:1"`)) || !bytes.Contains(b, []byte(`"spark-client://b"`)) {
		t.Errorf("refs not encoded as URIs: %s", b)
	}
	got, hasRefs, err := decodeContent(b)
	if err != nil || !hasRefs {
		t.Fatalf("decode: %v %v", hasRefs, err)
	}
	w := got.(withRefs)
	env := &Env{}
	env.bindRefs(reflect.ValueOf(w), nil)
	for _, r := range []*Ref{w.Refs[0], w.Refs[2], w.ByID["x"], w.P.From} {
		if r.env != env {
			t.Errorf("%v not bound to the env", r)
		}
	}
	if w.Refs[1] != nil || !w.Refs[0].Equal(srv) || !w.Refs[2].Equal(cli) || !w.ByID["x"].Equal(cli) || !w.P.From.Equal(srv) {
		t.Errorf("decoded refs differ: %+v", w)
	}
	var r Ref
	if err := r.UnmarshalJSON([]byte(`{"uri":"http://bad"}`)); err == nil {
		t.Error("bad ref URI accepted")
	}
}
