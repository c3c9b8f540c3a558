package digest

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
)

// Directives a server reads from responses; others are ignored.
var serverKnown = []string{"username", "realm", "nonce", "cnonce", "nc", "qop", "digest-uri", "response", "maxbuf", "charset", "cipher", "authzid"}

// ServerOption configures a Server.
type ServerOption interface{ applyServer(*Server) }

type serverOptionFunc func(*Server)

func (f serverOptionFunc) applyServer(s *Server) { f(s) }

// WithDigestURI sets the digest-uri the server expects ("serv-type/host",
// compared without regard to case). The default is "null/" + realm, what a
// JDK server created as Spark creates it (null protocol, server name equal
// to the realm) expects. A uri ending in "/*" accepts any host for that
// serv-type.
func WithDigestURI(uri string) ServerOption {
	return serverOptionFunc(func(s *Server) { s.digestURI = uri })
}

// WithCiphers limits the auth-conf ciphers the server offers. They are
// offered in the JDK's order whatever the order given. The default is all
// five.
func WithCiphers(names ...string) ServerOption {
	return serverOptionFunc(func(s *Server) {
		var offer [len(ciphers)]bool
		for _, n := range names {
			i := cipherIndex(n)
			if i < 0 {
				s.cfgErr = fmt.Errorf("%w: unknown cipher %q", ErrConfig, n)
				return
			}
			offer[i] = true
		}
		s.offer = offer
	})
}

type serverStep int

const (
	serverStart serverStep = iota // no challenge sent yet
	serverSent                    // challenge sent, waiting for the response
	serverDone                    // client authenticated
	serverFailed
)

// Server is the accepting side of one DIGEST-MD5 exchange. It is not safe
// for concurrent use.
type Server struct {
	realm     string
	qops      int    // offered QOP bits
	qopList   string // the qop directive's value, "" when only auth
	offer     [len(ciphers)]bool
	digestURI string
	lookup    func(username string) (password string, ok bool)
	cfgErr    error
	nonceFunc func() []byte // nonce source; tests replace it

	step     serverStep
	err      error
	nonce    []byte
	qop      string
	cipher   string
	username string
	maxSend  int
	ha1      [md5.Size]byte
	layer    *Layer
}

// NewServer returns a server for realm (SparkRealm for Spark) offering
// qops ("auth-conf,auth" in Spark, or only "auth-conf" when
// spark.network.sasl.serverAlwaysEncrypt is set; empty means "auth").
// lookup returns the password of a username; ok=false fails the
// authentication. Configuration errors are returned by the first
// Evaluate.
func NewServer(realm string, qops []string, lookup func(username string) (password string, ok bool), opts ...ServerOption) *Server {
	s := &Server{
		realm:     realm,
		digestURI: "null/" + realm,
		lookup:    lookup,
		nonceFunc: newNonce,
	}
	for i := range s.offer {
		s.offer[i] = true
	}
	list, err := parseQOPList(qops)
	s.cfgErr = err
	var names []string
	for _, b := range list {
		if s.qops&b == 0 {
			names = append(names, qopName(b))
		}
		s.qops |= b
	}
	if len(qops) > 0 {
		// The JDK writes the configured list as given; Spark's is
		// "auth-conf,auth". Without one it writes no qop directive.
		s.qopList = strings.Join(names, ",")
	}
	if lookup == nil && s.cfgErr == nil {
		s.cfgErr = fmt.Errorf("%w: nil password lookup", ErrConfig)
	}
	for _, o := range opts {
		o.applyServer(s)
	}
	if s.qops&qopAuthConf != 0 && s.cfgErr == nil && s.offer == [len(ciphers)]bool{} {
		s.cfgErr = fmt.Errorf("%w: auth-conf offered with no cipher", ErrConfig)
	}
	return s
}

// Complete reports whether the client has been authenticated.
func (s *Server) Complete() bool { return s.step == serverDone }

// QOP returns the QOP the client chose, once its response was accepted.
func (s *Server) QOP() string { return s.qop }

// Cipher returns the auth-conf cipher the client chose, or "".
func (s *Server) Cipher() string { return s.cipher }

// Username returns the authenticated username (valid once Complete).
func (s *Server) Username() string { return s.username }

// Evaluate takes the client's tokens. The first call (with the client's
// empty initial response; a non-empty one is ignored, as the JDK does)
// returns the challenge. The second, with the digest-response, checks it
// and returns "rspauth=..." for the client, after which Complete is true.
// Any error ends the exchange.
func (s *Server) Evaluate(response []byte) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.cfgErr != nil {
		return nil, s.fail(s.cfgErr)
	}
	if len(response) > MaxResponseSize {
		return nil, s.fail(fmt.Errorf("%w: %d-byte response, limit %d", ErrTooLarge, len(response), MaxResponseSize))
	}
	switch s.step {
	case serverStart:
		s.step = serverSent
		return s.challenge(), nil
	case serverSent:
		out, err := s.check(response)
		if err != nil {
			return nil, s.fail(err)
		}
		s.step = serverDone
		return out, nil
	default:
		return nil, fmt.Errorf("%w: server exchange already complete", ErrState)
	}
}

func (s *Server) fail(err error) error {
	s.err = err
	s.step = serverFailed
	return err
}

// challenge builds the digest-challenge, directives in the JDK's order.
func (s *Server) challenge() []byte {
	s.nonce = s.nonceFunc()
	out := make([]byte, 0, 160)
	if s.realm != "" {
		out = append(out, "realm="...)
		out = appendQuoted(out, []byte(s.realm))
		out = append(out, ',')
	}
	out = append(out, "nonce="...)
	out = appendQuoted(out, s.nonce)
	out = append(out, ',')
	if s.qopList != "" {
		out = append(out, "qop="...)
		out = appendQuoted(out, []byte(s.qopList))
		out = append(out, ',')
	}
	out = append(out, "charset=utf-8,"...)
	if s.qops&qopAuthConf != 0 {
		var names []byte
		for i, c := range ciphers {
			if s.offer[i] {
				if len(names) > 0 {
					names = append(names, ',')
				}
				names = append(names, c.name...)
			}
		}
		out = append(out, "cipher="...)
		out = appendQuoted(out, names)
		out = append(out, ',')
	}
	return append(out, "algorithm=md5-sess"...)
}

// check validates the digest-response, in the order the JDK does, and
// returns the rspauth message.
func (s *Server) check(response []byte) ([]byte, error) {
	dirs, err := parseDirectives(response)
	if err != nil {
		return nil, err
	}
	f, err := collect(dirs, serverKnown, false)
	if err != nil {
		return nil, err
	}
	if v, ok := f.get("charset"); ok && string(v) != "utf-8" {
		return nil, fmt.Errorf("%w: unsupported charset %q", ErrMalformed, v)
	}
	maxbuf, ok := f.get("maxbuf")
	if s.maxSend, err = parseMaxBuf(maxbuf, ok); err != nil {
		return nil, err
	}
	user, ok := f.get("username")
	if !ok {
		return nil, fmt.Errorf("%w: response has no username", ErrMalformed)
	}
	username := string(user)
	realm, _ := f.get("realm") // absent: the empty realm
	if string(realm) != s.realm {
		return nil, fmt.Errorf("%w: realm %q is not the server's %q", ErrMalformed, realm, s.realm)
	}
	nonce, ok := f.get("nonce")
	if !ok {
		return nil, fmt.Errorf("%w: response has no nonce", ErrMalformed)
	}
	if !bytes.Equal(nonce, s.nonce) {
		return nil, fmt.Errorf("%w: response is for another nonce", ErrMalformed)
	}
	cnonce, ok := f.get("cnonce")
	if !ok {
		return nil, fmt.Errorf("%w: response has no cnonce", ErrMalformed)
	}
	if nc, ok := f.get("nc"); ok {
		if n, err := strconv.ParseInt(string(nc), 16, 32); err != nil || n != 1 {
			return nil, fmt.Errorf("%w: nonce count %q, want 00000001", ErrMalformed, nc)
		}
	}
	qop := QOPAuth
	if v, ok := f.get("qop"); ok {
		qop = string(v)
	}
	bit := 0
	switch qop { // exact names, as the JDK
	case QOPAuth, QOPAuthInt, QOPAuthConf:
		bit = qopBit(qop)
	default:
		return nil, fmt.Errorf("%w: unknown qop %q", ErrMalformed, qop)
	}
	if s.qops&bit == 0 {
		return nil, fmt.Errorf("%w: client chose qop %q, server offers %q", ErrNoCommonQOP, qop, s.qopList)
	}
	cipherName := ""
	if bit == qopAuthConf {
		v, ok := f.get("cipher")
		if !ok {
			return nil, fmt.Errorf("%w: auth-conf response has no cipher", ErrMalformed)
		}
		i := cipherIndex(string(v))
		if i < 0 || !s.offer[i] {
			return nil, fmt.Errorf("%w: client chose cipher %q, which was not offered", ErrNoCommonCipher, v)
		}
		cipherName = string(v)
	}
	uri, ok := f.get("digest-uri")
	if !ok {
		return nil, fmt.Errorf("%w: response has no digest-uri, want %q", ErrMalformed, s.digestURI)
	}
	if !uriMatches(s.digestURI, string(uri)) {
		return nil, fmt.Errorf("%w: digest-uri %q, want %q", ErrMalformed, uri, s.digestURI)
	}
	resp, ok := f.get("response")
	if !ok {
		return nil, fmt.Errorf("%w: response has no response directive", ErrMalformed)
	}
	authzid, hasAuthzid := f.get("authzid")

	password, known := s.lookup(username)
	if !known {
		return nil, fmt.Errorf("%w: unknown user %q", ErrAuthFailed, username)
	}
	cred := credentials{
		username: hashBytes(username, true),
		realm:    hashBytes(string(realm), true),
		password: hashBytes(password, true),
		nonce:    s.nonce,
		cnonce:   cnonce,
	}
	if hasAuthzid {
		cred.authzid = authzid
	}
	ha1 := sessionKey(&cred)
	// The client's digest-uri, as sent, goes into the hashes (it may differ
	// from ours in case).
	want := responseValue(ha1, "AUTHENTICATE", uri, qop, s.nonce, cnonce)
	if subtle.ConstantTimeCompare(resp, want) != 1 {
		return nil, fmt.Errorf("%w: wrong password for user %q", ErrAuthFailed, username)
	}
	// Authorization: as Spark's callback, only the user itself.
	if hasAuthzid && string(authzid) != username {
		return nil, fmt.Errorf("%w: user %q may not act as %q", ErrNotAuthorized, username, authzid)
	}
	s.username, s.qop, s.cipher, s.ha1 = username, qop, cipherName, ha1
	out := append([]byte("rspauth="), responseValue(ha1, "", uri, qop, s.nonce, cnonce)...)
	return out, nil
}

// uriMatches compares digest-uris without regard to case; an expected uri
// ending in "/*" matches any host of its serv-type.
func uriMatches(want, got string) bool {
	if strings.EqualFold(want, got) {
		return true
	}
	if prefix, ok := strings.CutSuffix(want, "*"); ok && strings.HasSuffix(prefix, "/") {
		return len(got) >= len(prefix) && strings.EqualFold(got[:len(prefix)], prefix)
	}
	return false
}

// SecurityLayer returns the agreed layer once the exchange is complete:
// the same Layer on every call. It is an error (ErrNoSecurityLayer) when
// the agreed QOP is "auth".
func (s *Server) SecurityLayer() (*Layer, error) {
	if s.step != serverDone {
		return nil, fmt.Errorf("%w: server exchange not complete", ErrState)
	}
	if s.layer == nil {
		l, err := newLayer(s.ha1, s.qop, s.cipher, false, s.maxSend)
		if err != nil {
			return nil, err
		}
		s.layer = l
	}
	return s.layer, nil
}
