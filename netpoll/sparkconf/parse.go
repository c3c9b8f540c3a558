package sparkconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeUnits maps each accepted time suffix (lower case) to its length.
var timeUnits = map[string]time.Duration{
	"us":  time.Microsecond,
	"ms":  time.Millisecond,
	"s":   time.Second,
	"m":   time.Minute,
	"min": time.Minute,
	"h":   time.Hour,
	"d":   24 * time.Hour,
}

const timeSuffixList = "us, ms, s, m, min, h, d"

// byteUnits maps each accepted size suffix (lower case) to its multiplier.
var byteUnits = map[string]int64{
	"b":  1,
	"k":  1 << 10,
	"kb": 1 << 10,
	"m":  1 << 20,
	"mb": 1 << 20,
	"g":  1 << 30,
	"gb": 1 << 30,
	"t":  1 << 40,
	"tb": 1 << 40,
	"p":  1 << 50,
	"pb": 1 << 50,
}

const byteSuffixList = "b, k, kb, m, mb, g, gb, t, tb, p, pb"

// ParseDuration parses a Spark time string: an optional '-', one or more
// decimal digits and an optional unit suffix us, ms, s, m or min, h, or d,
// matched without regard to letter case. Surrounding whitespace is ignored,
// but no space may separate the number from its suffix. A number without a
// suffix is a count of defUnit, which must be positive. Fractions such as
// "1.5s" are rejected, as Spark does. Errors are of type [*Error] with an
// empty Key.
func ParseDuration(s string, defUnit time.Duration) (time.Duration, error) {
	d, err := parseDuration(s, defUnit)
	if err != nil {
		return 0, &Error{Value: s, Err: err}
	}
	return d, nil
}

// ParseBytes parses a Spark size string: one or more decimal digits and an
// optional suffix b, k or kb, m or mb, g or gb, t or tb, p or pb (powers of
// 1024), matched without regard to letter case. Surrounding whitespace is
// ignored, but no space may separate the number from its suffix. A number
// without a suffix is a count of defUnit bytes, which must be positive.
// Negative sizes and fractions are rejected. Errors are of type [*Error]
// with an empty Key.
func ParseBytes(s string, defUnit int64) (int64, error) {
	n, err := parseBytes(s, defUnit)
	if err != nil {
		return 0, &Error{Value: s, Err: err}
	}
	return n, nil
}

func parseDuration(s string, defUnit time.Duration) (time.Duration, error) {
	if defUnit <= 0 {
		return 0, fmt.Errorf("%w, got %v", ErrDefaultUnit, defUnit)
	}
	neg, digits, suffix, err := splitQuantity(s, timeSuffixList)
	if err != nil {
		return 0, err
	}
	unit := defUnit
	if suffix != "" {
		u, ok := timeUnits[suffix]
		if !ok {
			return 0, fmt.Errorf("%w %q: want one of %s", ErrUnit, suffix, timeSuffixList)
		}
		unit = u
	}
	n, err := scale(digits, int64(unit), neg)
	if err != nil {
		return 0, fmt.Errorf("%w: does not fit in a time.Duration (about ±292 years)", ErrRange)
	}
	return time.Duration(n), nil
}

func parseBytes(s string, defUnit int64) (int64, error) {
	if defUnit <= 0 {
		return 0, fmt.Errorf("%w, got %d", ErrDefaultUnit, defUnit)
	}
	neg, digits, suffix, err := splitQuantity(s, byteSuffixList)
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, fmt.Errorf("%w: byte sizes cannot be negative", ErrSyntax)
	}
	unit := defUnit
	if suffix != "" {
		u, ok := byteUnits[suffix]
		if !ok {
			return 0, fmt.Errorf("%w %q: want one of %s", ErrUnit, suffix, byteSuffixList)
		}
		unit = u
	}
	n, err := scale(digits, unit, false)
	if err != nil {
		return 0, fmt.Errorf("%w: exceeds %d bytes", ErrRange, int64(math.MaxInt64))
	}
	return n, nil
}

// splitQuantity trims s and splits it into an optional leading '-', a run of
// ASCII digits and a lower-cased suffix. It rejects inputs with no digits,
// with a fractional part, or with anything other than ASCII letters after
// the digits. suffixes is only used to word the error message.
func splitQuantity(s, suffixes string) (neg bool, digits, suffix string, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return false, "", "", fmt.Errorf("%w: empty value", ErrSyntax)
	}
	if t[0] == '-' {
		neg = true
		t = t[1:]
	}
	i := 0
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	digits, rest := t[:i], t[i:]
	if digits == "" {
		return false, "", "", fmt.Errorf("%w: want an integer with an optional unit suffix (%s)", ErrSyntax, suffixes)
	}
	if len(rest) > 1 && rest[0] == '.' && isDigit(rest[1]) {
		return false, "", "", fmt.Errorf("%w: fractional values are not supported; use a smaller unit", ErrSyntax)
	}
	for j := 0; j < len(rest); j++ {
		if !isASCIILetter(rest[j]) {
			return false, "", "", fmt.Errorf("%w: want an integer with an optional unit suffix (%s)", ErrSyntax, suffixes)
		}
	}
	return neg, digits, asciiLower(rest), nil
}

// scale multiplies the decimal number in digits by unit (positive), negating
// the product when neg is set, and fails if the result does not fit in an
// int64. digits must be a non-empty run of ASCII digits.
func scale(digits string, unit int64, neg bool) (int64, error) {
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, ErrRange // the only possible failure for pure digits
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // |math.MinInt64|
	}
	u := uint64(unit)
	if n > limit/u {
		return 0, ErrRange
	}
	p := n * u
	if !neg {
		return int64(p), nil
	}
	if p == 0 {
		return 0, nil
	}
	// -p computed without overflowing when p == 1<<63.
	return -int64(p-1) - 1, nil
}

func parseInt(s string, bitSize int) (int64, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, bitSize)
	if err == nil {
		return n, nil
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return 0, fmt.Errorf("%w: does not fit in a %d-bit integer", ErrRange, bitSize)
	}
	return 0, fmt.Errorf("%w: want a base-10 integer", ErrSyntax)
}

func parseBool(s string) (bool, error) {
	t := strings.TrimSpace(s)
	switch {
	case strings.EqualFold(t, "true"):
		return true, nil
	case strings.EqualFold(t, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%w: want true or false", ErrSyntax)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isASCIILetter(b byte) bool { return ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') }

// asciiLower lower-cases s, which must contain only ASCII letters.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
