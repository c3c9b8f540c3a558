package auth

import (
	"encoding/hex"
	"testing"
)

// Known answers from Spark's AuthEngineSuite / CtrAuthEngineSuite: a client
// with a fixed X25519 key, its recorded challenge and the server's recorded
// response must derive these keys and IVs.
const (
	goldenClientPrivate = "efe6b68b3fce92158e3637f6ef9d937e75558928dd4b401de04b43d300a73186"
	goldenChallenge     = "fb00000005617070496400000010890b6e960f48e998777267a7e4e623220000003c48ad7dc7ec9466da93bda9f11488dc9404050e02c661d87d67c782444944c6e369b27e0a416c30845a2d9e64271511ca98b41d65f8c426e18ff380f6"
	goldenResponse      = "fb00000005617070496400000010708451c9dd2792c97c1ca66e6df449ef0000003c64fe899ecdaf458d4e25e9d5c5a380b8e6d1a184692fac065ed84f8592c18e9629f9c636809dca2ffc041f20346eb53db7873808ecad08b46b5ee3ff"
	goldenDerivedKeyID  = "de04fd52d71040ed9d260579dacfdf4f5695f991ce8ddb1dde05a7335880906e"
	goldenUnsafeKey     = "31963f15a320d5c90333f7ecf5cf3a31c7eaf151de07fef8494663a9f47cfd31"
	goldenInputIV       = "fc6a5dc8b90a9dad8f54f08b51a59ed2"
	goldenOutputIV      = "a72709baf00785cad6329ce09f631f71"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenMessages(t *testing.T) (*AuthMessage, *AuthMessage) {
	t.Helper()
	ch, err := DecodeAuthMessage(mustHex(t, goldenChallenge))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeAuthMessage(mustHex(t, goldenResponse))
	if err != nil {
		t.Fatal(err)
	}
	return ch, resp
}

func TestGoldenMessagesRoundTrip(t *testing.T) {
	ch, resp := goldenMessages(t)
	if got := hex.EncodeToString(ch.Encode()); got != goldenChallenge {
		t.Fatalf("challenge re-encodes as %s", got)
	}
	if got := hex.EncodeToString(resp.Encode()); got != goldenResponse {
		t.Fatalf("response re-encodes as %s", got)
	}
	if ch.AppID != "appId" || len(ch.Salt) != 16 || len(ch.Ciphertext) != 60 {
		t.Fatalf("challenge fields: %q salt %d ct %d", ch.AppID, len(ch.Salt), len(ch.Ciphertext))
	}
}

func TestFixedChallengeResponseVersion2(t *testing.T) {
	e, _ := NewEngine("appId", "secret", 2)
	if err := e.setPrivateKey(mustHex(t, goldenClientPrivate)); err != nil {
		t.Fatal(err)
	}
	ch, resp := goldenMessages(t)
	if err := e.Finish(ch, resp); err != nil {
		t.Fatal(err)
	}
	k := e.Keys()
	if got := k.KeyID(); got != goldenDerivedKeyID {
		t.Errorf("key id %s, want %s", got, goldenDerivedKeyID)
	}
	if len(k.Key) != 16 {
		t.Errorf("version 2 key is %d bytes, want 16", len(k.Key))
	}
	if got := hex.EncodeToString(k.InputIV); got != goldenInputIV {
		t.Errorf("input IV %s, want %s", got, goldenInputIV)
	}
	if got := hex.EncodeToString(k.OutputIV); got != goldenOutputIV {
		t.Errorf("output IV %s, want %s", got, goldenOutputIV)
	}
}

func TestFixedChallengeResponseVersion1(t *testing.T) {
	e, _ := NewEngine("appId", "secret", 1)
	if err := e.setPrivateKey(mustHex(t, goldenClientPrivate)); err != nil {
		t.Fatal(err)
	}
	ch, resp := goldenMessages(t)
	if err := e.Finish(ch, resp); err != nil {
		t.Fatal(err)
	}
	k := e.Keys()
	if got := hex.EncodeToString(k.Key); got != goldenUnsafeKey {
		t.Errorf("version 1 key %s, want %s", got, goldenUnsafeKey)
	}
	if got := hex.EncodeToString(k.InputIV); got != goldenInputIV {
		t.Errorf("input IV %s, want %s", got, goldenInputIV)
	}
	if got := hex.EncodeToString(k.OutputIV); got != goldenOutputIV {
		t.Errorf("output IV %s, want %s", got, goldenOutputIV)
	}
}

// A server accepts an old recorded challenge (it cannot replay the session:
// its own key pair is fresh).
func TestFixedChallengeAccepted(t *testing.T) {
	s, _ := NewEngine("appId", "secret", 2)
	ch, _ := goldenMessages(t)
	resp, err := s.Respond(ch)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(resp.Encode()) == goldenResponse {
		t.Fatal("server reused the recorded response")
	}
}

func handshake(t *testing.T, version int, clientSecret, serverSecret string) (*Engine, *Engine, *AuthMessage, *AuthMessage, error) {
	t.Helper()
	c, _ := NewEngine("appId", clientSecret, version)
	s, _ := NewEngine("appId", serverSecret, version)
	ch, err := c.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Respond(ch)
	if err != nil {
		return c, s, ch, nil, err
	}
	return c, s, ch, resp, c.Finish(ch, resp)
}

func TestEngineAgrees(t *testing.T) {
	for _, v := range []int{1, 2} {
		c, s, _, _, err := handshake(t, v, "secret", "secret")
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		ck, sk := c.Keys(), s.Keys()
		if ck.KeyID() != sk.KeyID() || string(ck.InputIV) != string(sk.InputIV) || string(ck.OutputIV) != string(sk.OutputIV) {
			t.Fatalf("v%d: sides disagree", v)
		}
		if string(ck.InputIV) == string(ck.OutputIV) {
			t.Fatalf("v%d: input and output IVs are equal", v)
		}
	}
}

func TestMismatchedSecret(t *testing.T) {
	if _, _, _, _, err := handshake(t, 2, "secret", "different_secret"); err == nil {
		t.Fatal("handshake with different secrets succeeded")
	}
}

func TestCorruptChallenge(t *testing.T) {
	for _, field := range []string{"appId", "salt", "ciphertext"} {
		c, _ := NewEngine("appId", "secret", 2)
		s, _ := NewEngine("appId", "secret", 2)
		ch, err := c.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		bad := *ch
		switch field {
		case "appId":
			bad.AppID = "junk"
		case "salt":
			bad.Salt = append([]byte(nil), ch.Salt...)
			bad.Salt[0] ^= 1
		case "ciphertext":
			bad.Ciphertext = append([]byte(nil), ch.Ciphertext...)
			bad.Ciphertext[0] ^= 1
		}
		if _, err := s.Respond(&bad); err == nil {
			t.Errorf("corrupt challenge %s accepted", field)
		}
	}
}

func TestCorruptResponse(t *testing.T) {
	for _, field := range []string{"appId", "salt", "ciphertext", "challenge"} {
		c, _ := NewEngine("appId", "secret", 2)
		s, _ := NewEngine("appId", "secret", 2)
		ch, err := c.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Respond(ch)
		if err != nil {
			t.Fatal(err)
		}
		bad := *resp
		usedCh := ch
		switch field {
		case "appId":
			bad.AppID = "junk"
		case "salt":
			bad.Salt = append([]byte(nil), resp.Salt...)
			bad.Salt[0] ^= 1
		case "ciphertext":
			bad.Ciphertext = append([]byte(nil), resp.Ciphertext...)
			bad.Ciphertext[len(bad.Ciphertext)-1] ^= 1
		case "challenge": // the response is bound to the transcript
			other := *ch
			other.Salt = append([]byte(nil), ch.Salt...)
			other.Salt[3] ^= 1
			usedCh = &other
		}
		if err := c.Finish(usedCh, &bad); err == nil {
			t.Errorf("corrupt response (%s) accepted", field)
		}
	}
}

func TestVersionsDisagree(t *testing.T) {
	c, _ := NewEngine("appId", "secret", 1)
	s, _ := NewEngine("appId", "secret", 2)
	ch, _ := c.Challenge()
	resp, err := s.Respond(ch)
	if err != nil {
		t.Fatal(err) // the handshake itself does not depend on the version
	}
	if err := c.Finish(ch, resp); err != nil {
		t.Fatal(err)
	}
	if c.Keys().KeyID() == s.Keys().KeyID() {
		t.Fatal("version 1 and version 2 derived the same key")
	}
}

func TestBadVersion(t *testing.T) {
	if _, err := NewEngine("a", "s", 3); err == nil {
		t.Fatal("version 3 accepted")
	}
}
