package auth

import (
	"log/slog"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Setup is everything a transport user needs to honour spark.authenticate
// and spark.ssl.rpc.*: bootstraps for its client factories and servers,
// and context options (TLS).
type Setup struct {
	Conf   *Conf
	TLS    *netpoll.TLS
	Client []netpoll.ClientBootstrap // nil without auth or without an app id
	Server []netpoll.ServerBootstrap // nil without auth
}

// Configure reads the security settings of module from sc. appID is the
// identity client connections authenticate as (SaslUser for RPC envs, the
// application id for shuffle clients); "" builds no client bootstrap.
func Configure(sc *sparkconf.Conf, module, appID string, log *slog.Logger) (*Setup, error) {
	c, err := NewConf(sc, module)
	if err != nil {
		return nil, err
	}
	s := &Setup{Conf: c}
	if s.TLS, err = netpoll.LoadTLS(sc); err != nil {
		return nil, err
	}
	if !c.Enabled {
		return s, nil
	}
	sb, err := NewServerBootstrap(c, nil, log)
	if err != nil {
		return nil, err
	}
	s.Server = []netpoll.ServerBootstrap{sb}
	if appID != "" {
		cb, err := NewClientBootstrap(c, appID, log)
		if err != nil {
			return nil, err
		}
		s.Client = []netpoll.ClientBootstrap{cb}
	}
	return s, nil
}

// ContextOptions returns the options that apply the setup to a
// netpoll.Context.
func (s *Setup) ContextOptions() []netpoll.ContextOption {
	if s == nil || s.TLS == nil {
		return nil
	}
	return []netpoll.ContextOption{netpoll.WithTLS(s.TLS)}
}
