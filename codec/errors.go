package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding errors wrap one of them, so callers can test with
// errors.Is; the message says what exactly was wrong.
var (
	// ErrFrameLength: the frame length field is not positive after its own
	// 8 bytes (Spark: "Frame length should be positive").
	ErrFrameLength = errors.New("codec: frame length should be positive")
	// ErrFrameTooLarge: the frame is longer than Spark allows (2^31-1 bytes
	// after the length field) or than the decoder's configured maximum.
	ErrFrameTooLarge = errors.New("codec: too large frame")
	// ErrUnknownType: the type byte names no transport message.
	ErrUnknownType = errors.New("codec: unknown message type")
	// ErrMalformed: a field runs past the end of its frame, or a length or
	// count inside the frame is negative.
	ErrMalformed = errors.New("codec: malformed frame")
	// ErrInterceptorInstalled: a second interceptor was installed while one
	// was still active.
	ErrInterceptorInstalled = errors.New("codec: an interceptor is already installed")
	// ErrNoBody: a body length was given for a type that carries no body.
	ErrNoBody = errors.New("codec: message type carries no body")
)

func malformed(t Type, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, t, fmt.Sprintf(format, args...))
}

func malformedPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
