package rpcenv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic/decoder"
	"github.com/bytedance/sonic/encoder"
)

// Message content travels as a registered type name followed by the value
// in JSON (sonic). Register every type you send to a remote env, on both
// sides, under the same name.
//
//	rpcenv.Register[RegisterWorker]("deploy.RegisterWorker")

var (
	regMu    sync.RWMutex
	byName   = map[string]*regType{}
	byType   = map[reflect.Type]*regType{}
	errNoReg = errors.New("rpcenv: message type is not registered")
)

type regType struct {
	name string
	typ  reflect.Type // the registered type (value or pointer)
	// hasRefs: values of this type may hold *Ref fields, which must be
	// bound to the receiving env after decoding.
	hasRefs bool
	// etype is the type word of an interface holding a typ, and indirect
	// says that its data word points at the value (every type but the
	// pointer-shaped ones): decodeContent then boxes the value it decoded
	// in place, where reflect's Interface would copy it into a new one.
	etype    unsafe.Pointer
	indirect bool
}

// eface is the layout of an interface{} value.
type eface struct {
	typ, data unsafe.Pointer
}

// Register makes T sendable between envs under name; register every type
// you send to a remote env, on both sides, under the same name.
// Registering the same pair again is harmless. A name already registered
// for another type, or T already registered under another name, is
// refused with an error wrapping ErrNameConflict, and the registry is left
// as it was: check the error, or use MustRegister where a clash is a
// program error (an init function registering the package's own names).
//
// Names are process-wide: prefix them with your package or module
// ("myapp.Ping") so that two libraries in one program do not clash.
func Register[T any](name string) error {
	return RegisterType(reflect.TypeFor[T](), name)
}

// MustRegister is Register for names a package owns: a clash panics.
func MustRegister[T any](name string) {
	if err := Register[T](name); err != nil {
		panic(err)
	}
}

// RegisterType is Register for a reflect.Type.
func RegisterType(t reflect.Type, name string) error {
	if t == nil || name == "" {
		return fmt.Errorf("rpcenv: cannot register type %v under name %q: both must be given", t, name)
	}
	regMu.Lock()
	defer regMu.Unlock()
	if r, ok := byName[name]; ok {
		if r.typ == t {
			return nil
		}
		return fmt.Errorf("%w: cannot register %v as %q: the name is registered for %v", ErrNameConflict, t, name, r.typ)
	}
	if r, ok := byType[t]; ok {
		return fmt.Errorf("%w: cannot register %v as %q: the type is registered as %q", ErrNameConflict, t, name, r.name)
	}
	r := &regType{name: name, typ: t, hasRefs: containsRef(t, map[reflect.Type]bool{})}
	// Box a zero value the way reflect does: an indirect type's interface
	// points at a copy (never nil), a pointer-shaped type's holds the nil
	// pointer itself.
	zero := reflect.New(t).Elem().Interface()
	ze := (*eface)(unsafe.Pointer(&zero))
	r.etype, r.indirect = ze.typ, ze.data != nil
	byName[name] = r
	byType[t] = r
	return nil
}

var refPtrType = reflect.TypeFor[*Ref]()

func containsRef(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == refPtrType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		if t.Kind() == reflect.Map && containsRef(t.Key(), seen) {
			return true
		}
		return containsRef(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() && containsRef(t.Field(i).Type, seen) {
				return true
			}
		}
	case reflect.Interface:
		return true // may hold anything
	}
	return false
}

func lookupType(t reflect.Type) *regType {
	regMu.RLock()
	r := byType[t]
	regMu.RUnlock()
	return r
}

func lookupName(name string) *regType {
	regMu.RLock()
	r := byName[name]
	regMu.RUnlock()
	return r
}

func init() {
	// Built-in types every env understands.
	Register[string]("string")
	Register[bool]("bool")
	Register[int]("int")
	Register[int64]("int64")
	Register[float64]("float64")
	Register[[]byte]("bytes")
	Register[checkExistence]("rpcenv.CheckExistence")
	Register[remoteFailure]("rpcenv.RpcFailure")
}

// contentEncodeOpts are sonic's std-compatible options without the
// whole-buffer passes (EscapeHTML, ValidateString); see appendContent.
const contentEncodeOpts = encoder.SortMapKeys | encoder.CompactMarshaler

// appendContent appends the encoding of v: UTF type name + JSON. A nil v
// is an empty name and no JSON.
func appendContent(dst []byte, v any) ([]byte, error) {
	err := appendContentTo(&dst, v)
	return dst, err
}

// appendContentTo is appendContent onto *buf. The encoder writes through
// the pointer: given a field of a heap object (the B of a pooled
// codec.BytesBuffer's Buf), nothing is allocated for it, where the address
// of a local slice moves that slice to the heap.
func appendContentTo(buf *[]byte, v any) error {
	var err error
	if v == nil {
		*buf, err = appendUTF(*buf, "")
		return err
	}
	r := lookupType(reflect.TypeOf(v))
	if r == nil {
		return fmt.Errorf("%w: %T (call rpcenv.Register)", errNoReg, v)
	}
	if *buf, err = appendUTF(*buf, r.name); err != nil {
		return err
	}
	// Encode straight into buf: no intermediate buffer, no copy. Not with
	// EscapeHTML: sonic applies it (like ValidateString) to the whole of
	// buf afterwards, which would rewrite '<', '>' and '&' bytes of the
	// binary header (ports, names) as \u003c...
	if err := encoder.EncodeInto(buf, v, contentEncodeOpts); err != nil {
		return fmt.Errorf("rpcenv: encoding %T: %w", v, err)
	}
	return nil
}

// contentDecodeOpts are sonic's std-compatible decoding options but
// CopyString: decodeContent copies the JSON into one string, which the
// decoded strings share, rather than copying each string again.
const contentDecodeOpts = decoder.OptionValidateString

// decoders are sonic decoders for decodeContent (a new one per message
// is an allocation).
var decoders = sync.Pool{New: func() any { return new(decoder.Decoder) }}

// unmarshalJSON decodes b into p (a pointer) as sonic.ConfigStd does. b is
// copied once, into a string the decoder reads: the caller's bytes may be
// a transport buffer that is reused once the message is handled.
func unmarshalJSON(b []byte, p any) error {
	d := decoders.Get().(*decoder.Decoder)
	d.Reset(string(b))
	d.SetOptions(contentDecodeOpts)
	err := d.Decode(p)
	if err == nil {
		err = d.CheckTrailings()
	}
	d.Reset("") // keep no message alive from the pool
	decoders.Put(d)
	return err
}

// decodeContent decodes what appendContent wrote. hasRefs says whether the
// value may hold refs to bind.
func decodeContent(b []byte) (v any, hasRefs bool, err error) {
	name, rest, err := readUTF(b)
	if err != nil {
		return nil, false, err
	}
	if name == "" {
		return nil, false, nil
	}
	r := lookupName(name)
	if r == nil {
		return nil, false, fmt.Errorf("rpcenv: unknown message type %q (not registered here)", name)
	}
	p := reflect.New(r.typ)
	if err := unmarshalJSON(rest, p.Interface()); err != nil {
		return nil, false, fmt.Errorf("rpcenv: decoding %s: %w", name, err)
	}
	if r.indirect {
		// p is this value's only reference: box it where it is.
		var v any
		e := (*eface)(unsafe.Pointer(&v))
		e.typ, e.data = r.etype, p.UnsafePointer()
		return v, r.hasRefs, nil
	}
	return p.Elem().Interface(), r.hasRefs, nil
}

// requestMessage is Spark's RequestMessage: who sent it, to whom, and what.
type requestMessage struct {
	sender   Address // zero: the sender is a client-mode env
	receiver EndpointAddress
	content  any
	java     bool // the content is (or is to be written as) a Java stream
}

// appendRequest writes the RequestMessage header in Spark's layout
// (DataOutputStream: bool + writeUTF host + i32 port for each address,
// then writeUTF name), then the content.
func appendRequest(dst []byte, m *requestMessage) ([]byte, error) {
	err := appendRequestTo(&dst, m)
	return dst, err
}

// appendRequestTo is appendRequest onto *buf (see appendContentTo).
func appendRequestTo(buf *[]byte, m *requestMessage) error {
	var err error
	if *buf, err = appendRequestHeader(*buf, m); err != nil {
		return err
	}
	return appendContentTo(buf, m.content)
}

// appendRequestHeader writes the addresses and the endpoint name.
func appendRequestHeader(dst []byte, m *requestMessage) ([]byte, error) {
	var err error
	if dst, err = appendOptAddress(dst, m.sender); err != nil {
		return dst, err
	}
	if dst, err = appendOptAddress(dst, m.receiver.Addr); err != nil {
		return dst, err
	}
	return appendUTF(dst, m.receiver.Name)
}

func appendOptAddress(dst []byte, a Address) ([]byte, error) {
	if a.IsZero() {
		return append(dst, 0), nil
	}
	dst = append(dst, 1)
	dst, err := appendUTF(dst, a.Host)
	if err != nil {
		return dst, err
	}
	return binary.BigEndian.AppendUint32(dst, uint32(int32(a.Port))), nil
}

// decodeRequestHeader reads the addresses and name and returns the rest
// (the content).
func decodeRequestHeader(b []byte) (m requestMessage, rest []byte, err error) {
	if m.sender, b, err = readOptAddress(b); err != nil {
		return m, nil, err
	}
	if m.receiver.Addr, b, err = readOptAddress(b); err != nil {
		return m, nil, err
	}
	if m.receiver.Name, b, err = readUTF(b); err != nil {
		return m, nil, err
	}
	return m, b, nil
}

var errShort = errors.New("rpcenv: truncated request message")

func readOptAddress(b []byte) (Address, []byte, error) {
	if len(b) < 1 {
		return Address{}, nil, errShort
	}
	present := b[0] != 0
	b = b[1:]
	if !present {
		return Address{}, b, nil
	}
	host, b, err := readUTF(b)
	if err != nil {
		return Address{}, nil, err
	}
	if len(b) < 4 {
		return Address{}, nil, errShort
	}
	port := int(int32(binary.BigEndian.Uint32(b)))
	return Address{Host: host, Port: port}, b[4:], nil
}

// appendUTF writes Java's DataOutput.writeUTF: u16 byte length + modified
// UTF-8 (NUL as C0 80, supplementary characters as two 3-byte surrogates).
func appendUTF(dst []byte, s string) ([]byte, error) {
	n := 0
	for _, r := range s {
		n += mutf8Len(r)
	}
	if n > 0xFFFF {
		return dst, fmt.Errorf("rpcenv: string of %d encoded bytes is too long for writeUTF", n)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	for _, r := range s {
		switch {
		case r == 0:
			dst = append(dst, 0xC0, 0x80)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			dst = appendSurrogate(dst, r1)
			dst = appendSurrogate(dst, r2)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, nil
}

func mutf8Len(r rune) int {
	switch {
	case r == 0:
		return 2
	case r >= 0x10000:
		return 6
	default:
		return utf8.RuneLen(r)
	}
}

func appendSurrogate(dst []byte, r rune) []byte {
	return append(dst, byte(0xE0|(r>>12)&0x0F), byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
}

// readUTF reads Java's writeUTF encoding.
func readUTF(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, errShort
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < n {
		return "", nil, errShort
	}
	raw := b[:n]
	rest := b[n:]
	// Fast path: plain ASCII without NUL is the same in both encodings.
	ascii := true
	for _, c := range raw {
		if c == 0 || c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return intern(raw), rest, nil
	}
	var out []rune
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c < 0x80:
			out = append(out, rune(c))
			i++
		case c&0xE0 == 0xC0 && i+1 < len(raw):
			out = append(out, rune(c&0x1F)<<6|rune(raw[i+1]&0x3F))
			i += 2
		case c&0xF0 == 0xE0 && i+2 < len(raw):
			out = append(out, rune(c&0x0F)<<12|rune(raw[i+1]&0x3F)<<6|rune(raw[i+2]&0x3F))
			i += 3
		default:
			return "", nil, fmt.Errorf("rpcenv: malformed modified UTF-8 at byte %d", i)
		}
	}
	// Pair surrogates back into supplementary characters.
	res := make([]rune, 0, len(out))
	for i := 0; i < len(out); i++ {
		if utf16.IsSurrogate(out[i]) && i+1 < len(out) {
			if r := utf16.DecodeRune(out[i], out[i+1]); r != utf8.RuneError {
				res = append(res, r)
				i++
				continue
			}
		}
		res = append(res, out[i])
	}
	return string(res), rest, nil
}

// The strings of request headers (hosts, endpoint and type names) repeat
// endlessly; interning the short ones saves an allocation each per message.
var (
	internMu  sync.RWMutex
	internTab = map[string]string{}
)

const (
	internMaxLen     = 64
	internMaxEntries = 4096
)

func intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	internMu.RLock()
	s, ok := internTab[string(b)] // no allocation for the lookup
	internMu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	internMu.Lock()
	if len(internTab) < internMaxEntries {
		internTab[s] = s
	}
	internMu.Unlock()
	return s
}
