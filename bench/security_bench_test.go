package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkSecurity measures what each security setting costs, next to
// plaintext in the same run: an RPC round trip (64 B, one in flight; see
// p50-ns) and chunk fetches (1 MiB file chunks, 8 in flight; see MB/s).
//
//	plain          no authentication, sendfile for file chunks
//	sasl-auth      SASL DIGEST-MD5 authentication, no encryption
//	aes-ctr        AuthEngine handshake + AES-CTR on every byte (version 1:
//	               AES-256 with the raw X25519 secret, Spark's default)
//	aes-ctr-v2     authEngineVersion 2: AES-128 with an HKDF-derived key
//	sasl-auth-conf SASL with auth-conf (3DES, what a JDK client picks)
//	tls            TLS 1.3 from PEM files, no spark.authenticate
func BenchmarkSecurity(b *testing.B) {
	const secret = "bench-secret-0123456789abcdef"
	authKV := []string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}
	variants := []struct {
		name string
		kv   func() []string
	}{
		{"plain", func() []string { return nil }},
		{"sasl-auth", func() []string { return authKV }},
		{"aes-ctr", func() []string { return append(authKV, "spark.network.crypto.enabled=true") }},
		{"aes-ctr-v2", func() []string {
			return append(authKV, "spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2")
		}},
		{"sasl-auth-conf", func() []string { return append(authKV, "spark.authenticate.enableSaslEncryption=true") }},
		{"tls", func() []string { return benchTLS(b) }},
	}
	for _, mode := range modes {
		b.Run(string(mode), func(b *testing.B) {
			for _, v := range variants {
				b.Run(v.name, func(b *testing.B) {
					b.Run("rpc64B", func(b *testing.B) { runRPC(b, mode, 64, 1, 1, false, v.kv()...) })
					b.Run("fetch1MiB", func(b *testing.B) { runChunkFetch(b, mode, 8, v.kv()...) })
				})
			}
		})
	}
}

var (
	tlsOnce sync.Once
	tlsKV   []string
	tlsErr  error
)

// benchTLS writes a throwaway CA and node certificate once per process.
func benchTLS(b *testing.B) []string {
	b.Helper()
	tlsOnce.Do(func() { tlsKV, tlsErr = writeTLSFiles() })
	if tlsErr != nil {
		b.Fatal(tlsErr)
	}
	return tlsKV
}

func writeTLSFiles() ([]string, error) {
	dir, err := os.MkdirTemp("", "ember-bench-tls")
	if err != nil {
		return nil, err
	}
	files.mu.Lock()
	if files.made == nil {
		files.made = map[int64]string{}
	}
	files.made[-1] = dir // removed with the data files
	files.mu.Unlock()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench node"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"ca.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return []string{
		"spark.ssl.rpc.enabled=true",
		"spark.ssl.rpc.privateKey=" + filepath.Join(dir, "key.pem"),
		"spark.ssl.rpc.certChain=" + filepath.Join(dir, "cert.pem"),
		"spark.ssl.rpc.trustStore=" + filepath.Join(dir, "ca.pem"),
	}, nil
}
