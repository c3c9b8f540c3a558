package sparkconf

import (
	"errors"
	"fmt"
	"strings"
)

// ErrOptionString means an option string has an unclosed quote or ends in
// a lone backslash.
var ErrOptionString = errors.New("sparkconf: invalid option string")

// SplitOptionString splits a JVM option string such as the value of
// SPARK_DAEMON_JAVA_OPTS into options the way Spark's launcher does:
// blanks separate options; single quotes keep everything up to the next
// single quote literally; double quotes keep blanks and single quotes; a
// backslash outside single quotes makes the next character literal. An
// empty quoted string is an empty option.
func SplitOptionString(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inOpt, single, double, escaped := false, false, false, false
	// Byte by byte: every special character is ASCII, and bytes of
	// multi-byte or invalid UTF-8 are copied as they are (ranging over
	// runes would turn an invalid byte into U+FFFD, three bytes).
	for i := 0; i < len(s); i++ {
		r := s[i]
		switch {
		case escaped:
			cur.WriteByte(r)
			escaped = false
		case r == '\\' && !single:
			escaped, inOpt = true, true
		case r == '\'' && !double:
			single, inOpt = !single, true
		case r == '"' && !single:
			double, inOpt = !double, true
		case (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f') && !single && !double:
			if inOpt {
				out = append(out, cur.String())
				cur.Reset()
				inOpt = false
			}
		default:
			cur.WriteByte(r)
			inOpt = true
		}
	}
	if single || double || escaped {
		return nil, fmt.Errorf("%w: %q", ErrOptionString, s)
	}
	if inOpt {
		out = append(out, cur.String())
	}
	return out, nil
}

// SystemProperties returns the spark.* settings among the -Dkey=value
// options of JVM option strings (SPARK_DAEMON_JAVA_OPTS, SPARK_MASTER_OPTS,
// ...), as a JVM would set them as system properties: "-Dkey" alone sets
// the empty string, and a later option wins over an earlier one, across
// the strings too. Options that are not -Dspark.* (-Xmx1g, -Dfoo=1) are
// skipped. An error names the option string that cannot be split.
func SystemProperties(optionStrings ...string) (map[string]string, error) {
	props := map[string]string{}
	for _, s := range optionStrings {
		opts, err := SplitOptionString(s)
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			kv, ok := strings.CutPrefix(o, "-D")
			if !ok {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "spark.") {
				props[k] = v
			}
		}
	}
	return props, nil
}
