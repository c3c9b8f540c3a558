// Package webui serves the master's and the worker's web UIs: a
// server-rendered HTML status page, the master's application page,
// Spark's JSON (/json, /json/<field>, /json/clusterutilization), the kill
// endpoints (their buttons ask the browser to confirm), the worker's log
// pages, Prometheus metrics and health probes.
//
// Metrics: /metrics/prometheus serves Ember's ember_* gauges, then the
// gauges Spark's PrometheusServlet reports, under Spark's names
// (metrics_master_workers_Value{type="gauges"} ...); the master also
// serves Spark's own paths, /metrics/master/prometheus and
// /metrics/applications/prometheus, with Spark's lines alone.
//
// The handlers only read and act through a MasterSource or WorkerSource,
// so they can be tested (and embedded) without a running cluster.
//
// Hostile clients: every Server bounds header, body, write and idle time
// (ServerConfig); log pages stream from the files through one 32 KiB
// buffer, at most 16 MiB per request and Options.MaxLogRequests requests
// at once (503 beyond); the kill and decommission endpoints cap their
// form bodies, refuse cross-origin browser requests and, when
// spark.authenticate is on (Options.KillSecret), ask for its secret as
// the basic-auth password; Options.BasicAuth guards every route.
package webui

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ember-rpc/ember/deploy"
)

// MasterSource is what the master UI reads and does.
type MasterSource interface {
	// MasterState is the snapshot served at /json and rendered at /.
	MasterState() (deploy.MasterStateResponse, error)
	// Utilization is served at /json/clusterutilization
	// (ComputeUtilization derives it from a MasterStateResponse).
	Utilization() (deploy.ClusterUtilization, error)
	// KillApplication kills a running application; an error if unknown.
	KillApplication(id string) error
	// KillDriver kills a driver; an error if unknown.
	KillDriver(id string) error
	// Ready reports that the master is not in STANDBY (/readyz).
	Ready() bool
}

// ApplicationSource is optionally implemented by a MasterSource to show
// an application's executors on its page (/app/?appId=...):
// ApplicationDetail returns one application, active or completed, with
// its executors, or an error when it cannot (an unknown app included).
// Without it the page shows the application's summary from MasterState.
type ApplicationSource interface {
	ApplicationDetail(id string) (deploy.ApplicationDetail, error)
}

// HostDecommissioner is optionally implemented by a MasterSource to serve
// POST /workers/kill?host=...: it decommissions every worker on the given
// hosts and returns how many it decommissioned. Without it, or when it
// returns ErrDecommissionNotAllowed, the endpoint answers 405.
type HostDecommissioner interface {
	DecommissionHosts(hosts []string) (int, error)
}

// ErrDecommissionNotAllowed is returned by a HostDecommissioner when
// decommissioning through the UI is switched off.
var ErrDecommissionNotAllowed = errors.New("webui: decommissioning is not allowed")

// ErrNotFound may be wrapped by KillApplication / KillDriver errors; any
// error from them is answered with 404, so wrapping is optional.
var ErrNotFound = errors.New("webui: not found")

// WorkerSource is what the worker UI reads.
type WorkerSource interface {
	// WorkerState is the snapshot served at /json and rendered at /.
	WorkerState() (deploy.WorkerStateResponse, error)
	// WorkDir is where logs live: executors in
	// <workdir>/<appId>/<execId>/{stdout,stderr}, drivers in
	// <workdir>/<driverId>/{stdout,stderr}.
	WorkDir() string
}

// BasicAuth is a user and password every request (except /healthz and
// /readyz) must present with HTTP basic authentication.
type BasicAuth struct {
	User     string
	Password string
	// Realm is shown by browsers; "ember" when empty.
	Realm string
	// anyUser accepts any user name with the password (the kill
	// endpoints' spark.authenticate secret).
	anyUser bool
}

// maxFormBytes bounds the body of a form POST (the kill endpoints').
const maxFormBytes = 64 << 10

// limitBody caps a request body at n bytes: reading past it fails, and
// ParseForm answers 400.
func limitBody(next http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// Options configures a handler.
type Options struct {
	// Warning, when set, is shown as a banner on every HTML page: the
	// daemon serves unauthenticated peers on a non-loopback address, say
	// (see SecurityWarning).
	Warning string
	// KillLocalOnly (protected mode: spark.authenticate off and
	// spark.ember.protectedMode on) makes the state-changing endpoints
	// answer 403 to clients not on this host, unless BasicAuth guards
	// them.
	KillLocalOnly bool
	// KillEnabled turns on POST /app/kill and POST /driver/kill
	// (spark.ui.killEnabled); when off they answer 405.
	KillEnabled bool
	// Title heads the HTML page; "Ember Master at spark://host:port" or
	// "Ember Worker at host:port" when empty.
	Title string
	// Registry receives the UI's gauges and is served at
	// /metrics/prometheus; nil makes a registry of the handler's own
	// (with the Go and process collectors too).
	Registry *prometheus.Registry
	// BasicAuth, when set, protects every route but /healthz and /readyz.
	BasicAuth *BasicAuth
	// Filter, when set, wraps the whole handler (outermost), like
	// spark.ui.filters.
	Filter func(http.Handler) http.Handler
	// KillSecret, when set (spark.authenticate is on: see
	// KillSecretFromConf), makes the state-changing endpoints (kill,
	// decommission) require HTTP basic authentication whose password is
	// this secret, whatever the user name.
	KillSecret string
	// MaxLogRequests bounds the worker UI's log requests served at once
	// (DefaultMaxLogRequests when 0); others get 503.
	MaxLogRequests int
	// Pprof serves Go's profiles under /debug/pprof/ (behind BasicAuth);
	// see KeyPprofEnabled.
	Pprof bool
}

// wrap applies the cross-route concerns: security headers, basic auth
// and the user's filter.
func wrap(mux http.Handler, opts Options) http.Handler {
	var h http.Handler = mux
	if opts.BasicAuth != nil {
		h = basicAuth(h, *opts.BasicAuth)
	}
	h = securityHeaders(h)
	if opts.Filter != nil {
		h = opts.Filter(h)
	}
	return h
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "SAMEORIGIN")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// probePaths are reachable without credentials, for load balancers and
// orchestrators.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true}

func basicAuth(next http.Handler, ba BasicAuth) http.Handler {
	realm := ba.Realm
	if realm == "" {
		realm = "ember"
	}
	// Hash both sides so the comparison takes the same time whatever the
	// lengths.
	wantUser := sha256.Sum256([]byte(ba.User))
	wantPass := sha256.Sum256([]byte(ba.Password))
	challenge := `Basic realm=` + strconv.Quote(realm) + `, charset="UTF-8"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probePaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(user))
		gotPass := sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		if ba.anyUser {
			userOK = 1
		}
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v with encoding/json (struct order, Spark's names),
// indented like Spark's pretty JSON.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encoding JSON: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok"))
}

// unavailable answers a source that could not produce its state.
func unavailable(w http.ResponseWriter, err error) {
	http.Error(w, "state unavailable: "+err.Error(), http.StatusServiceUnavailable)
}
