package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/ember-rpc/ember/netpoll"
)

// ctrStream is one direction of the AES-CTR session layer: one keystream
// for the life of the connection (a 128-bit big-endian counter starting at
// the IV), with ciphertext bytes one for one with plaintext bytes, no MAC
// and no framing, as Spark's commons-crypto streams have it.
type ctrStream struct{ s cipher.Stream }

func newCTR(key, iv []byte) (*ctrStream, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auth: AES key: %w", err)
	}
	return &ctrStream{s: cipher.NewCTR(block, iv)}, nil
}

// Seal implements netpoll.Sealer.
func (c *ctrStream) Seal(dst, p []byte) ([]byte, error) {
	n := len(dst)
	dst = append(dst, p...)
	c.s.XORKeyStream(dst[n:], dst[n:])
	return dst, nil
}

// Open implements netpoll.Opener.
func (c *ctrStream) Open(dst, wire []byte) ([]byte, error) { return c.Seal(dst, wire) }

// XORInPlace implements netpoll.StreamOpener.
func (c *ctrStream) XORInPlace(p []byte) { c.s.XORKeyStream(p, p) }

// CTRLayer returns the sealing and opening halves of the AES-CTR session
// layer for one end of a connection.
func CTRLayer(keys *SessionKeys, client bool) (netpoll.Sealer, netpoll.StreamOpener, error) {
	sealIV, openIV := keys.InputIV, keys.OutputIV // server: encrypts with inputIv
	if client {
		sealIV, openIV = keys.OutputIV, keys.InputIV
	}
	seal, err := newCTR(keys.Key, sealIV)
	if err != nil {
		return nil, nil, err
	}
	open, err := newCTR(keys.Key, openIV)
	if err != nil {
		return nil, nil, err
	}
	return seal, open, nil
}
