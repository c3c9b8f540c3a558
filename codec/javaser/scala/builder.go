package scala

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/ember-rpc/ember/codec/javaser"
)

// Class names of the Scala and JDK classes this package writes and reads.
const (
	ModuleProxyClass  = "scala.runtime.ModuleSerializationProxy"
	DefaultProxyClass = "scala.collection.generic.DefaultSerializationProxy"
	SerializeEndClass = "scala.collection.generic.SerializeEnd$"
	SomeClass         = "scala.Some"
	NoneClass         = "scala.None$"
	Tuple2Class       = "scala.Tuple2"
	EnumValClass      = "scala.Enumeration$Val"
	ListModule        = "scala.collection.immutable.List$"
	VectorModule      = "scala.collection.immutable.Vector$"
	HashMapModule     = "scala.collection.immutable.HashMap$"
	HashSetModule     = "scala.collection.immutable.HashSet$"
	EmptyMapModule    = "scala.collection.immutable.Map$EmptyMap$"
	EmptySetModule    = "scala.collection.immutable.Set$EmptySet$"
	NilModule         = "scala.collection.immutable.Nil$"
	IterableToFactory = "scala.collection.IterableFactory$ToFactory"
	MapToFactory      = "scala.collection.MapFactory$ToFactory"
	MutableHashMapDF  = "scala.collection.mutable.HashMap$DeserializationFactory"
	FiniteDurationCls = "scala.concurrent.duration.FiniteDuration"
	TimeUnitClass     = "java.util.concurrent.TimeUnit"
	URIClass          = "java.net.URI"
)

// Pair is one map entry.
type Pair struct {
	Key, Value any
}

// Builder builds Scala values for a writer. It keeps the first error;
// later calls return nil values until Err is checked.
type Builder struct {
	classes javaser.Classes
	err     error
}

// NewBuilder returns a Builder taking descriptors from classes.
func NewBuilder(classes javaser.Classes) *Builder {
	return &Builder{classes: classes}
}

// Reset makes b a new Builder taking descriptors from classes (no error
// recorded), so that a Builder can live inside another value rather than
// be allocated on its own.
func (b *Builder) Reset(classes javaser.Classes) {
	*b = Builder{classes: classes}
}

// Err returns the first error any call met.
func (b *Builder) Err() error { return b.err }

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Desc returns a class descriptor, recording a missing class as the error.
func (b *Builder) Desc(class string) *javaser.ClassDesc {
	if b.err != nil {
		return nil
	}
	d, err := b.classes.Desc(class)
	if err != nil {
		b.fail(err)
		return nil
	}
	return d
}

// New returns an object of the class with the given fields set:
// New(class, "name1", value1, "name2", value2, ...). Fields not named
// keep their zero values.
func (b *Builder) New(class string, fieldsAndValues ...any) *javaser.Object {
	d := b.Desc(class)
	if d == nil {
		return nil
	}
	if len(fieldsAndValues)%2 != 0 {
		b.fail(fmt.Errorf("scala: New(%s): odd number of field arguments", class))
		return nil
	}
	o := javaser.NewObject(d)
	for i := 0; i < len(fieldsAndValues); i += 2 {
		name, ok := fieldsAndValues[i].(string)
		if !ok {
			b.fail(fmt.Errorf("scala: New(%s): field name %v is not a string", class, fieldsAndValues[i]))
			return nil
		}
		if err := o.Set(name, fieldsAndValues[i+1]); err != nil {
			b.fail(err)
			return nil
		}
	}
	return o
}

// Module returns a Scala module (an object such as None or List's
// companion) as Scala writes it: a ModuleSerializationProxy holding the
// module class. The writer writes it once per stream.
func (b *Builder) Module(moduleClass string) *javaser.Object {
	md := b.Desc(moduleClass)
	o := b.New(ModuleProxyClass, "moduleClass", &javaser.ClassObject{Desc: md})
	if o != nil {
		o.Key = "module:" + moduleClass
	}
	return o
}

// None returns scala.None.
func (b *Builder) None() *javaser.Object { return b.Module(NoneClass) }

// Some returns scala.Some(v).
func (b *Builder) Some(v any) *javaser.Object { return b.New(SomeClass, "value", v) }

// Option returns Some(v) when ok, else None.
func (b *Builder) Option(v any, ok bool) *javaser.Object {
	if !ok {
		return b.None()
	}
	return b.Some(v)
}

// OptionString returns Some(s), or None for "".
func (b *Builder) OptionString(s string) *javaser.Object { return b.Option(s, s != "") }

// Tuple2 returns the pair (a, c).
func (b *Builder) Tuple2(a, c any) *javaser.Object { return b.New(Tuple2Class, "_1", a, "_2", c) }

func cached(v int64) bool { return v >= -128 && v <= 127 }

// Int returns a java.lang.Integer (values -128..127 are shared, as
// Integer.valueOf's cache makes them).
func (b *Builder) Int(v int32) *javaser.Object {
	o := b.New("java.lang.Integer", "value", v)
	if o != nil && cached(int64(v)) {
		o.Key = "java.lang.Integer:" + strconv.Itoa(int(v))
	}
	return o
}

// Long returns a java.lang.Long (-128..127 shared).
func (b *Builder) Long(v int64) *javaser.Object {
	o := b.New("java.lang.Long", "value", v)
	if o != nil && cached(v) {
		o.Key = "java.lang.Long:" + strconv.FormatInt(v, 10)
	}
	return o
}

// Double returns a java.lang.Double.
func (b *Builder) Double(v float64) *javaser.Object { return b.New("java.lang.Double", "value", v) }

// Bool returns Boolean.TRUE or Boolean.FALSE.
func (b *Builder) Bool(v bool) *javaser.Object {
	o := b.New("java.lang.Boolean", "value", v)
	if o != nil {
		o.Key = "java.lang.Boolean:" + strconv.FormatBool(v)
	}
	return o
}

// URI returns a java.net.URI.
func (b *Builder) URI(s string) *javaser.Object { return b.New(URIClass, "string", s) }

// TimeUnit returns a java.util.concurrent.TimeUnit constant ("SECONDS").
func (b *Builder) TimeUnit(name string) *javaser.Enum {
	d := b.Desc(TimeUnitClass)
	if d == nil {
		return nil
	}
	return &javaser.Enum{Class: d, Name: javaser.Str(name)}
}

// FiniteDuration returns scala.concurrent.duration.FiniteDuration(length, unit).
func (b *Builder) FiniteDuration(length int64, unit string) *javaser.Object {
	u := b.TimeUnit(unit)
	return b.New(FiniteDurationCls, "length", length, "unit", u)
}

// EnumValue returns the value with the given id of a Scala Enumeration
// module ("org.apache.spark.deploy.ExecutorState$"). Spark's enumerations
// name their values by reflection, so the serialized name is null.
func (b *Builder) EnumValue(module string, id int32) *javaser.Object {
	m := b.Module(module)
	o := b.New(EnumValClass, "i", id, "$outer", m, "scala$Enumeration$$outerEnum", m)
	if o != nil {
		o.Key = "enum:" + module + ":" + strconv.Itoa(int(id))
	}
	return o
}

func intBlock(k int32) javaser.BlockData {
	return binary.BigEndian.AppendUint32(nil, uint32(k))
}

// proxy returns a DefaultSerializationProxy with its writeObject data.
func (b *Builder) proxy(factory *javaser.Object, known bool, elems []any) *javaser.Object {
	o := b.New(DefaultProxyClass, "factory", factory)
	if o == nil {
		return nil
	}
	k := int32(len(elems))
	if !known {
		k = -1
	}
	ann := make([]any, 0, len(elems)+2)
	ann = append(ann, intBlock(k))
	ann = append(ann, elems...)
	if !known {
		ann = append(ann, b.Module(SerializeEndClass))
	}
	o.Data[len(o.Data)-1].Annotation = ann
	return o
}

func (b *Builder) toFactory(kind, module string) *javaser.Object {
	return b.New(kind, "factory", b.Module(module))
}

// List returns scala.collection.immutable.List(elems...).
func (b *Builder) List(elems ...any) *javaser.Object {
	// Nil knows its size (0); a non-empty List does not. Nil is one
	// object, so the JVM writes it once per stream.
	o := b.proxy(b.toFactory(IterableToFactory, ListModule), len(elems) == 0, elems)
	if o != nil && len(elems) == 0 {
		o.Key = "scala.Nil"
	}
	return o
}

// Strings returns a List of strings.
func (b *Builder) Strings(s ...string) *javaser.Object {
	elems := make([]any, len(s))
	for i, x := range s {
		elems[i] = x
	}
	return b.List(elems...)
}

// Vector returns scala.collection.immutable.Vector(elems...).
func (b *Builder) Vector(elems ...any) *javaser.Object {
	o := b.proxy(b.toFactory(IterableToFactory, VectorModule), true, elems)
	if o != nil && len(elems) == 0 {
		o.Key = "scala.Vector0" // the empty Vector is one object
	}
	return o
}

// ArraySeq returns an immutable.ArraySeq$ofRef wrapping an array of the
// element class ("java.lang.String").
func (b *Builder) ArraySeq(elemClass string, elems ...any) *javaser.Object {
	ad := b.Desc("[L" + elemClass + ";")
	if ad == nil {
		return nil
	}
	return b.New("scala.collection.immutable.ArraySeq$ofRef", "unsafeArray", &javaser.Array{Class: ad, Elems: append([]any{}, elems...)})
}

func (b *Builder) tuples(pairs []Pair) []any {
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = b.Tuple2(p.Key, p.Value)
	}
	return out
}

// Map returns an immutable Map: EmptyMap, Map1..Map4 field by field, or a
// HashMap through the serialization proxy for more than four entries.
func (b *Builder) Map(pairs ...Pair) *javaser.Object {
	switch n := len(pairs); {
	case n == 0:
		return b.Module(EmptyMapModule)
	case n <= 4:
		class := "scala.collection.immutable.Map$Map" + strconv.Itoa(n)
		d := b.Desc(class)
		if d == nil {
			return nil
		}
		o := javaser.NewObject(d)
		for i, p := range pairs {
			idx := strconv.Itoa(i + 1)
			if err := setEither(o, class, "key"+idx, p.Key); err != nil {
				b.fail(err)
				return nil
			}
			if err := setEither(o, class, "value"+idx, p.Value); err != nil {
				b.fail(err)
				return nil
			}
		}
		return o
	default:
		return b.proxy(b.toFactory(MapToFactory, HashMapModule), true, b.tuples(pairs))
	}
}

// Map2..Map4 name their fields with the class's private prefix.
func setEither(o *javaser.Object, class, name string, v any) error {
	if _, ok := o.Get(name); ok {
		return o.Set(name, v)
	}
	return o.Set(mangle(class)+"$$"+name, v)
}

func mangle(class string) string {
	out := []byte(class)
	for i, c := range out {
		if c == '.' {
			out[i] = '$'
		}
	}
	return string(out)
}

// StringMap returns an immutable Map[String, String] in the given order.
func (b *Builder) StringMap(kv ...string) *javaser.Object {
	pairs := make([]Pair, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, Pair{kv[i], kv[i+1]})
	}
	return b.Map(pairs...)
}

// MutableHashMap returns a scala.collection.mutable.HashMap (the type of
// a driver's executor environment) with the table length the JVM's map
// would have for that many entries.
func (b *Builder) MutableHashMap(pairs ...Pair) *javaser.Object {
	tl := int32(16)
	for float64(len(pairs)) > 0.75*float64(tl) {
		tl *= 2
	}
	f := b.New(MutableHashMapDF, "tableLength", tl, "loadFactor", 0.75)
	return b.proxy(f, true, b.tuples(pairs))
}

// Set returns an immutable Set: EmptySet, Set1..Set4, or a HashSet.
func (b *Builder) Set(elems ...any) *javaser.Object {
	switch n := len(elems); {
	case n == 0:
		return b.Module(EmptySetModule)
	case n <= 4:
		class := "scala.collection.immutable.Set$Set" + strconv.Itoa(n)
		o := b.New(class)
		if o == nil {
			return nil
		}
		for i, e := range elems {
			if err := setEither(o, class, "elem"+strconv.Itoa(i+1), e); err != nil {
				b.fail(err)
				return nil
			}
		}
		return o
	default:
		return b.proxy(b.toFactory(IterableToFactory, HashSetModule), true, elems)
	}
}
