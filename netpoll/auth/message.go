package auth

import (
	"errors"
	"fmt"

	"github.com/ember-rpc/ember/codec"
)

// Tags of the two handshake payloads: the first byte of every auth RPC.
const (
	AuthMessageTag byte = 0xFB // AuthEngine (spark.network.crypto.enabled)
	SaslMessageTag byte = 0xEA // SASL DIGEST-MD5
)

// maxHandshakeField bounds each variable-length field of a handshake
// message, so a hostile peer cannot make the server allocate much before it
// is authenticated.
const maxHandshakeField = 64 << 10

// ErrNotAuthMessage is returned when a payload does not start with the
// AuthEngine tag (a SASL client, or garbage).
var ErrNotAuthMessage = errors.New("auth: payload is not an AuthEngine message")

// ErrNotSaslMessage is returned when a payload does not start with the SASL
// tag.
var ErrNotSaslMessage = errors.New("auth: payload is not a SASL message")

// AuthMessage is one AuthEngine handshake message: the client's challenge
// or the server's response.
//
//	i8 0xFB | String appId | ByteArray salt | ByteArray ciphertext
type AuthMessage struct {
	AppID      string
	Salt       []byte
	Ciphertext []byte
}

// Encode returns the message's bytes, tag included.
func (m *AuthMessage) Encode() []byte {
	b := make([]byte, 0, 1+4+len(m.AppID)+4+len(m.Salt)+4+len(m.Ciphertext))
	b = append(b, AuthMessageTag)
	b = codec.AppendString(b, m.AppID)
	b = codec.AppendByteArray(b, m.Salt)
	return codec.AppendByteArray(b, m.Ciphertext)
}

// DecodeAuthMessage parses an AuthEngine message. Trailing bytes are an
// error: the message is the whole RPC payload.
func DecodeAuthMessage(p []byte) (*AuthMessage, error) {
	if len(p) == 0 || p[0] != AuthMessageTag {
		return nil, ErrNotAuthMessage
	}
	r := codec.NewReader(p[1:])
	m := &AuthMessage{}
	appID := r.Bytes()
	salt := r.Bytes()
	ct := r.Bytes()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("auth: malformed AuthEngine message: %w", err)
	}
	if len(appID) > maxHandshakeField || len(salt) > maxHandshakeField || len(ct) > maxHandshakeField {
		return nil, errors.New("auth: malformed AuthEngine message: field too long")
	}
	if len(r.Remaining()) != 0 {
		return nil, fmt.Errorf("auth: malformed AuthEngine message: %d trailing bytes", len(r.Remaining()))
	}
	m.AppID = string(appID)
	m.Salt = append([]byte(nil), salt...)
	m.Ciphertext = append([]byte(nil), ct...)
	return m, nil
}

// SaslMessage is one client-to-server SASL step.
//
//	i8 0xEA | String appId | i32 tokenLen | token (the rest)
//
// The length is written but, as in Spark, the token is the rest of the
// payload whatever it says.
type SaslMessage struct {
	AppID string
	Token []byte
}

// Encode returns the message's bytes, tag included.
func (m *SaslMessage) Encode() []byte {
	b := make([]byte, 0, 1+4+len(m.AppID)+4+len(m.Token))
	b = append(b, SaslMessageTag)
	b = codec.AppendString(b, m.AppID)
	return codec.AppendByteArray(b, m.Token)
}

// DecodeSaslMessage parses a SASL step.
func DecodeSaslMessage(p []byte) (*SaslMessage, error) {
	if len(p) == 0 || p[0] != SaslMessageTag {
		return nil, ErrNotSaslMessage
	}
	r := codec.NewReader(p[1:])
	appID := r.Bytes()
	_ = r.Int32() // the token length: not trusted
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("auth: malformed SASL message: %w", err)
	}
	if len(appID) > maxHandshakeField || len(r.Remaining()) > maxHandshakeField {
		return nil, errors.New("auth: malformed SASL message: field too long")
	}
	return &SaslMessage{AppID: string(appID), Token: append([]byte(nil), r.Remaining()...)}, nil
}
