package sparkconf

import (
	"sort"
	"strings"
	"sync"
)

// Ember checks the spelling of keys only where it owns the namespace: the
// daemons' own settings (spark.master.*, spark.worker.*, spark.deploy.*,
// spark.shuffle.service.*), security (spark.authenticate*,
// spark.network.crypto.*, spark.ssl.rpc.*), Ember's own extensions
// (spark.*.ember.*, spark.ui.ember.*) and the transport keys
// spark.[<role>.]<module>.io.<suffix> of the modules rpc, shuffle and
// files. Anything else (spark.executor.*, spark.sql.*, spark.driver.*
// application settings...) belongs to applications, which a shared
// spark-defaults.conf serves too, and is never reported.
var ownedPrefixes = []string{
	"spark.master.",
	"spark.worker.",
	"spark.deploy.",
	"spark.shuffle.service.",
	"spark.authenticate.",
	"spark.network.crypto.",
	"spark.network.ember.",
	"spark.ssl.rpc.",
	"spark.ui.ember.",
	"spark.rpc.ember.",
}

// freePrefixes are open-ended families under an owned prefix.
var freePrefixes = []string{
	"spark.worker.resource.",       // spark.worker.resource.<name>.amount / .discoveryScript
	"spark.network.crypto.config.", // passed to the cipher library in Spark
}

// knownKeys are the keys under the owned prefixes that Ember reads, or that
// Spark 4.1's daemons read (Ember accepts those quietly even where it has
// no use for them).
var knownKeys = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`
spark.master spark.master.ui.port spark.master.ui.title spark.master.ui.historyServerUrl
spark.master.ui.visibleEnvVarPrefixes spark.master.ui.decommission.allow.mode
spark.master.rest.enabled spark.master.rest.port spark.master.rest.host spark.master.rest.filters
spark.master.rest.maxThreads spark.master.rest.virtualThread.enabled
spark.master.useAppNameAsAppId.enabled spark.master.useDriverIdAsAppName.enabled
spark.worker.timeout spark.worker.initialRegistrationRetries spark.worker.maxRegistrationRetries
spark.worker.preferConfiguredMasterAddress spark.worker.cleanup.enabled spark.worker.cleanup.interval
spark.worker.cleanup.appDataTtl spark.worker.driverTerminateTimeout spark.worker.ui.port
spark.worker.ui.retainedExecutors spark.worker.ui.retainedDrivers spark.worker.ui.compressedLogFileLengthCacheSize
spark.worker.idPattern spark.worker.executorStateSync.maxAttempts spark.worker.decommission.signal
spark.worker.resourcesFile
spark.worker.ember.registrationIntervalScale spark.worker.ember.driverBackoffScale spark.worker.ember.executorKillGrace
spark.worker.ember.sparkHome
spark.deploy.recoveryMode spark.deploy.recoveryMode.factory spark.deploy.recoveryDirectory
spark.deploy.recoveryCompressionCodec spark.deploy.recoveryTimeout spark.deploy.zookeeper.url
spark.deploy.zookeeper.dir spark.deploy.retainedApplications spark.deploy.retainedDrivers
spark.deploy.maxExecutorRetries spark.deploy.spreadOut spark.deploy.spreadOutApps spark.deploy.spreadOutDrivers
spark.deploy.workerSelectionPolicy spark.deploy.defaultCores spark.deploy.maxDrivers
spark.deploy.appNumberModulo spark.deploy.appIdPattern spark.deploy.driverIdPattern
spark.deploy.ember.maxWorkers
spark.shuffle.service.enabled spark.shuffle.service.port spark.shuffle.service.name
spark.shuffle.service.db.enabled spark.shuffle.service.db.backend spark.shuffle.service.index.cache.size
spark.shuffle.service.fetch.rdd.enabled spark.shuffle.service.removeShuffle
spark.shuffle.service.ember.maxBlocksPerRequest spark.shuffle.service.ember.maxBlocksPerConnection
spark.shuffle.service.ember.maxStreamsPerConnection spark.shuffle.service.ember.allowedLocalDirRoots
spark.shuffle.service.ember.maxOpenFiles
spark.authenticate spark.authenticate.secret spark.authenticate.secretBitLength
spark.authenticate.secret.file spark.authenticate.secret.driver.file spark.authenticate.secret.executor.file
spark.authenticate.enableSaslEncryption
spark.network.crypto.enabled spark.network.crypto.saslFallback spark.network.crypto.cipher
spark.network.crypto.authEngineVersion
spark.network.ember.authHandshakeTimeout
spark.ssl.rpc.enabled spark.ssl.rpc.protocol spark.ssl.rpc.enabledAlgorithms spark.ssl.rpc.keyStore
spark.ssl.rpc.keyStorePassword spark.ssl.rpc.keyStoreType spark.ssl.rpc.keyPassword spark.ssl.rpc.privateKey
spark.ssl.rpc.privateKeyPassword spark.ssl.rpc.certChain spark.ssl.rpc.trustStore spark.ssl.rpc.trustStorePassword
spark.ssl.rpc.trustStoreType spark.ssl.rpc.trustStoreReloadingEnabled spark.ssl.rpc.trustStoreReloadIntervalMs
spark.ssl.rpc.openSslEnabled
spark.ui.ember.basicAuth.user spark.ui.ember.basicAuth.password spark.ui.ember.basicAuth.passwordFile
spark.ui.ember.pprof.enabled
spark.rpc.ember.inboxCapacity
spark.ember.protectedMode
`) {
		knownKeys[k] = true
	}
}

// Transport key families: spark.[<role>.]<module>.io.<suffix>.
var (
	ioModules = map[string]bool{"rpc": true, "shuffle": true, "files": true}
	ioRoles   = map[string]bool{"driver": true, "executor": true}
	ioSuffix  = map[string]bool{}
)

func init() {
	for _, s := range strings.Fields(`mode connectionTimeout connectionCreationTimeout backLog numConnectionsPerPeer
serverThreads clientThreads receiveBuffer sendBuffer maxRetries retryWait lazyFD enableVerboseMetrics
enableTcpKeepAlive preferDirectBufs maxFrameLength threads
ember.maxConnections ember.maxOutstandingRequests ember.maxQueuedBytes ember.preAuthMaxFrameLength`) {
		ioSuffix[s] = true
	}
}

// RegisterKnownKeys adds keys to the ones [IsKnownKey] accepts: a package
// that reads a new key under an owned prefix registers it from an init
// function. It is safe to call from several goroutines.
func RegisterKnownKeys(keys ...string) {
	knownMu.Lock()
	defer knownMu.Unlock()
	for _, k := range keys {
		extraKnown[k] = true
	}
}

var (
	knownMu    sync.Mutex // guards extraKnown and warned
	extraKnown = map[string]bool{}
	warned     = map[string]bool{}
)

// IsKnownKey reports whether key is one Ember recognises, or one outside the
// namespaces Ember checks (an application's key, which Ember has no say
// on). It is false only for a key under an owned prefix that nothing reads:
// most often a typo, such as spark.worker.cleanup.enable.
func IsKnownKey(key string) bool {
	if knownKeys[key] {
		return true
	}
	knownMu.Lock()
	extra := extraKnown[key]
	knownMu.Unlock()
	if extra {
		return true
	}
	if owned, known := ioKeyKnown(key); owned {
		return known
	}
	for _, p := range freePrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, p := range ownedPrefixes {
		if strings.HasPrefix(key, p) {
			return false
		}
	}
	return true
}

// ioKeyKnown: owned is true for spark.[<role>.]<module>.io.<suffix> with a
// module Ember has (rpc, shuffle, files); known says whether the suffix is
// one it reads.
func ioKeyKnown(key string) (owned, known bool) {
	rest, ok := strings.CutPrefix(key, "spark.")
	if !ok {
		return false, false
	}
	parts := strings.SplitN(rest, ".", 4)
	if len(parts) >= 3 && ioRoles[parts[0]] && ioModules[parts[1]] && parts[2] == "io" {
		return true, len(parts) == 4 && ioSuffix[parts[3]]
	}
	if len(parts) >= 2 && ioModules[parts[0]] && parts[1] == "io" {
		suffix, _ := strings.CutPrefix(rest, parts[0]+".io.")
		return true, ioSuffix[suffix]
	}
	return false, false
}

// UnknownKeys returns, sorted, the keys of c that [IsKnownKey] rejects.
func (c *Conf) UnknownKeys() []string {
	var out []string
	for k := range c.All() {
		if !IsKnownKey(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// WarnUnknownKeys calls warn once per process for each key of c that
// [IsKnownKey] rejects (a key already reported, from this Conf or another,
// is not reported again), and returns the keys it reported.
func (c *Conf) WarnUnknownKeys(warn func(key string)) []string {
	var fresh []string
	for _, k := range c.UnknownKeys() {
		knownMu.Lock()
		seen := warned[k]
		warned[k] = true
		knownMu.Unlock()
		if !seen {
			fresh = append(fresh, k)
			warn(k)
		}
	}
	return fresh
}
