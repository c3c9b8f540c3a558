package digest

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, with
// details after a colon, e.g. `digest: authentication failed: wrong
// password for user "c3Bhcms="`.
var (
	// ErrAuthFailed: the peer could not prove it knows the password. On a
	// Server: unknown user or wrong password. On a Client: the server's
	// rspauth did not match.
	ErrAuthFailed = errors.New("digest: authentication failed")
	// ErrNotAuthorized: the client asked to act as an authzid other than
	// its own username.
	ErrNotAuthorized = errors.New("digest: authorization denied")
	// ErrNoCommonQOP: no quality of protection is acceptable to both
	// sides, e.g. a server offering only auth-conf to a client wanting only
	// auth.
	ErrNoCommonQOP = errors.New("digest: no common protection layer")
	// ErrNoCommonCipher: auth-conf was agreed but no cipher is acceptable
	// to both sides.
	ErrNoCommonCipher = errors.New("digest: no common cipher")
	// ErrMalformed: a challenge or response broke RFC 2831's syntax, or a
	// directive is missing, repeated or has a bad value.
	ErrMalformed = errors.New("digest: malformed message")
	// ErrTooLarge: a challenge was over 2048 bytes or a response over 4096.
	ErrTooLarge = errors.New("digest: message too large")
	// ErrState: the call does not fit the exchange's state, e.g. Evaluate
	// after completion, or SecurityLayer before it.
	ErrState = errors.New("digest: wrong state")
	// ErrConfig: the arguments or options given to NewClient or NewServer
	// are invalid; reported by the first Evaluate.
	ErrConfig = errors.New("digest: invalid configuration")
	// ErrNoSecurityLayer: the agreed QOP is "auth", which has no layer.
	ErrNoSecurityLayer = errors.New("digest: no security layer negotiated")

	// ErrTokenMalformed: a wrapped token is too short or not whole cipher
	// blocks.
	ErrTokenMalformed = errors.New("digest: malformed token")
	// ErrTokenIntegrity: a wrapped token's MAC or padding is wrong: it was
	// altered, truncated or not made with the agreed keys.
	ErrTokenIntegrity = errors.New("digest: token failed integrity check")
	// ErrTokenSequence: a wrapped token carries an unexpected sequence
	// number: it was replayed, reordered or one was lost.
	ErrTokenSequence = errors.New("digest: token out of sequence")
	// ErrTokenType: a wrapped token's message type is not 1.
	ErrTokenType = errors.New("digest: bad token message type")
	// ErrLayerBroken: an earlier auth-conf Unwrap failed, leaving the
	// receiving cipher out of step; the connection must be dropped.
	ErrLayerBroken = errors.New("digest: security layer unusable after an earlier failure")
)
