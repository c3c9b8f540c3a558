package webui

import (
	"net/http"
	"net/http/pprof"
)

// KeyPprofEnabled turns on Go's profiling endpoints under /debug/pprof/ in
// the master and worker UIs (Ember's key; default false). They sit behind
// the UI's basic auth like every other page, and they expose the
// process's internals (goroutine stacks, heap contents by allocation
// site), so leave them off on UIs reachable by untrusted users.
const KeyPprofEnabled = "spark.ui.ember.pprof.enabled"

// registerPprof adds net/http/pprof's handlers to mux when opts.Pprof is
// set; without it /debug/pprof/ is not routed (404).
func registerPprof(mux *http.ServeMux, opts Options) {
	if !opts.Pprof {
		return
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
