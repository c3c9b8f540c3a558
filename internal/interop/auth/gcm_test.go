package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/auth"
)

// pattern is the plaintext both sides make (GcmVectors.pattern).
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

var gcmKeys = map[int]string{
	16: "000102030405060708090a0b0c0d0e0f",
	32: "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
}

// testGCMRecords checks Spark's GcmTransportCipher and Ember's GCM layer
// against each other record by record, without sockets: Spark's records
// (empty, within one segment, at and across segment boundaries) open in
// Ember, Ember's stream of records opens in Spark's decryption handler fed
// in random pieces, and a flipped bit makes both refuse.
//
// With EMBER_WRITE_GOLDEN=1 it rewrites netpoll/auth/testdata/spark41_gcm.txt,
// the Spark records netpoll/auth's TestGCMSparkGolden opens without a JVM.
func testGCMRecords(t *testing.T, p *peer) {
	sizes := []int{0, 1, 300, 32751, 32752, 32753, 65505, 200000}
	var golden strings.Builder
	golden.WriteString("# Records sealed by Spark 4.1.4's GcmTransportCipher (one write each).\n" +
		"# keyHex plaintextLen recordHex; the plaintext is byte i = i*7 + i>>8.\n")
	for _, keyLen := range []int{16, 32} {
		keyHex := gcmKeys[keyLen]
		key, _ := hex.DecodeString(keyHex)
		t.Run(fmt.Sprintf("key%d", keyLen), func(t *testing.T) {
			var stream, want []byte
			for _, n := range sizes {
				rec, err := base64.StdEncoding.DecodeString(p.ok(t, "GCMSEAL", keyHex, fmt.Sprint(n))[0])
				if err != nil {
					t.Fatal(err)
				}
				if got := binary.BigEndian.Uint64(rec); got != uint64(len(rec)) {
					t.Fatalf("%d bytes: length field %d, record %d", n, got, len(rec))
				}
				_, open, err := auth.GCMLayer(&auth.SessionKeys{Key: key})
				if err != nil {
					t.Fatal(err)
				}
				plain, err := open.Open(nil, rec)
				if err != nil || !bytes.Equal(plain, pattern(n)) {
					t.Fatalf("Spark's %d-byte record: %d bytes opened, %v", n, len(plain), err)
				}
				if n <= 300 || (keyLen == 16 && n == 32753) {
					fmt.Fprintf(&golden, "%s %d %s\n", keyHex, n, hex.EncodeToString(rec))
				}

				seal, _, _ := auth.GCMLayer(&auth.SessionKeys{Key: key})
				if stream, err = seal.Seal(stream, pattern(n)); err != nil {
					t.Fatal(err)
				}
				want = append(want, pattern(n)...)
			}
			f := p.ok(t, "GCMOPEN", keyHex, b64(stream), "42")
			if f[0] != fmt.Sprint(len(want)) || f[1] != sha(want) {
				t.Fatalf("Spark opened %s bytes (sha %s) of Ember's stream; want %d (%s)", f[0], f[1], len(want), sha(want))
			}
			bad := append([]byte(nil), stream...)
			bad[len(bad)/2] ^= 1
			if f := p.do(t, "GCMOPEN", keyHex, b64(bad), "43"); f[0] != "FAIL" {
				t.Fatalf("Spark opened a tampered stream: %v", f)
			} else {
				t.Logf("Spark on a flipped bit: %s", unb64(f[1]))
			}
		})
	}
	if os.Getenv("EMBER_WRITE_GOLDEN") == "1" {
		root, err := testutil.ProjectRoot()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, "netpoll", "auth", "testdata", "spark41_gcm.txt")
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
