package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"hash"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"go.uber.org/atomic"
)

func sparkConf(kv []string) *sparkconf.Conf {
	sc := sparkconf.New()
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		sc.Set(k, v)
	}
	return sc
}

// handler is the Ember twin of the Java peer's AuthHandler: it echoes
// RPCs, serves registered chunks, and answers an upload with the SHA-256
// (hex) of its body. It counts what reaches it.
type handler struct {
	sm      *netpoll.OneForOneStreamManager
	rpcs    atomic.Int64
	uploads atomic.Int64
}

func newHandler() *handler { return &handler{sm: netpoll.NewOneForOneStreamManager()} }

func (h *handler) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	h.rpcs.Inc()
	r.Reply(append([]byte(nil), msg...))
}

func (h *handler) ReceiveOneWay(*netpoll.Client, []byte) {}

func (h *handler) StreamManager() netpoll.StreamManager { return h.sm }

func (h *handler) ReceiveStream(*netpoll.Client, []byte) (netpoll.StreamSink, error) {
	h.uploads.Inc()
	return &hashSink{h: sha256.New()}, nil
}

type hashSink struct{ h hash.Hash }

func (s *hashSink) OnData(p []byte) error { s.h.Write(p); return nil }
func (s *hashSink) Complete() ([]byte, error) {
	return []byte(hex.EncodeToString(s.h.Sum(nil))), nil
}
func (s *hashSink) Abort(error) {}

// emberSide is an Ember context configured from Spark settings, as one
// process would be: its server (when started) and its client factory.
type emberSide struct {
	ctx     *netpoll.Context
	h       *handler
	srv     *netpoll.Server
	factory *netpoll.ClientFactory
	logs    *testutil.LogBuffer
}

// newEmber builds a side with kv in io mode; server starts a server,
// otherwise the side only has a client factory identifying as appID.
func newEmber(t *testing.T, mode netpoll.IOMode, kv []string, server bool, appID string) *emberSide {
	t.Helper()
	sc := sparkConf(append([]string{"spark.test.io.mode=" + string(mode)}, kv...))
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	setup, err := auth.Configure(sc, "test", appID, log)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := netpoll.NewConf("test", sc, "")
	if err != nil {
		t.Fatal(err)
	}
	e := &emberSide{h: newHandler(), logs: logs}
	opts := append([]netpoll.ContextOption{netpoll.WithLogger(log)}, setup.ContextOptions()...)
	e.ctx = netpoll.NewContext(nc, e.h, opts...)
	if server {
		if e.srv, err = e.ctx.NewServer("127.0.0.1", 0, setup.Server...); err != nil {
			e.ctx.Close()
			t.Fatal(err)
		}
	} else {
		e.factory = e.ctx.NewClientFactory(setup.Client...)
	}
	t.Cleanup(func() {
		if e.factory != nil {
			e.factory.Close()
		}
		if e.srv != nil {
			e.srv.Close()
		}
		e.ctx.Close()
		if t.Failed() {
			t.Logf("ember log (tail):\n%s", tail(logs.String(), 6000))
		}
	})
	return e
}

// certs is a throwaway CA and a node certificate (for 127.0.0.1 and
// localhost) it signed, as PEM files. chain holds the node certificate and
// then the CA: Spark's PEM client trusts the certificates of its own chain
// file, Ember's client the trust store (the CA).
type certs struct{ ca, chain, key string }

func (c *certs) kv() []string {
	return []string{"spark.ssl.rpc.enabled=true", "spark.ssl.rpc.privateKey=" + c.key,
		"spark.ssl.rpc.certChain=" + c.chain, "spark.ssl.rpc.trustStore=" + c.ca,
		// Spark 4.1 takes PEM files only with this on (else it wants a
		// key store); without OpenSSL it uses the JDK provider with them.
		"spark.ssl.rpc.openSslEnabled=true"}
}

func newCerts(t *testing.T) *certs {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ember interop CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, blocks ...*pem.Block) string {
		var b bytes.Buffer
		for _, blk := range blocks {
			_ = pem.Encode(&b, blk)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &certs{
		ca:    write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		chain: write("chain.pem", &pem.Block{Type: "CERTIFICATE", Bytes: der}, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		key:   write("key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// tap is a loopback TCP relay that keeps every byte crossing it, both
// ways, so a test can look for plaintext on the wire.
type tap struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer // guarded by mu
	// up is what the first relayed client sent, in order.
	up bytes.Buffer // guarded by mu
	wg sync.WaitGroup
	// conns are the relayed connections, closed with the tap.
	conns []net.Conn // guarded by mu
}

func newTap(t *testing.T, target int) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln}
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(target)))
			if err != nil {
				c.Close()
				continue
			}
			tp.mu.Lock()
			first := len(tp.conns) == 0
			tp.conns = append(tp.conns, c, s)
			tp.mu.Unlock()
			var upw io.Writer = tp
			if first {
				upw = io.MultiWriter(tp, upWriter{tp})
			}
			tp.wg.Add(2)
			go tp.relay(s, c, upw)
			go tp.relay(c, s, tp)
		}
	}()
	t.Cleanup(tp.close)
	return tp
}

func (tp *tap) relay(dst, src net.Conn, rec io.Writer) {
	defer tp.wg.Done()
	_, _ = io.Copy(dst, io.TeeReader(src, rec))
	// Pass the end on: a half-close would do, but the peers close whole
	// connections anyway.
	dst.Close()
	src.Close()
}

func (tp *tap) close() {
	tp.ln.Close()
	tp.mu.Lock()
	for _, c := range tp.conns {
		c.Close()
	}
	tp.mu.Unlock()
	tp.wg.Wait()
}

func (tp *tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.seen.Write(p)
}

type upWriter struct{ tp *tap }

func (u upWriter) Write(p []byte) (int, error) {
	u.tp.mu.Lock()
	defer u.tp.mu.Unlock()
	return u.tp.up.Write(p)
}

// tlsRecords walks what the first client sent as TLS records and returns
// how many bytes parse so, and the total.
func (tp *tap) tlsRecords() (parsed, total int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	b := tp.up.Bytes()
	for len(b) >= 5 && b[0] >= 20 && b[0] <= 23 && b[1] == 3 {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if n > len(b) {
			break
		}
		parsed += n
		b = b[n:]
	}
	return parsed, tp.up.Len()
}

func (tp *tap) contains(b []byte) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), b)
}

func (tp *tap) bytes() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.seen.Len()
}

func (tp *tap) port() int { return tp.ln.Addr().(*net.TCPAddr).Port }

// blob writes n pseudo-random bytes to a file and returns them.
func blob(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data, p
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSegment(t *testing.T, path string, n int64) codec.ManagedBuffer {
	t.Helper()
	seg, err := codec.NewFileSegment(path, 0, n, codec.DefaultFileOptions)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// fetch fetches one chunk through an Ember client.
func fetch(c *netpoll.Client, stream int64, chunk int32) ([]byte, error) {
	type res struct {
		b   []byte
		err error
	}
	got := make(chan res, 1)
	c.FetchChunk(stream, chunk, netpoll.ChunkFunc{
		Success: func(_ int32, b []byte) { got <- res{b: append([]byte(nil), b...)} },
		Failure: func(_ int32, err error) { got <- res{err: err} },
	})
	r := <-got
	return r.b, r.err
}

// upload uploads body through an Ember client and returns the reply.
func upload(c *netpoll.Client, body []byte) (string, error) {
	type res struct {
		r   []byte
		err error
	}
	got := make(chan res, 1)
	c.UploadStream([]byte("upload"), codec.NewBytes(body), netpoll.RpcFunc{
		Success: func(r []byte) { got <- res{r: append([]byte(nil), r...)} },
		Failure: func(err error) { got <- res{err: err} },
	})
	r := <-got
	return string(r.r), r.err
}
