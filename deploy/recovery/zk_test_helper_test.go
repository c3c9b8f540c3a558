//go:build linux

package recovery

import (
	"net"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
)

// startZooKeeper starts a real ZooKeeper on a free loopback port for the
// test (internal/testutil runs Debian's server jar with java); it skips
// when ZooKeeper is not installed, unless EMBER_REQUIRE_ZOOKEEPER=1.
func startZooKeeper(t *testing.T) *testutil.ZooKeeper {
	t.Helper()
	return testutil.StartZooKeeperServer(t, testutil.ZooKeeperOptions{})
}

// freeLoopbackPort returns a loopback port nothing listens on.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
