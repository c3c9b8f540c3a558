package javaser

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// Decoder reads streams into the model under its Limits. A Decoder is
// not safe for concurrent use; it may be reused for one stream after
// another (its handle table is kept to save allocations).
type Decoder struct {
	lim Limits

	b       []byte
	off     int
	handles []any
	depth   int
	alloc   int64
	class   string // the class being read, for errors
}

// NewDecoder returns a Decoder with DefaultLimits changed by opts.
func NewDecoder(opts ...Option) *Decoder {
	d := &Decoder{lim: DefaultLimits()}
	for _, o := range opts {
		o.apply(&d.lim)
	}
	return d
}

// Limits returns the decoder's limits.
func (d *Decoder) Limits() Limits { return d.lim }

// Unmarshal reads a stream holding exactly one object (Spark's RPC
// content, a reply) and returns it: nil, *Object, *String, *Array, *Enum,
// *ClassObject or *ClassDesc.
func Unmarshal(b []byte, opts ...Option) (any, error) {
	if len(opts) > 0 {
		return NewDecoder(opts...).Unmarshal(b)
	}
	d := decoders.Get().(*Decoder)
	v, err := d.Unmarshal(b)
	putDecoder(d)
	return v, err
}

// ReadStream reads a whole stream with any number of top-level contents.
func ReadStream(b []byte, opts ...Option) (*Stream, error) {
	if len(opts) > 0 {
		return NewDecoder(opts...).ReadStream(b)
	}
	d := decoders.Get().(*Decoder)
	s, err := d.ReadStream(b)
	putDecoder(d)
	return s, err
}

// decoders are Decoders with DefaultLimits for Unmarshal and ReadStream
// without options: a Decoder and its handle table are made once, not per
// stream.
var decoders = sync.Pool{New: func() any { return NewDecoder() }}

// decoderKeep is the largest handle table a pooled Decoder keeps.
const decoderKeep = 4096

// putDecoder forgets the stream d read and pools it (its handles are
// already cleared: Unmarshal and ReadStream finish with that).
func putDecoder(d *Decoder) {
	if cap(d.handles) > decoderKeep {
		return
	}
	d.b = nil // also after a stream refused before it was read
	decoders.Put(d)
}

// Unmarshal reads a stream holding exactly one object.
func (d *Decoder) Unmarshal(b []byte) (v any, err error) {
	if err := d.start(b); err != nil {
		return nil, err
	}
	defer d.finish()
	// The JVM's readObject skips resets before the object.
	for d.off < len(d.b) && d.b[d.off] == tcReset {
		d.off++
		d.resetHandles()
	}
	if d.off == len(d.b) {
		return nil, d.errf(ErrTruncated, "the stream holds no object")
	}
	v, err = d.content(false)
	if err != nil {
		return nil, err
	}
	if d.off != len(d.b) {
		return nil, d.errf(ErrTrailing, "%d bytes follow the object", len(d.b)-d.off)
	}
	return v, nil
}

// ReadStream reads a whole stream.
func (d *Decoder) ReadStream(b []byte) (*Stream, error) {
	if err := d.start(b); err != nil {
		return nil, err
	}
	defer d.finish()
	s := &Stream{}
	for d.off < len(d.b) {
		if d.b[d.off] == tcReset {
			d.off++
			d.resetHandles()
			s.Contents = append(s.Contents, Reset{})
			continue
		}
		v, err := d.content(true)
		if err != nil {
			return nil, err
		}
		s.Contents = append(s.Contents, v)
	}
	return s, nil
}

func (d *Decoder) start(b []byte) error {
	d.b, d.off, d.depth, d.alloc, d.class = b, 0, 0, 0, ""
	d.resetHandles()
	if len(b) > d.lim.MaxBytes {
		return d.errf(ErrLimit, "stream of %d bytes exceeds MaxBytes %d", len(b), d.lim.MaxBytes)
	}
	if len(b) < 4 {
		return d.errf(ErrTruncated, "no stream header")
	}
	if binary.BigEndian.Uint16(b) != Magic || binary.BigEndian.Uint16(b[2:]) != Version {
		return d.errf(ErrMalformed, "stream header %x is not ACED0005", b[:4])
	}
	d.off = 4
	return nil
}

func (d *Decoder) finish() {
	d.b = nil
	d.resetHandles()
}

func (d *Decoder) resetHandles() {
	clear(d.handles)
	d.handles = d.handles[:0]
}

func (d *Decoder) errf(sentinel error, format string, args ...any) error {
	return &Error{Offset: d.off, Class: d.class, Err: sentinel, Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) errAt(off int, sentinel error, format string, args ...any) error {
	return &Error{Offset: off, Class: d.class, Err: sentinel, Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) charge(n int64) error {
	d.alloc += n
	if d.alloc > d.lim.MaxAlloc {
		return d.errf(ErrLimit, "decoded model exceeds MaxAlloc %d bytes", d.lim.MaxAlloc)
	}
	return nil
}

func (d *Decoder) newHandle(v any) error {
	if len(d.handles) >= d.lim.MaxHandles {
		return d.errf(ErrLimit, "more than MaxHandles %d handles", d.lim.MaxHandles)
	}
	d.handles = append(d.handles, v)
	return d.charge(16)
}

func (d *Decoder) setHandle(h int, v any) { d.handles[h] = v }

// Primitive readers.

func (d *Decoder) need(n int) error {
	if n < 0 || len(d.b)-d.off < n {
		return d.errf(ErrTruncated, "need %d bytes, %d left", n, len(d.b)-d.off)
	}
	return nil
}

func (d *Decoder) u8() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *Decoder) u16() (uint16, error) {
	if err := d.need(2); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v, nil
}

func (d *Decoder) u32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *Decoder) u64() (uint64, error) {
	if err := d.need(8); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

// utf reads a DataInput.readUTF string (u16 length, modified UTF-8).
func (d *Decoder) utf() (string, error) {
	n, err := d.u16()
	if err != nil {
		return "", err
	}
	return d.utfBody(int(n))
}

func (d *Decoder) utfBody(n int) (string, error) {
	start := d.off
	if n > d.lim.MaxStringLength {
		return "", d.errf(ErrLimit, "string of %d bytes exceeds MaxStringLength %d", n, d.lim.MaxStringLength)
	}
	if err := d.need(n); err != nil {
		return "", err
	}
	if err := d.charge(int64(n) + 32); err != nil {
		return "", err
	}
	s, err := decodeMUTF8(d.b[d.off : d.off+n])
	if err != nil {
		return "", d.errAt(start, ErrMalformed, "%v", err)
	}
	d.off += n
	return s, nil
}

// Contents.

func (d *Decoder) enter() error {
	d.depth++
	if d.depth > d.lim.MaxDepth {
		return d.errf(ErrLimit, "nesting deeper than MaxDepth %d", d.lim.MaxDepth)
	}
	return nil
}

func (d *Decoder) leave() { d.depth-- }

// content reads one content item; BlockData is allowed only where block
// data may appear (the top level and annotations).
func (d *Decoder) content(allowBlock bool) (any, error) {
	start := d.off
	tc, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		return d.reference(start)
	case tcClassDesc, tcProxyClassDesc:
		d.off = start
		return d.classDesc()
	case tcObject:
		return d.object()
	case tcString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.stringBody(int(n))
	case tcLongString:
		n, err := d.u64()
		if err != nil {
			return nil, err
		}
		if n > math.MaxInt32 {
			return nil, d.errAt(start, ErrLimit, "long string of %d bytes", n)
		}
		return d.stringBody(int(n))
	case tcArray:
		return d.array()
	case tcClass:
		return d.classObject()
	case tcEnum:
		return d.enum()
	case tcBlockData, tcBlockDataLong:
		if !allowBlock {
			return nil, d.errAt(start, ErrMalformed, "block data where an object was expected")
		}
		d.off = start
		return d.blockData()
	case tcException:
		return d.exception()
	case tcReset:
		return nil, d.errAt(start, ErrMalformed, "TC_RESET inside an object")
	case tcEndBlockData:
		return nil, d.errAt(start, ErrMalformed, "TC_ENDBLOCKDATA where an object was expected")
	}
	return nil, d.errAt(start, ErrMalformed, "unknown type code 0x%02x", tc)
}

func (d *Decoder) reference(start int) (any, error) {
	h, err := d.u32()
	if err != nil {
		return nil, err
	}
	idx := int64(h) - baseWireHandle
	if idx < 0 || idx >= int64(len(d.handles)) {
		return nil, d.errAt(start, ErrMalformed, "reference to unknown handle 0x%x", h)
	}
	v := d.handles[idx]
	if v == nil {
		return nil, d.errAt(start, ErrMalformed, "reference to handle 0x%x, which is not yet complete", h)
	}
	return v, nil
}

func (d *Decoder) stringBody(n int) (any, error) {
	s, err := d.utfBody(n)
	if err != nil {
		return nil, err
	}
	str := &String{Value: s}
	if err := d.newHandle(str); err != nil {
		return nil, err
	}
	return str, nil
}

func (d *Decoder) blockData() (BlockData, error) {
	tc, _ := d.u8()
	var n int
	if tc == tcBlockData {
		c, err := d.u8()
		if err != nil {
			return nil, err
		}
		n = int(c)
	} else {
		c, err := d.u32()
		if err != nil {
			return nil, err
		}
		if int32(c) < 0 {
			return nil, d.errf(ErrMalformed, "negative block length %d", int32(c))
		}
		n = int(c)
	}
	if n > d.lim.MaxStringLength {
		return nil, d.errf(ErrLimit, "block of %d bytes exceeds MaxStringLength %d", n, d.lim.MaxStringLength)
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	if err := d.charge(int64(n) + 24); err != nil {
		return nil, err
	}
	b := make(BlockData, n)
	copy(b, d.b[d.off:])
	d.off += n
	return b, nil
}

// annotation reads contents up to and including TC_ENDBLOCKDATA.
func (d *Decoder) annotation() ([]any, error) {
	var out []any
	for {
		if d.off < len(d.b) && d.b[d.off] == tcEndBlockData {
			d.off++
			return out, nil
		}
		v, err := d.content(true)
		if err != nil {
			return nil, err
		}
		if err := d.charge(16); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// classDesc reads a class descriptor position: TC_CLASSDESC,
// TC_PROXYCLASSDESC, TC_NULL or a reference to a descriptor.
func (d *Decoder) classDesc() (*ClassDesc, error) {
	start := d.off
	tc, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		v, err := d.reference(start)
		if err != nil {
			return nil, err
		}
		cd, ok := v.(*ClassDesc)
		if !ok {
			return nil, d.errAt(start, ErrMalformed, "reference to a %T where a class descriptor was expected", v)
		}
		return cd, nil
	case tcClassDesc:
		return d.nonProxyDesc(start)
	case tcProxyClassDesc:
		return d.proxyDesc(start)
	}
	return nil, d.errAt(start, ErrMalformed, "type code 0x%02x where a class descriptor was expected", tc)
}

func (d *Decoder) nonProxyDesc(start int) (*ClassDesc, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	name, err := d.utf()
	if err != nil {
		return nil, err
	}
	outer := d.class
	d.class = name
	defer func() { d.class = outer }()
	suid, err := d.u64()
	if err != nil {
		return nil, err
	}
	cd := &ClassDesc{Name: name, SUID: int64(suid)}
	if err := d.newHandle(cd); err != nil {
		return nil, err
	}
	if err := d.charge(96); err != nil {
		return nil, err
	}
	if cd.Flags, err = d.u8(); err != nil {
		return nil, err
	}
	if cd.Flags&SCSerializable != 0 && cd.Flags&SCExternalizable != 0 {
		return nil, d.errAt(start, ErrMalformed, "serializable and externalizable flags conflict")
	}
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if err := d.need(int(n) * 3); err != nil {
		return nil, err
	}
	if n > 0 {
		if err := d.charge(int64(n) * 48); err != nil {
			return nil, err
		}
		cd.Fields = make([]Field, n)
	}
	sawObject := false
	for i := range cd.Fields {
		foff := d.off
		f := &cd.Fields[i]
		if f.Type, err = d.u8(); err != nil {
			return nil, err
		}
		if f.Name, err = d.utf(); err != nil {
			return nil, err
		}
		switch f.Type {
		case TypeByte, TypeChar, TypeDouble, TypeFloat, TypeInt, TypeLong, TypeShort, TypeBoolean:
			if sawObject {
				return nil, d.errAt(foff, ErrMalformed, "illegal field order: primitive field %s after an object field", f.Name)
			}
		case TypeObject, TypeArray:
			sawObject = true
			if f.ClassName, err = d.typeString(); err != nil {
				return nil, err
			}
		default:
			return nil, d.errAt(foff, ErrMalformed, "field %s has unknown type code 0x%02x", f.Name, f.Type)
		}
	}
	if cd.Flags&SCEnum != 0 && (len(cd.Fields) != 0 || cd.SUID != 0) {
		return nil, d.errAt(start, ErrMalformed, "enum descriptor with fields or a non-zero serialVersionUID")
	}
	if cd.Annotation, err = d.annotation(); err != nil {
		return nil, err
	}
	if cd.Super, err = d.classDesc(); err != nil {
		return nil, err
	}
	return cd, nil
}

// typeString reads a field's type signature: a string or a reference to one.
func (d *Decoder) typeString() (string, error) {
	start := d.off
	v, err := d.content(false)
	if err != nil {
		return "", err
	}
	s, ok := v.(*String)
	if !ok {
		return "", d.errAt(start, ErrMalformed, "field type signature is a %T, not a string", v)
	}
	return s.Value, nil
}

func (d *Decoder) proxyDesc(start int) (*ClassDesc, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	cd := &ClassDesc{Proxy: true}
	if err := d.newHandle(cd); err != nil {
		return nil, err
	}
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if int32(n) < 0 || int(n) > 65535 {
		return nil, d.errAt(start, ErrMalformed, "proxy class with %d interfaces", int32(n))
	}
	if err := d.need(int(n) * 2); err != nil {
		return nil, err
	}
	for i := 0; i < int(n); i++ {
		s, err := d.utf()
		if err != nil {
			return nil, err
		}
		cd.Interfaces = append(cd.Interfaces, s)
	}
	if cd.Annotation, err = d.annotation(); err != nil {
		return nil, err
	}
	if cd.Super, err = d.classDesc(); err != nil {
		return nil, err
	}
	return cd, nil
}

func (d *Decoder) needDesc(start int, what string) (*ClassDesc, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil {
		return nil, d.errAt(start, ErrMalformed, "%s with a null class descriptor", what)
	}
	return cd, nil
}

func (d *Decoder) object() (any, error) {
	start := d.off - 1
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	cd, err := d.needDesc(start, "object")
	if err != nil {
		return nil, err
	}
	outer := d.class
	d.class = cd.Name
	defer func() { d.class = outer }()
	if cd.Flags&SCEnum != 0 || (len(cd.Name) > 0 && cd.Name[0] == '[') {
		return nil, d.errAt(start, ErrMalformed, "TC_OBJECT of an enum or array class")
	}
	o := &Object{Class: cd}
	if err := d.newHandle(o); err != nil {
		return nil, err
	}
	if err := d.charge(96); err != nil {
		return nil, err
	}
	if cd.Flags&SCExternalizable != 0 {
		if cd.Flags&SCBlockData == 0 {
			return nil, d.errAt(start, ErrUnsupported, "externalizable data written with protocol version 1")
		}
		if o.External, err = d.annotation(); err != nil {
			return nil, err
		}
		return o, nil
	}
	h := cd.Hierarchy()
	// A short object of a class with a long descriptor chain costs a
	// ClassData per class: charge it, or a few bytes could claim megabytes.
	if err := d.charge(int64(len(h)) * 56); err != nil {
		return nil, err
	}
	o.Data = make([]ClassData, len(h))
	for i, c := range h {
		d.class = c.Name
		if o.Data[i].Values, err = d.fieldValues(c); err != nil {
			return nil, err
		}
		if c.Flags&SCWriteMethod != 0 {
			if o.Data[i].Annotation, err = d.annotation(); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func (d *Decoder) fieldValues(c *ClassDesc) ([]any, error) {
	if len(c.Fields) == 0 {
		return nil, nil
	}
	if err := d.charge(int64(len(c.Fields)) * 32); err != nil {
		return nil, err
	}
	vals := make([]any, len(c.Fields))
	for i, f := range c.Fields {
		var err error
		if f.IsPrimitive() {
			vals[i], err = d.prim(f.Type)
		} else {
			foff := d.off
			vals[i], err = d.content(false)
			if err == nil && f.Type == TypeArray {
				if _, ok := vals[i].(*Array); !ok && vals[i] != nil {
					err = d.errAt(foff, ErrMalformed, "array field %s holds a %T", f.Name, vals[i])
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return vals, nil
}

func (d *Decoder) prim(t byte) (any, error) {
	switch t {
	case TypeByte:
		c, err := d.u8()
		return int8(c), err
	case TypeBoolean:
		c, err := d.u8()
		return c != 0, err
	case TypeChar:
		v, err := d.u16()
		return v, err
	case TypeShort:
		v, err := d.u16()
		return int16(v), err
	case TypeInt:
		v, err := d.u32()
		return int32(v), err
	case TypeFloat:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case TypeLong:
		v, err := d.u64()
		return int64(v), err
	case TypeDouble:
		v, err := d.u64()
		return math.Float64frombits(v), err
	}
	return nil, d.errf(ErrMalformed, "unknown primitive type code 0x%02x", t)
}

func primSize(t byte) int {
	switch t {
	case TypeByte, TypeBoolean:
		return 1
	case TypeChar, TypeShort:
		return 2
	case TypeInt, TypeFloat:
		return 4
	case TypeLong, TypeDouble:
		return 8
	}
	return 1 // object elements take at least one byte
}

func (d *Decoder) array() (any, error) {
	start := d.off - 1
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	cd, err := d.needDesc(start, "array")
	if err != nil {
		return nil, err
	}
	if len(cd.Name) < 2 || cd.Name[0] != '[' {
		return nil, d.errAt(start, ErrMalformed, "array of non-array class %q", cd.Name)
	}
	outer := d.class
	d.class = cd.Name
	defer func() { d.class = outer }()
	a := &Array{Class: cd}
	if err := d.newHandle(a); err != nil {
		return nil, err
	}
	n32, err := d.u32()
	if err != nil {
		return nil, err
	}
	n := int(int32(n32))
	if n < 0 {
		return nil, d.errAt(start, ErrMalformed, "negative array length %d", n)
	}
	if n > d.lim.MaxArrayLength {
		return nil, d.errAt(start, ErrLimit, "array of %d elements exceeds MaxArrayLength %d", n, d.lim.MaxArrayLength)
	}
	et := cd.Name[1]
	size := primSize(et)
	if err := d.need(n * size); err != nil {
		return nil, err
	}
	cost := int64(n) * int64(size)
	if et == TypeObject || et == TypeArray {
		cost = int64(n) * 16
	}
	if err := d.charge(cost + 32); err != nil {
		return nil, err
	}
	p := d.b[d.off:]
	switch et {
	case TypeByte:
		e := make([]int8, n)
		for i := range e {
			e[i] = int8(p[i])
		}
		a.Elems = e
	case TypeBoolean:
		e := make([]bool, n)
		for i := range e {
			e[i] = p[i] != 0
		}
		a.Elems = e
	case TypeChar:
		e := make([]uint16, n)
		for i := range e {
			e[i] = binary.BigEndian.Uint16(p[2*i:])
		}
		a.Elems = e
	case TypeShort:
		e := make([]int16, n)
		for i := range e {
			e[i] = int16(binary.BigEndian.Uint16(p[2*i:]))
		}
		a.Elems = e
	case TypeInt:
		e := make([]int32, n)
		for i := range e {
			e[i] = int32(binary.BigEndian.Uint32(p[4*i:]))
		}
		a.Elems = e
	case TypeFloat:
		e := make([]float32, n)
		for i := range e {
			e[i] = math.Float32frombits(binary.BigEndian.Uint32(p[4*i:]))
		}
		a.Elems = e
	case TypeLong:
		e := make([]int64, n)
		for i := range e {
			e[i] = int64(binary.BigEndian.Uint64(p[8*i:]))
		}
		a.Elems = e
	case TypeDouble:
		e := make([]float64, n)
		for i := range e {
			e[i] = math.Float64frombits(binary.BigEndian.Uint64(p[8*i:]))
		}
		a.Elems = e
	case TypeObject, TypeArray:
		e := make([]any, n)
		for i := range e {
			if e[i], err = d.content(false); err != nil {
				return nil, err
			}
		}
		a.Elems = e
		return a, nil
	default:
		return nil, d.errAt(start, ErrMalformed, "array class %q has unknown element type", cd.Name)
	}
	d.off += n * size
	return a, nil
}

func (d *Decoder) classObject() (any, error) {
	start := d.off - 1
	cd, err := d.needDesc(start, "class object")
	if err != nil {
		return nil, err
	}
	c := &ClassObject{Desc: cd}
	if err := d.newHandle(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *Decoder) enum() (any, error) {
	start := d.off - 1
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	cd, err := d.needDesc(start, "enum constant")
	if err != nil {
		return nil, err
	}
	if cd.Flags&SCEnum == 0 {
		return nil, d.errAt(start, ErrMalformed, "enum constant of non-enum class %s", cd.Name)
	}
	e := &Enum{Class: cd}
	h := len(d.handles)
	if err := d.newHandle(nil); err != nil {
		return nil, err
	}
	noff := d.off
	v, err := d.content(false)
	if err != nil {
		return nil, err
	}
	name, ok := v.(*String)
	if !ok {
		return nil, d.errAt(noff, ErrMalformed, "enum constant name of %s is a %T", cd.Name, v)
	}
	e.Name = name
	d.setHandle(h, e)
	return e, nil
}

func (d *Decoder) exception() (any, error) {
	start := d.off - 1
	// The writer failed and wrote the Throwable that stopped it, with the
	// handle table restarted; the JVM's reader gives up with a
	// WriteAbortedException, and so does this one.
	d.resetHandles()
	v, err := d.content(false)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*Object)
	if !ok {
		return nil, d.errAt(start, ErrMalformed, "TC_EXCEPTION holds a %T, not a Throwable", v)
	}
	msg, _ := o.StringField("detailMessage")
	return nil, &Error{Offset: start, Class: d.class, Err: ErrWriteAborted, Thrown: o,
		Msg: fmt.Sprintf("the writer aborted with %s: %s", o.ClassName(), msg)}
}

// IsStream reports whether b starts like a Java serialization stream
// (AC ED 00 05): how a receiver tells Spark's content from other
// encodings.
func IsStream(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xAC && b[1] == 0xED && b[2] == 0x00 && b[3] == 0x05
}
