package webui

import (
	"fmt"
	"net/http"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// SecurityWarning is Options.Warning for a daemon ("master", "worker")
// bound to host, from its configuration: "" when spark.authenticate is on
// or the daemon is bound to a loopback address; otherwise a warning that
// it serves unauthenticated peers (spark.ember.protectedMode=false), or
// that protected mode refuses every other host, with the keys to set.
func SecurityWarning(conf *sparkconf.Conf, daemon, host string) (string, error) {
	sec, err := deploy.SecurityFromConf(conf)
	if err != nil {
		return "", fmt.Errorf("webui: %w", err)
	}
	if sec.Authenticate || auth.IsLoopbackHost(host) {
		return "", nil
	}
	const secure = "set spark.authenticate=true and spark.authenticate.secret.file (ember secret writes one) on every node"
	if !sec.Protected {
		return fmt.Sprintf("Unauthenticated: this %s serves any peer that reaches it without authentication (spark.authenticate is off, "+
			"%s=false), and such a peer can run commands as this %s's user. To secure it, %s.", daemon, netpoll.ProtectedModeKey, daemon, secure), nil
	}
	return fmt.Sprintf("Protected mode: spark.authenticate is off, so this %s serves only peers on its own host and refuses "+
		"every other host. To serve other hosts, %s (or set %s=false to serve them unauthenticated).", daemon, secure, netpoll.ProtectedModeKey), nil
}

// KillLocalOnlyFromConf is Options.KillLocalOnly: true in protected mode
// (spark.authenticate off, spark.ember.protectedMode on).
func KillLocalOnlyFromConf(conf *sparkconf.Conf) (bool, error) {
	sec, err := deploy.SecurityFromConf(conf)
	if err != nil {
		return false, fmt.Errorf("webui: %w", err)
	}
	return sec.LocalOnly(), nil
}

// localOnly answers 403 to a client that is not on this host: one whose
// address is neither a loopback address nor the address it connected to.
func localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localClient(r) {
			http.Error(w, "Forbidden: this daemon is in protected mode (spark.authenticate is off), so only clients on its own host "+
				"may kill; set spark.authenticate=true (the kill endpoints then ask for its secret) or spark.ui.ember.basicAuth.*", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func localClient(r *http.Request) bool { return auth.LocalHTTPClient(r) }
