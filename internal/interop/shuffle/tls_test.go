package shuffle_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tlsDir holds the PEM files of the tls security setting; TestMain makes
// and removes it.
var tlsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ember-shuffle-interop-tls-")
	if err == nil {
		err = writeTLSFiles(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "making TLS certificates:", err)
		os.Exit(2)
	}
	tlsDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tlsConf is spark.ssl.rpc.* for PEM files: a node certificate for
// 127.0.0.1 signed by a throwaway CA. The chain file holds the node
// certificate, then the CA (Spark's PEM client trusts its chain file);
// the trust store is the CA (Ember's client).
func tlsConf() []string {
	return []string{"spark.ssl.rpc.enabled=true",
		"spark.ssl.rpc.privateKey=" + filepath.Join(tlsDir, "key.pem"),
		"spark.ssl.rpc.certChain=" + filepath.Join(tlsDir, "chain.pem"),
		"spark.ssl.rpc.trustStore=" + filepath.Join(tlsDir, "ca.pem"),
		// Spark 4.1 reads PEM files only with this (falling back to the
		// JDK's provider when OpenSSL is not there).
		"spark.ssl.rpc.openSslEnabled=true"}
}

func writeTLSFiles(dir string) error {
	now := time.Now()
	newKey := func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shuffle interop CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	nodeTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	nodeDER, err := x509.CreateCertificate(rand.Reader, nodeTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]*pem.Block{
		"ca.pem":    {{Type: "CERTIFICATE", Bytes: caDER}},
		"chain.pem": {{Type: "CERTIFICATE", Bytes: nodeDER}, {Type: "CERTIFICATE", Bytes: caDER}},
		"key.pem":   {{Type: "PRIVATE KEY", Bytes: keyDER}},
	}
	for name, blocks := range files {
		var b bytes.Buffer
		for _, blk := range blocks {
			if err := pem.Encode(&b, blk); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}
