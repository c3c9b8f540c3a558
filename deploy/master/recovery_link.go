package master

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ember-rpc/ember/deploy/recovery"
)

func newFileSystemEngine(dir, codec string) (recovery.Engine, error) {
	return nil, errors.New("master: FILESYSTEM recovery is being wired")
}

func newZooKeeperRecovery(url, dir string, timeout time.Duration, l recovery.Leadership, log *slog.Logger) (recovery.Engine, recovery.Agent, error) {
	return nil, nil, errors.New("master: ZOOKEEPER recovery is being wired")
}
