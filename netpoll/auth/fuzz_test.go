package auth

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// FuzzDecodeAuthMessage: any payload decodes or fails cleanly, and what
// decodes re-encodes to the same bytes.
func FuzzDecodeAuthMessage(f *testing.F) {
	g, _ := hex.DecodeString(goldenChallenge)
	f.Add(g)
	f.Add([]byte{0xFB})
	f.Add([]byte{0xFB, 0xff, 0xff, 0xff, 0xff})
	f.Add((&SaslMessage{AppID: "a", Token: []byte("t")}).Encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := DecodeAuthMessage(p)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), p) {
			t.Fatalf("re-encoding differs")
		}
		// A server must reject (not panic on) any decodable challenge it
		// did not make.
		s, _ := NewEngine(m.AppID, "secret", 2)
		_, _ = s.Respond(m)
	})
}

// FuzzDecodeSaslMessage: any payload decodes or fails cleanly.
func FuzzDecodeSaslMessage(f *testing.F) {
	f.Add((&SaslMessage{AppID: "sparkSaslUser", Token: []byte("charset=utf-8")}).Encode())
	f.Add([]byte{0xEA, 0, 0, 0, 0})
	f.Add([]byte{0xEA, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := DecodeSaslMessage(p)
		if err != nil {
			return
		}
		if m2, err := DecodeSaslMessage(m.Encode()); err != nil || m2.AppID != m.AppID || !bytes.Equal(m2.Token, m.Token) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
