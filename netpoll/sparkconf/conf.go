package sparkconf

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Conf is a set of spark.* properties that is built once and then read
// concurrently; see the package documentation for the concurrency contract.
// The zero value is not usable; create a Conf with [New] or [FromMap].
type Conf struct {
	mu    sync.RWMutex
	props map[string]string
}

// New returns an empty Conf.
func New() *Conf {
	return &Conf{props: make(map[string]string)}
}

// FromMap returns a Conf holding a copy of m, so later changes to m do not
// affect the Conf; a nil m yields an empty Conf.
func FromMap(m map[string]string) *Conf {
	props := make(map[string]string, len(m))
	for k, v := range m {
		props[k] = v
	}
	return &Conf{props: props}
}

// Set stores value under key, replacing any earlier value, and returns c so
// calls can be chained. Set is meant for building a Conf before it is shared.
func (c *Conf) Set(key, value string) *Conf {
	c.mu.Lock()
	if c.props == nil {
		c.props = make(map[string]string)
	}
	c.props[key] = value
	c.mu.Unlock()
	return c
}

// Clone returns an independent copy of c that may be modified with Set
// without affecting c.
func (c *Conf) Clone() *Conf {
	if c == nil {
		return New()
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return FromMap(c.props)
}

// Get returns the raw value stored under key and whether the key is set.
func (c *Conf) Get(key string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	v, ok := c.props[key]
	c.mu.RUnlock()
	return v, ok
}

// GetString returns the raw value stored under key, or def when the key is
// not set. A key set to the empty string yields the empty string.
func (c *Conf) GetString(key, def string) string {
	if v, ok := c.Get(key); ok {
		return v
	}
	return def
}

// Contains reports whether key is set, even if its value is empty.
func (c *Conf) Contains(key string) bool {
	_, ok := c.Get(key)
	return ok
}

// Len returns the number of keys that are set.
func (c *Conf) Len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.props)
}

// All returns a copy of every key and value in c; the caller owns the map.
func (c *Conf) All() map[string]string {
	if c == nil {
		return map[string]string{}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]string, len(c.props))
	for k, v := range c.props {
		out[k] = v
	}
	return out
}

// GetInt returns the value of key parsed as a base-10 int (surrounding
// whitespace ignored), or def when the key is not set. A malformed or
// out-of-range value yields def and an [*Error].
func (c *Conf) GetInt(key string, def int) (int, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := parseInt(v, strconv.IntSize)
	if err != nil {
		return def, &Error{Key: key, Value: v, Err: err}
	}
	return int(n), nil
}

// GetInt64 returns the value of key parsed as a base-10 int64 (surrounding
// whitespace ignored), or def when the key is not set. A malformed or
// out-of-range value yields def and an [*Error].
func (c *Conf) GetInt64(key string, def int64) (int64, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := parseInt(v, 64)
	if err != nil {
		return def, &Error{Key: key, Value: v, Err: err}
	}
	return n, nil
}

// GetBool returns the value of key parsed as "true" or "false" in any letter
// case (surrounding whitespace ignored), or def when the key is not set. Any
// other value yields def and an [*Error].
func (c *Conf) GetBool(key string, def bool) (bool, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	b, err := parseBool(v)
	if err != nil {
		return def, &Error{Key: key, Value: v, Err: err}
	}
	return b, nil
}

// GetDuration returns the value of key parsed with [ParseDuration] using
// defUnit for bare numbers, or def when the key is not set. A malformed
// value yields def and an [*Error].
func (c *Conf) GetDuration(key string, def time.Duration, defUnit time.Duration) (time.Duration, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	d, err := parseDuration(v, defUnit)
	if err != nil {
		return def, &Error{Key: key, Value: v, Err: err}
	}
	return d, nil
}

// GetBytes returns the value of key parsed with [ParseBytes] using defUnit
// (a number of bytes) for bare numbers, or def when the key is not set. A
// malformed value yields def and an [*Error].
func (c *Conf) GetBytes(key string, def int64, defUnit int64) (int64, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := parseBytes(v, defUnit)
	if err != nil {
		return def, &Error{Key: key, Value: v, Err: err}
	}
	return n, nil
}

// FirstSet returns the first of keys that is set, together with its value;
// ok is false when none of them is set. It is meant for settings that have
// alternative or deprecated spellings, listed in order of preference.
func (c *Conf) FirstSet(keys ...string) (key, value string, ok bool) {
	if c == nil {
		return "", "", false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, k := range keys {
		if v, found := c.props[k]; found {
			return k, v, true
		}
	}
	return "", "", false
}

// ModuleKey returns the transport key "spark.<module>.io.<suffix>", or
// "spark.<role>.<module>.io.<suffix>" when role is not empty.
func ModuleKey(role, module, suffix string) string {
	var b strings.Builder
	b.Grow(len("spark...io.") + len(role) + len(module) + len(suffix))
	b.WriteString("spark.")
	if role != "" {
		b.WriteString(role)
		b.WriteByte('.')
	}
	b.WriteString(module)
	b.WriteString(".io.")
	b.WriteString(suffix)
	return b.String()
}

// ModuleLookup resolves a transport setting the way Spark's TransportConf
// does: when role is not empty it first tries the role-specific key
// "spark.<role>.<module>.io.<suffix>", then falls back to the shared key
// "spark.<module>.io.<suffix>". It returns the key that was found and its
// value; ok is false when neither key is set.
func (c *Conf) ModuleLookup(role, module, suffix string) (key, value string, ok bool) {
	if role != "" {
		k := ModuleKey(role, module, suffix)
		if v, found := c.Get(k); found {
			return k, v, true
		}
	}
	k := ModuleKey("", module, suffix)
	if v, found := c.Get(k); found {
		return k, v, true
	}
	return "", "", false
}
