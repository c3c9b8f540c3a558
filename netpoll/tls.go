package netpoll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TLS is the transport's TLS setting (spark.ssl.rpc.*): certificates and
// keys from PEM files. Frames inside TLS are unchanged; file regions are
// read and written in pieces instead of going out with sendfile.
type TLS struct {
	server *tls.Config // nil when this process has no key (client only)
	client *tls.Config
	// MaxEncryptedBlock is spark.network.ssl.maxEncryptedBlockSize: the
	// piece size of file regions and large bodies.
	MaxEncryptedBlock int
	// Verified is false when no trust store is set: peers' certificates
	// are then accepted unverified, as Spark does.
	Verified bool

	nameByHost bool // NewTLS: ServerName is each peer's host
}

// sslKey reads spark.ssl.rpc.<suffix>, falling back to spark.ssl.<suffix>.
func sslKey(conf *sparkconf.Conf, suffix string) (string, string, bool) {
	for _, k := range []string{"spark.ssl.rpc." + suffix, "spark.ssl." + suffix} {
		if v, ok := conf.Get(k); ok && v != "" {
			return k, v, true
		}
	}
	return "spark.ssl.rpc." + suffix, "", false
}

// LoadTLS reads spark.ssl.rpc.* (each falling back to spark.ssl.*). It
// returns nil when TLS is off.
func LoadTLS(conf *sparkconf.Conf) (*TLS, error) {
	if conf == nil {
		return nil, nil
	}
	enabledKey, v, ok := sslKey(conf, "enabled")
	if !ok {
		return nil, nil
	}
	on, err := sparkconf.FromMap(map[string]string{enabledKey: v}).GetBool(enabledKey, false)
	if err != nil {
		return nil, err
	}
	if !on {
		return nil, nil
	}
	t := &TLS{MaxEncryptedBlock: 64 << 10}
	if n, err := conf.GetBytes("spark.network.ssl.maxEncryptedBlockSize", 64<<10, 1); err != nil {
		return nil, err
	} else if n <= 0 || n > 16<<20 {
		return nil, fmt.Errorf("netpoll: spark.network.ssl.maxEncryptedBlockSize must be in (0, 16m], got %d", n)
	} else {
		t.MaxEncryptedBlock = int(n)
	}

	if _, pw, ok := sslKey(conf, "privateKeyPassword"); ok && pw != "" {
		return nil, errors.New("netpoll: spark.ssl.rpc.privateKeyPassword: encrypted private keys are not supported by Ember; give an unencrypted PEM key (protect it with file permissions)")
	}
	keyKey, keyPath, hasKey := sslKey(conf, "privateKey")
	certKey, certPath, hasCert := sslKey(conf, "certChain")
	if !hasKey {
		if k, _, ok := sslKey(conf, "keyStore"); ok {
			return nil, fmt.Errorf("netpoll: %s: Java key stores (JKS/PKCS12) are not supported by Ember; set spark.ssl.rpc.privateKey and spark.ssl.rpc.certChain to PEM files", k)
		}
	}
	if hasKey != hasCert {
		return nil, fmt.Errorf("netpoll: TLS needs both %s and %s (PEM files)", keyKey, certKey)
	}

	minVersion := uint16(tls.VersionTLS12)
	if k, p, ok := sslKey(conf, "protocol"); ok {
		switch strings.ToUpper(p) {
		case "TLS", "TLSV1.2":
			minVersion = tls.VersionTLS12
		case "TLSV1.3":
			minVersion = tls.VersionTLS13
		default:
			return nil, fmt.Errorf("netpoll: %s: unsupported protocol %q (want TLSv1.2 or TLSv1.3)", k, p)
		}
	}
	var suites []uint16
	if k, list, ok := sslKey(conf, "enabledAlgorithms"); ok {
		if suites, err = cipherSuites(list); err != nil {
			return nil, fmt.Errorf("netpoll: %s: %w", k, err)
		}
	}

	base := &tls.Config{MinVersion: minVersion, CipherSuites: suites}
	if hasKey {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("netpoll: loading %s / %s: %w", certKey, keyKey, err)
		}
		t.server = base.Clone()
		t.server.Certificates = []tls.Certificate{cert}
	}

	t.client = base.Clone()
	// Spark's TLS client checks the chain but not the host name; without
	// a trust store it accepts any certificate.
	t.client.InsecureSkipVerify = true
	if k, p, ok := sslKey(conf, "trustStore"); ok {
		roots, err := loadPEMPool(p)
		if err != nil {
			return nil, fmt.Errorf("netpoll: %s: %w", k, err)
		}
		t.Verified = true
		t.client.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	}
	return t, nil
}

// ServerConfig returns the server side configuration, nil if this process
// has no key.
func (t *TLS) ServerConfig() *tls.Config { return t.server }

func cipherSuites(list string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	var ids []uint16
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if strings.HasPrefix(name, "TLS_AES_") || strings.HasPrefix(name, "TLS_CHACHA20_") {
			continue // TLS 1.3 suites are always on in Go
		}
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("unknown or insecure cipher suite %q", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func loadPEMPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), "-----BEGIN") {
		return nil, errors.New("not a PEM file (Java trust stores are not supported by Ember; give the CA certificates as PEM)")
	}
	pool := x509.NewCertPool()
	n := 0
	for len(b) > 0 {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no certificates in the PEM file")
	}
	return pool, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("netpoll: TLS peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// WithTLS turns on TLS for every connection of the context. In EPOLL mode
// TLS connections run on Go's poller (NIO): netpoll has no TLS.
func WithTLS(t *TLS) ContextOption {
	return optionFunc(func(c *Context) { c.tls = t })
}

// layerConn is the socket under a TLS connection's tls.Conn. Spark adds
// its session cipher (AuthEngine AES-CTR/GCM, SASL auth-conf) in front of
// its TLS handler, nearer the socket, so with both on its wire carries
// cipher(TLS(frames)): once the authentication handshake is over, the
// session layer seals and opens the TLS records themselves. Until then
// bytes pass through unchanged.
//
// Write is called by tls.Conn with its output lock held (the writer
// goroutine, or an alert from the reading side); Read by the reading
// goroutine only.
type layerConn struct {
	*net.TCPConn
	sealer atomic.Pointer[sealerBox]
	opener atomic.Pointer[openerBox]

	wmu    sync.Mutex
	sealed []byte // write scratch

	opened    []byte // plaintext opened and not yet returned
	openedOff int
}

type sealerBox struct{ Sealer }

// Write seals b when the session layer is on and writes it whole.
func (l *layerConn) Write(b []byte) (int, error) {
	box := l.sealer.Load()
	if box == nil {
		return l.TCPConn.Write(b)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	out, err := box.Seal(l.sealed[:0], b)
	if err != nil {
		return 0, fmt.Errorf("encrypting: %w", err)
	}
	if cap(out) <= 4*sealChunk {
		l.sealed = out[:0]
	}
	if _, err := l.TCPConn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Read returns TLS record bytes, opened by the session layer when it is
// on. The layer is looked up after the socket read returns, so bytes that
// arrive after it was installed are opened even if the read began before.
func (l *layerConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if l.openedOff < len(l.opened) {
			n := copy(p, l.opened[l.openedOff:])
			l.openedOff += n
			return n, nil
		}
		n, err := l.TCPConn.Read(p)
		box := l.opener.Load()
		if box == nil || n == 0 {
			return n, err
		}
		if so, ok := box.Opener.(StreamOpener); ok {
			so.XORInPlace(p[:n])
			return n, err
		}
		out, oerr := box.Open(l.opened[:0], p[:n])
		if oerr != nil {
			return 0, fmt.Errorf("decrypting: %w", oerr)
		}
		l.opened = out
		k := copy(p, out)
		l.openedOff = k
		if k > 0 || err != nil {
			if l.openedOff < len(l.opened) {
				return k, nil // the error comes again with the next read
			}
			return k, err
		}
		// An incomplete record: read again.
	}
}

// tlsConn is the rawConn of a TLS connection (always on Go's poller, read
// by its own goroutine; its writes always go through the connection's
// writer goroutine, under the write deadline).
type tlsConn struct {
	conn    *tls.Conn
	tcp     *net.TCPConn
	layer   *layerConn // under conn: the session layer, once installed
	block   int
	timeout time.Duration
	scratch []byte
}

func newTLSConn(conn *tls.Conn, layer *layerConn, block int, timeout time.Duration) *tlsConn {
	return &tlsConn{conn: conn, tcp: layer.TCPConn, layer: layer, block: block, timeout: timeout}
}

func (t *tlsConn) read(p []byte, block bool) (int, error) {
	if !block {
		return 0, errWouldBlock
	}
	n, err := t.conn.Read(p)
	if n > 0 && err != nil {
		return n, nil // the error comes again with the next read
	}
	return n, err
}

func (t *tlsConn) nonBlocking() bool                                { return false }
func (t *tlsConn) writevNB([][]byte) (int64, error)                 { return 0, errWouldBlock }
func (t *tlsConn) sendFileNB(*os.File, int64, int64) (int64, error) { return 0, errWouldBlock }

// deadline arms the write deadline for one blocking write.
func (t *tlsConn) deadline() {
	if t.timeout > 0 {
		_ = t.tcp.SetWriteDeadline(time.Now().Add(t.timeout))
	}
}

func (t *tlsConn) writeErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%s)", errWriteTimeout, t.timeout)
	}
	return err
}

// writev coalesces small buffers into one TLS write, so a frame header and
// its small body make one record.
func (t *tlsConn) writev(bufs [][]byte) error {
	for _, b := range bufs {
		if len(b) >= t.block {
			if err := t.flush(); err != nil {
				return err
			}
			for len(b) > 0 {
				n := min(len(b), t.block)
				t.deadline()
				if _, err := t.conn.Write(b[:n]); err != nil {
					return t.writeErr(err)
				}
				b = b[n:]
			}
			continue
		}
		if len(t.scratch)+len(b) > t.block {
			if err := t.flush(); err != nil {
				return err
			}
		}
		t.scratch = append(t.scratch, b...)
	}
	return t.flush()
}

func (t *tlsConn) flush() error {
	if len(t.scratch) == 0 {
		return nil
	}
	t.deadline()
	_, err := t.conn.Write(t.scratch)
	t.scratch = t.scratch[:0]
	return t.writeErr(err)
}

// sendFile writes a file region in pieces through TLS (no sendfile).
func (t *tlsConn) sendFile(f *os.File, off, n int64) error {
	return copyFileChunks(f, off, n, t.block, t.writev)
}

func (t *tlsConn) close() error         { return t.conn.Close() }
func (t *tlsConn) remoteAddr() net.Addr { return t.tcp.RemoteAddr() }
func (t *tlsConn) localAddr() net.Addr  { return t.tcp.LocalAddr() }

// tlsHandshake runs the TLS handshake within timeout (no limit when ≤0).
func tlsHandshake(conn *tls.Conn, timeout time.Duration) error {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return conn.HandshakeContext(ctx)
}
