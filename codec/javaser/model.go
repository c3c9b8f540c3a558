package javaser

import (
	"fmt"
	"strings"
)

// Stream constants of the Java Object Serialization Stream Protocol.
const (
	// Magic and Version open every stream: AC ED 00 05.
	Magic   = 0xACED
	Version = 5

	tcNull           = 0x70
	tcReference      = 0x71
	tcClassDesc      = 0x72
	tcObject         = 0x73
	tcString         = 0x74
	tcArray          = 0x75
	tcClass          = 0x76
	tcBlockData      = 0x77
	tcEndBlockData   = 0x78
	tcReset          = 0x79
	tcBlockDataLong  = 0x7A
	tcException      = 0x7B
	tcLongString     = 0x7C
	tcProxyClassDesc = 0x7D
	tcEnum           = 0x7E

	baseWireHandle = 0x7E0000
	// maxBlockSize is the largest block ObjectOutputStream writes; longer
	// block data is split into blocks of this size.
	maxBlockSize = 1024
)

// Class descriptor flags (ObjectStreamConstants.SC_*).
const (
	SCWriteMethod    byte = 0x01 // the class has a writeObject method: its data ends with TC_ENDBLOCKDATA
	SCSerializable   byte = 0x02 // the class implements java.io.Serializable
	SCExternalizable byte = 0x04 // the class implements java.io.Externalizable
	SCBlockData      byte = 0x08 // externalizable data is written in block-data mode (protocol 2)
	SCEnum           byte = 0x10 // the class is an enum type
)

// Field type codes as they appear in class descriptors.
const (
	TypeByte    byte = 'B'
	TypeChar    byte = 'C'
	TypeDouble  byte = 'D'
	TypeFloat   byte = 'F'
	TypeInt     byte = 'I'
	TypeLong    byte = 'J'
	TypeShort   byte = 'S'
	TypeBoolean byte = 'Z'
	TypeObject  byte = 'L'
	TypeArray   byte = '['
)

// Field is one serializable field of a class descriptor.
type Field struct {
	// Type is the type code: one of the Type* constants.
	Type byte
	// Name is the field's name.
	Name string
	// ClassName is the JVM type signature of an object or array field
	// ("Ljava/lang/String;", "[I"); empty for primitive fields.
	ClassName string
}

// IsPrimitive reports whether the field holds a primitive value.
func (f Field) IsPrimitive() bool { return f.Type != TypeObject && f.Type != TypeArray }

// PrimField returns a primitive field of the given type code.
func PrimField(name string, typ byte) Field { return Field{Type: typ, Name: name} }

// ObjField returns an object field whose declared type is the Java class
// javaClass ("java.lang.String", "scala.Option"); an array class name
// ("[I", "[Ljava.lang.String;") gives an array field.
func ObjField(name, javaClass string) Field {
	if strings.HasPrefix(javaClass, "[") {
		return Field{Type: TypeArray, Name: name, ClassName: strings.ReplaceAll(javaClass, ".", "/")}
	}
	return Field{Type: TypeObject, Name: name, ClassName: "L" + strings.ReplaceAll(javaClass, ".", "/") + ";"}
}

// ClassDesc is a class descriptor (ObjectStreamClass as written on the
// wire). The writer shares descriptors by pointer, and also by name and
// serialVersionUID when two pointers describe the same class, as the JVM
// writes one descriptor per class and stream.
type ClassDesc struct {
	// Name is the class name in Java's binary form
	// ("org.apache.spark.deploy.DeployMessages$RegisterApplication",
	// "[Ljava.lang.String;").
	Name string
	// SUID is the serialVersionUID.
	SUID int64
	// Flags is a combination of the SC* flags.
	Flags byte
	// Fields are the serializable fields in wire order: primitives first,
	// then object fields, each group sorted by name (the JVM's order).
	Fields []Field
	// Annotation holds what ObjectOutputStream.annotateClass wrote
	// (BlockData and objects); nil for a plain ObjectOutputStream.
	Annotation []any
	// Super is the serializable superclass's descriptor, or nil.
	Super *ClassDesc
	// Proxy marks a dynamic proxy class descriptor (TC_PROXYCLASSDESC);
	// Interfaces then holds its interface names and Name is empty.
	Proxy      bool
	Interfaces []string
}

// NewClassDesc returns a descriptor for a Serializable class with the
// given fields (in wire order) and superclass descriptor.
func NewClassDesc(name string, suid int64, flags byte, super *ClassDesc, fields ...Field) *ClassDesc {
	return &ClassDesc{Name: name, SUID: suid, Flags: flags, Super: super, Fields: fields}
}

// Hierarchy returns the descriptor chain from the top-most serializable
// superclass down to d: the order in which class data is written.
func (d *ClassDesc) Hierarchy() []*ClassDesc {
	n := 0
	for c := d; c != nil; c = c.Super {
		n++
	}
	out := make([]*ClassDesc, n)
	for c := d; c != nil; c = c.Super {
		n--
		out[n] = c
	}
	return out
}

// FieldIndex returns the index of the named field in d.Fields, or -1.
func (d *ClassDesc) FieldIndex(name string) int {
	for i := range d.Fields {
		if d.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// String is a java.lang.String object. The writer shares a *String by
// pointer, as the JVM shares one String instance; a plain Go string in an
// object slot is written as a new, unshared string.
type String struct {
	Value string
}

// Str returns a new *String.
func Str(s string) *String { return &String{Value: s} }

// BlockData is primitive data written in block-data mode: by a writeObject
// method after its fields, by writeExternal, or at the top level of a
// stream. Each BlockData read from a stream is one block on the wire.
type BlockData []byte

// Object is an instance of a Serializable or Externalizable class.
type Object struct {
	// Class is the object's class descriptor.
	Class *ClassDesc
	// Data holds one entry per descriptor in Class.Hierarchy(), top-most
	// superclass first (unused for Externalizable classes).
	Data []ClassData
	// External is the content an Externalizable object's writeExternal
	// wrote (BlockData and objects).
	External []any
	// Key, when not empty, makes the writer write the object once per
	// stream and refer back to it afterwards wherever another object with
	// the same Key appears: the JVM's sharing of singletons and cached
	// values (Scala modules through writeReplace, Boolean.TRUE, small
	// Integers). Readers leave it empty.
	Key string
}

// ClassData is the data of one class of an object's hierarchy.
type ClassData struct {
	// Values holds one value per descriptor field, in field order:
	// primitives as Go values (B int8, C uint16, D float64, F float32,
	// I int32, J int64, S int16, Z bool), objects as stream values.
	Values []any
	// Annotation holds what the class's writeObject method wrote after
	// its fields (BlockData and objects); only for SCWriteMethod classes.
	Annotation []any
}

// NewObject returns an object of class d whose fields hold Go zero values
// (nil for object fields).
func NewObject(d *ClassDesc) *Object {
	h := d.Hierarchy()
	o := &Object{Class: d, Data: make([]ClassData, len(h))}
	for i, c := range h {
		vals := make([]any, len(c.Fields))
		for j, f := range c.Fields {
			vals[j] = zeroValue(f.Type)
		}
		o.Data[i].Values = vals
	}
	return o
}

func zeroValue(t byte) any {
	switch t {
	case TypeByte:
		return int8(0)
	case TypeChar:
		return uint16(0)
	case TypeDouble:
		return float64(0)
	case TypeFloat:
		return float32(0)
	case TypeInt:
		return int32(0)
	case TypeLong:
		return int64(0)
	case TypeShort:
		return int16(0)
	case TypeBoolean:
		return false
	}
	return nil
}

// ClassName returns the object's class name.
func (o *Object) ClassName() string {
	if o == nil || o.Class == nil {
		return ""
	}
	return o.Class.Name
}

// locate finds the named field, searching from the object's own class up
// to its top-most superclass (a subclass's field hides a superclass's).
func (o *Object) locate(name string) (int, int) {
	if o == nil || o.Class == nil {
		return -1, -1
	}
	h := o.Class.Hierarchy()
	for i := len(h) - 1; i >= 0; i-- {
		if j := h[i].FieldIndex(name); j >= 0 && i < len(o.Data) && j < len(o.Data[i].Values) {
			return i, j
		}
	}
	return -1, -1
}

// Get returns the value of the named field.
func (o *Object) Get(name string) (any, bool) {
	i, j := o.locate(name)
	if i < 0 {
		return nil, false
	}
	return o.Data[i].Values[j], true
}

// Set stores v in the named field. Primitive fields take any Go number of
// a fitting range (or bool for Z); object fields take stream values.
func (o *Object) Set(name string, v any) error {
	i, j := o.locate(name)
	if i < 0 {
		return &FieldError{Class: o.ClassName(), Field: name, Msg: "no such field"}
	}
	f := o.Class.Hierarchy()[i].Fields[j]
	if f.IsPrimitive() {
		pv, err := convertPrim(f.Type, v)
		if err != nil {
			return &FieldError{Class: o.ClassName(), Field: name, Msg: err.Error()}
		}
		v = pv
	} else if msg := checkObjectValue(f, v); msg != "" {
		return &FieldError{Class: o.ClassName(), Field: name, Msg: msg}
	}
	o.Data[i].Values[j] = v
	return nil
}

// checkObjectValue catches values the JVM could never assign to the
// field (it would fail the read with a ClassCastException or worse).
func checkObjectValue(f Field, v any) string {
	switch v.(type) {
	case nil:
		return ""
	case string, *String, *Object, *Array, *Enum, *ClassObject, *ClassDesc:
	default:
		return fmt.Sprintf("a Go %T is not a Java object", v)
	}
	if f.ClassName == "Ljava/lang/String;" {
		if _, ok := AsString(v); !ok {
			return fmt.Sprintf("a String field cannot hold a %T", v)
		}
	}
	if f.Type == TypeArray {
		if _, ok := v.(*Array); !ok {
			return fmt.Sprintf("an array field cannot hold a %T", v)
		}
	}
	return ""
}

// MustSet is Set for objects whose class is known to have the field; it
// panics on a programming error (a wrong field name or value type).
func (o *Object) MustSet(name string, v any) *Object {
	if err := o.Set(name, v); err != nil {
		panic(err)
	}
	return o
}

// Array is a Java array. Elems holds a typed slice chosen by the element
// type code (Class.Name[1]): []int8 for B, []uint16 for C, []float64 for D,
// []float32 for F, []int32 for I, []int64 for J, []int16 for S, []bool for
// Z, and []any for object and array elements.
type Array struct {
	Class *ClassDesc
	Elems any
}

// Len returns the number of elements.
func (a *Array) Len() int {
	switch e := a.Elems.(type) {
	case []int8:
		return len(e)
	case []uint16:
		return len(e)
	case []float64:
		return len(e)
	case []float32:
		return len(e)
	case []int32:
		return len(e)
	case []int64:
		return len(e)
	case []int16:
		return len(e)
	case []bool:
		return len(e)
	case []any:
		return len(e)
	}
	return 0
}

// Enum is a constant of a Java enum type (TC_ENUM). The writer writes one
// constant once per stream and refers back to it afterwards.
type Enum struct {
	// Class is the enum type's descriptor (flags SCEnum|SCSerializable,
	// SUID 0, super java.lang.Enum).
	Class *ClassDesc
	// Name is the constant's name.
	Name *String
}

// ClassObject is a java.lang.Class object (TC_CLASS). The writer writes
// one Class per class name and stream.
type ClassObject struct {
	Desc *ClassDesc
}

// Exception makes the writer write TC_EXCEPTION and the Throwable, as
// ObjectOutputStream does when a write fails (handles restart before and
// after it). Readers do not return it: they fail with ErrWriteAborted, as
// the JVM does.
type Exception struct {
	Throwable any
}

// Reset is a top-level TC_RESET: the handle table starts again.
type Reset struct{}

// Stream is a whole stream: its top-level contents in order (objects and
// other values, BlockData, Reset).
type Stream struct {
	Contents []any
}

// FieldError reports a field that is missing or holds a value of the
// wrong type.
type FieldError struct {
	Class string
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("javaser: class %s field %s: %s", e.Class, e.Field, e.Msg)
}

// Field accessors with typed errors, for message mappers.

// Field returns the named field's value, or a *FieldError.
func (o *Object) Field(name string) (any, error) {
	v, ok := o.Get(name)
	if !ok {
		return nil, &FieldError{Class: o.ClassName(), Field: name, Msg: "no such field"}
	}
	return v, nil
}

// StringField returns a java.lang.String field (null gives "" and no error).
func (o *Object) StringField(name string) (string, error) {
	v, err := o.Field(name)
	if err != nil {
		return "", err
	}
	s, ok := AsString(v)
	if !ok && v != nil {
		return "", &FieldError{Class: o.ClassName(), Field: name, Msg: fmt.Sprintf("holds a %T, not a string", v)}
	}
	return s, nil
}

// IntField returns an int field.
func (o *Object) IntField(name string) (int32, error) {
	v, err := o.Field(name)
	if err != nil {
		return 0, err
	}
	i, ok := v.(int32)
	if !ok {
		return 0, &FieldError{Class: o.ClassName(), Field: name, Msg: fmt.Sprintf("holds a %T, not an int", v)}
	}
	return i, nil
}

// LongField returns a long field.
func (o *Object) LongField(name string) (int64, error) {
	v, err := o.Field(name)
	if err != nil {
		return 0, err
	}
	i, ok := v.(int64)
	if !ok {
		return 0, &FieldError{Class: o.ClassName(), Field: name, Msg: fmt.Sprintf("holds a %T, not a long", v)}
	}
	return i, nil
}

// BoolField returns a boolean field.
func (o *Object) BoolField(name string) (bool, error) {
	v, err := o.Field(name)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, &FieldError{Class: o.ClassName(), Field: name, Msg: fmt.Sprintf("holds a %T, not a boolean", v)}
	}
	return b, nil
}

// ObjectField returns an object field (nil for null).
func (o *Object) ObjectField(name string) (*Object, error) {
	v, err := o.Field(name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	x, ok := v.(*Object)
	if !ok {
		return nil, &FieldError{Class: o.ClassName(), Field: name, Msg: fmt.Sprintf("holds a %T, not an object", v)}
	}
	return x, nil
}

// AsString returns the text of a *String or a Go string.
func AsString(v any) (string, bool) {
	switch s := v.(type) {
	case *String:
		if s == nil {
			return "", false
		}
		return s.Value, true
	case string:
		return s, true
	}
	return "", false
}
