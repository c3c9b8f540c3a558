package digest

import (
	"crypto/hmac"
	"crypto/md5"
	"testing"
)

// BenchmarkWrapUnwrap measures one 64 KiB piece (Spark's
// spark.network.sasl.maxEncryptedBlockSize) wrapped and unwrapped.
func BenchmarkWrapUnwrap(b *testing.B) {
	msg := make([]byte, 64<<10)
	for _, k := range layerKinds {
		b.Run(kindName(k.qop, k.cipher), func(b *testing.B) {
			cl, sl := fixedLayers(b, k.qop, k.cipher)
			tok := make([]byte, 0, cl.WrappedLen(len(msg)))
			out := make([]byte, 0, len(msg))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				tok, _ = cl.Wrap(tok[:0], msg)
				var err error
				if out, err = sl.Unwrap(out[:0], tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHMACBaseline is the floor under auth-int: HMAC-MD5 of the same
// piece, twice (once per side).
func BenchmarkHMACBaseline(b *testing.B) {
	msg := make([]byte, 64<<10)
	h := hmac.New(md5.New, make([]byte, 16))
	var sum [md5.Size]byte
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		for range 2 {
			h.Reset()
			h.Write(msg)
			h.Sum(sum[:0])
		}
	}
}
