package deploy

import (
	"testing"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestSecurityFromConf: the two keys, their defaults, LocalOnly, and a
// bad value's error.
func TestSecurityFromConf(t *testing.T) {
	cases := []struct {
		kv        []string
		want      Security
		localOnly bool
	}{
		{nil, Security{Protected: true}, true},
		{[]string{"spark.authenticate", "true"}, Security{Authenticate: true, Protected: true}, false},
		{[]string{"spark.ember.protectedMode", "false"}, Security{}, false},
		{[]string{"spark.authenticate", "true", "spark.ember.protectedMode", "false"}, Security{Authenticate: true}, false},
	}
	for _, tc := range cases {
		conf := sparkconf.New()
		for i := 0; i < len(tc.kv); i += 2 {
			conf.Set(tc.kv[i], tc.kv[i+1])
		}
		got, err := SecurityFromConf(conf)
		if err != nil || got != tc.want || got.LocalOnly() != tc.localOnly {
			t.Errorf("%v: %+v (local only %v), %v; want %+v (%v)", tc.kv, got, got.LocalOnly(), err, tc.want, tc.localOnly)
		}
	}
	if got, err := SecurityFromConf(nil); err != nil || got != (Security{Protected: true}) {
		t.Errorf("nil conf: %+v, %v", got, err)
	}
	for _, key := range []string{"spark.authenticate", "spark.ember.protectedMode"} {
		if _, err := SecurityFromConf(sparkconf.New().Set(key, "maybe")); err == nil {
			t.Errorf("%s=maybe: no error", key)
		}
	}
}
