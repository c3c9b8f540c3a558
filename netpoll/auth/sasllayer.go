package auth

import (
	"encoding/binary"
	"fmt"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth/digest"
)

// maxSaslRecord bounds one incoming SASL-wrapped record, whatever the
// peer's block size, so a hostile length cannot allocate gigabytes.
const maxSaslRecord = 16 << 20

// SaslLayer returns the two halves of the SASL auth-conf layer: every
// write is cut into pieces of at most maxBlock plaintext bytes, and each
// piece goes out as i64 (8 + wrapped length) followed by the wrapped bytes.
func SaslLayer(layer *digest.Layer, maxBlock int) (netpoll.Sealer, netpoll.Opener) {
	return &saslSealer{l: layer, max: maxBlock}, &saslOpener{l: layer}
}

type saslSealer struct {
	l   *digest.Layer
	max int
}

func (s *saslSealer) Seal(dst, p []byte) ([]byte, error) {
	for len(p) > 0 {
		n := min(len(p), s.max)
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
		var err error
		if dst, err = s.l.Wrap(dst, p[:n]); err != nil {
			return dst[:at], err
		}
		binary.BigEndian.PutUint64(dst[at:], uint64(len(dst)-at))
		p = p[n:]
	}
	return dst, nil
}

type saslOpener struct {
	l    *digest.Layer
	pend []byte // bytes of an incomplete record
}

func (o *saslOpener) Open(dst, wire []byte) ([]byte, error) {
	o.pend = append(o.pend, wire...)
	p := o.pend
	for len(p) >= 8 {
		n := binary.BigEndian.Uint64(p)
		if n <= 8 || n > maxSaslRecord {
			return dst, fmt.Errorf("SASL record length %d out of range", n)
		}
		if uint64(len(p)) < n {
			break
		}
		var err error
		if dst, err = o.l.Unwrap(dst, p[8:n]); err != nil {
			return dst, err
		}
		p = p[n:]
	}
	k := copy(o.pend, p)
	o.pend = o.pend[:k]
	if cap(o.pend) > 4*maxSaslRecord/16 && k == 0 {
		o.pend = nil
	}
	return dst, nil
}
