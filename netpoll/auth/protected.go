package auth

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Security modes of a daemon, as DaemonSecurity reports and logs them.
const (
	// ModeAuthenticated: spark.authenticate is on; every peer must prove
	// the shared secret.
	ModeAuthenticated = "authenticated"
	// ModeProtected: spark.authenticate is off and protected mode is on;
	// only peers on this host are served.
	ModeProtected = "protected"
	// ModeOpen: spark.authenticate is off and spark.ember.protectedMode is
	// false; any peer that reaches the port is served.
	ModeOpen = "open"
)

// DaemonSecurity is what a daemon (master, worker, shuffle service) runs
// with, from its configuration.
type DaemonSecurity struct {
	// Mode is ModeAuthenticated, ModeProtected or ModeOpen.
	Mode string
	// Bootstraps are the server bootstraps the daemon's listening server
	// gets beyond its usual ones: the protected-mode admission in
	// ModeProtected, none otherwise (in ModeAuthenticated the usual
	// authentication bootstrap of Configure applies).
	Bootstraps []netpoll.ServerBootstrap
	// Admission is the protected-mode admission (nil unless ModeProtected).
	Admission *netpoll.Admission
}

// Exposed reports whether a daemon in mode bound to host serves
// unauthenticated peers from other hosts: open mode on an address other
// than a loopback one.
func Exposed(mode, host string) bool {
	return mode == ModeOpen && !IsLoopbackHost(host)
}

// IsLoopbackHost reports whether host (an IP or a name) names a loopback
// address only; "" and the wildcard addresses are not loopback.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Settings is what a configuration says about serving peers that prove
// no secret: the one reader of its two keys (ProtectedMode, and the
// daemons' web UI and REST server through deploy.SecurityFromConf).
type Settings struct {
	// Authenticate is spark.authenticate (false): every RPC peer proves
	// the shared secret.
	Authenticate bool
	// Protected is protected mode (spark.ember.protectedMode, true).
	Protected bool
}

// ReadSettings reads spark.authenticate and spark.ember.protectedMode
// (nil conf: the defaults).
func ReadSettings(sc *sparkconf.Conf) (Settings, error) {
	if sc == nil {
		sc = sparkconf.New()
	}
	var s Settings
	var err error
	if s.Authenticate, err = sc.GetBool("spark.authenticate", false); err != nil {
		return Settings{}, err
	}
	if s.Protected, err = sc.GetBool(netpoll.ProtectedModeKey, true); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// LocalOnly reports whether only peers on the daemon's own host are
// served: protected mode with spark.authenticate off.
func (s Settings) LocalOnly() bool { return !s.Authenticate && s.Protected }

// ProtectedMode reads spark.authenticate and spark.ember.protectedMode and
// returns the daemon's security, logging its mode once (INFO when
// authenticated or protected, WARN when open on a non-loopback address).
// daemon names the daemon in the log and in refusals ("master", "worker",
// "shuffle service"); host is the address it binds.
func ProtectedMode(sc *sparkconf.Conf, daemon, host string, log *slog.Logger) (*DaemonSecurity, error) {
	if log == nil {
		log = slog.Default()
	}
	set, err := ReadSettings(sc)
	if err != nil {
		return nil, err
	}
	authOn, protected := set.Authenticate, set.Protected
	bind := host
	if bind == "" {
		bind = "0.0.0.0"
	}
	switch {
	case authOn:
		log.Info("security: authenticated mode: every peer must prove the shared secret",
			"daemon", daemon, "bind", bind, "keys", "spark.authenticate=true")
		return &DaemonSecurity{Mode: ModeAuthenticated}, nil
	case protected:
		a := netpoll.NewProtectedMode(daemon, log)
		log.Info("security: protected mode: spark.authenticate is off, so only peers on this host are served",
			"daemon", daemon, "bind", bind,
			"keys", "set spark.authenticate=true and spark.authenticate.secret.file (ember secret writes one) to serve other hosts, or "+
				netpoll.ProtectedModeKey+"=false to serve them unauthenticated")
		return &DaemonSecurity{Mode: ModeProtected, Bootstraps: []netpoll.ServerBootstrap{a}, Admission: a}, nil
	default:
		if IsLoopbackHost(host) {
			log.Info("security: open mode on a loopback address: spark.authenticate is off and "+netpoll.ProtectedModeKey+" is false",
				"daemon", daemon, "bind", bind)
		} else {
			log.Warn("security: open mode: spark.authenticate is off and "+netpoll.ProtectedModeKey+
				" is false, so any peer that reaches this port is served and can run commands as this user",
				"daemon", daemon, "bind", bind, "keys", "set spark.authenticate=true and spark.authenticate.secret.file (ember secret writes one)")
		}
		return &DaemonSecurity{Mode: ModeOpen}, nil
	}
}

// ShuffleBootstraps returns the bootstraps of the shuffle service a
// daemon embeds (a worker's): a protected-mode admission of its own, which
// names the shuffle service in its refusals, in ModeProtected; none
// otherwise.
func (d *DaemonSecurity) ShuffleBootstraps(log *slog.Logger) []netpoll.ServerBootstrap {
	if d == nil || d.Mode != ModeProtected {
		return nil
	}
	return []netpoll.ServerBootstrap{netpoll.NewProtectedMode("shuffle service", log)}
}

// LocalHTTPClient reports whether an HTTP request comes from the server's
// own host, by the rule of protected mode: its address is a loopback one,
// or the address it connected to.
func LocalHTTPClient(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	var local netip.Addr
	if ta, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		local, _ = netip.AddrFromSlice(ta.IP)
	}
	return netpoll.IsLocalPeer(ap.Addr(), local)
}
