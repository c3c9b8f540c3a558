package rpcenv

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzShape is a registered type with many field kinds, so that the
// content fuzzer drives sonic through structs, pointers, maps with
// non-string keys, arrays, interfaces, refs, raw bytes and ",string"
// numbers.
type fuzzShape struct {
	I8     int8              `json:"i8"`
	U16    uint16            `json:"u16"`
	I64    int64             `json:"i64,string"`
	F      float32           `json:"f"`
	B      bool              `json:"b,omitempty"`
	S      string            `json:"s"`
	Bytes  []byte            `json:"bytes"`
	Arr    [3]int            `json:"arr"`
	Ptr    *fuzzShape        `json:"ptr"`
	List   []fuzzLeaf        `json:"list"`
	ByInt  map[int]string    `json:"by_int"`
	ByName map[string]*Ref   `json:"by_name"`
	Any    any               `json:"any"`
	D      time.Duration     `json:"d"`
	Nested map[string][]bool `json:"nested"`
	fuzzLeaf
}

type fuzzLeaf struct {
	Ref  *Ref   `json:"ref"`
	Name string `json:"name"`
}

func init() { Register[fuzzShape]("rpcenv.test.fuzzShape") }

// contentTypes are the names the content fuzzer picks from (by index);
// other indexes take the fuzzed name as it is.
var contentTypes = []string{
	"string", "bool", "int", "int64", "float64", "bytes",
	"rpcenv.CheckExistence", "rpcenv.RpcFailure",
	"rpcenv.test.ping", "rpcenv.test.pong", "rpcenv.test.withRefs", "rpcenv.test.fuzzShape",
}

// FuzzDecodeContent feeds arbitrary JSON to registered types, and
// arbitrary type names, through the receive path's content decoding (the
// bytes after the RequestMessage header, and RpcResponse payloads):
// nothing panics; a failure is an rpcenv error naming the type or saying
// it is unknown; what decodes binds its refs, re-encodes, decodes again
// and re-encodes to the same bytes.
func FuzzDecodeContent(f *testing.F) {
	from := &Ref{addr: EndpointAddress{Addr: NewAddress("10.0.0.1", 7077), Name: "back"}}
	values := []any{
		"hello", true, 42, int64(-1 << 40), 2.5, []byte{0, 1, 2},
		checkExistence{Name: "Master"}, remoteFailure{Message: "boom"},
		ping{N: 1, From: from}, pong{N: 2},
		withRefs{Refs: []*Ref{from, nil}, ByID: map[string]*Ref{"a": from}, P: &ping{N: 3}},
		fuzzShape{I8: -3, U16: 65535, I64: 1 << 62, F: 1.5, B: true, S: "s\x00é", Bytes: []byte("xyz"), Arr: [3]int{1, 2, 3},
			Ptr: &fuzzShape{S: "inner"}, List: []fuzzLeaf{{Ref: from, Name: "l"}}, ByInt: map[int]string{-1: "m"},
			ByName: map[string]*Ref{"r": from, "nil": nil}, Any: map[string]any{"k": []any{1.0, "v", nil}},
			D: time.Second, Nested: map[string][]bool{"t": {true}}, fuzzLeaf: fuzzLeaf{Name: "embedded"}},
	}
	for _, v := range values {
		enc, err := appendContent(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		name, body, err := readUTF(enc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(indexOf(contentTypes, name)), "", body)
	}
	for i := range contentTypes {
		for _, body := range []string{"", "null", "{}", "[]", `"x"`, "1e999", "{\"n\":", `{"from":{"uri":"spark://@:"}}`,
			`{"refs":[{"uri":"spark-client://x"}],"by_id":{"a":null}}`, `{"i64":"12","arr":[1,2,3,4],"by_int":{"x":"y"}}`,
			`{"any":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "\"\xff\xfe\"", `"\ud800"`} {
			f.Add(uint8(i), "", []byte(body))
		}
	}
	f.Add(uint8(255), "no.such.Type", []byte("{}"))
	f.Add(uint8(255), "", []byte("{}"))
	f.Add(uint8(255), "a\x00\U0001F600", []byte("1"))
	f.Fuzz(func(t *testing.T, sel uint8, name string, body []byte) {
		if int(sel) < len(contentTypes) {
			name = contentTypes[sel]
		}
		content, err := appendUTF(nil, name)
		if err != nil {
			return // too long for writeUTF: no peer can send it
		}
		content = append(content, body...)
		v, hasRefs, err := decodeContent(content)
		if err != nil {
			checkContentError(t, name, err)
			return
		}
		// What the env does next: bind the refs, as handler.decode and
		// decodeReply do.
		if hasRefs {
			(&Env{}).bindRefs(refValue(v), nil)
		}
		if name == "" {
			if v != nil {
				t.Fatalf("an empty type name decoded to %#v", v)
			}
			return
		}
		if want := lookupName(name).typ; reflect.TypeOf(v) != want {
			t.Fatalf("%s decoded to a %T, want %v", name, v, want)
		}
		enc1, err := appendContent(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %s %#v: %v", name, v, err)
		}
		v2, _, err := decodeContent(enc1)
		if err != nil {
			t.Fatalf("%s %#v re-encoded as %q, which does not decode: %v", name, v, enc1, err)
		}
		enc2, err := appendContent(nil, v2)
		if err != nil || !bytes.Equal(enc1, enc2) {
			t.Fatalf("%s: encoding is not stable:\n%q\n%q (%v)", name, enc1, enc2, err)
		}
	})
}

// checkContentError fails unless err says what went wrong with a
// content of type name.
func checkContentError(t *testing.T, name string, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "rpcenv: ") {
		t.Fatalf("error %q does not come from rpcenv", msg)
	}
	r := lookupName(name)
	switch {
	case r == nil && !strings.Contains(msg, "unknown message type"):
		t.Fatalf("unregistered %q: error %q does not say the type is unknown", name, msg)
	case r != nil && !strings.Contains(msg, "decoding "+name):
		t.Fatalf("registered %q: error %q does not name the type", name, msg)
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 255
}
