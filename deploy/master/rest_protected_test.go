package master

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestRESTProtectedMode: in protected mode (the default) and without a
// JWS filter, the REST submission server answers a client not on the
// master's host with 403 and an ErrorResponse naming the keys, asking the
// master nothing; a loopback client is served. Off with
// spark.ember.protectedMode=false or a JWS filter.
func TestRESTProtectedMode(t *testing.T) {
	asked := 0
	h := &restHandler{masterURL: "spark://10.0.0.1:7077", restPort: 6066, sem: make(chan struct{}, 1),
		getenv: func(string) (string, bool) { return "", false }, log: slog.New(slog.DiscardHandler),
		protected: restProtectedText,
		ask: func(_ context.Context, msg any) (any, error) {
			asked++
			if _, ok := msg.(deploy.RequestReadyz); ok {
				return true, nil
			}
			return deploy.SubmitDriverResponse{Message: "no"}, nil
		}}
	serve := func(method, path, remote, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := serve(http.MethodPost, "/v1/submissions/create", "192.0.2.7:40000", `{"action":"CreateSubmissionRequest"}`)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("refusal is not JSON: %q", body)
	}
	if code != http.StatusForbidden || m["action"] != "ErrorResponse" || !strings.Contains(body, "protected mode") ||
		!strings.Contains(body, "spark.ember.protectedMode=false") || !strings.Contains(body, "JWSFilter") {
		t.Fatalf("a remote client: %d %s; want 403 and an ErrorResponse naming the keys", code, body)
	}
	if asked != 0 {
		t.Fatalf("a refused request reached the master (%d asks)", asked)
	}
	if code, body := serve(http.MethodGet, "/v1/submissions/readyz", "127.0.0.1:40000", ""); code != http.StatusOK || asked != 1 {
		t.Fatalf("a loopback client: %d %s (%d asks); want it served", code, body, asked)
	}

	for _, tc := range []struct {
		kv   []string
		want bool
	}{{nil, true}, {[]string{"spark.ember.protectedMode", "false"}, false}} {
		conf := sparkconf.New()
		if tc.kv != nil {
			conf.Set(tc.kv[0], tc.kv[1])
		}
		c, err := restConfigFromSpark(conf)
		if err != nil || c.Protected != tc.want {
			t.Errorf("restConfigFromSpark(%v).Protected = %v (%v), want %v", tc.kv, c.Protected, err, tc.want)
		}
	}
}
