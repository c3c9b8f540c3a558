package master

// Spark 4's one built-in protection for the REST server:
// spark.master.rest.filters=org.apache.spark.ui.JWSFilter with
// spark.org.apache.spark.ui.JWSFilter.param.secretKey=<base64url key of
// at least 256 bits>. Every request must then carry "Authorization:
// Bearer <JWS>", a compact JWT signed with HMAC-SHA (HS256, HS384 or
// HS512) under that key; its exp and nbf claims, when present, must hold
// now. Anything else is 403, as Spark's filter (jjwt's
// parseSignedClaims) answers: "Authorization header is missing.",
// "Malformed Authorization header." or "JWT Validate Fail". Ember checks
// the token itself; no other Java filter can run here.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

const (
	// jwsFilterClass is the filter class Ember implements natively.
	jwsFilterClass = "org.apache.spark.ui.JWSFilter"
	// jwsSecretKey is its key parameter (spark.<filter>.param.secretKey).
	jwsSecretKey = "spark." + jwsFilterClass + ".param.secretKey"
)

// jwsFilter verifies bearer tokens.
type jwsFilter struct {
	key []byte
	now func() time.Time
}

// newJWSFilter reads the key as Spark's filter does (base64url, at least
// 256 bits: jjwt's Keys.hmacShaKeyFor refuses shorter ones).
func newJWSFilter(conf *sparkconf.Conf) (*jwsFilter, error) {
	v, ok := conf.Get(jwsSecretKey)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%s needs %s (a base64url key of at least 256 bits)", jwsFilterClass, jwsSecretKey)
	}
	key, err := decodeBase64URL(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("%s: not base64url: %w", jwsSecretKey, err)
	}
	if len(key)*8 < 256 {
		return nil, fmt.Errorf("%s: the key has %d bits; HMAC-SHA keys need at least 256", jwsSecretKey, len(key)*8)
	}
	return &jwsFilter{key: key, now: time.Now}, nil
}

// decodeBase64URL takes base64url with or without padding.
func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// check returns "" for a request with a valid token, else the reason for
// the 403.
func (f *jwsFilter) check(r *http.Request) string {
	h, ok := r.Header["Authorization"]
	if !ok || len(h) == 0 {
		return "Authorization header is missing."
	}
	token, ok := strings.CutPrefix(h[0], "Bearer ")
	if !ok {
		return "Malformed Authorization header."
	}
	if err := f.verify(token); err != nil {
		return "JWT Validate Fail"
	}
	return ""
}

// errJWS is any token the filter refuses.
var errJWS = errors.New("master: invalid JWS")

// verify checks a compact JWS: an HS256/384/512 signature under the key
// (long enough for the algorithm), a JSON object payload, exp and nbf.
func (f *jwsFilter) verify(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		return errJWS
	}
	hb, err := decodeBase64URL(parts[0])
	if err != nil {
		return errJWS
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		return errJWS
	}
	if _, ok := header["crit"]; ok {
		return errJWS // no critical extension is understood
	}
	if _, ok := header["zip"]; ok {
		return errJWS
	}
	var newHash func() hash.Hash
	var bits int
	switch header["alg"] {
	case "HS256":
		newHash, bits = sha256.New, 256
	case "HS384":
		newHash, bits = sha512.New384, 384
	case "HS512":
		newHash, bits = sha512.New, 512
	default:
		return errJWS
	}
	if len(f.key)*8 < bits {
		return errJWS
	}
	sig, err := decodeBase64URL(parts[2])
	if err != nil {
		return errJWS
	}
	mac := hmac.New(newHash, f.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return errJWS
	}
	pb, err := decodeBase64URL(parts[1])
	if err != nil {
		return errJWS
	}
	var claims map[string]any
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil || claims == nil {
		return errJWS
	}
	now := f.now()
	for name, late := range map[string]bool{"exp": true, "nbf": false} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			return errJWS
		}
		secs, err := n.Float64()
		if err != nil || math.IsNaN(secs) {
			return errJWS
		}
		at := time.Unix(int64(secs), 0)
		if late && !now.Before(at) || !late && now.Before(at) {
			return errJWS
		}
	}
	return nil
}
