package app

import "errors"

// permanentError is a task failure that running the task again cannot
// cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err, returned by a task, as a failure that no retry can
// cure (a service the task needs is not there, its input is wrong): the
// driver fails the stage on the first such failure, with err's text,
// instead of running the task again up to MaxTaskAttempts times. It
// returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
