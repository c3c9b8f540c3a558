package deploy

import (
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Security is what a daemon's configuration says about serving peers
// that prove no secret: the one place the daemons' web UI and REST server
// read it.
type Security struct {
	// Authenticate is spark.authenticate (false): every RPC peer proves
	// the shared secret.
	Authenticate bool
	// Protected is protected mode (spark.ember.protectedMode, true).
	Protected bool
}

// SecurityFromConf reads spark.authenticate and spark.ember.protectedMode
// (nil conf: the defaults).
func SecurityFromConf(conf *sparkconf.Conf) (Security, error) {
	if conf == nil {
		conf = sparkconf.New()
	}
	var s Security
	var err error
	if s.Authenticate, err = conf.GetBool("spark.authenticate", false); err != nil {
		return Security{}, err
	}
	if s.Protected, err = conf.GetBool(netpoll.ProtectedModeKey, true); err != nil {
		return Security{}, err
	}
	return s, nil
}

// LocalOnly reports whether only peers on the daemon's own host are
// served: protected mode with spark.authenticate off.
func (s Security) LocalOnly() bool { return !s.Authenticate && s.Protected }
