package launcher

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// launcherConfig is Spark's SparkLauncher.launcherConfig: process-wide
// launcher settings read by servers that have no per-server value.
var launcherConfig = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// SetConfig sets a process-wide launcher setting (Spark's
// SparkLauncher.setConfig), e.g. ConfChildConnectionTimeout. Servers read
// it for every new connection unless their ServerOptions.Config has the key.
func SetConfig(key, value string) {
	launcherConfig.Lock()
	defer launcherConfig.Unlock()
	launcherConfig.m[key] = value
}

// UnsetConfig removes a process-wide launcher setting.
func UnsetConfig(key string) {
	launcherConfig.Lock()
	defer launcherConfig.Unlock()
	delete(launcherConfig.m, key)
}

func globalConfig(key string) (string, bool) {
	launcherConfig.Lock()
	defer launcherConfig.Unlock()
	v, ok := launcherConfig.m[key]
	return v, ok
}

// childConnectionTimeout resolves ConfChildConnectionTimeout (then the old
// misspelled key) in local, then in the process-wide config.
func childConnectionTimeout(local map[string]string, log *slog.Logger) time.Duration {
	lookup := func(key string) (string, bool) {
		if v, ok := local[key]; ok {
			return v, true
		}
		return globalConfig(key)
	}
	v, ok := lookup(ConfChildConnectionTimeout)
	if !ok {
		if v, ok = lookup(confChildConnectionTimeoutOld); ok {
			log.Warn("deprecated launcher config key, use "+ConfChildConnectionTimeout,
				"key", confChildConnectionTimeoutOld)
		}
	}
	if !ok {
		return DefaultChildConnectionTimeoutMs * time.Millisecond
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		log.Warn("invalid launcher config value, using the default",
			"key", ConfChildConnectionTimeout, "value", v)
		return DefaultChildConnectionTimeoutMs * time.Millisecond
	}
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
