package auth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Engine runs one side of the AuthEngine handshake (Spark's
// spark.network.crypto protocol): an X25519 exchange whose public keys
// travel AES-GCM encrypted under keys derived from the shared secret, so
// only holders of the secret can complete it. Both sides end with the same
// SessionKeys.
//
// An Engine serves one handshake and is not safe for concurrent use.
type Engine struct {
	appID   string
	psk     []byte
	version int
	rand    io.Reader

	priv      *ecdh.PrivateKey
	challenge *AuthMessage // the client's, once sent or received
	keys      *SessionKeys
}

// SessionKeys are what a successful handshake agrees on.
type SessionKeys struct {
	// Key is the AES key: the raw 32-byte X25519 secret under
	// authEngineVersion 1, a 16-byte HKDF of it under version 2.
	Key []byte
	// InputIV and OutputIV are the client's IVs: the client decrypts with
	// InputIV and encrypts with OutputIV; the server the reverse.
	InputIV, OutputIV []byte
}

// KeyID is a fingerprint of the session key (HKDF-SHA256 of it, info
// "keyID", 32 bytes, hex), the value Spark's tests compare.
func (k *SessionKeys) KeyID() string {
	id, err := hkdf.Key(sha256.New, k.Key, nil, "keyID", 32)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(id)
}

const (
	saltLen = 16
	kekLen  = 16
	ivLen   = 16
)

// NewEngine returns an engine for appID with the shared secret. version is
// spark.network.crypto.authEngineVersion (1 or 2).
func NewEngine(appID, secret string, version int) (*Engine, error) {
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("auth: spark.network.crypto.authEngineVersion must be 1 or 2, got %d", version)
	}
	return &Engine{appID: appID, psk: []byte(secret), version: version, rand: rand.Reader}, nil
}

// setPrivateKey fixes the client's X25519 key (known-answer tests).
func (e *Engine) setPrivateKey(k []byte) error {
	priv, err := ecdh.X25519().NewPrivateKey(k)
	if err != nil {
		return err
	}
	e.priv = priv
	return nil
}

// Challenge makes the client's first message.
func (e *Engine) Challenge() (*AuthMessage, error) {
	if e.priv == nil {
		priv, err := ecdh.X25519().GenerateKey(e.rand)
		if err != nil {
			return nil, err
		}
		e.priv = priv
	}
	m, err := e.seal(e.priv.PublicKey().Bytes(), nil)
	if err != nil {
		return nil, err
	}
	e.challenge = m
	return m, nil
}

// Respond checks the client's challenge and makes the server's answer; the
// session keys are then ready. The error says which check failed, but it
// must not be sent to the peer.
func (e *Engine) Respond(challenge *AuthMessage) (*AuthMessage, error) {
	if challenge.AppID != e.appID {
		return nil, fmt.Errorf("auth: challenge is for app %q, expected %q", challenge.AppID, e.appID)
	}
	clientPub, err := e.open(challenge, nil)
	if err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(e.rand)
	if err != nil {
		return nil, err
	}
	e.priv = priv
	e.challenge = challenge
	transcript1 := challenge.Encode()
	resp, err := e.seal(priv.PublicKey().Bytes(), transcript1)
	if err != nil {
		return nil, err
	}
	if err := e.derive(clientPub, transcript1, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Finish checks the server's response to this engine's challenge and
// derives the session keys (client side).
func (e *Engine) Finish(challenge, response *AuthMessage) error {
	if e.priv == nil {
		return errors.New("auth: Finish before Challenge")
	}
	if response.AppID != e.appID {
		return fmt.Errorf("auth: response is for app %q, expected %q", response.AppID, e.appID)
	}
	transcript1 := challenge.Encode()
	serverPub, err := e.open(response, transcript1)
	if err != nil {
		return err
	}
	return e.derive(serverPub, transcript1, response)
}

// Keys returns the agreed session keys, or nil before the handshake ended.
func (e *Engine) Keys() *SessionKeys { return e.keys }

func (e *Engine) aad(salt, transcript []byte) []byte {
	aad := make([]byte, 0, len(e.appID)+len(salt)+len(transcript))
	aad = append(aad, e.appID...)
	aad = append(aad, salt...)
	return append(aad, transcript...)
}

// seal encrypts a public key under a fresh salt: the key-encryption key is
// HKDF(psk, salt, aad) and the AES-GCM output is IV || ciphertext || tag.
func (e *Engine) seal(pub, transcript []byte) (*AuthMessage, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(e.rand, salt); err != nil {
		return nil, err
	}
	aad := e.aad(salt, transcript)
	gcm, err := e.kek(salt, aad)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(pub)+gcm.Overhead())
	if _, err := io.ReadFull(e.rand, nonce); err != nil {
		return nil, err
	}
	ct := gcm.Seal(nonce, nonce, pub, aad)
	return &AuthMessage{AppID: e.appID, Salt: salt, Ciphertext: ct}, nil
}

// open decrypts the public key a message carries.
func (e *Engine) open(m *AuthMessage, transcript []byte) (*ecdh.PublicKey, error) {
	aad := e.aad(m.Salt, transcript)
	gcm, err := e.kek(m.Salt, aad)
	if err != nil {
		return nil, err
	}
	if len(m.Ciphertext) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errors.New("auth: handshake ciphertext too short")
	}
	n := gcm.NonceSize()
	pub, err := gcm.Open(nil, m.Ciphertext[:n], m.Ciphertext[n:], aad)
	if err != nil {
		return nil, errors.New("auth: handshake ciphertext does not decrypt (wrong secret, or tampered)")
	}
	key, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("auth: bad public key in handshake: %w", err)
	}
	return key, nil
}

func (e *Engine) kek(salt, aad []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, e.psk, salt, string(aad), kekLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// derive computes the session keys from the X25519 secret and the
// transcript (the encoded challenge, then the encoded response).
func (e *Engine) derive(peer *ecdh.PublicKey, transcript1 []byte, resp *AuthMessage) error {
	shared, err := e.priv.ECDH(peer)
	if err != nil {
		return fmt.Errorf("auth: key agreement failed: %w", err)
	}
	if bytes.Equal(shared, make([]byte, len(shared))) {
		return errors.New("auth: key agreement produced an all-zero secret")
	}
	transcript := append(append([]byte(nil), transcript1...), resp.Encode()...)
	keys := &SessionKeys{}
	if e.version == 1 {
		keys.Key = shared
	} else if keys.Key, err = hkdf.Key(sha256.New, shared, transcript, "derivedKey", 16); err != nil {
		return err
	}
	if keys.InputIV, err = hkdf.Key(sha256.New, shared, transcript, "inputIv", ivLen); err != nil {
		return err
	}
	if keys.OutputIV, err = hkdf.Key(sha256.New, shared, transcript, "outputIv", ivLen); err != nil {
		return err
	}
	e.keys = keys
	return nil
}
