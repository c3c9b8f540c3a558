package digest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Names used on the wire.
const (
	// Mechanism is the SASL mechanism name.
	Mechanism = "DIGEST-MD5"

	// QOPAuth is authentication only: no security layer.
	QOPAuth = "auth"
	// QOPAuthInt is authentication plus an integrity layer (HMAC-MD5).
	QOPAuthInt = "auth-int"
	// QOPAuthConf is authentication plus a confidentiality layer (a cipher
	// and HMAC-MD5).
	QOPAuthConf = "auth-conf"

	// Cipher3DES is two-key triple DES (EDE with K1, K2, K1) in CBC mode.
	Cipher3DES = "3des"
	// CipherRC4 is RC4 with a 128-bit key.
	CipherRC4 = "rc4"
	// CipherDES is single DES in CBC mode.
	CipherDES = "des"
	// CipherRC456 is RC4 whose key is derived from 56 bits of H(A1).
	CipherRC456 = "rc4-56"
	// CipherRC440 is RC4 whose key is derived from 40 bits of H(A1).
	CipherRC440 = "rc4-40"

	// SparkRealm is the realm (and server name) Spark gives the JDK.
	SparkRealm = "default"
	// SparkDigestURI is the digest-uri the JDK builds for Spark: Spark
	// passes a null protocol and the server name "default".
	SparkDigestURI = "null/default"

	// MaxChallengeSize is the largest challenge accepted (RFC 2831).
	MaxChallengeSize = 2048
	// MaxResponseSize is the largest response accepted (RFC 2831).
	MaxResponseSize = 4096
	// DefaultMaxBuf is the maxbuf both sides assume and announce.
	DefaultMaxBuf = 65536
)

// Cipher strengths, as the JDK groups the ciphers.
const (
	strengthLow    = 1
	strengthMedium = 2
	strengthHigh   = 4
)

// cipherSpec describes one auth-conf cipher.
type cipherSpec struct {
	name     string
	strength int
	// prefix is how many bytes of H(A1) go into Kcc and Kcs.
	prefix int
}

// ciphers is in the JDK's fixed order, which is both the order a server
// offers them in and the order a client tries them within one strength.
var ciphers = [...]cipherSpec{
	{Cipher3DES, strengthHigh, 16},
	{CipherRC4, strengthHigh, 16},
	{CipherDES, strengthMedium, 16},
	{CipherRC456, strengthMedium, 7},
	{CipherRC440, strengthLow, 5},
}

// clientStrengths is the order a client tries strengths in: the JDK's
// default for javax.security.sasl.strength, "high,medium,low".
var clientStrengths = [...]int{strengthHigh, strengthMedium, strengthLow}

func cipherIndex(name string) int {
	for i, c := range ciphers {
		if c.name == name {
			return i
		}
	}
	return -1
}

// qop bits, for sets of QOPs.
const (
	qopAuth     = 1
	qopAuthInt  = 2
	qopAuthConf = 4
)

func qopBit(name string) int {
	switch strings.ToLower(name) {
	case QOPAuth:
		return qopAuth
	case QOPAuthInt:
		return qopAuthInt
	case QOPAuthConf:
		return qopAuthConf
	}
	return 0
}

func qopName(bit int) string {
	switch bit {
	case qopAuthInt:
		return QOPAuthInt
	case qopAuthConf:
		return QOPAuthConf
	}
	return QOPAuth
}

// parseQOPList turns a configured QOP list into bits in order. Elements may
// themselves be comma-separated lists. An empty list means "auth", the
// JDK's default. Unknown names are an error.
func parseQOPList(qops []string) ([]int, error) {
	var out []int
	for _, q := range qops {
		for _, tok := range splitTokens(q) {
			b := qopBit(tok)
			if b == 0 {
				return nil, fmt.Errorf("%w: unknown qop %q", ErrConfig, tok)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		out = []int{qopAuth}
	}
	return out, nil
}

// newNonce returns 30 random bytes in Base64: 40 characters, the size and
// alphabet of the JDK's nonces and cnonces.
func newNonce() []byte {
	var raw [30]byte
	_, _ = rand.Read(raw[:]) // never fails: crypto/rand crashes the program instead
	out := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(out, raw[:])
	return out
}

// latin1 encodes s as ISO 8859-1, writing '?' for characters outside it,
// as Java's String.getBytes(ISO_8859_1) does.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			out = append(out, '?')
		} else {
			out = append(out, byte(r))
		}
	}
	return out
}

// decodeText decodes a received string: UTF-8 once charset=utf-8 is
// agreed, ISO 8859-1 before.
func decodeText(b []byte, utf8 bool) string {
	if utf8 {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// wireBytes encodes s for the wire: UTF-8 once charset=utf-8 is agreed,
// ISO 8859-1 before.
func wireBytes(s string, utf8 bool) []byte {
	if utf8 {
		return []byte(s)
	}
	return latin1(s)
}

// hashBytes encodes a username, realm or password for H(A1): ISO 8859-1 if
// every character fits, else (only with charset=utf-8) UTF-8. RFC 2831
// section 2.1.2.1, and the JDK.
func hashBytes(s string, utf8 bool) []byte {
	if utf8 {
		for _, r := range s {
			if r > 0xFF {
				return []byte(s)
			}
		}
	}
	return latin1(s)
}

// credentials are the inputs of H(A1), already encoded.
type credentials struct {
	username, realm, password []byte
	nonce, cnonce             []byte
	authzid                   []byte // nil: none
}

// sessionKey computes H(A1) for algorithm=md5-sess:
// MD5(MD5(user:realm:pass), ":", nonce, ":", cnonce [, ":", authzid]),
// the inner MD5 as 16 raw bytes.
func sessionKey(c *credentials) [md5.Size]byte {
	h := md5.New()
	h.Write(c.username)
	h.Write([]byte{':'})
	h.Write(c.realm)
	h.Write([]byte{':'})
	h.Write(c.password)
	var inner [md5.Size]byte
	h.Sum(inner[:0])

	h.Reset()
	h.Write(inner[:])
	h.Write([]byte{':'})
	h.Write(c.nonce)
	h.Write([]byte{':'})
	h.Write(c.cnonce)
	if c.authzid != nil {
		h.Write([]byte{':'})
		h.Write(c.authzid)
	}
	var out [md5.Size]byte
	h.Sum(out[:0])
	return out
}

// nonceCount is the nc value: always 1, as only initial authentication is
// supported (by the JDK as well).
const nonceCount = "00000001"

// securityLayerMarker is appended to A2 for auth-int and auth-conf.
const securityLayerMarker = ":00000000000000000000000000000000"

// responseValue computes the 32 lower-case hex digits of response-value
// (method "AUTHENTICATE") or of rspauth (method ""):
// HEX(MD5(HEX(H(A1)), ":", nonce, ":", nc, ":", cnonce, ":", qop, ":", HEX(H(A2))))
// with A2 = method ":" digest-uri [securityLayerMarker].
func responseValue(ha1 [md5.Size]byte, method string, digestURI []byte, qop string, nonce, cnonce []byte) []byte {
	h := md5.New()
	h.Write([]byte(method))
	h.Write([]byte{':'})
	h.Write(digestURI)
	if qop != QOPAuth {
		h.Write([]byte(securityLayerMarker))
	}
	var ha2 [md5.Size]byte
	h.Sum(ha2[:0])

	h.Reset()
	var hexBuf [2 * md5.Size]byte
	hex.Encode(hexBuf[:], ha1[:])
	h.Write(hexBuf[:])
	h.Write([]byte{':'})
	h.Write(nonce)
	h.Write([]byte{':'})
	h.Write([]byte(nonceCount))
	h.Write([]byte{':'})
	h.Write(cnonce)
	h.Write([]byte{':'})
	h.Write([]byte(qop))
	h.Write([]byte{':'})
	hex.Encode(hexBuf[:], ha2[:])
	h.Write(hexBuf[:])
	var sum [md5.Size]byte
	h.Sum(sum[:0])
	out := make([]byte, 2*md5.Size)
	hex.Encode(out, sum[:])
	return out
}

// parseMaxBuf reads a maxbuf value: a decimal number above 16 (RFC 2831)
// that fits Java's int (the JDK parses it with Integer.parseInt).
func parseMaxBuf(v []byte, present bool) (int, error) {
	if !present {
		return DefaultMaxBuf, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	if err != nil || n <= 16 {
		return 0, fmt.Errorf("%w: bad maxbuf %q", ErrMalformed, v)
	}
	return int(n), nil
}
