package digest

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
)

// Magic constants of RFC 2831 sections 2.3 and 2.4.
const (
	magicClientSign = "Digest session key to client-to-server signing key magic constant"
	magicServerSign = "Digest session key to server-to-client signing key magic constant"
	magicClientSeal = "Digest H(A1) to client-to-server sealing key magic constant"
	magicServerSeal = "Digest H(A1) to server-to-client sealing key magic constant"
)

// Token layout.
const (
	macLen     = 10 // bytes of HMAC-MD5 kept
	trailerLen = 6  // message type (2) + sequence number (4)
	// messageType is the only message type: 0x0001.
	messageType = 1
	// IntegrityOverhead is what auth-int adds to a message.
	IntegrityOverhead = macLen + trailerLen
	// ConfidentialityOverhead is the most auth-conf adds to a message:
	// MAC, trailer and up to 8 bytes of padding.
	ConfidentialityOverhead = macLen + trailerLen + 8
)

// keys are the four keys a session derives from H(A1).
type keys struct {
	kic, kis [md5.Size]byte // signing: client-to-server, server-to-client
	kcc, kcs [md5.Size]byte // sealing: client-to-server, server-to-client
}

func md5Concat(a []byte, b string) [md5.Size]byte {
	h := md5.New()
	h.Write(a)
	h.Write([]byte(b))
	var out [md5.Size]byte
	h.Sum(out[:0])
	return out
}

// deriveKeys computes Kic and Kis from all of H(A1), and Kcc and Kcs from
// its first prefix bytes (16, or 7 for rc4-56, 5 for rc4-40).
func deriveKeys(ha1 [md5.Size]byte, prefix int) keys {
	return keys{
		kic: md5Concat(ha1[:], magicClientSign),
		kis: md5Concat(ha1[:], magicServerSign),
		kcc: md5Concat(ha1[:prefix], magicClientSeal),
		kcs: md5Concat(ha1[:prefix], magicServerSeal),
	}
}

// desKey spreads 7 bytes (56 key bits, most significant first) over 8
// bytes, 7 bits in the high bits of each, and sets each low bit so that
// the byte has an odd number of ones.
func desKey(seven []byte) [8]byte {
	var v uint64
	for _, b := range seven[:7] {
		v = v<<8 | uint64(b)
	}
	var out [8]byte
	for i := range out {
		b := byte(v>>(49-7*uint(i))) << 1
		if bits.OnesCount8(b)%2 == 0 {
			b |= 1
		}
		out[i] = b
	}
	return out
}

// direction is the state of one direction of a Layer.
type direction struct {
	mac    hash.Hash // HMAC-MD5 keyed with this direction's Ki
	seq    uint32    // next sequence number
	rc4    *rc4.Cipher
	cbc    cipher.BlockMode // CBC chain, continuing across messages
	seqBuf [4]byte
	sum    [md5.Size]byte
	err    error // receive side only: the failure that broke the layer
}

// sign computes the 10-byte MAC of seq || msg into d.sum[:macLen].
func (d *direction) sign(seq uint32, msg []byte) []byte {
	binary.BigEndian.PutUint32(d.seqBuf[:], seq)
	d.mac.Reset()
	d.mac.Write(d.seqBuf[:])
	d.mac.Write(msg)
	return d.mac.Sum(d.sum[:0])[:macLen]
}

// Layer is an agreed integrity (auth-int) or confidentiality (auth-conf)
// layer. Wrap protects outgoing messages and Unwrap checks and opens
// incoming ones; each direction has its own keys, sequence numbers and
// cipher state.
//
// Wrap and Unwrap may run concurrently with each other, but not with
// themselves: one goroutine (at a time) wraps, one unwraps.
type Layer struct {
	qop     string
	cipher  string
	block   bool // DES or 3DES: pad to whole blocks
	maxSend int  // the peer's maxbuf

	send direction // touched only by Wrap
	recv direction // touched only by Unwrap
}

// newLayer builds the layer for one side. The client sends with the
// client-to-server keys and receives with the server-to-client ones; the
// server does the reverse.
func newLayer(ha1 [md5.Size]byte, qop, cipherName string, client bool, maxSend int) (*Layer, error) {
	l := &Layer{qop: qop, maxSend: maxSend}
	prefix := 16
	if qop == QOPAuthConf {
		i := cipherIndex(cipherName)
		if i < 0 {
			return nil, fmt.Errorf("%w: unknown cipher %q", ErrNoCommonCipher, cipherName)
		}
		l.cipher = cipherName
		prefix = ciphers[i].prefix
	} else if qop != QOPAuthInt {
		return nil, fmt.Errorf("%w: qop is %q", ErrNoSecurityLayer, qop)
	}
	k := deriveKeys(ha1, prefix)
	sendKi, recvKi, sendKc, recvKc := k.kic, k.kis, k.kcc, k.kcs
	if !client {
		sendKi, recvKi, sendKc, recvKc = k.kis, k.kic, k.kcs, k.kcc
	}
	l.send.mac = hmac.New(md5.New, sendKi[:])
	l.recv.mac = hmac.New(md5.New, recvKi[:])
	if qop != QOPAuthConf {
		return l, nil
	}
	switch cipherName {
	case CipherRC4, CipherRC456, CipherRC440:
		// Every RC4 variant keys RC4 with all 16 bytes of Kc; they differ
		// only in how much of H(A1) went into Kc.
		var err error
		if l.send.rc4, err = rc4.NewCipher(sendKc[:]); err != nil {
			return nil, err
		}
		if l.recv.rc4, err = rc4.NewCipher(recvKc[:]); err != nil {
			return nil, err
		}
	case CipherDES, Cipher3DES:
		l.block = true
		sb, err := newDESBlock(sendKc, cipherName == Cipher3DES)
		if err != nil {
			return nil, err
		}
		rb, err := newDESBlock(recvKc, cipherName == Cipher3DES)
		if err != nil {
			return nil, err
		}
		// The IV is the last 8 bytes of Kc.
		l.send.cbc = cipher.NewCBCEncrypter(sb, sendKc[8:16])
		l.recv.cbc = cipher.NewCBCDecrypter(rb, recvKc[8:16])
	}
	return l, nil
}

// newDESBlock makes DES from Kc[0:7], or 3DES (EDE) from K1 = Kc[0:7],
// K2 = Kc[7:14], K3 = K1.
func newDESBlock(kc [md5.Size]byte, triple bool) (cipher.Block, error) {
	k1 := desKey(kc[0:7])
	if !triple {
		return des.NewCipher(k1[:])
	}
	k2 := desKey(kc[7:14])
	var ede [24]byte
	copy(ede[0:8], k1[:])
	copy(ede[8:16], k2[:])
	copy(ede[16:24], k1[:])
	return des.NewTripleDESCipher(ede[:])
}

// QOP returns the layer's quality of protection: QOPAuthInt or QOPAuthConf.
func (l *Layer) QOP() string { return l.qop }

// Cipher returns the auth-conf cipher, or "" for auth-int.
func (l *Layer) Cipher() string { return l.cipher }

// MaxSendSize returns the peer's maxbuf: the largest token it said it
// would accept. The JDK does not enforce it and neither does Wrap.
func (l *Layer) MaxSendSize() int { return l.maxSend }

// RawSendSize returns the largest message whose token fits MaxSendSize, as
// the JDK computes it (maxbuf minus 16 for auth-int, minus 26 for
// auth-conf).
func (l *Layer) RawSendSize() int {
	if l.qop == QOPAuthConf {
		return l.maxSend - 26
	}
	return l.maxSend - IntegrityOverhead
}

// WrappedLen returns the length of the token Wrap makes from n bytes.
func (l *Layer) WrappedLen(n int) int {
	if n == 0 {
		return 0
	}
	if l.block {
		return n + padLen(n) + macLen + trailerLen
	}
	return n + macLen + trailerLen
}

// padLen is the DES/3DES padding for an n-byte message: 1 to 8 bytes that
// make n, the padding and the MAC whole 8-byte blocks.
func padLen(n int) int {
	return des.BlockSize - (n+macLen)%des.BlockSize
}

// Wrap appends the token protecting p to dst and returns the extended
// slice. An empty p gives no token (dst unchanged) and uses no sequence
// number, as with the JDK. p must not overlap dst's spare capacity.
func (l *Layer) Wrap(dst, p []byte) ([]byte, error) {
	if len(p) == 0 {
		return dst, nil
	}
	s := &l.send
	seq := s.seq
	mac := s.sign(seq, p)
	start := len(dst)
	dst = append(dst, p...)
	if l.qop == QOPAuthConf {
		if l.block {
			pad := padLen(len(p))
			for range pad {
				dst = append(dst, byte(pad))
			}
		}
		dst = append(dst, mac...)
		body := dst[start:]
		if l.block {
			s.cbc.CryptBlocks(body, body)
		} else {
			s.rc4.XORKeyStream(body, body)
		}
	} else {
		dst = append(dst, mac...)
	}
	dst = binary.BigEndian.AppendUint16(dst, messageType)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	s.seq++
	return dst, nil
}

// Unwrap checks one token and appends its message to dst. An empty token
// gives nothing. A token that is malformed, fails its MAC or padding check,
// or is out of sequence is an error (ErrTokenMalformed, ErrTokenIntegrity,
// ErrTokenSequence, ErrTokenType), and dst is returned unchanged. Once an
// auth-conf token has been decrypted and then failed a check, every later
// call fails with ErrLayerBroken. tok must not overlap dst's spare
// capacity.
func (l *Layer) Unwrap(dst, tok []byte) ([]byte, error) {
	r := &l.recv
	if r.err != nil {
		return dst, fmt.Errorf("%w: %w", ErrLayerBroken, r.err)
	}
	if len(tok) == 0 {
		return dst, nil
	}
	if l.qop != QOPAuthConf {
		return l.unwrapIntegrity(dst, tok)
	}
	return l.unwrapConfidential(dst, tok)
}

func (l *Layer) unwrapIntegrity(dst, tok []byte) ([]byte, error) {
	r := &l.recv
	if len(tok) < macLen+trailerLen {
		return dst, fmt.Errorf("%w: %d-byte auth-int token, need at least %d", ErrTokenMalformed, len(tok), macLen+trailerLen)
	}
	n := len(tok) - macLen - trailerLen
	msg, mac, trailer := tok[:n], tok[n:n+macLen], tok[n+macLen:]
	seq := binary.BigEndian.Uint32(trailer[2:])
	// As the JDK: MAC first, then sequence number, then type.
	if !hmac.Equal(r.sign(seq, msg), mac) {
		return dst, fmt.Errorf("%w: bad MAC on token %d", ErrTokenIntegrity, r.seq)
	}
	if err := r.checkTrailer(trailer, seq); err != nil {
		return dst, err
	}
	r.seq++
	return append(dst, msg...), nil
}

func (l *Layer) unwrapConfidential(dst, tok []byte) ([]byte, error) {
	r := &l.recv
	n := len(tok) - trailerLen
	// Checks that need no decryption leave the cipher state untouched.
	if l.block {
		if n < 2*des.BlockSize || n%des.BlockSize != 0 {
			return dst, fmt.Errorf("%w: %d-byte %s token is not whole blocks of ciphertext, MAC and trailer", ErrTokenMalformed, len(tok), l.cipher)
		}
	} else if n < macLen {
		return dst, fmt.Errorf("%w: %d-byte %s token, need at least %d", ErrTokenMalformed, len(tok), l.cipher, macLen+trailerLen)
	}
	trailer := tok[n:]
	seq := binary.BigEndian.Uint32(trailer[2:])

	start := len(dst)
	dst = append(dst, tok[:n]...)
	body := dst[start:]
	if l.block {
		r.cbc.CryptBlocks(body, body)
	} else {
		r.rc4.XORKeyStream(body, body)
	}
	padded, mac := body[:n-macLen], body[n-macLen:]
	msgLen := len(padded)
	padOK := 1
	if l.block {
		// Padding is 1..8 bytes each equal to its length. Check it without
		// revealing which byte was wrong, and MAC in any case, so a bad pad
		// and a bad MAC look alike.
		pad := int(padded[len(padded)-1])
		if pad < 1 || pad > des.BlockSize || pad > len(padded) {
			padOK = 0
		} else {
			for _, b := range padded[len(padded)-pad:] {
				if int(b) != pad {
					padOK = 0
				}
			}
			msgLen -= pad
		}
	}
	macOK := hmac.Equal(r.sign(seq, padded[:msgLen]), mac)
	var err error
	switch {
	case padOK == 0 || !macOK:
		err = fmt.Errorf("%w: bad MAC or padding on token %d", ErrTokenIntegrity, r.seq)
	default:
		err = r.checkTrailer(trailer, seq)
	}
	if err != nil {
		clear(body) // unverified plaintext
		r.err = err
		return dst[:start], err
	}
	r.seq++
	return dst[:start+msgLen], nil
}

func (r *direction) checkTrailer(trailer []byte, seq uint32) error {
	if seq != r.seq {
		return fmt.Errorf("%w: got %d, want %d", ErrTokenSequence, seq, r.seq)
	}
	if t := binary.BigEndian.Uint16(trailer[:2]); t != messageType {
		return fmt.Errorf("%w: %d", ErrTokenType, t)
	}
	return nil
}
