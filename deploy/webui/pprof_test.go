package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPprofOptIn: /debug/pprof/ is 404 unless Options.Pprof is set; when
// set it serves the profiles, behind basic auth when that is on (401
// without credentials), on the master's UI as on the worker's.
func TestPprofOptIn(t *testing.T) {
	auth := &BasicAuth{User: "ops", Password: "pw"}
	handlers := map[string]func(Options) http.Handler{
		"master": func(o Options) http.Handler { return NewMasterHandler(&fakeMaster{st: clusterState()}, o) },
		"worker": func(o Options) http.Handler { return NewWorkerHandler(&fakeWorker{}, o) },
	}
	get := func(h http.Handler, path string, creds bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if creds {
			r.SetBasicAuth(auth.User, auth.Password)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for name, mk := range handlers {
		t.Run(name, func(t *testing.T) {
			if w := get(mk(Options{}), "/debug/pprof/", false); w.Code != http.StatusNotFound {
				t.Errorf("default: /debug/pprof/ answered %d, want 404", w.Code)
			}
			on := mk(Options{Pprof: true})
			w := get(on, "/debug/pprof/", false)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine") {
				t.Errorf("enabled: /debug/pprof/ answered %d:\n%.300s", w.Code, w.Body.String())
			}
			if w := get(on, "/debug/pprof/goroutine?debug=1", false); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine profile") {
				t.Errorf("enabled: goroutine profile answered %d", w.Code)
			}
			locked := mk(Options{Pprof: true, BasicAuth: auth})
			if w := get(locked, "/debug/pprof/", false); w.Code != http.StatusUnauthorized {
				t.Errorf("basic auth on, no credentials: %d, want 401", w.Code)
			}
			if w := get(locked, "/debug/pprof/cmdline", true); w.Code != http.StatusOK {
				t.Errorf("basic auth on, with credentials: %d, want 200", w.Code)
			}
		})
	}
}
