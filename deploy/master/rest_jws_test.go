package master

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

var jwsKey = []byte("0123456789abcdef0123456789abcdef") // 256 bits

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signJWS makes a compact JWS with the given header and payload JSON.
func signJWS(key []byte, alg, header, payload string) string {
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	if h == nil {
		h = sha256.New
	}
	in := b64(header) + "." + b64(payload)
	mac := hmac.New(h, key)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestJWSFilter(t *testing.T) {
	conf := sparkconf.New().Set(jwsSecretKey, base64.URLEncoding.EncodeToString(jwsKey))
	f, err := newJWSFilter(conf)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	f.now = func() time.Time { return now }
	hs256 := `{"alg":"HS256"}`
	for _, tc := range []struct {
		name, auth string
		none       bool // no header at all
		want       string
	}{
		{"valid", "Bearer " + signJWS(jwsKey, "HS256", hs256, `{"sub":"ci"}`), false, ""},
		{"valid, not yet expired", "Bearer " + signJWS(jwsKey, "HS256", hs256, `{"exp":1800000060,"nbf":1799999999}`), false, ""},
		{"no header", "", true, "Authorization header is missing."},
		{"not bearer", "Basic dTpw", false, "Malformed Authorization header."},
		{"expired", "Bearer " + signJWS(jwsKey, "HS256", hs256, `{"exp":1800000000}`), false, "JWT Validate Fail"},
		{"not yet valid", "Bearer " + signJWS(jwsKey, "HS256", hs256, `{"nbf":1800000001}`), false, "JWT Validate Fail"},
		{"another key", "Bearer " + signJWS([]byte(strings.Repeat("k", 32)), "HS256", hs256, `{}`), false, "JWT Validate Fail"},
		{"HS512 with a 256-bit key", "Bearer " + signJWS(jwsKey, "HS512", `{"alg":"HS512"}`, `{}`), false, "JWT Validate Fail"},
		{"alg none", "Bearer " + b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".", false, "JWT Validate Fail"},
		{"payload not claims", "Bearer " + signJWS(jwsKey, "HS256", hs256, `[1]`), false, "JWT Validate Fail"},
		{"critical header", "Bearer " + signJWS(jwsKey, "HS256", `{"alg":"HS256","crit":["x"]}`, `{}`), false, "JWT Validate Fail"},
		{"two parts", "Bearer " + b64(hs256) + "." + b64(`{}`), false, "JWT Validate Fail"},
		{"garbage", "Bearer %%%.%%%.%%%", false, "JWT Validate Fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/submissions/readyz", nil)
			if !tc.none {
				r.Header.Set("Authorization", tc.auth)
			}
			if got := f.check(r); got != tc.want {
				t.Errorf("check = %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "c2hvcnQ", "not base64 !"} {
		if _, err := newJWSFilter(sparkconf.New().Set(jwsSecretKey, bad)); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// A master's handler behind the filter: 403 with an ErrorResponse and no
// ask without a token, the protocol with one.
func TestRESTBehindJWSFilter(t *testing.T) {
	conf := sparkconf.New().Set("spark.master.rest.filters", jwsFilterClass).
		Set(jwsSecretKey, base64.RawURLEncoding.EncodeToString(jwsKey))
	cfg, err := restConfigFromSpark(conf)
	if err != nil || cfg.JWS == nil {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	r := newRESTOn(newAlive(t), nil)
	r.jws = cfg.JWS
	code, m, raw := r.do(t, "GET", "/v1/submissions/readyz", "")
	if code != http.StatusForbidden || m["action"] != "ErrorResponse" || m["message"] != "Authorization header is missing." || len(r.asked) != 0 {
		t.Errorf("without a token: %d %s (asked %d)", code, raw, len(r.asked))
	}
	req := httptest.NewRequest("GET", "/v1/submissions/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+signJWS(jwsKey, "HS256", `{"alg":"HS256"}`, `{"sub":"ci"}`))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"action" : "ReadyzResponse"`) ||
		w.Header().Get("Cache-Control") != "no-cache, no-store, must-revalidate" {
		t.Errorf("with a token: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// FuzzJWSVerify: any token is accepted or refused, never a panic; only
// one signed under the key passes.
func FuzzJWSVerify(f *testing.F) {
	f.Add(signJWS(jwsKey, "HS256", `{"alg":"HS256"}`, `{"exp":1}`))
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".")
	f.Add("a.b.c")
	f.Add("")
	filter := &jwsFilter{key: jwsKey, now: time.Now}
	f.Fuzz(func(t *testing.T, token string) {
		if filter.verify(token) == nil {
			parts := strings.Split(token, ".")
			mac := hmac.New(sha256.New, jwsKey)
			mac.Write([]byte(parts[0] + "." + parts[1]))
			sig, _ := decodeBase64URL(parts[2])
			if !hmac.Equal(mac.Sum(nil), sig) { // a 256-bit key verifies HS256 alone
				t.Fatalf("accepted a token not signed with HS256 under the key: %q", token)
			}
		}
	})
}
