//go:build !race

package digest

import "testing"

// TestLayerAllocs: once dst has room, Wrap and Unwrap allocate nothing.
func TestLayerAllocs(t *testing.T) {
	msg := make([]byte, 4096)
	for _, k := range layerKinds {
		cl, sl := fixedLayers(t, k.qop, k.cipher)
		tok := make([]byte, 0, cl.WrappedLen(len(msg)))
		out := make([]byte, 0, len(msg)+64)
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			tok, err = cl.Wrap(tok[:0], msg)
			if err != nil {
				t.Fatal(err)
			}
			out, err = sl.Unwrap(out[:0], tok)
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Wrap+Unwrap", kindName(k.qop, k.cipher), allocs)
		}
	}
}
