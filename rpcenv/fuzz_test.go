package rpcenv

import (
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are valid RequestMessages and a few broken ones.
func fuzzSeeds(tb testing.TB) [][]byte {
	from := &Ref{addr: EndpointAddress{Addr: NewAddress("10.0.0.1", 7077), Name: "back"}}
	msgs := []requestMessage{
		{sender: NewAddress("localhost", 12345), receiver: EndpointAddress{Addr: NewAddress("127.0.0.1", 7077), Name: "Master"}, content: ping{N: 1, From: from}},
		{receiver: EndpointAddress{Addr: NewAddress("::1", 1), Name: "ep"}, content: "hello"},
		{sender: NewAddress("h\x00\U0001F600", 1), receiver: EndpointAddress{Name: "n\x00"}},
		{receiver: EndpointAddress{Name: VerifierName}, content: checkExistence{Name: "x"}},
		{receiver: EndpointAddress{Name: "w"}, content: withRefs{Refs: []*Ref{from, nil}, ByID: map[string]*Ref{"a": from}}},
		{receiver: EndpointAddress{Name: "f"}, content: remoteFailure{Message: "boom"}},
		{receiver: EndpointAddress{Name: "b"}, content: []byte{0, 1, 2}},
	}
	var seeds [][]byte
	for i := range msgs {
		b, err := appendRequest(nil, &msgs[i])
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, nil, []byte{1}, []byte{1, 0, 5, 'h'}, []byte{0, 0, 0, 1, 0xC0})
}

// FuzzDecodeRequest: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to something that decodes to the same message.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, rest, err := decodeRequestHeader(b)
		if err != nil {
			return
		}
		content, hasRefs, err := decodeContent(rest)
		if err == nil && hasRefs {
			env := &Env{}
			env.bindRefs(refValue(content), nil)
		}
		// The header round-trips once normalised by one decode, also with
		// a content whose JSON encoder must leave the header bytes alone.
		m.content = "<&>"
		enc, err := appendRequest(nil, &m)
		if err != nil {
			return // e.g. a name that no longer fits after U+FFFD expansion
		}
		m2, rest2, err := decodeRequestHeader(enc)
		if err != nil {
			t.Fatalf("re-encoded header does not decode: %v (% x)", err, enc)
		}
		if m2.sender != m.sender || m2.receiver != m.receiver {
			t.Fatalf("header changed: %+v -> %+v", m, m2)
		}
		if v, _, err := decodeContent(rest2); err != nil || v != "<&>" {
			t.Fatalf("content %q decoded as %v, %v", m.content, v, err)
		}
	})
}

// FuzzReadUTF: readUTF never panics on arbitrary bytes, and appendUTF then
// readUTF gives back any string (invalid UTF-8 bytes as U+FFFD, as ranging
// over the string does).
func FuzzReadUTF(f *testing.F) {
	for _, s := range []string{"", "ep", "\x00", "a\x00b", "é€", "\U0001F600", "\xff\xfe", "\uFFFD", "x\U0010FFFF"} {
		enc, _ := appendUTF(nil, s)
		f.Add(enc, s)
	}
	f.Add([]byte{0, 3, 0xED, 0xA0, 0xBD}, "")                   // a lone high surrogate
	f.Add([]byte{0, 6, 0xED, 0xB8, 0x80, 0xED, 0xA0, 0xBD}, "") // surrogates in the wrong order
	f.Add([]byte{0xFF, 0xFF}, "")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		if got, rest, err := readUTF(b); err == nil {
			if len(got) > 3*len(b) || len(rest) > len(b) {
				t.Fatalf("readUTF(% x) = %q, % x", b, got, rest)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("readUTF(% x) = invalid UTF-8 %q", b, got)
			}
		}
		enc, err := appendUTF(nil, s)
		if err != nil {
			if len(s) <= 0xFFFF/3 {
				t.Fatalf("appendUTF(%q): %v", s, err)
			}
			return
		}
		got, rest, err := readUTF(append(enc, 'z'))
		want := string([]rune(s))
		if err != nil || got != want || string(rest) != "z" {
			t.Fatalf("readUTF(appendUTF(%q)) = %q, %q, %v; want %q", s, got, rest, err, want)
		}
	})
}
