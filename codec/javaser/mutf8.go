package javaser

import (
	"errors"
	"unicode/utf8"
)

var errBadUTF = errors.New("invalid modified UTF-8")

// decodeMUTF8 turns Java's modified UTF-8 into a Go string. Surrogate
// pairs become one 4-byte UTF-8 sequence; an unpaired surrogate stays a
// 3-byte sequence (as WTF-8 does), so every Java string survives a round
// trip. C0 80 becomes NUL.
func decodeMUTF8(b []byte) (string, error) {
	ascii := true
	for _, c := range b {
		if c == 0 || c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80: // a raw NUL too: the JVM's reader accepts it
			out = append(out, c)
			i++
		case c>>5 == 0x6: // 110xxxxx 10xxxxxx
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return "", errBadUTF
			}
			r := rune(c&0x1F)<<6 | rune(b[i+1]&0x3F)
			out = utf8.AppendRune(out, r)
			i += 2
		case c>>4 == 0xE: // 1110xxxx 10xxxxxx 10xxxxxx
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return "", errBadUTF
			}
			r := rune(c&0x0F)<<12 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
			i += 3
			if r >= 0xD800 && r <= 0xDBFF && i+2 < len(b) && b[i] == 0xED && b[i+1]&0xF0 == 0xB0 && b[i+2]&0xC0 == 0x80 {
				lo := rune(0xD)<<12 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
				out = utf8.AppendRune(out, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
				i += 3
				continue
			}
			if r >= 0xD800 && r <= 0xDFFF {
				out = append(out, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
				continue
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errBadUTF
		}
	}
	return string(out), nil
}

// mutf8Len returns the length of s in modified UTF-8.
func mutf8Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c != 0 && c < 0x80 {
			n++
			i++
			continue
		}
		if c == 0 {
			n += 2
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		if r < 0 {
			r = rune(c) // a stray byte is written as its own code point
		}
		switch {
		case r < 0x800:
			n += 2
		case r < 0x10000:
			n += 3
		default:
			n += 6
		}
		i += size
	}
	return n
}

// appendMUTF8 appends s in modified UTF-8. Bytes that are not valid
// UTF-8 (or WTF-8 surrogates) are written as the code point of the byte
// (as Java would read them with ISO-8859-1), so the encoder never fails.
func appendMUTF8(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != 0 && c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		if c == 0 {
			dst = append(dst, 0xC0, 0x80)
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		if r < 0 {
			r = rune(c)
		}
		i += size
		switch {
		case r < 0x800:
			dst = append(dst, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
		case r < 0x10000:
			dst = append(dst, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
		default:
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			dst = append(dst, 0xE0|byte(hi>>12), 0x80|byte(hi>>6)&0x3F, 0x80|byte(hi)&0x3F,
				0xE0|byte(lo>>12), 0x80|byte(lo>>6)&0x3F, 0x80|byte(lo)&0x3F)
		}
	}
	return dst
}

// decodeWTF8 decodes one code point of UTF-8, also accepting encoded
// surrogates; it returns -1 and 1 for a byte that starts no valid sequence.
func decodeWTF8(s string) (rune, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r != utf8.RuneError || size > 1 {
		return r, size
	}
	if len(s) >= 3 && s[0] == 0xED && s[1]&0xE0 == 0xA0 && s[2]&0xC0 == 0x80 {
		return rune(0xD)<<12 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	if len(s) >= 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] == 0xBD {
		return utf8.RuneError, 3
	}
	return -1, 1
}
