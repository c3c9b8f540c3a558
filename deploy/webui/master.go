package webui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ember-rpc/ember/deploy"
)

// NewMasterHandler serves the master web UI:
//
//	GET  /                          HTML status page (?refresh=N reloads every N s)
//	GET  /json, /json/              the master state (Spark's field names, in order)
//	GET  /json/<field>              {"<field>": value}; unknown → {"<field>": ""}
//	GET  /json/clusterutilization   cluster utilization
//	POST /app/kill                  id, terminate → 302 to / (405 when kill is off)
//	POST /driver/kill               id, terminate → 302 to / (405 when kill is off)
//	POST /workers/kill              host=... (when src is a HostDecommissioner)
//	GET  /app/?appId=               an application's page: summary and executors
//	GET  /metrics/prometheus        ember_master_* gauges, then Spark's master and
//	                                application gauges (Prometheus text)
//	GET  /metrics/master/prometheus        Spark's master gauges (PrometheusServlet's lines)
//	GET  /metrics/applications/prometheus  Spark's application gauges
//	GET  /healthz                   200 "ok"
//	GET  /readyz                    200 when src.Ready(), else 503
func NewMasterHandler(src MasterSource, opts Options) http.Handler {
	m := &masterUI{src: src, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.page)
	mux.HandleFunc("GET /json", m.json)
	mux.HandleFunc("GET /json/{$}", m.json)
	mux.HandleFunc("GET /json/{field}", m.jsonField)
	mux.HandleFunc("GET /app", m.appPage)
	mux.HandleFunc("GET /app/{$}", m.appPage)

	// Kill endpoints change state: refuse cross-site browser requests,
	// bound their bodies, and ask for the secret when spark.authenticate
	// is on (basic auth, when set, already guards every route).
	cop := http.NewCrossOriginProtection()
	guard := func(h http.HandlerFunc) http.Handler {
		var g http.Handler = limitBody(h, maxFormBytes)
		if opts.KillSecret != "" && opts.BasicAuth == nil {
			g = basicAuth(g, BasicAuth{Password: opts.KillSecret, Realm: "ember (spark.authenticate secret)", anyUser: true})
		}
		if opts.KillLocalOnly && opts.BasicAuth == nil {
			g = localOnly(g) // protected mode: no credentials to ask for
		}
		return cop.Handler(g)
	}
	mux.Handle("POST /app/kill", guard(m.killApp))
	mux.Handle("POST /driver/kill", guard(m.killDriver))
	mux.Handle("POST /workers/kill", guard(m.killHosts))
	mux.Handle("POST /workers/{$}", guard(m.killHosts))
	mux.Handle("POST /workers", guard(m.killHosts))

	metrics := combinedMetricsHandler(metricsHandler(opts.Registry, newMasterCollector(src)), src.MasterState,
		sparkMasterGauges, sparkAppGauges)
	sparkMaster := sparkMetricsHandler(src.MasterState, sparkMasterGauges)
	sparkApps := sparkMetricsHandler(src.MasterState, sparkAppGauges)
	for path, h := range map[string]http.Handler{"/metrics/prometheus": metrics,
		"/metrics/master/prometheus": sparkMaster, "/metrics/applications/prometheus": sparkApps} {
		mux.Handle("GET "+path, h)
		mux.Handle("GET "+path+"/{$}", h)
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", m.readyz)
	registerPprof(mux, opts)
	return wrap(mux, opts)
}

type masterUI struct {
	src  MasterSource
	opts Options
}

func (m *masterUI) state(w http.ResponseWriter) (deploy.MasterStateResponse, bool) {
	st, err := m.src.MasterState()
	if err != nil {
		unavailable(w, err)
		return st, false
	}
	return normalizeMaster(st), true
}

func (m *masterUI) json(w http.ResponseWriter, r *http.Request) {
	if st, ok := m.state(w); ok {
		writeJSON(w, r, st)
	}
}

func (m *masterUI) jsonField(w http.ResponseWriter, r *http.Request) {
	field := r.PathValue("field")
	if field == "clusterutilization" {
		u, err := m.src.Utilization()
		if err != nil {
			unavailable(w, err)
			return
		}
		writeJSON(w, r, u)
		return
	}
	if st, ok := m.state(w); ok {
		writeJSON(w, r, fieldObject(st, field))
	}
}

func (m *masterUI) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !m.src.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (m *masterUI) page(w http.ResponseWriter, r *http.Request) {
	st, ok := m.state(w)
	if !ok {
		return
	}
	renderHTML(w, r, http.StatusOK, "master", newMasterView(st, m.opts, r))
}

// appPage is Spark's application page (/app/?appId=): the app's summary
// and its executors, with links to their workers and logs.
func (m *masterUI) appPage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.URL.Query().Get("appId"))
	if id == "" {
		renderError(w, r, http.StatusBadRequest, "Bad request", "The application id (appId) is missing.")
		return
	}
	var detailErr error
	if as, ok := m.src.(ApplicationSource); ok {
		d, err := as.ApplicationDetail(id)
		if err == nil && d.ID == id {
			renderHTML(w, r, http.StatusOK, "app", newAppView(d, true, "", m.opts, r))
			return
		}
		detailErr = err
	}
	st, ok := m.state(w)
	if !ok {
		return
	}
	for _, a := range append(append([]deploy.ApplicationInfoJSON(nil), st.ActiveApps...), st.CompletedApps...) {
		if a.ID == id {
			note := "This master does not report executors."
			if detailErr != nil {
				note = "The executors could not be read: " + detailErr.Error()
			}
			renderHTML(w, r, http.StatusOK, "app", newAppView(deploy.ApplicationDetail{ApplicationInfoJSON: a}, false, note, m.opts, r))
			return
		}
	}
	renderError(w, r, http.StatusNotFound, "Unknown application", "The master knows no application "+id+".")
}

// killApp is Spark's handleAppKillRequest: form id and terminate.
func (m *masterUI) killApp(w http.ResponseWriter, r *http.Request) {
	m.kill(w, r, "application", m.src.KillApplication)
}

// killDriver is Spark's handleDriverKillRequest.
func (m *masterUI) killDriver(w http.ResponseWriter, r *http.Request) {
	m.kill(w, r, "driver", m.src.KillDriver)
}

// kill runs action(id) and redirects to the status page. terminate is
// optional (true when absent; Spark's form always sends terminate=true);
// terminate=false only redirects, as in Spark.
func (m *masterUI) kill(w http.ResponseWriter, r *http.Request, what string, action func(string) error) {
	if !m.opts.KillEnabled {
		w.Header().Set("Allow", "")
		renderError(w, r, http.StatusMethodNotAllowed, "Killing is disabled",
			"This master was started with spark.ui.killEnabled=false.")
		return
	}
	if err := r.ParseForm(); err != nil {
		renderError(w, r, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	id := strings.TrimSpace(r.Form.Get("id"))
	if id == "" {
		renderError(w, r, http.StatusBadRequest, "Bad request", "The "+what+" id (form field id) is missing.")
		return
	}
	terminate := true
	if t := r.Form.Get("terminate"); t != "" {
		b, err := strconv.ParseBool(t)
		if err != nil {
			renderError(w, r, http.StatusBadRequest, "Bad request", "terminate must be true or false.")
			return
		}
		terminate = b
	}
	if terminate {
		if err := action(id); err != nil {
			renderError(w, r, http.StatusNotFound, "Unknown "+what,
				"Could not kill "+what+" "+id+": "+err.Error())
			return
		}
	}
	http.Redirect(w, r, "/", http.StatusFound)
}

// killHosts is Spark's POST /workers/kill?host=...: 200 when some workers
// were decommissioned, 404 when none, 405 when it is not allowed.
func (m *masterUI) killHosts(w http.ResponseWriter, r *http.Request) {
	d, ok := m.src.(HostDecommissioner)
	if !ok {
		http.Error(w, "decommissioning is not enabled", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := d.DecommissionHosts(r.Form["host"])
	switch {
	case errors.Is(err, ErrDecommissionNotAllowed):
		http.Error(w, "decommissioning is not allowed", http.StatusMethodNotAllowed)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	case n > 0:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("decommissioned " + strconv.Itoa(n) + " worker(s)"))
	default:
		http.Error(w, "no workers on the given hosts", http.StatusNotFound)
	}
}
