package digest

import (
	"fmt"
	"strings"
)

// directive is one key=value element of a challenge or response. value is
// unquoted: surrounding quotes and backslash escapes are removed.
type directive struct {
	key   string
	value []byte
}

// isLWS reports whether b is linear white space. Like the JDK, CR and LF
// count on their own, not only as a CRLF pair.
func isLWS(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n'
}

func skipLWS(buf []byte, i int) int {
	for i < len(buf) && isLWS(buf[i]) {
		i++
	}
	return i
}

// parseDirectives splits buf, a comma-separated list of key=value and
// key="quoted value" elements (RFC 2831 section 7.1), into directives in
// the order they appear. It follows the JDK's tokenizer: white space around
// keys, '=' and separators is skipped, empty list elements are ignored, an
// unquoted value ends at white space or a comma, and inside quotes a
// backslash takes the next byte literally. It is stricter in one place: a
// key that is never given a value is an error. It never panics.
func parseDirectives(buf []byte) ([]directive, error) {
	var out []directive
	i := skipLWS(buf, 0)
	for i < len(buf) {
		if buf[i] == ',' { // empty element
			i = skipLWS(buf, i+1)
			continue
		}
		// Key: up to '=', white space or ','.
		start := i
		for i < len(buf) && buf[i] != '=' && buf[i] != ',' && !isLWS(buf[i]) {
			i++
		}
		key := string(buf[start:i])
		i = skipLWS(buf, i)
		if i >= len(buf) || buf[i] != '=' {
			if i < len(buf) && buf[i] == ',' {
				return nil, fmt.Errorf("%w: directive %q has no value", ErrMalformed, key)
			}
			return nil, fmt.Errorf("%w: '=' expected after %q", ErrMalformed, key)
		}
		if key == "" {
			return nil, fmt.Errorf("%w: empty directive name", ErrMalformed)
		}
		i = skipLWS(buf, i+1)
		if i >= len(buf) {
			return nil, fmt.Errorf("%w: directive %q has no value", ErrMalformed, key)
		}
		var value []byte
		if buf[i] == '"' {
			i++
			closed := false
			value = []byte{}
			for i < len(buf) {
				c := buf[i]
				if c == '\\' {
					if i+1 >= len(buf) {
						break
					}
					value = append(value, buf[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					closed = true
					break
				}
				value = append(value, c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted value of %q", ErrMalformed, key)
			}
			if i < len(buf) && buf[i] != ',' && !isLWS(buf[i]) {
				return nil, fmt.Errorf("%w: comma expected after quoted value of %q", ErrMalformed, key)
			}
		} else {
			start := i
			for i < len(buf) && buf[i] != ',' && !isLWS(buf[i]) {
				i++
			}
			value = append([]byte{}, buf[start:i]...)
		}
		out = append(out, directive{key: key, value: value})
		// Step over one separator (white space or a comma) and the white
		// space after it; a further comma is an empty element.
		if i < len(buf) {
			i = skipLWS(buf, i+1)
		}
	}
	return out, nil
}

// fields are the directives of one message that a side knows, indexed like
// the side's table of known names.
type fields struct {
	known  []string
	vals   [][]byte // nil: absent (a present value is never nil)
	realms [][]byte // every realm, in order, when several are allowed
}

func (f *fields) get(key string) ([]byte, bool) {
	for i, k := range f.known {
		if k == key {
			return f.vals[i], f.vals[i] != nil
		}
	}
	return nil, false
}

// collect keeps the directives whose names (compared without regard to
// case, as the JDK does) are in known, and ignores the rest. A known
// directive given twice is an error, except "realm" when multiRealm is set
// (a challenge may offer several realms).
func collect(dirs []directive, known []string, multiRealm bool) (*fields, error) {
	f := &fields{known: known, vals: make([][]byte, len(known))}
	for _, d := range dirs {
		idx := -1
		for i, k := range known {
			if strings.EqualFold(d.key, k) {
				idx = i
				break
			}
		}
		if idx < 0 {
			continue
		}
		name := known[idx]
		if name == "realm" {
			f.realms = append(f.realms, d.value)
		}
		if f.vals[idx] != nil {
			if name == "realm" && multiRealm {
				continue
			}
			return nil, fmt.Errorf("%w: directive %q given more than once", ErrMalformed, name)
		}
		f.vals[idx] = d.value
	}
	return f, nil
}

// needsEscape reports whether b must be preceded by a backslash inside a
// quoted string: the quote, the backslash, DEL, and control characters
// other than tab, CR and LF (RFC 2831 section 7.2; the JDK's rule).
func needsEscape(b byte) bool {
	return b == '"' || b == '\\' || b == 127 || (b < 32 && b != '\t' && b != '\r' && b != '\n')
}

// appendQuoted appends v between double quotes, escaping as needed.
func appendQuoted(dst []byte, v []byte) []byte {
	dst = append(dst, '"')
	for _, b := range v {
		if needsEscape(b) {
			dst = append(dst, '\\')
		}
		dst = append(dst, b)
	}
	return append(dst, '"')
}

// splitTokens splits a list such as a qop or cipher value at commas, spaces,
// tabs and newlines, dropping empty pieces (Java's StringTokenizer with the
// delimiters the JDK uses).
func splitTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
}
