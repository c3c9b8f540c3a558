package javaser

import (
	"fmt"
	"strconv"
	"strings"
)

// Format renders a value as indented text for logs and tests: objects
// as class{field: value ...}, strings quoted, arrays as [..], and a value
// already shown on the path as a back reference.
func Format(v any) string {
	var b strings.Builder
	f := formatter{b: &b, seen: map[any]bool{}}
	f.value(v, 0)
	return b.String()
}

type formatter struct {
	b    *strings.Builder
	seen map[any]bool
}

func (f *formatter) indent(n int) {
	f.b.WriteByte('\n')
	for i := 0; i < n; i++ {
		f.b.WriteString("  ")
	}
}

func (f *formatter) value(v any, depth int) {
	if depth > 64 {
		f.b.WriteString("...")
		return
	}
	switch v := v.(type) {
	case nil:
		f.b.WriteString("null")
	case string:
		f.b.WriteString(strconv.Quote(v))
	case *String:
		if v == nil {
			f.b.WriteString("null")
			return
		}
		f.b.WriteString(strconv.Quote(v.Value))
	case BlockData:
		fmt.Fprintf(f.b, "block[%d]%x", len(v), []byte(v))
	case *Enum:
		if v == nil || v.Class == nil || v.Name == nil {
			f.b.WriteString("<bad enum>")
			return
		}
		fmt.Fprintf(f.b, "%s.%s", v.Class.Name, v.Name.Value)
	case *ClassObject:
		if v == nil || v.Desc == nil {
			f.b.WriteString("<bad class>")
			return
		}
		fmt.Fprintf(f.b, "class %s", v.Desc.Name)
	case *ClassDesc:
		if v == nil {
			f.b.WriteString("null")
			return
		}
		fmt.Fprintf(f.b, "desc %s", v.Name)
	case *Exception:
		f.b.WriteString("exception ")
		f.value(v.Throwable, depth+1)
	case *Array:
		if v == nil || v.Class == nil {
			f.b.WriteString("null")
			return
		}
		if f.seen[v] {
			fmt.Fprintf(f.b, "<ref %s>", v.Class.Name)
			return
		}
		f.seen[v] = true
		defer delete(f.seen, v)
		fmt.Fprintf(f.b, "%s[", v.Class.Name)
		if objs, ok := v.Elems.([]any); ok {
			for i, x := range objs {
				if i > 0 {
					f.b.WriteString(", ")
				}
				f.value(x, depth+1)
			}
		} else {
			s := fmt.Sprint(v.Elems)
			f.b.WriteString(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		}
		f.b.WriteString("]")
	case *Object:
		if v == nil || v.Class == nil {
			f.b.WriteString("null")
			return
		}
		if f.seen[v] {
			fmt.Fprintf(f.b, "<ref %s>", v.ClassName())
			return
		}
		f.seen[v] = true
		defer delete(f.seen, v)
		f.b.WriteString(v.ClassName())
		f.b.WriteString("{")
		if v.Class.Flags&SCExternalizable != 0 {
			for _, x := range v.External {
				f.indent(depth + 1)
				f.value(x, depth+1)
			}
		}
		for i, c := range v.Class.Hierarchy() {
			if i >= len(v.Data) {
				break
			}
			for j, fd := range c.Fields {
				if j >= len(v.Data[i].Values) {
					break
				}
				f.indent(depth + 1)
				f.b.WriteString(fd.Name)
				f.b.WriteString(": ")
				f.value(v.Data[i].Values[j], depth+1)
			}
			for _, x := range v.Data[i].Annotation {
				f.indent(depth + 1)
				f.b.WriteString("+ ")
				f.value(x, depth+1)
			}
		}
		f.b.WriteString("}")
	default:
		fmt.Fprintf(f.b, "%v", v)
	}
}
