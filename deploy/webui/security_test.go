package webui

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestSecurityWarning: the banner text by mode and bind address.
func TestSecurityWarning(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		kv         []string
		want       string // "" = no banner
	}{
		{"open on all addresses", "0.0.0.0", []string{"spark.ember.protectedMode=false"}, "Unauthenticated: this master serves any peer"},
		{"open on a host address", "10.1.2.3", []string{"spark.ember.protectedMode=false"}, "Unauthenticated"},
		{"open on loopback", "127.0.0.1", []string{"spark.ember.protectedMode=false"}, ""},
		{"protected on all addresses", "", nil, "Protected mode: spark.authenticate is off, so this master serves only peers on its own host"},
		{"protected on localhost", "localhost", nil, ""},
		{"authenticated", "0.0.0.0", []string{"spark.authenticate=true", "spark.ember.protectedMode=false"}, ""},
	} {
		conf := sparkconf.New()
		for _, s := range tc.kv {
			k, v, _ := strings.Cut(s, "=")
			conf.Set(k, v)
		}
		got, err := SecurityWarning(conf, "master", tc.host)
		if err != nil {
			t.Fatal(err)
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warning %q, want %q", tc.name, got, tc.want)
		}
		if got != "" && !strings.Contains(got, "spark.authenticate.secret.file") {
			t.Errorf("%s: warning %q does not name the keys", tc.name, got)
		}
	}
	if _, err := SecurityWarning(sparkconf.New().Set("spark.ember.protectedMode", "maybe"), "master", "0.0.0.0"); err == nil {
		t.Errorf("a bad spark.ember.protectedMode value was accepted")
	}
}

// TestSecurityBannerOnPages: Options.Warning is on the master and worker
// pages, escaped, and absent when empty.
func TestSecurityBannerOnPages(t *testing.T) {
	warn := "Unauthenticated: <b>x</b>"
	mv := newMasterView(deploy.MasterStateResponse{URL: "spark://h:1"}, Options{Warning: warn}, httptest.NewRequest("GET", "/", nil))
	wv := newWorkerView(deploy.WorkerStateResponse{ID: "w"}, Options{Warning: warn}, httptest.NewRequest("GET", "/", nil))
	for name, page := range map[string]struct {
		tmpl string
		v    any
	}{"master": {"master", mv}, "worker": {"worker", wv}} {
		rec := httptest.NewRecorder()
		renderHTML(rec, httptest.NewRequest("GET", "/", nil), 200, page.tmpl, page.v)
		body := rec.Body.String()
		if !strings.Contains(body, `id="security-warning"`) || !strings.Contains(body, "Unauthenticated: &lt;b&gt;x&lt;/b&gt;") {
			t.Errorf("%s page: no escaped banner in:\n%.2000s", name, body)
		}
	}
	rec := httptest.NewRecorder()
	renderHTML(rec, httptest.NewRequest("GET", "/", nil), 200, "master",
		newMasterView(deploy.MasterStateResponse{URL: "spark://h:1"}, Options{}, httptest.NewRequest("GET", "/", nil)))
	if strings.Contains(rec.Body.String(), "security-warning") {
		t.Errorf("a banner without a warning")
	}
}

// TestKillLocalOnly: in protected mode the kill endpoints answer 403 to a
// client that is not on this host and serve one that is (loopback, or the
// address it connected to); basic auth lifts the restriction.
func TestKillLocalOnly(t *testing.T) {
	appID := clusterState().ActiveApps[0].ID
	post := func(h http.Handler, remote, local string, hdr ...string) int {
		req := httptest.NewRequest(http.MethodPost, "/app/kill", strings.NewReader(url.Values{"id": {appID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		req.RemoteAddr = remote
		if local != "" {
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey,
				&net.TCPAddr{IP: net.ParseIP(local), Port: 8080}))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	fm := &fakeMaster{st: clusterState()}
	h := NewMasterHandler(fm, Options{KillEnabled: true, KillLocalOnly: true})
	if code := post(h, "10.0.0.2:5000", "10.0.0.1"); code != http.StatusForbidden {
		t.Fatalf("a remote client's kill: %d, want 403", code)
	}
	if apps, _ := fm.kills(); len(apps) != 0 {
		t.Fatalf("a remote client killed %v", apps)
	}
	for _, c := range []struct{ remote, local string }{{"127.0.0.1:5000", "127.0.0.1"}, {"[::1]:5000", "::1"}, {"10.0.0.1:5000", "10.0.0.1"}} {
		if code := post(h, c.remote, c.local); code != http.StatusFound {
			t.Fatalf("a local client (%s to %s): %d, want 302", c.remote, c.local, code)
		}
	}
	withAuth := NewMasterHandler(&fakeMaster{st: clusterState()}, Options{KillEnabled: true, KillLocalOnly: true,
		BasicAuth: &BasicAuth{User: "ops", Password: "pw"}})
	if code := post(withAuth, "10.0.0.2:5000", "10.0.0.1", "Authorization", basic("ops", "pw")); code != http.StatusFound {
		t.Fatalf("a remote client with basic auth credentials: %d, want 302", code)
	}
	for _, tc := range []struct {
		kv   []string
		want bool
	}{{nil, true}, {[]string{"spark.authenticate", "true"}, false}, {[]string{"spark.ember.protectedMode", "false"}, false}} {
		conf := sparkconf.New()
		if tc.kv != nil {
			conf.Set(tc.kv[0], tc.kv[1])
		}
		if got, err := KillLocalOnlyFromConf(conf); err != nil || got != tc.want {
			t.Errorf("KillLocalOnlyFromConf(%v) = %v, %v; want %v", tc.kv, got, err, tc.want)
		}
	}
}
