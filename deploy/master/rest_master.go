package master

// The master's side of the REST server (rest.go): started by Start once
// the endpoint is up, closed first by Shutdown.

import (
	"context"
	"os"
)

// RESTPort returns the REST server's bound port, 0 when it is off.
func (m *Master) RESTPort() int {
	if m.rest == nil {
		return 0
	}
	return m.rest.port
}

// startRESTFor starts the master's REST server if cfg asks for it; its
// endpoint must be set up.
func (m *Master) startRESTFor(cfg restConfig) error {
	if !cfg.Enabled {
		return nil
	}
	if cfg.Auth && cfg.JWS == nil {
		m.log.Warn("spark.authenticate does not cover the REST submission server: anyone who reaches its port can run a driver " +
			"(spark.master.rest.enabled=false turns it off)")
	}
	host := cfg.Host
	if host == "" {
		host = m.opts.Host
	}
	if host == "" {
		host = m.env.Address().Host
	}
	h := &restHandler{
		ask:       func(ctx context.Context, msg any) (any, error) { return m.self.Ask(ctx, msg) },
		masterURL: m.cfg.MasterURL,
		getenv:    os.LookupEnv,
		sem:       make(chan struct{}, cfg.MaxThreads),
		log:       m.log,
		jws:       cfg.JWS,
	}
	if cfg.Protected && cfg.JWS == nil {
		h.protected = restProtectedText
		m.log.Info("REST submission server in protected mode: only clients on this host are served",
			"keys", "spark.master.rest.filters=org.apache.spark.ui.JWSFilter, or spark.ember.protectedMode=false")
	}
	var err error
	m.rest, err = startREST(cfg, host, h, m.log)
	return err
}
