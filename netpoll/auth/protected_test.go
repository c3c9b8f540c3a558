package auth

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestProtectedModeDecision: the daemon's mode from spark.authenticate and
// spark.ember.protectedMode, logged once with the keys; only protected mode
// adds a bootstrap (the admission); a bad value is an error naming the key.
func TestProtectedModeDecision(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		kv         []string
		mode       string
		level      string
		logWants   []string
	}{
		{"default: protected", "0.0.0.0", nil, ModeProtected, "INFO",
			[]string{"security: protected mode", "spark.authenticate=true", "spark.authenticate.secret.file", "spark.ember.protectedMode=false"}},
		{"authenticated", "0.0.0.0", []string{"spark.authenticate=true", "spark.authenticate.secret=x"}, ModeAuthenticated, "INFO",
			[]string{"security: authenticated mode"}},
		{"authenticated wins over protected mode off", "10.0.0.1", []string{"spark.authenticate=true", "spark.ember.protectedMode=false"},
			ModeAuthenticated, "INFO", []string{"security: authenticated mode"}},
		{"open on a host address", "10.0.0.1", []string{"spark.ember.protectedMode=false"}, ModeOpen, "WARN",
			[]string{"security: open mode", "can run commands as this user", "spark.authenticate=true"}},
		{"open on loopback", "127.0.0.1", []string{"spark.ember.protectedMode=false"}, ModeOpen, "INFO",
			[]string{"security: open mode on a loopback address"}},
	} {
		conf := sparkconf.New()
		for _, s := range tc.kv {
			k, v, _ := strings.Cut(s, "=")
			conf.Set(k, v)
		}
		var buf bytes.Buffer
		sec, err := ProtectedMode(conf, "master", tc.host, slog.New(slog.NewTextHandler(&buf, nil)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if sec.Mode != tc.mode {
			t.Errorf("%s: mode %s, want %s", tc.name, sec.Mode, tc.mode)
		}
		if (tc.mode == ModeProtected) != (len(sec.Bootstraps) == 1 && sec.Admission != nil) {
			t.Errorf("%s: bootstraps %v, admission %v", tc.name, sec.Bootstraps, sec.Admission)
		}
		log := buf.String()
		if n := strings.Count(log, "\n"); n != 1 {
			t.Errorf("%s: %d log lines, want 1:\n%s", tc.name, n, log)
		}
		if !strings.Contains(log, "level="+tc.level) {
			t.Errorf("%s: want a %s line:\n%s", tc.name, tc.level, log)
		}
		for _, w := range tc.logWants {
			if !strings.Contains(log, w) {
				t.Errorf("%s: log lacks %q:\n%s", tc.name, w, log)
			}
		}
	}
	_, err := ProtectedMode(sparkconf.New().Set(netpoll.ProtectedModeKey, "maybe"), "master", "", nil)
	if err == nil || !strings.Contains(err.Error(), netpoll.ProtectedModeKey) {
		t.Errorf("bad value: err %v, want one naming %s", err, netpoll.ProtectedModeKey)
	}
}

// TestIsLoopbackHost: loopback addresses and localhost only.
func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.1.2.3": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "myhost": false} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
	if !Exposed(ModeOpen, "0.0.0.0") || Exposed(ModeOpen, "127.0.0.1") || Exposed(ModeProtected, "0.0.0.0") {
		t.Errorf("Exposed is wrong")
	}
}
