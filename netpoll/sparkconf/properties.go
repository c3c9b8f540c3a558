package sparkconf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// errBadUnicodeEscape reports a \u escape not followed by four hex digits.
var errBadUnicodeEscape = errors.New(`malformed \uXXXX escape`)

// LoadPropertiesFile reads a spark-defaults.conf style file and returns its
// properties as a key to value map; see [ParseProperties] for the format.
// Errors name the file and, for format errors, the line.
func LoadPropertiesFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sparkconf: %w", err)
	}
	defer f.Close()
	props, err := parseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("sparkconf: %s: %w", path, err)
	}
	return props, nil
}

// ParseProperties reads properties in the spark-defaults.conf format, a
// subset of the Java properties format, from r:
//
//   - the input is UTF-8 (a leading byte-order mark is skipped) and lines
//     end with "\n", "\r\n" or "\r";
//   - blank lines, and lines whose first non-blank character is '#' or '!',
//     are ignored;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped;
//   - the key runs up to the first unescaped space, tab, form feed, '=' or
//     ':'; blanks around a single '=' or ':' separator are skipped;
//   - the escapes \t, \n, \r, \f and \uXXXX are decoded and any other
//     escaped character stands for itself (so "\ ", "\=", "\:" and "\\"
//     put those characters into a key);
//   - the value is trimmed of leading and trailing blanks and control
//     characters, as Spark does, and a later duplicate key wins.
func ParseProperties(r io.Reader) (map[string]string, error) {
	props, err := parseProperties(r)
	if err != nil {
		return nil, fmt.Errorf("sparkconf: %w", err)
	}
	return props, nil
}

func parseProperties(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	props := make(map[string]string)

	var logical strings.Builder
	continuing := false
	start := 0 // line number where the current logical line began
	flush := func() error {
		k, v, err := splitProperty(logical.String())
		logical.Reset()
		if err != nil {
			return fmt.Errorf("line %d: %w", start, err)
		}
		props[k] = v
		return nil
	}

	lineNo := 0
	for len(text) > 0 {
		var line string
		line, text = nextLine(text)
		lineNo++
		line = strings.TrimLeft(line, " \t\f")
		if !continuing {
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			start = lineNo
		}
		if endsWithOddBackslashes(line) {
			logical.WriteString(line[:len(line)-1])
			continuing = true
			continue
		}
		logical.WriteString(line)
		continuing = false
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if continuing {
		// A continuation at end of input simply ends the logical line.
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return props, nil
}

// nextLine splits off the first line of text, without its terminator.
func nextLine(text string) (line, rest string) {
	i := strings.IndexAny(text, "\r\n")
	if i < 0 {
		return text, ""
	}
	line, rest = text[:i], text[i+1:]
	if text[i] == '\r' && strings.HasPrefix(rest, "\n") {
		rest = rest[1:]
	}
	return line, rest
}

func endsWithOddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func isPropBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\f' }

// splitProperty splits a logical line (leading blanks already removed) into
// its unescaped key and trimmed, unescaped value.
func splitProperty(s string) (key, value string, err error) {
	end := len(s)
	valStart := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++ // the escaped character belongs to the key
			continue
		}
		if c == '=' || c == ':' {
			end, valStart = i, i+1
			break
		}
		if isPropBlank(c) {
			end = i
			j := i
			for j < len(s) && isPropBlank(s[j]) {
				j++
			}
			if j < len(s) && (s[j] == '=' || s[j] == ':') {
				j++
			}
			valStart = j
			break
		}
	}
	if key, err = unescape(s[:end]); err != nil {
		return "", "", err
	}
	if value, err = unescape(s[valStart:]); err != nil {
		return "", "", err
	}
	return key, strings.TrimFunc(value, func(r rune) bool { return r <= ' ' }), nil
}

// unescape decodes Java properties escapes in s.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash stands for nothing
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return "", errBadUnicodeEscape
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// Join a UTF-16 surrogate pair written as two escapes.
				if lo, ok := hex4(s, i+3); ok && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if joined := utf16.DecodeRune(r, lo); joined != utf8.RuneError {
						b.WriteRune(joined)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// hex4 decodes the four hex digits of s starting at i.
func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
