package master

import (
	"log/slog"
	"time"

	"github.com/ember-rpc/ember/deploy/recovery"
)

func newFileSystemEngine(dir, codec string) (recovery.Engine, error) {
	return recovery.NewFileSystem(dir, codec)
}

// newZooKeeperRecovery connects to ZooKeeper and joins the leader election;
// the ZooKeeper client is the engine and is closed with it.
func newZooKeeperRecovery(url, dir string, timeout time.Duration, l recovery.Leadership, log *slog.Logger) (recovery.Engine, recovery.Agent, error) {
	zk, err := recovery.NewZooKeeper(url, dir, timeout, log)
	if err != nil {
		return nil, nil, err
	}
	agent, err := zk.Elect(l)
	if err != nil {
		zk.Close()
		return nil, nil, err
	}
	return zk, agent, nil
}
