package webui

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/sparkconf"
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
