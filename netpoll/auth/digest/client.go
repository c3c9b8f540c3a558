package digest

import (
	"crypto/md5"
	"crypto/subtle"
	"fmt"
	"strconv"
)

// Directives a client reads from challenges; others are ignored.
var clientKnown = []string{"realm", "qop", "algorithm", "nonce", "maxbuf", "charset", "cipher", "rspauth", "stale"}

// ClientOption configures a Client.
type ClientOption interface{ applyClient(*Client) }

type clientOptionFunc func(*Client)

func (f clientOptionFunc) applyClient(c *Client) { f(c) }

// WithCipher makes the client accept only the named auth-conf cipher (the
// JDK's com.sun.security.sasl.digest.cipher property). Without it the
// client picks the strongest the server offers, as the JDK does.
func WithCipher(name string) ClientOption {
	return clientOptionFunc(func(c *Client) {
		if cipherIndex(name) < 0 {
			c.cfgErr = fmt.Errorf("%w: unknown cipher %q", ErrConfig, name)
			return
		}
		c.onlyCipher = name
	})
}

type clientStep int

const (
	clientStart clientStep = iota // waiting for the challenge
	clientSent                    // digest-response sent, waiting for rspauth
	clientDone                    // rspauth verified
	clientFailed
)

// Client is the initiating side of one DIGEST-MD5 exchange. It is not safe
// for concurrent use.
type Client struct {
	username, password, authzid, digestURI string

	prefs      []int  // QOPs in order of preference
	onlyCipher string // "" or the one cipher accepted
	cfgErr     error
	nonceFunc  func() []byte // cnonce source; tests replace it

	step    clientStep
	err     error // first failure, returned by every later Evaluate
	qop     string
	cipher  string
	maxSend int
	ha1     [md5.Size]byte
	rspauth []byte // the rspauth value the server must send
	layer   *Layer
}

// NewClient returns a client that authenticates as username with password.
// authzid, when not empty, is the identity to act as (a JDK or Spark
// server accepts only the username itself). digestURI is
// "serv-type/host", SparkDigestURI for Spark. qops lists acceptable QOPs
// in order of preference ("auth", "auth-int", "auth-conf"; an entry may be
// a comma-separated list; empty means "auth"). Configuration errors are
// returned by the first Evaluate.
func NewClient(username, password, authzid, digestURI string, qops []string, opts ...ClientOption) *Client {
	c := &Client{
		username:  username,
		password:  password,
		authzid:   authzid,
		digestURI: digestURI,
		nonceFunc: newNonce,
	}
	c.prefs, c.cfgErr = parseQOPList(qops)
	for _, o := range opts {
		o.applyClient(c)
	}
	return c
}

// InitialResponse returns the client's first token: DIGEST-MD5 has none,
// so it is empty (and not nil).
func (c *Client) InitialResponse() []byte { return []byte{} }

// Complete reports whether the exchange finished and the server proved it
// knows the password.
func (c *Client) Complete() bool { return c.step == clientDone }

// QOP returns the agreed quality of protection, known once the challenge
// has been answered ("" before).
func (c *Client) QOP() string { return c.qop }

// Cipher returns the agreed auth-conf cipher, or "".
func (c *Client) Cipher() string { return c.cipher }

// Evaluate answers a server token. Given the challenge it returns the
// digest-response; given the server's rspauth it verifies it and returns
// nil, after which Complete is true. Any error ends the exchange.
func (c *Client) Evaluate(challenge []byte) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.cfgErr != nil {
		return nil, c.fail(c.cfgErr)
	}
	if len(challenge) > MaxChallengeSize {
		return nil, c.fail(fmt.Errorf("%w: %d-byte challenge, limit %d", ErrTooLarge, len(challenge), MaxChallengeSize))
	}
	switch c.step {
	case clientStart:
		resp, err := c.respond(challenge)
		c.password = "" // H(A1) is all that is needed from here on
		if err != nil {
			return nil, c.fail(err)
		}
		c.step = clientSent
		return resp, nil
	case clientSent:
		if err := c.verify(challenge); err != nil {
			return nil, c.fail(err)
		}
		c.step = clientDone
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: client exchange already complete", ErrState)
	}
}

func (c *Client) fail(err error) error {
	c.err = err
	c.step = clientFailed
	c.password = ""
	return err
}

// respond handles the server's challenge and builds the digest-response.
func (c *Client) respond(challenge []byte) ([]byte, error) {
	dirs, err := parseDirectives(challenge)
	if err != nil {
		return nil, err
	}
	f, err := collect(dirs, clientKnown, true)
	if err != nil {
		return nil, err
	}

	utf8 := false
	charset, hasCharset := f.get("charset")
	if hasCharset {
		if string(charset) != "utf-8" {
			return nil, fmt.Errorf("%w: unsupported charset %q", ErrMalformed, charset)
		}
		utf8 = true
	}
	if alg, ok := f.get("algorithm"); !ok {
		return nil, fmt.Errorf("%w: challenge has no algorithm directive", ErrMalformed)
	} else if string(alg) != "md5-sess" {
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrMalformed, alg)
	}
	nonce, ok := f.get("nonce")
	if !ok {
		return nil, fmt.Errorf("%w: challenge has no nonce directive", ErrMalformed)
	}
	// Spark's client answers the realm question with the server's realm;
	// with several, take the first; with none, the empty realm.
	realm := ""
	if len(f.realms) > 0 {
		realm = decodeText(f.realms[0], utf8)
	}
	maxbuf, v := f.get("maxbuf")
	if c.maxSend, err = parseMaxBuf(maxbuf, v); err != nil {
		return nil, err
	}
	if err := c.chooseQOP(f); err != nil {
		return nil, err
	}

	cnonce := c.nonceFunc()
	cred := credentials{
		username: hashBytes(c.username, utf8),
		realm:    hashBytes(realm, utf8),
		password: hashBytes(c.password, utf8),
		nonce:    nonce,
		cnonce:   cnonce,
	}
	if c.authzid != "" {
		cred.authzid = []byte(c.authzid) // always UTF-8 (RFC 2222)
	}
	c.ha1 = sessionKey(&cred)
	uri := wireBytes(c.digestURI, utf8)
	c.rspauth = responseValue(c.ha1, "", uri, c.qop, nonce, cnonce)

	out := make([]byte, 0, 256)
	if hasCharset {
		out = append(out, "charset="...)
		out = append(out, charset...)
		out = append(out, ',')
	}
	out = append(out, "username="...)
	out = appendQuoted(out, wireBytes(c.username, utf8))
	if realm != "" {
		out = append(out, ",realm="...)
		out = appendQuoted(out, wireBytes(realm, utf8))
	}
	out = append(out, ",nonce="...)
	out = appendQuoted(out, nonce)
	out = append(out, ",nc="+nonceCount+",cnonce="...)
	out = appendQuoted(out, cnonce)
	out = append(out, ",digest-uri="...)
	out = appendQuoted(out, uri)
	out = append(out, ",maxbuf="+strconv.Itoa(DefaultMaxBuf)+",response="...)
	out = append(out, responseValue(c.ha1, "AUTHENTICATE", uri, c.qop, nonce, cnonce)...)
	out = append(out, ",qop="+c.qop...)
	if c.cipher != "" {
		out = append(out, ",cipher=\""+c.cipher+"\""...)
	}
	if c.authzid != "" {
		out = append(out, ",authzid="...)
		out = appendQuoted(out, []byte(c.authzid))
	}
	if len(out) > MaxResponseSize {
		return nil, fmt.Errorf("%w: digest-response would be %d bytes, limit %d", ErrTooLarge, len(out), MaxResponseSize)
	}
	return out, nil
}

// chooseQOP picks the first of the client's QOPs that the server offers
// and, for auth-conf, the cipher.
func (c *Client) chooseQOP(f *fields) error {
	offered := qopAuth // no qop directive: only auth
	if v, ok := f.get("qop"); ok {
		offered = 0
		for _, tok := range splitTokens(string(v)) {
			offered |= qopBit(tok) // unknown tokens are ignored
		}
	}
	chosen := 0
	for _, p := range c.prefs {
		if offered&p != 0 {
			chosen = p
			break
		}
	}
	if chosen == 0 {
		v, _ := f.get("qop")
		return fmt.Errorf("%w: server offers qop %q, client accepts %v", ErrNoCommonQOP, v, qopNames(c.prefs))
	}
	c.qop = qopName(chosen)
	if chosen != qopAuthConf {
		return nil
	}
	list, ok := f.get("cipher")
	if !ok {
		return fmt.Errorf("%w: server offers auth-conf without a cipher directive", ErrMalformed)
	}
	var offeredCiphers [len(ciphers)]bool
	for _, tok := range splitTokens(string(list)) {
		if i := cipherIndex(tok); i >= 0 { // exact names, unknown ignored
			offeredCiphers[i] = true
		}
	}
	for _, s := range clientStrengths {
		for i, spec := range ciphers {
			if spec.strength == s && offeredCiphers[i] && (c.onlyCipher == "" || c.onlyCipher == spec.name) {
				c.cipher = spec.name
				return nil
			}
		}
	}
	return fmt.Errorf("%w: server offers %q", ErrNoCommonCipher, list)
}

func qopNames(bits []int) []string {
	out := make([]string, len(bits))
	for i, b := range bits {
		out[i] = qopName(b)
	}
	return out
}

// verify checks the server's rspauth.
func (c *Client) verify(challenge []byte) error {
	dirs, err := parseDirectives(challenge)
	if err != nil {
		return err
	}
	f, err := collect(dirs, clientKnown, false)
	if err != nil {
		return err
	}
	got, ok := f.get("rspauth")
	if !ok {
		return fmt.Errorf("%w: server's last message has no rspauth", ErrMalformed)
	}
	if subtle.ConstantTimeCompare(got, c.rspauth) != 1 {
		return fmt.Errorf("%w: server's rspauth does not match (the server does not know the password)", ErrAuthFailed)
	}
	return nil
}

// SecurityLayer returns the agreed layer once the exchange is complete:
// the same Layer on every call. It is an error (ErrNoSecurityLayer) when
// the agreed QOP is "auth".
func (c *Client) SecurityLayer() (*Layer, error) {
	if c.step != clientDone {
		return nil, fmt.Errorf("%w: client exchange not complete", ErrState)
	}
	if c.layer == nil {
		l, err := newLayer(c.ha1, c.qop, c.cipher, true, c.maxSend)
		if err != nil {
			return nil, err
		}
		c.layer = l
	}
	return c.layer, nil
}
