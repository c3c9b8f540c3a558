package auth

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth/digest"
)

// ClientBootstrap authenticates every new client connection before it is
// handed out: Spark's AuthClientBootstrap, with the SASL fallback.
type ClientBootstrap struct {
	conf  *Conf
	appID string
	log   *slog.Logger
}

// NewClientBootstrap returns the bootstrap for conf. appID is the identity
// sent: SaslUser for RPC-env connections, the application id for block
// transfer and shuffle-service connections.
func NewClientBootstrap(conf *Conf, appID string, log *slog.Logger) (*ClientBootstrap, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	if !conf.Enabled {
		return nil, errors.New("auth: client bootstrap with spark.authenticate=false")
	}
	if appID == "" {
		return nil, errors.New("auth: client bootstrap needs an app id")
	}
	if log == nil {
		log = slog.Default()
	}
	return &ClientBootstrap{conf: conf, appID: appID, log: log}, nil
}

// DoBootstrap implements netpoll.ClientBootstrap.
func (b *ClientBootstrap) DoBootstrap(s *netpoll.Setup) error {
	c := s.Client()
	if !b.conf.CryptoEnabled {
		return b.sasl(s)
	}
	err := b.engine(s)
	if err == nil {
		return nil
	}
	// The server answered the challenge with a failure: it may be a
	// SASL-only server, which cannot parse the challenge. Spark falls back
	// on any such answer; timeouts, a closed connection and a response
	// that does not decrypt are final.
	var remote *netpoll.RemoteError
	if !b.conf.SaslFallback || !errors.As(err, &remote) || !c.IsActive() {
		return err
	}
	b.log.Debug("AuthEngine handshake refused; falling back to SASL", "remote", c.RemoteAddr(), "err", err)
	if serr := b.sasl(s); serr != nil {
		return fmt.Errorf("%w (after the AuthEngine handshake failed: %v)", serr, err)
	}
	return nil
}

func (b *ClientBootstrap) engine(s *netpoll.Setup) error {
	c := s.Client()
	e, err := NewEngine(b.appID, b.conf.Secret, b.conf.EngineVersion)
	if err != nil {
		return err
	}
	ch, err := e.Challenge()
	if err != nil {
		return err
	}
	resp, err := c.SendRpcSync(ch.Encode(), b.conf.RPCTimeout)
	if err != nil {
		return fmt.Errorf("auth: AuthEngine handshake with %s: %w", c.RemoteAddr(), err)
	}
	rm, err := DecodeAuthMessage(resp)
	if err != nil {
		return fmt.Errorf("auth: AuthEngine handshake with %s: %w", c.RemoteAddr(), err)
	}
	if err := e.Finish(ch, rm); err != nil {
		return fmt.Errorf("auth: AuthEngine handshake with %s: %w", c.RemoteAddr(), err)
	}
	seal, open, err := SessionLayer(b.conf.Cipher, e.Keys(), true)
	if err != nil {
		return err
	}
	if err := s.EnableEncryption(seal, open); err != nil {
		return err
	}
	s.SetClientID(b.appID)
	return nil
}

func (b *ClientBootstrap) sasl(s *netpoll.Setup) error {
	c := s.Client()
	qop := qopAuth
	if b.conf.SaslEncryption {
		qop = qopAuthConf
	}
	dc := digest.NewClient(saslUserName(SaslUser), saslPassword(b.conf.Secret), "", "null/default", []string{qop})
	token := dc.InitialResponse()
	for step := 0; !dc.Complete(); step++ {
		if step > 4 {
			return errors.New("auth: SASL handshake did not complete")
		}
		msg := (&SaslMessage{AppID: b.appID, Token: token}).Encode()
		resp, err := c.SendRpcSync(msg, b.conf.RPCTimeout)
		if err != nil {
			return fmt.Errorf("auth: SASL handshake with %s: %w", c.RemoteAddr(), err)
		}
		if token, err = dc.Evaluate(resp); err != nil {
			return fmt.Errorf("auth: SASL handshake with %s: %w", c.RemoteAddr(), err)
		}
	}
	s.SetClientID(b.appID)
	if !b.conf.SaslEncryption {
		return nil
	}
	if dc.QOP() != qopAuthConf {
		return fmt.Errorf("auth: SASL with %s: encryption was requested but the server agreed to %q", c.RemoteAddr(), dc.QOP())
	}
	layer, err := dc.SecurityLayer()
	if err != nil {
		return err
	}
	seal, open := SaslLayer(layer, b.conf.MaxEncryptedBlock)
	return s.EnableEncryption(seal, open)
}
