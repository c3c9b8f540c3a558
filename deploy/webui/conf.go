package webui

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Configuration keys of the web UIs' own protection (Ember's; Spark's
// spark.ui.filters names Java servlet filters, which have no Go meaning).
const (
	KeyBasicAuthUser         = "spark.ui.ember.basicAuth.user"
	KeyBasicAuthPassword     = "spark.ui.ember.basicAuth.password"
	KeyBasicAuthPasswordFile = "spark.ui.ember.basicAuth.passwordFile"
)

// BasicAuthFromConf reads the UI's basic-auth credentials: nil when no
// user is configured. The password comes from the password key or, better
// (it stays out of configuration dumps), from a file.
func BasicAuthFromConf(conf *sparkconf.Conf) (*BasicAuth, error) {
	user, _ := conf.Get(KeyBasicAuthUser)
	if user == "" {
		if conf.Contains(KeyBasicAuthPassword) || conf.Contains(KeyBasicAuthPasswordFile) {
			return nil, errors.New("webui: a basic-auth password is set but " + KeyBasicAuthUser + " is not")
		}
		return nil, nil
	}
	pw, _ := conf.Get(KeyBasicAuthPassword)
	if p, ok := conf.Get(KeyBasicAuthPasswordFile); ok && p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("webui: %s: %w", KeyBasicAuthPasswordFile, err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	if pw == "" {
		return nil, fmt.Errorf("webui: %s is set but neither %s nor %s gives a password", KeyBasicAuthUser, KeyBasicAuthPassword, KeyBasicAuthPasswordFile)
	}
	return &BasicAuth{User: user, Password: pw}, nil
}

// KillSecretFromConf is Options.KillSecret: spark.authenticate's secret
// when spark.authenticate is true, else "".
func KillSecretFromConf(conf *sparkconf.Conf) (string, error) {
	ac, err := auth.NewConf(conf, "rpc")
	if err != nil {
		return "", fmt.Errorf("webui: %w", err)
	}
	if !ac.Enabled {
		return "", nil
	}
	return ac.Secret, nil
}
