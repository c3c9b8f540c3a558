package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ember-rpc/ember/netpoll"
)

// The AES-GCM session layer (spark.network.crypto.cipher=AES/GCM/NoPadding)
// is Spark's GcmTransportCipher: every write becomes one self-contained
// record in Tink's AES-GCM-HKDF streaming format, prefixed with its length.
//
//	u64 total          big-endian; the whole record, these 8 bytes included
//	u8  headerLen      1 + len(key) + 7
//	    salt           len(key) random bytes
//	    noncePrefix    7 random bytes
//	    segments       each AES-GCM(plaintext ≤ 32752 bytes) with a 16-byte tag
//
// The segment key is HKDF-SHA256(ikm = session key, salt, info = the
// 8 bytes of total), as long as the session key (16 bytes under
// authEngineVersion 2, 32 under version 1). Segment i's 12-byte nonce is
// noncePrefix || u32 i || 1 if it is the record's last segment, else 0; no
// additional data. Every segment but the last carries exactly 32752
// plaintext bytes (32768 on the wire). Both directions use the same session
// key; the handshake's IVs are unused. Binding the total into the key and
// flagging the last segment makes a truncated, extended or reordered record
// fail authentication.
const (
	gcmSegment      = 32 << 10 // ciphertext bytes of a full segment
	gcmTag          = 16
	gcmPlainSegment = gcmSegment - gcmTag
	gcmNoncePrefix  = 7
	gcmLengthField  = 8
	gcmNonce        = 12
	// gcmMaxSegments bounds a record so segment numbers fit their u32.
	gcmMaxSegments = 1 << 32
)

// ErrGCMRecord is wrapped by every error of a malformed or tampered AES-GCM
// record. It is fatal for the connection.
var ErrGCMRecord = errors.New("auth: bad AES-GCM record")

// GCMLayer returns the sealing and opening halves of the AES-GCM session
// layer for a session key (16 or 32 bytes).
func GCMLayer(keys *SessionKeys) (netpoll.Sealer, netpoll.Opener, error) {
	if n := len(keys.Key); n != 16 && n != 32 {
		return nil, nil, fmt.Errorf("auth: AES-GCM session key must be 16 or 32 bytes, got %d", n)
	}
	ikm := append([]byte(nil), keys.Key...)
	return &gcmSealer{ikm: ikm, rand: rand.Reader}, newGCMOpener(ikm), nil
}

// SessionLayer returns the session layer that cipher
// (spark.network.crypto.cipher) selects after an AuthEngine handshake.
// client says which end of the connection the layer is for.
func SessionLayer(cipherName string, keys *SessionKeys, client bool) (netpoll.Sealer, netpoll.Opener, error) {
	switch {
	case strings.EqualFold(cipherName, CipherCTR):
		return CTRLayer(keys, client)
	case strings.EqualFold(cipherName, CipherGCM):
		return GCMLayer(keys)
	}
	return nil, nil, fmt.Errorf("auth: spark.network.crypto.cipher: unknown cipher %q", cipherName)
}

func gcmHeaderLen(keyLen int) int { return 1 + keyLen + gcmNoncePrefix }

// gcmRecordLen is the wire length of a record carrying n plaintext bytes.
func gcmRecordLen(keyLen, n int) uint64 {
	full, part := uint64(n/gcmPlainSegment), uint64(n%gcmPlainSegment)
	total := uint64(gcmLengthField+gcmHeaderLen(keyLen)) + full*gcmSegment
	if part > 0 {
		total += part + gcmTag
	}
	return total
}

// gcmSegmentKey derives a record's AES-GCM key.
func gcmSegmentKey(ikm, salt []byte, total uint64) (cipher.AEAD, error) {
	var info [gcmLengthField]byte
	binary.BigEndian.PutUint64(info[:], total)
	k, err := hkdf.Key(sha256.New, ikm, salt, string(info[:]), len(ikm))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func gcmSegmentNonce(nonce *[gcmNonce]byte, prefix []byte, seg uint32, last bool) {
	copy(nonce[:gcmNoncePrefix], prefix)
	binary.BigEndian.PutUint32(nonce[gcmNoncePrefix:], seg)
	nonce[gcmNonce-1] = 0
	if last {
		nonce[gcmNonce-1] = 1
	}
}

// gcmSealer turns each Seal call into one record.
type gcmSealer struct {
	ikm   []byte
	rand  io.Reader
	nonce [gcmNonce]byte
}

// Seal implements netpoll.Sealer.
func (s *gcmSealer) Seal(dst, p []byte) ([]byte, error) {
	if len(p) == 0 {
		return dst, nil
	}
	if uint64(len(p))/gcmPlainSegment >= gcmMaxSegments {
		return dst, fmt.Errorf("auth: %d bytes are too many for one AES-GCM record", len(p))
	}
	total := gcmRecordLen(len(s.ikm), len(p))
	at := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, total)
	hl := gcmHeaderLen(len(s.ikm))
	dst = append(dst, byte(hl))
	hdr := len(dst)
	dst = append(dst, make([]byte, hl-1)...)
	if _, err := io.ReadFull(s.rand, dst[hdr:]); err != nil {
		return dst[:at], fmt.Errorf("auth: AES-GCM salt: %w", err)
	}
	salt := dst[hdr : hdr+len(s.ikm)]
	aead, err := gcmSegmentKey(s.ikm, salt, total)
	if err != nil {
		return dst[:at], err
	}
	prefix := dst[hdr+len(s.ikm) : hdr+hl-1]
	if need := int(total) - (len(dst) - at); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		prefix = grown[hdr+len(s.ikm) : hdr+hl-1]
		dst = grown
	}
	for seg := uint32(0); len(p) > 0; seg++ {
		n := min(len(p), gcmPlainSegment)
		gcmSegmentNonce(&s.nonce, prefix, seg, n == len(p))
		dst = aead.Seal(dst, s.nonce[:], p[:n], nil)
		p = p[n:]
	}
	return dst, nil
}

// gcmOpener decodes records from the byte stream, one segment at a time:
// it holds at most one segment's ciphertext and a record header, whatever
// the record's length, and hands out each segment's plaintext as soon as
// its tag checks.
type gcmOpener struct {
	ikm []byte
	hl  int

	pre   []byte // the length field and header of the current record, as they arrive
	aead  cipher.AEAD
	total uint64 // the current record's length, once pre has 8 bytes
	read  uint64 // bytes of the current record consumed, pre included
	segNr uint32
	seg   []byte // ciphertext of the current segment received so far
	nonce [gcmNonce]byte
	err   error // sticky: a bad record ends the stream
}

func newGCMOpener(ikm []byte) *gcmOpener {
	hl := gcmHeaderLen(len(ikm))
	return &gcmOpener{ikm: ikm, hl: hl, pre: make([]byte, 0, gcmLengthField+hl)}
}

// stash keeps ciphertext of a segment that has not fully arrived; the
// buffer is made once, at a segment's size.
func (o *gcmOpener) stash(ct []byte) {
	if o.seg == nil {
		o.seg = make([]byte, 0, gcmSegment)
	}
	o.seg = append(o.seg, ct...)
}

func (o *gcmOpener) fail(format string, args ...any) error {
	o.err = fmt.Errorf("%w: "+format, append([]any{ErrGCMRecord}, args...)...)
	return o.err
}

// Open implements netpoll.Opener.
func (o *gcmOpener) Open(dst, wire []byte) ([]byte, error) {
	if o.err != nil {
		return dst, o.err
	}
	for len(wire) > 0 {
		if o.aead == nil {
			var err error
			if wire, err = o.header(wire); err != nil {
				return dst, err
			}
			continue
		}
		left := o.total - o.read
		take := min(uint64(len(wire)), uint64(gcmSegment-len(o.seg)), left)
		ct := wire[:take]
		wire = wire[take:]
		o.read += take
		last := o.read == o.total
		if len(o.seg) > 0 || (int(take) < gcmSegment && !last) {
			o.stash(ct)
			if len(o.seg) < gcmSegment && !last {
				continue
			}
			ct = o.seg
		}
		var err error
		if dst, err = o.openSegment(dst, ct, last); err != nil {
			return dst, err
		}
		o.seg = o.seg[:0]
		if last {
			o.reset()
		}
	}
	return dst, nil
}

// header consumes the length field and Tink header of a record.
func (o *gcmOpener) header(wire []byte) ([]byte, error) {
	need := gcmLengthField + o.hl - len(o.pre)
	if len(o.pre) < gcmLengthField {
		need = gcmLengthField - len(o.pre)
	}
	n := min(need, len(wire))
	o.pre = append(o.pre, wire[:n]...)
	wire = wire[n:]
	if len(o.pre) == gcmLengthField {
		o.total = binary.BigEndian.Uint64(o.pre)
		floor := uint64(gcmLengthField + o.hl)
		if o.total < floor {
			return wire, o.fail("record length %d is shorter than its header (%d)", o.total, floor)
		}
		if segs := (o.total - floor + gcmSegment - 1) / gcmSegment; segs > gcmMaxSegments {
			return wire, o.fail("record length %d needs more than 2^32 segments", o.total)
		}
		if body := (o.total - floor) % gcmSegment; body > 0 && body < gcmTag {
			return wire, o.fail("record length %d leaves a last segment shorter than its tag", o.total)
		}
	}
	if len(o.pre) < gcmLengthField+o.hl {
		return wire, nil
	}
	h := o.pre[gcmLengthField:]
	if int(h[0]) != o.hl {
		return wire, o.fail("header length byte %d, want %d (do both ends use the same spark.network.crypto.authEngineVersion?)", h[0], o.hl)
	}
	salt := h[1 : 1+len(o.ikm)]
	aead, err := gcmSegmentKey(o.ikm, salt, o.total)
	if err != nil {
		return wire, o.fail("%v", err)
	}
	o.aead = aead
	o.read = uint64(len(o.pre))
	if o.read == o.total {
		o.reset() // a record without plaintext
	}
	return wire, nil
}

func (o *gcmOpener) openSegment(dst, ct []byte, last bool) ([]byte, error) {
	if len(ct) < gcmTag {
		return dst, o.fail("segment %d has %d bytes, shorter than its tag", o.segNr, len(ct))
	}
	gcmSegmentNonce(&o.nonce, o.pre[gcmLengthField+1+len(o.ikm):], o.segNr, last)
	at := len(dst)
	out, err := o.aead.Open(dst, o.nonce[:], ct, nil)
	if err != nil {
		return dst[:at], o.fail("segment %d of a %d-byte record does not authenticate (tampered, truncated, or a different session key)", o.segNr, o.total)
	}
	o.segNr++
	return out, nil
}

func (o *gcmOpener) reset() {
	o.pre = o.pre[:0]
	o.aead = nil
	o.total, o.read, o.segNr = 0, 0, 0
	o.seg = o.seg[:0]
}
