package deploy

import (
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Security is what a daemon's configuration says about serving peers
// that prove no secret (spark.authenticate, spark.ember.protectedMode):
// auth.Settings, read by auth.ReadSettings, the one reader of the two keys
// for the daemons' RPC servers, web UI and REST server.
type Security = auth.Settings

// SecurityFromConf reads spark.authenticate and spark.ember.protectedMode
// (nil conf: the defaults).
func SecurityFromConf(conf *sparkconf.Conf) (Security, error) { return auth.ReadSettings(conf) }
