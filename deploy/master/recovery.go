package master

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy/recovery"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// recoveryFromConf builds the engine and election of
// spark.deploy.recoveryMode.
func recoveryFromConf(conf *sparkconf.Conf, l recovery.Leadership, log *slog.Logger) (recovery.Engine, recovery.Agent, error) {
	mode := strings.ToUpper(conf.GetString("spark.deploy.recoveryMode", "NONE"))
	switch mode {
	case "NONE":
		return recovery.None(), recovery.SelfElect(l), nil
	case "FILESYSTEM":
		dir := conf.GetString("spark.deploy.recoveryDirectory", "")
		if dir == "" {
			return nil, nil, fmt.Errorf("spark.deploy.recoveryMode=FILESYSTEM needs spark.deploy.recoveryDirectory")
		}
		eng, err := newFileSystemEngine(dir, conf.GetString("spark.deploy.recoveryCompressionCodec", ""))
		if err != nil {
			return nil, nil, err
		}
		return eng, recovery.SelfElect(l), nil
	case "ZOOKEEPER":
		url := conf.GetString("spark.deploy.zookeeper.url", "")
		if url == "" {
			return nil, nil, fmt.Errorf("spark.deploy.recoveryMode=ZOOKEEPER needs spark.deploy.zookeeper.url")
		}
		return newZooKeeperRecovery(url, conf.GetString("spark.deploy.zookeeper.dir", "/spark"), 30*time.Second, l, log)
	}
	return nil, nil, fmt.Errorf("spark.deploy.recoveryMode: unsupported mode %q (NONE, FILESYSTEM, ZOOKEEPER)", mode)
}
