package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

var modes = []netpoll.IOMode{netpoll.EPOLL, netpoll.NIO}

// conf builds a spark conf from "key=value" pairs.
func conf(kv ...string) *sparkconf.Conf {
	sc := sparkconf.New()
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		sc.Set(k, v)
	}
	return sc
}

// handler echoes RPCs, records one-way messages and uploads, and serves
// chunks and named streams.
type handler struct {
	sm      *netpoll.OneForOneStreamManager
	files   map[string]string // stream name -> path
	mu      sync.Mutex
	rpcs    int
	oneWay  chan []byte
	uploads chan []byte
}

func newHandler() *handler {
	return &handler{sm: netpoll.NewOneForOneStreamManager(), files: map[string]string{},
		oneWay: make(chan []byte, 16), uploads: make(chan []byte, 16)}
}

func (h *handler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	h.mu.Lock()
	h.rpcs++
	h.mu.Unlock()
	r.Reply(append([]byte(nil), msg...))
}

func (h *handler) ReceiveOneWay(c *netpoll.Client, msg []byte) {
	h.oneWay <- append([]byte(nil), msg...)
}

func (h *handler) StreamManager() netpoll.StreamManager { return streams{h} }

func (h *handler) rpcCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rpcs
}

type streams struct{ h *handler }

func (s streams) GetChunk(id int64, i int32) (codec.ManagedBuffer, error) {
	return s.h.sm.GetChunk(id, i)
}

func (s streams) OpenStream(id string) (codec.ManagedBuffer, error) {
	p, ok := s.h.files[id]
	if !ok {
		return nil, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	return codec.NewFileSegment(p, 0, st.Size(), codec.DefaultFileOptions)
}

func (s streams) ConnectionTerminated(c *netpoll.Client) { s.h.sm.ConnectionTerminated(c) }

type sink struct {
	h   *handler
	buf bytes.Buffer
}

func (h *handler) ReceiveStream(c *netpoll.Client, meta []byte) (netpoll.StreamSink, error) {
	return &sink{h: h}, nil
}

func (s *sink) OnData(p []byte) error { s.buf.Write(p); return nil }
func (s *sink) Complete() ([]byte, error) {
	s.h.uploads <- s.buf.Bytes()
	return []byte("stored"), nil
}
func (s *sink) Abort(error) {}

// env is one server and one client factory, each with its own context and
// auth settings, as two processes would have.
type env struct {
	srvCtx, cliCtx *netpoll.Context
	srv            *netpoll.Server
	factory        *netpoll.ClientFactory
	h              *handler
	logs           *logBuffer
}

type logBuffer = testutil.LogBuffer

type side struct {
	kv  []string
	tls bool
}

// newEnv starts a server with srv's settings and a factory with cli's.
// An empty kv list means auth is off on that side.
func newEnv(t *testing.T, mode netpoll.IOMode, srv, cli side, certs *certFiles) *env {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{h: newHandler(), logs: logs}
	mk := func(s side, h netpoll.RpcHandler) (*netpoll.Context, *Conf) {
		sc := conf(append([]string{"spark.test.io.mode=" + string(mode)}, s.kv...)...)
		nc, err := netpoll.NewConf("test", sc, "")
		if err != nil {
			t.Fatal(err)
		}
		var opts []netpoll.ContextOption
		opts = append(opts, netpoll.WithLogger(log))
		if s.tls {
			certs.set(sc)
			tl, err := netpoll.LoadTLS(sc)
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, netpoll.WithTLS(tl))
		}
		ac, err := NewConf(sc, "test")
		if err != nil {
			t.Fatal(err)
		}
		return netpoll.NewContext(nc, h, opts...), ac
	}
	var sac, cac *Conf
	e.srvCtx, sac = mk(srv, e.h)
	e.cliCtx, cac = mk(cli, newHandler())
	var sb []netpoll.ServerBootstrap
	if sac.Enabled {
		b, err := NewServerBootstrap(sac, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		sb = append(sb, b)
	}
	var err error
	if e.srv, err = e.srvCtx.NewServer("127.0.0.1", 0, sb...); err != nil {
		t.Fatal(err)
	}
	var cb []netpoll.ClientBootstrap
	if cac.Enabled {
		b, err := NewClientBootstrap(cac, "app-1", log)
		if err != nil {
			t.Fatal(err)
		}
		cb = append(cb, b)
	}
	e.factory = e.cliCtx.NewClientFactory(cb...)
	t.Cleanup(func() {
		e.factory.Close()
		e.srv.Close()
		e.cliCtx.Close()
		e.srvCtx.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return e
}

func (e *env) dial() (*netpoll.Client, error) {
	return e.factory.CreateUnmanagedClient("127.0.0.1", e.srv.Port())
}

// certFiles is a throwaway CA and a server certificate it signed, as PEM.
type certFiles struct {
	ca, cert, key string
}

func (c *certFiles) set(sc *sparkconf.Conf) {
	sc.Set("spark.ssl.rpc.enabled", "true")
	sc.Set("spark.ssl.rpc.privateKey", c.key)
	sc.Set("spark.ssl.rpc.certChain", c.cert)
	sc.Set("spark.ssl.rpc.trustStore", c.ca)
}

func newCerts(t *testing.T) *certFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ember test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ember node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &certFiles{
		ca:   write("ca.pem", "CERTIFICATE", caDER),
		cert: write("cert.pem", "CERTIFICATE", der),
		key:  write("key.pem", "PRIVATE KEY", keyDER),
	}
}

// tap is a TCP relay that records what the client sends, to check the
// wire is not plaintext.
type tap struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
	wg   sync.WaitGroup
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
			s, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(target)))
			if err != nil {
				c.Close()
				continue
			}
			tp.wg.Add(2)
			go func() {
				defer tp.wg.Done()
				_, _ = io.Copy(s, io.TeeReader(c, tp))
				s.Close()
			}()
			go func() {
				defer tp.wg.Done()
				_, _ = io.Copy(c, io.TeeReader(s, tp))
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); tp.wg.Wait() })
	return tp
}

func (tp *tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.seen.Write(p)
}

func (tp *tap) contains(b []byte) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), b)
}

func (tp *tap) port() int { return tp.ln.Addr().(*net.TCPAddr).Port }

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
