package webui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

func TestBasicAuthFromConf(t *testing.T) {
	if a, err := BasicAuthFromConf(sparkconf.New()); a != nil || err != nil {
		t.Fatalf("nothing set: %v %v", a, err)
	}
	a, err := BasicAuthFromConf(sparkconf.New().Set(KeyBasicAuthUser, "ops").Set(KeyBasicAuthPassword, "pw"))
	if err != nil || a.User != "ops" || a.Password != "pw" {
		t.Fatalf("%v %v", a, err)
	}
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = BasicAuthFromConf(sparkconf.New().Set(KeyBasicAuthUser, "ops").Set(KeyBasicAuthPasswordFile, f))
	if err != nil || a.Password != "from-file" {
		t.Fatalf("%v %v", a, err)
	}
	for _, c := range []*sparkconf.Conf{
		sparkconf.New().Set(KeyBasicAuthUser, "ops"),
		sparkconf.New().Set(KeyBasicAuthPassword, "pw"),
		sparkconf.New().Set(KeyBasicAuthUser, "ops").Set(KeyBasicAuthPasswordFile, "/nonexistent"),
	} {
		if _, err := BasicAuthFromConf(c); err == nil || !strings.Contains(err.Error(), "spark.ui.ember.basicAuth") {
			t.Errorf("%v: want an error naming the key, got %v", c.All(), err)
		}
	}
}
