package netpoll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// toyLayer is a framed session layer for tests: records of a 4-byte
// length, the bytes XORed with 0x5a, and a sum byte that Open checks.
type toyLayer struct {
	pending []byte
	corrupt bool // Seal writes a wrong sum
}

func (l *toyLayer) Seal(dst, p []byte) ([]byte, error) {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	var sum byte
	for _, b := range p {
		dst = append(dst, b^0x5a)
		sum += b
	}
	if l.corrupt {
		sum++
	}
	return append(dst, sum), nil
}

func (l *toyLayer) Open(dst, wire []byte) ([]byte, error) {
	l.pending = append(l.pending, wire...)
	for len(l.pending) >= 4 {
		n := int(binary.BigEndian.Uint32(l.pending))
		if len(l.pending) < 4+n+1 {
			break
		}
		var sum byte
		for _, b := range l.pending[4 : 4+n] {
			dst = append(dst, b^0x5a)
			sum += b ^ 0x5a
		}
		if sum != l.pending[4+n] {
			return dst, errors.New("toy record: bad sum")
		}
		l.pending = l.pending[4+n+1:]
	}
	return dst, nil
}

func selfSignedTLS(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestLayerConnUnderTLS: a session layer installed under tls.Conn leaves
// the bytes before it alone, seals and opens the TLS records after it
// (framed records split across reads included), and a record that does
// not open ends the reading side with a decrypting error.
func TestLayerConnUnderTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srvRaw := <-accepted
	if srvRaw == nil {
		t.Fatal("accept failed")
	}
	cl := &layerConn{TCPConn: raw.(*net.TCPConn)}
	sl := &layerConn{TCPConn: srvRaw.(*net.TCPConn)}
	cli := tls.Client(cl, &tls.Config{InsecureSkipVerify: true})
	srv := tls.Server(sl, &tls.Config{Certificates: []tls.Certificate{selfSignedTLS(t)}})
	defer cli.Close()
	defer srv.Close()
	hs := make(chan error, 1)
	go func() { hs <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}

	exchange := func(msg []byte) error {
		errc := make(chan error, 1)
		go func() { _, err := cli.Write(msg); errc <- err }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(srv, got); err != nil {
			return err
		}
		if err := <-errc; err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errors.New("bytes differ")
		}
		return nil
	}
	if err := exchange([]byte("before the layer")); err != nil {
		t.Fatal(err)
	}

	// The layer on both ends: 200 KiB (many TLS records) arrive intact.
	cl.sealer.Store(&sealerBox{&toyLayer{}})
	sl.opener.Store(&openerBox{&toyLayer{}})
	big := bytes.Repeat([]byte("sealed tls records."), 200<<10/19)
	if err := exchange(big); err != nil {
		t.Fatalf("through the layer: %v", err)
	}

	// A record that does not open: the server's read fails naming it.
	cl.sealer.Store(&sealerBox{&toyLayer{corrupt: true}})
	if err := exchange([]byte("tampered")); err == nil || !strings.Contains(err.Error(), "decrypting: toy record: bad sum") {
		t.Fatalf("tampered record: %v", err)
	}
}
