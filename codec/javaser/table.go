package javaser

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Classes gives class descriptors by class name: a ClassTable, or a
// caller's own source. Implementations must be safe for concurrent use
// and return descriptors that nobody modifies.
type Classes interface {
	Desc(name string) (*ClassDesc, error)
}

// ClassTable is a table of class descriptors as data: what
// ObjectStreamClass.lookup gives for each class of one Spark release (its
// serialVersionUID, flags, fields and superclass). Spark declares no
// serialVersionUIDs, so every release has its own table. A ClassTable is
// immutable once parsed and safe for concurrent use; the descriptors it
// returns are shared and must not be modified.
type ClassTable struct {
	// Spark and Scala are the versions the table was generated from.
	Spark string
	Scala string

	entries map[string]*ClassEntry
	descs   map[string]*ClassDesc
}

// ClassEntry is one class of a table file.
type ClassEntry struct {
	Name   string       `json:"name"`
	SUID   int64        `json:"suid"`
	Flags  byte         `json:"flags"`
	Super  string       `json:"super,omitempty"`
	Fields []FieldEntry `json:"fields,omitempty"`
}

// FieldEntry is one field of a ClassEntry: type code, name and, for
// objects and arrays, the JVM type signature.
type FieldEntry struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class,omitempty"`
}

type tableFile struct {
	Spark   string       `json:"spark"`
	Scala   string       `json:"scala"`
	Classes []ClassEntry `json:"classes"`
}

// ParseClassTable reads a table file (the JSON that
// internal/interop/jvm/javaser/SuidTable.java prints).
func ParseClassTable(data []byte) (*ClassTable, error) {
	var f tableFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("javaser: class table: %w", err)
	}
	t := &ClassTable{Spark: f.Spark, Scala: f.Scala, entries: map[string]*ClassEntry{}, descs: map[string]*ClassDesc{}}
	for i := range f.Classes {
		e := &f.Classes[i]
		if _, dup := t.entries[e.Name]; dup {
			return nil, fmt.Errorf("javaser: class table for Spark %s lists %s twice", f.Spark, e.Name)
		}
		t.entries[e.Name] = e
	}
	for name := range t.entries {
		if _, err := t.build(name, 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *ClassTable) build(name string, depth int) (*ClassDesc, error) {
	if d, ok := t.descs[name]; ok {
		return d, nil
	}
	e := t.entries[name]
	if e == nil {
		return nil, t.unknown(name)
	}
	if depth > 64 {
		return nil, fmt.Errorf("javaser: class table for Spark %s: superclass cycle at %s", t.Spark, name)
	}
	d := &ClassDesc{Name: e.Name, SUID: e.SUID, Flags: e.Flags}
	for _, f := range e.Fields {
		if len(f.Type) != 1 {
			return nil, fmt.Errorf("javaser: class table for Spark %s: class %s field %s has type %q", t.Spark, name, f.Name, f.Type)
		}
		d.Fields = append(d.Fields, Field{Type: f.Type[0], Name: f.Name, ClassName: f.Class})
	}
	if e.Super != "" {
		s, err := t.build(e.Super, depth+1)
		if err != nil {
			return nil, err
		}
		d.Super = s
	}
	t.descs[name] = d
	return d, nil
}

func (t *ClassTable) unknown(name string) error {
	return fmt.Errorf("%w: %s has no entry in the class table for Spark %s (regenerate the table for this Spark version)", ErrUnknownClass, name, t.Spark)
}

// Desc returns the descriptor of the named class, with its superclasses.
func (t *ClassTable) Desc(name string) (*ClassDesc, error) {
	if d, ok := t.descs[name]; ok {
		return d, nil
	}
	return nil, t.unknown(name)
}

// New returns a new object of the named class with zero field values.
func (t *ClassTable) New(name string) (*Object, error) {
	d, err := t.Desc(name)
	if err != nil {
		return nil, err
	}
	return NewObject(d), nil
}

// Names returns the table's class names, sorted.
func (t *ClassTable) Names() []string {
	out := make([]string, 0, len(t.entries))
	for n := range t.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Entry returns the table's entry for a class.
func (t *ClassTable) Entry(name string) (ClassEntry, bool) {
	e, ok := t.entries[name]
	if !ok {
		return ClassEntry{}, false
	}
	return *e, true
}

// Check compares a descriptor read from a peer's stream, and its
// superclasses, with the table: a class the table lacks or a different
// serialVersionUID is an error naming the class and the table's Spark
// version (the peer runs another Spark release).
func (t *ClassTable) Check(d *ClassDesc) error {
	for c := d; c != nil; c = c.Super {
		if c.Proxy {
			continue
		}
		e, ok := t.entries[c.Name]
		if !ok {
			return t.unknown(c.Name)
		}
		if e.SUID != c.SUID {
			return fmt.Errorf("%w: class %s has serialVersionUID %d in the stream but %d in Spark %s (is the peer another Spark version?)",
				ErrSUIDMismatch, c.Name, c.SUID, e.SUID, t.Spark)
		}
	}
	return nil
}

// CheckAll walks a decoded value and checks every class descriptor in
// it with Check.
func (t *ClassTable) CheckAll(v any) error {
	seen := map[any]bool{}
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		if depth > 1000 {
			return nil
		}
		switch v := v.(type) {
		case *Object:
			if v == nil || seen[v] {
				return nil
			}
			seen[v] = true
			if err := t.Check(v.Class); err != nil {
				return err
			}
			for _, cd := range v.Data {
				for _, x := range cd.Values {
					if err := walk(x, depth+1); err != nil {
						return err
					}
				}
				for _, x := range cd.Annotation {
					if err := walk(x, depth+1); err != nil {
						return err
					}
				}
			}
			for _, x := range v.External {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		case *Array:
			if v == nil || seen[v] {
				return nil
			}
			seen[v] = true
			if err := t.Check(v.Class); err != nil {
				return err
			}
			if xs, ok := v.Elems.([]any); ok {
				for _, x := range xs {
					if err := walk(x, depth+1); err != nil {
						return err
					}
				}
			}
		case *ClassObject:
			if v != nil {
				return t.Check(v.Desc)
			}
		case *Enum:
			if v != nil {
				return t.Check(v.Class)
			}
		}
		return nil
	}
	return walk(v, 0)
}
