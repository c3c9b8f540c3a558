package javaser

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding errors are *Error values that wrap one of
// them, so callers test with errors.Is and read the offset and class with
// errors.As.
var (
	// ErrTruncated: the stream ends inside a value.
	ErrTruncated = errors.New("javaser: unexpected end of stream")
	// ErrMalformed: a byte or value is not what the protocol allows there.
	ErrMalformed = errors.New("javaser: malformed stream")
	// ErrLimit: the stream exceeds one of the reader's Limits.
	ErrLimit = errors.New("javaser: limit exceeded")
	// ErrUnsupported: a legal construct this codec cannot represent
	// (protocol-1 externalizable data, whose length only the class knows).
	ErrUnsupported = errors.New("javaser: unsupported construct")
	// ErrTrailing: bytes follow the single object Unmarshal expects.
	ErrTrailing = errors.New("javaser: trailing bytes after the object")
	// ErrWriteAborted: the writer failed mid-stream and wrote the
	// exception instead (TC_EXCEPTION); Error.Thrown holds it.
	ErrWriteAborted = errors.New("javaser: writing aborted")
	// ErrType: a value does not have the shape the caller asked for.
	ErrType = errors.New("javaser: unexpected value")
	// ErrUnknownClass: a class table has no entry for the class.
	ErrUnknownClass = errors.New("javaser: unknown class")
	// ErrSUIDMismatch: a stream's descriptor carries a serialVersionUID
	// other than the class table's.
	ErrSUIDMismatch = errors.New("javaser: serialVersionUID mismatch")
)

// Error is a decoding error: where in the stream it happened, in which
// class, and what went wrong.
type Error struct {
	// Offset is the byte offset in the stream where the bad value starts.
	Offset int
	// Class is the class being read, if any.
	Class string
	// Err is one of the sentinel errors.
	Err error
	// Msg says what exactly was wrong.
	Msg string
	// Thrown is the Throwable a writer wrote when it aborted
	// (ErrWriteAborted), or nil.
	Thrown *Object
}

func (e *Error) Error() string {
	cls := ""
	if e.Class != "" {
		cls = " (class " + e.Class + ")"
	}
	return fmt.Sprintf("%v at offset %d%s: %s", e.Err, e.Offset, cls, e.Msg)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// EncodeError is an encoding error: the value graph cannot be written.
type EncodeError struct {
	// Class is the class being written, if any.
	Class string
	// Msg says what was wrong.
	Msg string
}

func (e *EncodeError) Error() string {
	if e.Class != "" {
		return fmt.Sprintf("javaser: writing class %s: %s", e.Class, e.Msg)
	}
	return "javaser: " + e.Msg
}
