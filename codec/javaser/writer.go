package javaser

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sync"
)

// Encoder writes values as ObjectOutputStream does: the same type codes,
// handle assignment and descriptor order, so a graph read from a JVM
// stream is written back byte for byte. An Encoder is not safe for
// concurrent use.
type Encoder struct {
	buf     []byte
	next    int32
	ptrs    map[any]int32    // *Object, *String, *Array, *ClassDesc, *Enum, *ClassObject, *Exception
	keys    map[string]int32 // Object.Key, enum constants, class objects
	descs   map[descKey]*ClassDesc
	types   map[string]int32 // field type signatures (interned strings in the JVM)
	started bool
}

type descKey struct {
	name string
	suid int64
}

// NewEncoder returns an Encoder that appends a stream to dst.
func NewEncoder(dst []byte) *Encoder {
	return &Encoder{buf: dst}
}

// Marshal writes one object as a whole stream, as Spark's JavaSerializer
// does for an RPC message or reply.
func Marshal(v any) ([]byte, error) {
	return AppendMarshal(nil, v)
}

// AppendMarshal appends a whole stream holding v to dst.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	e := encoders.Get().(*Encoder)
	e.buf = dst
	err := e.WriteObject(v)
	out := e.Bytes()
	putEncoder(e)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// encoders are Encoders for AppendMarshal, whose handle maps are reused
// from one stream to the next (making them costs four allocations).
var encoders = sync.Pool{New: func() any { return &Encoder{} }}

// encoderKeep is the most handles a pooled Encoder's maps may have held:
// the maps of a huge graph are not kept.
const encoderKeep = 1024

// putEncoder forgets the stream and the graph e wrote and pools it.
func putEncoder(e *Encoder) {
	if len(e.ptrs)+len(e.keys)+len(e.descs)+len(e.types) > encoderKeep {
		return
	}
	e.buf = nil
	e.started = false
	e.clearHandles()
	encoders.Put(e)
}

// WriteStream writes every top-level content of s.
func WriteStream(s *Stream) ([]byte, error) {
	e := NewEncoder(nil)
	e.header()
	for _, c := range s.Contents {
		var err error
		switch c := c.(type) {
		case Reset:
			e.Reset()
		case BlockData:
			e.WriteBlock(c)
		default:
			err = e.WriteObject(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return e.Bytes(), nil
}

// Bytes returns the stream written so far.
func (e *Encoder) Bytes() []byte {
	e.header()
	return e.buf
}

func (e *Encoder) header() {
	if !e.started {
		e.started = true
		e.buf = binary.BigEndian.AppendUint16(e.buf, Magic)
		e.buf = binary.BigEndian.AppendUint16(e.buf, Version)
	}
}

// Reset writes TC_RESET: later values do not refer back to earlier ones.
func (e *Encoder) Reset() {
	e.header()
	e.buf = append(e.buf, tcReset)
	e.clearHandles()
}

func (e *Encoder) clearHandles() {
	e.next = 0
	clear(e.ptrs)
	clear(e.keys)
	clear(e.descs)
	clear(e.types)
}

// WriteBlock writes primitive data at the top level, in blocks of at most
// 1024 bytes as ObjectOutputStream does.
func (e *Encoder) WriteBlock(b []byte) {
	e.header()
	e.block(b)
}

// WriteObject writes one value: nil, a Go string (a new String), *String,
// *Object, *Array, *Enum, *ClassObject, *ClassDesc or *Exception.
func (e *Encoder) WriteObject(v any) error {
	e.header()
	if e.ptrs == nil {
		e.ptrs = make(map[any]int32)
		e.keys = make(map[string]int32)
		e.descs = make(map[descKey]*ClassDesc)
		e.types = make(map[string]int32)
	}
	return e.content(v, false, 0)
}

const maxWriteDepth = 10000

func (e *Encoder) assign(p any) {
	if p != nil {
		e.ptrs[p] = e.next
	}
	e.next++
}

func (e *Encoder) ref(h int32) {
	e.buf = append(e.buf, tcReference)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(h+baseWireHandle))
}

func (e *Encoder) lookup(p any) bool {
	if h, ok := e.ptrs[p]; ok {
		e.ref(h)
		return true
	}
	return false
}

func (e *Encoder) block(b []byte) {
	for len(b) > 0 {
		n := min(len(b), maxBlockSize)
		if n <= 0xFF {
			e.buf = append(e.buf, tcBlockData, byte(n))
		} else {
			e.buf = append(e.buf, tcBlockDataLong)
			e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
		}
		e.buf = append(e.buf, b[:n]...)
		b = b[n:]
	}
}

func (e *Encoder) utf(s, class string) error {
	n := mutf8Len(s)
	if n > 0xFFFF {
		return &EncodeError{Class: class, Msg: fmt.Sprintf("name of %d bytes is longer than 65535", n)}
	}
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	e.buf = appendMUTF8(e.buf, s)
	return nil
}

func (e *Encoder) str(s string) {
	n := mutf8Len(s)
	if n <= 0xFFFF {
		e.buf = append(e.buf, tcString)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	} else {
		e.buf = append(e.buf, tcLongString)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(n))
	}
	e.buf = appendMUTF8(e.buf, s)
}

func (e *Encoder) content(v any, allowBlock bool, depth int) error {
	if depth > maxWriteDepth {
		return &EncodeError{Msg: "value graph nested deeper than 10000 (a cycle through non-shared values?)"}
	}
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, tcNull)
	case string:
		e.str(v)
		e.assign(nil)
	case *String:
		if v == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		if e.lookup(v) {
			return nil
		}
		e.str(v.Value)
		e.assign(v)
	case *Object:
		if v == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		return e.object(v, depth)
	case *Array:
		if v == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		return e.array(v, depth)
	case *Enum:
		if v == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		return e.enum(v, depth)
	case *ClassObject:
		if v == nil || v.Desc == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		if e.lookup(v) {
			return nil
		}
		key := "class\x00" + v.Desc.Name
		if h, ok := e.keys[key]; ok {
			e.ref(h)
			return nil
		}
		e.buf = append(e.buf, tcClass)
		if err := e.classDesc(v.Desc, depth+1); err != nil {
			return err
		}
		e.keys[key] = e.next
		e.assign(v)
	case *ClassDesc:
		return e.classDesc(v, depth+1)
	case *Exception:
		if v == nil {
			e.buf = append(e.buf, tcNull)
			return nil
		}
		e.buf = append(e.buf, tcException)
		e.clearHandles()
		if err := e.content(v.Throwable, false, depth+1); err != nil {
			return err
		}
		e.clearHandles()
	case BlockData:
		if !allowBlock {
			return &EncodeError{Msg: "block data where an object is required"}
		}
		e.block(v)
	default:
		return &EncodeError{Msg: fmt.Sprintf("cannot write a Go %T as a Java object", v)}
	}
	return nil
}

// sameDesc reports whether two descriptors describe the same class the
// same way, so the second can refer back to the first.
func sameDesc(a, b *ClassDesc) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Name != b.Name || a.SUID != b.SUID || a.Flags != b.Flags ||
		a.Proxy != b.Proxy || len(a.Fields) != len(b.Fields) || len(a.Annotation) != 0 || len(b.Annotation) != 0 {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i] != b.Fields[i] {
			return false
		}
	}
	return sameDesc(a.Super, b.Super)
}

func (e *Encoder) classDesc(d *ClassDesc, depth int) error {
	if d == nil {
		e.buf = append(e.buf, tcNull)
		return nil
	}
	if e.lookup(d) {
		return nil
	}
	if depth > maxWriteDepth {
		return &EncodeError{Class: d.Name, Msg: "descriptor chain nested deeper than 10000"}
	}
	k := descKey{d.Name, d.SUID}
	if !d.Proxy {
		if prev, ok := e.descs[k]; ok && sameDesc(prev, d) {
			e.ref(e.ptrs[prev])
			return nil
		}
	}
	if d.Proxy {
		e.buf = append(e.buf, tcProxyClassDesc)
		e.assign(d)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(d.Interfaces)))
		for _, s := range d.Interfaces {
			if err := e.utf(s, "proxy"); err != nil {
				return err
			}
		}
	} else {
		e.buf = append(e.buf, tcClassDesc)
		if err := e.utf(d.Name, d.Name); err != nil {
			return err
		}
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(d.SUID))
		e.assign(d)
		if _, ok := e.descs[k]; !ok {
			e.descs[k] = d
		}
		e.buf = append(e.buf, d.Flags)
		if len(d.Fields) > 0xFFFF {
			return &EncodeError{Class: d.Name, Msg: "more than 65535 fields"}
		}
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(d.Fields)))
		for _, f := range d.Fields {
			e.buf = append(e.buf, f.Type)
			if err := e.utf(f.Name, d.Name); err != nil {
				return err
			}
			if !f.IsPrimitive() {
				if h, ok := e.types[f.ClassName]; ok {
					e.ref(h)
				} else {
					e.str(f.ClassName)
					e.types[f.ClassName] = e.next
					e.assign(nil)
				}
			}
		}
	}
	for _, a := range d.Annotation {
		if err := e.content(a, true, depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, tcEndBlockData)
	return e.classDesc(d.Super, depth+1)
}

func (e *Encoder) object(o *Object, depth int) error {
	if e.lookup(o) {
		return nil
	}
	if o.Key != "" {
		if h, ok := e.keys["obj\x00"+o.Key]; ok {
			e.ref(h)
			return nil
		}
	}
	if o.Class == nil {
		return &EncodeError{Msg: "object without a class descriptor"}
	}
	e.buf = append(e.buf, tcObject)
	if err := e.classDesc(o.Class, depth+1); err != nil {
		return err
	}
	if o.Key != "" {
		e.keys["obj\x00"+o.Key] = e.next
	}
	e.assign(o)
	if o.Class.Flags&SCExternalizable != 0 {
		if o.Class.Flags&SCBlockData == 0 {
			return &EncodeError{Class: o.Class.Name, Msg: "externalizable class without SCBlockData (protocol 1) is not supported"}
		}
		for _, c := range o.External {
			if err := e.content(c, true, depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, tcEndBlockData)
		return nil
	}
	h := o.Class.Hierarchy()
	if len(o.Data) != len(h) {
		return &EncodeError{Class: o.Class.Name, Msg: fmt.Sprintf("object has data for %d classes, its hierarchy has %d", len(o.Data), len(h))}
	}
	for i, c := range h {
		cd := &o.Data[i]
		if len(cd.Values) != len(c.Fields) {
			return &EncodeError{Class: c.Name, Msg: fmt.Sprintf("%d values for %d fields", len(cd.Values), len(c.Fields))}
		}
		for j, f := range c.Fields {
			if !f.IsPrimitive() {
				continue
			}
			if err := e.prim(f.Type, cd.Values[j]); err != nil {
				return &EncodeError{Class: c.Name, Msg: fmt.Sprintf("field %s: %v", f.Name, err)}
			}
		}
		for j, f := range c.Fields {
			if f.IsPrimitive() {
				continue
			}
			if err := e.content(cd.Values[j], false, depth+1); err != nil {
				return err
			}
		}
		if c.Flags&SCWriteMethod != 0 {
			for _, a := range cd.Annotation {
				if err := e.content(a, true, depth+1); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, tcEndBlockData)
		} else if len(cd.Annotation) != 0 {
			return &EncodeError{Class: c.Name, Msg: "annotation data for a class without a writeObject method (SCWriteMethod)"}
		}
	}
	return nil
}

func (e *Encoder) prim(t byte, v any) error {
	pv, err := convertPrim(t, v)
	if err != nil {
		return err
	}
	switch t {
	case TypeByte:
		e.buf = append(e.buf, byte(pv.(int8)))
	case TypeBoolean:
		b := byte(0)
		if pv.(bool) {
			b = 1
		}
		e.buf = append(e.buf, b)
	case TypeChar:
		e.buf = binary.BigEndian.AppendUint16(e.buf, pv.(uint16))
	case TypeShort:
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(pv.(int16)))
	case TypeInt:
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(pv.(int32)))
	case TypeFloat:
		e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(pv.(float32)))
	case TypeLong:
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(pv.(int64)))
	case TypeDouble:
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(pv.(float64)))
	}
	return nil
}

// convertPrim converts a Go value to the canonical Go type of a primitive
// type code, checking the range.
func convertPrim(t byte, v any) (any, error) {
	if t == TypeBoolean {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("type Z wants a bool, got %T", v)
		}
		return b, nil
	}
	rv := reflect.ValueOf(v)
	var i int64
	var f float64
	isFloat := false
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i = rv.Int()
		f = float64(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("value %d out of range for type %c", u, t)
		}
		i = int64(u)
		f = float64(u)
	case reflect.Float32, reflect.Float64:
		f = rv.Float()
		isFloat = true
	default:
		return nil, fmt.Errorf("type %c wants a number, got %T", t, v)
	}
	if isFloat && t != TypeFloat && t != TypeDouble {
		return nil, fmt.Errorf("type %c wants an integer, got %T", t, v)
	}
	rng := func(lo, hi int64) error {
		if i < lo || i > hi {
			return fmt.Errorf("value %d out of range for type %c", i, t)
		}
		return nil
	}
	switch t {
	case TypeByte:
		return int8(i), rng(math.MinInt8, math.MaxInt8)
	case TypeChar:
		return uint16(i), rng(0, math.MaxUint16)
	case TypeShort:
		return int16(i), rng(math.MinInt16, math.MaxInt16)
	case TypeInt:
		return int32(i), rng(math.MinInt32, math.MaxInt32)
	case TypeLong:
		return i, nil
	case TypeFloat:
		return float32(f), nil
	case TypeDouble:
		return f, nil
	}
	return nil, fmt.Errorf("unknown primitive type code 0x%02x", t)
}

func (e *Encoder) array(a *Array, depth int) error {
	if e.lookup(a) {
		return nil
	}
	if a.Class == nil || len(a.Class.Name) < 2 || a.Class.Name[0] != '[' {
		return &EncodeError{Msg: "array without an array class descriptor"}
	}
	e.buf = append(e.buf, tcArray)
	if err := e.classDesc(a.Class, depth+1); err != nil {
		return err
	}
	e.assign(a)
	et := a.Class.Name[1]
	bad := func() error {
		return &EncodeError{Class: a.Class.Name, Msg: fmt.Sprintf("elements are a Go %T", a.Elems)}
	}
	n := a.Len()
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	switch el := a.Elems.(type) {
	case []int8:
		if et != TypeByte {
			return bad()
		}
		for _, x := range el {
			e.buf = append(e.buf, byte(x))
		}
	case []bool:
		if et != TypeBoolean {
			return bad()
		}
		for _, x := range el {
			b := byte(0)
			if x {
				b = 1
			}
			e.buf = append(e.buf, b)
		}
	case []uint16:
		if et != TypeChar {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint16(e.buf, x)
		}
	case []int16:
		if et != TypeShort {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(x))
		}
	case []int32:
		if et != TypeInt {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(x))
		}
	case []float32:
		if et != TypeFloat {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(x))
		}
	case []int64:
		if et != TypeLong {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(x))
		}
	case []float64:
		if et != TypeDouble {
			return bad()
		}
		for _, x := range el {
			e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(x))
		}
	case []any:
		if et != TypeObject && et != TypeArray {
			return bad()
		}
		for _, x := range el {
			if err := e.content(x, false, depth+1); err != nil {
				return err
			}
		}
	case nil:
		if n != 0 {
			return bad()
		}
	default:
		return bad()
	}
	return nil
}

func (e *Encoder) enum(v *Enum, depth int) error {
	if e.lookup(v) {
		return nil
	}
	if v.Class == nil || v.Name == nil {
		return &EncodeError{Msg: "enum constant without a class or a name"}
	}
	key := "enum\x00" + v.Class.Name + "\x00" + v.Name.Value
	if h, ok := e.keys[key]; ok {
		e.ref(h)
		return nil
	}
	e.buf = append(e.buf, tcEnum)
	if err := e.classDesc(v.Class, depth+1); err != nil {
		return err
	}
	e.keys[key] = e.next
	e.assign(v)
	return e.content(v.Name, false, depth+1)
}
