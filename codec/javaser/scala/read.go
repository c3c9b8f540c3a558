package scala

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ember-rpc/ember/codec/javaser"
)

func typeErr(v any, want string) error {
	return fmt.Errorf("%w: %s where %s was expected", javaser.ErrType, describe(v), want)
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case *javaser.Object:
		if m, ok := ModuleName(v); ok {
			return "module " + m
		}
		return "an object of class " + v.ClassName()
	case *javaser.Array:
		return "an array of class " + v.Class.Name
	case *javaser.String, string:
		return "a string"
	}
	return fmt.Sprintf("a %T", v)
}

// ModuleName returns the module class name of a ModuleSerializationProxy
// ("scala.None$").
func ModuleName(v any) (string, bool) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != ModuleProxyClass {
		return "", false
	}
	c, _ := o.Get("moduleClass")
	co, ok := c.(*javaser.ClassObject)
	if !ok || co.Desc == nil {
		return "", false
	}
	return co.Desc.Name, true
}

// IsNone reports whether v is scala.None.
func IsNone(v any) bool {
	m, ok := ModuleName(v)
	return ok && m == NoneClass
}

// Option returns the value of Some(x) with true, or nil and false for
// None; anything else (including null) is an error.
func Option(v any) (any, bool, error) {
	if IsNone(v) {
		return nil, false, nil
	}
	if o, ok := v.(*javaser.Object); ok && o != nil && o.ClassName() == SomeClass {
		x, _ := o.Get("value")
		return x, true, nil
	}
	return nil, false, typeErr(v, "an Option")
}

// String returns a java.lang.String (null is an error).
func String(v any) (string, error) {
	if s, ok := javaser.AsString(v); ok {
		return s, nil
	}
	return "", typeErr(v, "a string")
}

// OptionString returns an Option[String]'s value, "" for None.
func OptionString(v any) (string, bool, error) {
	x, ok, err := Option(v)
	if err != nil || !ok {
		return "", ok, err
	}
	s, err := String(x)
	return s, true, err
}

func boxed(v any, class string) (any, error) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != class {
		return nil, typeErr(v, "a "+class)
	}
	x, _ := o.Get("value")
	return x, nil
}

// Int returns a java.lang.Integer's value.
func Int(v any) (int32, error) {
	x, err := boxed(v, "java.lang.Integer")
	if err != nil {
		return 0, err
	}
	i, ok := x.(int32)
	if !ok {
		return 0, typeErr(v, "an Integer")
	}
	return i, nil
}

// Long returns a java.lang.Long's value.
func Long(v any) (int64, error) {
	x, err := boxed(v, "java.lang.Long")
	if err != nil {
		return 0, err
	}
	i, ok := x.(int64)
	if !ok {
		return 0, typeErr(v, "a Long")
	}
	return i, nil
}

// Double returns a java.lang.Double's value.
func Double(v any) (float64, error) {
	x, err := boxed(v, "java.lang.Double")
	if err != nil {
		return 0, err
	}
	f, ok := x.(float64)
	if !ok {
		return 0, typeErr(v, "a Double")
	}
	return f, nil
}

// Bool returns a java.lang.Boolean's value.
func Bool(v any) (bool, error) {
	x, err := boxed(v, "java.lang.Boolean")
	if err != nil {
		return false, err
	}
	f, ok := x.(bool)
	if !ok {
		return false, typeErr(v, "a Boolean")
	}
	return f, nil
}

// URI returns a java.net.URI's text.
func URI(v any) (string, error) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != URIClass {
		return "", typeErr(v, "a java.net.URI")
	}
	return o.StringField("string")
}

// FiniteDuration returns a FiniteDuration's length and TimeUnit name.
func FiniteDuration(v any) (int64, string, error) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != FiniteDurationCls {
		return 0, "", typeErr(v, "a FiniteDuration")
	}
	n, err := o.LongField("length")
	if err != nil {
		return 0, "", err
	}
	u, _ := o.Get("unit")
	e, ok := u.(*javaser.Enum)
	if !ok || e.Name == nil {
		return 0, "", typeErr(u, "a TimeUnit")
	}
	return n, e.Name.Value, nil
}

// EnumValue returns an Enumeration value's module class name
// ("org.apache.spark.deploy.ExecutorState$"), id and serialized name
// (often empty: Spark's values are named by reflection).
func EnumValue(v any) (module string, id int32, name string, err error) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != EnumValClass {
		return "", 0, "", typeErr(v, "an Enumeration value")
	}
	if id, err = o.IntField("i"); err != nil {
		return "", 0, "", err
	}
	name, _ = o.StringField("name")
	for _, f := range []string{"scala$Enumeration$$outerEnum", "$outer"} {
		x, _ := o.Get(f)
		if m, ok := ModuleName(x); ok {
			return m, id, name, nil
		}
	}
	return "", 0, "", typeErr(v, "an Enumeration value with its enumeration module")
}

// Tuple2 returns a pair's elements.
func Tuple2(v any) (any, any, error) {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil || o.ClassName() != Tuple2Class {
		return nil, nil, typeErr(v, "a Tuple2")
	}
	a, _ := o.Get("_1")
	c, _ := o.Get("_2")
	return a, c, nil
}

// proxyElems returns the elements a DefaultSerializationProxy carries.
func proxyElems(o *javaser.Object) ([]any, error) {
	var ann []any
	for i, c := range o.Class.Hierarchy() {
		if c.Name == DefaultProxyClass && i < len(o.Data) {
			ann = o.Data[i].Annotation
		}
	}
	// The count is the first 4 bytes of block data; the JVM may have
	// split or merged blocks, so gather bytes up to the first object.
	var head []byte
	i := 0
	for ; i < len(ann); i++ {
		bd, ok := ann[i].(javaser.BlockData)
		if !ok {
			break
		}
		head = append(head, bd...)
	}
	if len(head) != 4 {
		return nil, fmt.Errorf("%w: collection proxy holds %d bytes of count, want 4", javaser.ErrType, len(head))
	}
	k := int32(binary.BigEndian.Uint32(head))
	rest := ann[i:]
	if k >= 0 {
		if int(k) != len(rest) {
			return nil, fmt.Errorf("%w: collection proxy announces %d elements and holds %d", javaser.ErrType, k, len(rest))
		}
		return rest, nil
	}
	for j, x := range rest {
		if m, ok := ModuleName(x); ok && m == SerializeEndClass {
			if j != len(rest)-1 {
				return nil, fmt.Errorf("%w: collection proxy has data after its end marker", javaser.ErrType)
			}
			return rest[:j], nil
		}
		if _, ok := x.(javaser.BlockData); ok {
			return nil, fmt.Errorf("%w: block data among a collection's elements", javaser.ErrType)
		}
	}
	return nil, fmt.Errorf("%w: collection proxy without its end marker", javaser.ErrType)
}

// Seq returns the elements of any Scala sequence or set as written:
// a DefaultSerializationProxy (List, Vector, HashSet, ...), an
// ArraySeq/mutable.ArraySeq variant, Set1..Set4, the empty set, Nil, or a
// List cell chain. Primitive ArraySeq elements come out as Go values.
func Seq(v any) ([]any, error) {
	if m, ok := ModuleName(v); ok {
		switch m {
		case NilModule, EmptySetModule, "scala.collection.immutable.Vector0$", "scala.collection.immutable.ListSet$EmptyListSet$":
			return nil, nil
		}
		return nil, typeErr(v, "a sequence")
	}
	o, ok := v.(*javaser.Object)
	if !ok || o == nil {
		return nil, typeErr(v, "a sequence")
	}
	name := o.ClassName()
	switch {
	case name == DefaultProxyClass:
		return proxyElems(o)
	case strings.HasPrefix(name, "scala.collection.immutable.ArraySeq$of"), strings.HasPrefix(name, "scala.collection.mutable.ArraySeq$of"):
		a, _ := o.Get("unsafeArray")
		if a == nil {
			a, _ = o.Get("array")
		}
		arr, ok := a.(*javaser.Array)
		if !ok {
			return nil, typeErr(a, "the array of an ArraySeq")
		}
		return arrayElems(arr), nil
	case strings.HasPrefix(name, "scala.collection.immutable.Set$Set"):
		var out []any
		for i := 1; i <= 4; i++ {
			x, ok := o.Get(fmt.Sprintf("elem%d", i))
			if !ok {
				x, ok = o.Get(fmt.Sprintf("%s$$elem%d", mangle(name), i))
			}
			if !ok {
				break
			}
			out = append(out, x)
		}
		return out, nil
	case name == "scala.collection.immutable.$colon$colon":
		var out []any
		for cell := o; ; {
			h, _ := cell.Get("head")
			out = append(out, h)
			next, _ := cell.Get("next")
			if m, ok := ModuleName(next); ok && m == NilModule {
				return out, nil
			}
			n, ok := next.(*javaser.Object)
			if !ok || n == nil || n.ClassName() != name || len(out) > 1<<24 {
				return nil, typeErr(next, "a List cell")
			}
			cell = n
		}
	}
	return nil, typeErr(v, "a sequence")
}

func arrayElems(a *javaser.Array) []any {
	if xs, ok := a.Elems.([]any); ok {
		return xs
	}
	n := a.Len()
	out := make([]any, 0, n)
	switch e := a.Elems.(type) {
	case []int8:
		for _, x := range e {
			out = append(out, x)
		}
	case []uint16:
		for _, x := range e {
			out = append(out, x)
		}
	case []float64:
		for _, x := range e {
			out = append(out, x)
		}
	case []float32:
		for _, x := range e {
			out = append(out, x)
		}
	case []int32:
		for _, x := range e {
			out = append(out, x)
		}
	case []int64:
		for _, x := range e {
			out = append(out, x)
		}
	case []int16:
		for _, x := range e {
			out = append(out, x)
		}
	case []bool:
		for _, x := range e {
			out = append(out, x)
		}
	}
	return out
}

// Strings returns a sequence of strings.
func Strings(v any) ([]string, error) {
	xs, err := Seq(v)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		if out[i], err = String(x); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Map returns the entries of any Scala map as written: the empty map,
// Map1..Map4, or a DefaultSerializationProxy of Tuple2 entries (HashMap,
// mutable.HashMap, ListMap, TreeMap, ...), in stream order.
func Map(v any) ([]Pair, error) {
	if m, ok := ModuleName(v); ok {
		if m == EmptyMapModule || m == "scala.collection.immutable.ListMap$EmptyListMap$" {
			return nil, nil
		}
		return nil, typeErr(v, "a map")
	}
	o, ok := v.(*javaser.Object)
	if !ok || o == nil {
		return nil, typeErr(v, "a map")
	}
	name := o.ClassName()
	switch {
	case strings.HasPrefix(name, "scala.collection.immutable.Map$Map"):
		var out []Pair
		for i := 1; i <= 4; i++ {
			k, ok := o.Get(fmt.Sprintf("key%d", i))
			if !ok {
				k, ok = o.Get(fmt.Sprintf("%s$$key%d", mangle(name), i))
			}
			if !ok {
				break
			}
			val, ok := o.Get(fmt.Sprintf("value%d", i))
			if !ok {
				val, _ = o.Get(fmt.Sprintf("%s$$value%d", mangle(name), i))
			}
			out = append(out, Pair{k, val})
		}
		return out, nil
	case name == DefaultProxyClass:
		xs, err := proxyElems(o)
		if err != nil {
			return nil, err
		}
		out := make([]Pair, len(xs))
		for i, x := range xs {
			k, val, err := Tuple2(x)
			if err != nil {
				return nil, err
			}
			out[i] = Pair{k, val}
		}
		return out, nil
	}
	return nil, typeErr(v, "a map")
}

// StringMap returns a Map[String, String].
func StringMap(v any) (map[string]string, error) {
	ps, err := Map(v)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		k, err := String(p.Key)
		if err != nil {
			return nil, err
		}
		val, err := String(p.Value)
		if err != nil {
			return nil, err
		}
		out[k] = val
	}
	return out, nil
}
