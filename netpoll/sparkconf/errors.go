package sparkconf

import (
	"errors"
	"strconv"
)

// Sentinel causes carried by [*Error]; test for them with errors.Is.
var (
	// ErrSyntax means the value does not have the shape the getter expects.
	ErrSyntax = errors.New("invalid syntax")
	// ErrRange means the value is well formed but does not fit the result type.
	ErrRange = errors.New("value out of range")
	// ErrUnit means the value carries a unit suffix the grammar does not know.
	ErrUnit = errors.New("unknown unit suffix")
	// ErrDefaultUnit means the caller passed a default unit that is not positive.
	ErrDefaultUnit = errors.New("default unit must be positive")
)

// Error reports a configuration value that could not be parsed. Key is empty
// when the value did not come from a [Conf] (for example from
// [ParseDuration]). Err describes the problem and wraps one of the sentinel
// errors such as [ErrSyntax], [ErrRange] or [ErrUnit].
type Error struct {
	Key   string // configuration key, or "" for a bare parse
	Value string // the raw value that was rejected
	Err   error  // why it was rejected
}

// Error formats the failure as
// `sparkconf: invalid value "<value>" for <key>: <reason>`, leaving out the
// "for <key>" part when Key is empty.
func (e *Error) Error() string {
	msg := "sparkconf: invalid value " + strconv.Quote(e.Value)
	if e.Key != "" {
		msg += " for " + e.Key
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause so errors.Is and errors.As can see it.
func (e *Error) Unwrap() error { return e.Err }
