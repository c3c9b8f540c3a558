package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// Ember-only configuration keys. They exist so that tests (and impatient
// operators) can shrink Spark's fixed delays; their defaults keep Spark's
// behaviour.
const (
	// KeyRegistrationIntervalScale multiplies both registration retry
	// intervals (Spark's 5–15 s and 30–90 s). A float > 0, default 1.0.
	// It is a test hook: production deployments leave it alone.
	KeyRegistrationIntervalScale = "spark.worker.ember.registrationIntervalScale"
	// KeyExecutorKillGrace is how long a killed executor gets between
	// SIGTERM and SIGKILL (Spark hard-codes 10 s). A duration, bare numbers
	// in milliseconds.
	KeyExecutorKillGrace = "spark.worker.ember.executorKillGrace"
	// KeyDriverBackoffScale multiplies the supervised driver's relaunch
	// back-off (1 s, doubling). A float > 0, default 1.0; a test hook.
	KeyDriverBackoffScale = "spark.worker.ember.driverBackoffScale"
	// KeySparkHome is the Spark distribution (its jars/) JVM executors
	// and drivers run from, when Options.SparkHome is empty; unset, the
	// worker's $SPARK_HOME. Spark's worker has only the variable; the key
	// lets spark-defaults.conf or SPARK_WORKER_OPTS say it.
	KeySparkHome = "spark.worker.ember.sparkHome"
)

// Spark's defaults.
const (
	defaultIDPattern        = "worker-%s-%s-%d"
	defaultInitialRetries   = 6
	defaultMaxRetries       = 16
	defaultWorkerTimeout    = 60 * time.Second
	defaultCleanupInterval  = 1800 * time.Second
	defaultAppDataTTL       = 7 * 24 * time.Hour
	defaultRetained         = 1000
	defaultSyncMaxAttempts  = 5
	defaultKillGrace        = 10 * time.Second
	defaultRedactionPattern = `(?i)secret|password|token|access[.]?key`
	idTimestampLayout       = "20060102150405" // yyyyMMddHHmmss
)

// config is everything the worker reads once at start: the Options with
// their defaults filled in and the spark.worker.* keys.
type config struct {
	host       string // bind and advertise host
	port       int
	uiPort     int // for URLs only
	publicAddr string
	cores      int
	memoryMB   int
	workDir    string
	masters    []rpcenv.Address
	instance   int

	idPattern              string
	initialRetries         int           // spark.worker.initialRegistrationRetries
	maxRetries             int           // spark.worker.maxRegistrationRetries
	intervalScale          float64       // KeyRegistrationIntervalScale
	preferConfiguredMaster bool          // spark.worker.preferConfiguredMasterAddress
	workerTimeout          time.Duration // spark.worker.timeout (heartbeat = /4)
	cleanupEnabled         bool
	cleanupInterval        time.Duration
	appDataTTL             time.Duration
	cleanupAfterExit       bool // spark.storage.cleanupFilesAfterExecutorExit
	retainedExecutors      int
	retainedDrivers        int
	syncMaxAttempts        int
	executorKillGrace      time.Duration
	driverKillGrace        time.Duration // spark.worker.driverTerminateTimeout
	driverBackoffScale     float64
	shuffleEnabled         bool
	shuffleDBEnabled       bool
	authEnabled            bool
	authSecret             string
	redact                 *regexp.Regexp                        // spark.redaction.regex
	localRoots             []string                              // spark.local.dir / SPARK_LOCAL_DIRS
	resources              map[string]deploy.ResourceInformation // spark.worker.resourcesFile
	rolling                logRolling                            // spark.executor.logs.rolling.*
	reverseProxyURL        string                                // spark.ui.reverseProxyUrl when spark.ui.reverseProxy
	sparkHome              string                                // Options.SparkHome, KeySparkHome, $SPARK_HOME, else "." (absolute)
	sparkHomeFrom          string                                // where sparkHome came from, for messages
	hostEnv                hostEnv                               // the environment and files JVM launches read
}

// heartbeatInterval is spark.worker.timeout / 4.
func (c *config) heartbeatInterval() time.Duration { return max(c.workerTimeout/4, time.Millisecond) }

// newConfig fills in the defaults and validates everything before the
// worker starts any goroutine.
func newConfig(opts Options, conf *sparkconf.Conf) (*config, error) {
	c := &config{host: opts.Host, port: opts.Port, uiPort: opts.WebUIPort, cores: opts.Cores,
		memoryMB: opts.MemoryMB, instance: opts.Instance}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.uiPort <= 0 {
		c.uiPort = deploy.DefaultWorkerUIPort
	}
	if c.instance <= 0 {
		c.instance = 1
	}
	if c.port < 0 || c.port > 65535 {
		errs = append(errs, fmt.Errorf("worker: port %d out of range", c.port))
	}
	if c.cores == 0 {
		c.cores = runtime.NumCPU()
	}
	if c.cores < 0 {
		errs = append(errs, fmt.Errorf("worker: cores must be positive, got %d", c.cores))
	}
	if c.memoryMB == 0 {
		c.memoryMB = defaultMemoryMB()
	}
	if c.memoryMB < 0 {
		errs = append(errs, fmt.Errorf("worker: memory must be positive, got %d MB", c.memoryMB))
	}
	if len(opts.MasterURLs) == 0 {
		errs = append(errs, errors.New("worker: no master URL (spark://host:port)"))
	}
	for _, u := range opts.MasterURLs {
		a, err := rpcenv.ParseSparkURL(u)
		if err == nil && a.Port <= 0 {
			err = fmt.Errorf("worker: master URL %q has no port", u)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.masters = append(c.masters, a)
	}
	c.workDir = opts.WorkDir
	if c.workDir == "" {
		c.workDir = defaultWorkDir()
	}
	if abs, err := filepath.Abs(c.workDir); err == nil {
		c.workDir = abs
	} else {
		errs = append(errs, err)
	}

	c.idPattern = conf.GetString("spark.worker.idPattern", defaultIDPattern)
	if _, err := formatWorkerID(c.idPattern, time.Now(), "host", 1); err != nil {
		errs = append(errs, err)
	}
	var err error
	c.initialRetries, err = conf.GetInt("spark.worker.initialRegistrationRetries", defaultInitialRetries)
	keep(err)
	c.maxRetries, err = conf.GetInt("spark.worker.maxRegistrationRetries", defaultMaxRetries)
	keep(err)
	if c.initialRetries < 1 {
		errs = append(errs, errors.New("worker: spark.worker.initialRegistrationRetries must be >= 1"))
	}
	if c.maxRetries < 1 {
		errs = append(errs, errors.New("worker: spark.worker.maxRegistrationRetries must be >= 1"))
	}
	if c.initialRetries > c.maxRetries {
		errs = append(errs, fmt.Errorf("worker: spark.worker.initialRegistrationRetries (%d) must be <= spark.worker.maxRegistrationRetries (%d)",
			c.initialRetries, c.maxRetries))
	}
	c.intervalScale, err = getPositiveFloat(conf, KeyRegistrationIntervalScale)
	keep(err)
	c.driverBackoffScale, err = getPositiveFloat(conf, KeyDriverBackoffScale)
	keep(err)
	c.preferConfiguredMaster, err = conf.GetBool("spark.worker.preferConfiguredMasterAddress", false)
	keep(err)
	c.workerTimeout, err = conf.GetDuration("spark.worker.timeout", defaultWorkerTimeout, time.Second)
	keep(err)
	if c.workerTimeout <= 0 {
		errs = append(errs, errors.New("worker: spark.worker.timeout must be positive"))
	}
	c.cleanupEnabled, err = conf.GetBool("spark.worker.cleanup.enabled", true)
	keep(err)
	c.cleanupInterval, err = conf.GetDuration("spark.worker.cleanup.interval", defaultCleanupInterval, time.Second)
	keep(err)
	if c.cleanupInterval <= 0 {
		errs = append(errs, errors.New("worker: spark.worker.cleanup.interval must be positive"))
	}
	c.appDataTTL, err = conf.GetDuration("spark.worker.cleanup.appDataTtl", defaultAppDataTTL, time.Second)
	keep(err)
	c.cleanupAfterExit, err = conf.GetBool("spark.storage.cleanupFilesAfterExecutorExit", true)
	keep(err)
	c.retainedExecutors, err = conf.GetInt("spark.worker.ui.retainedExecutors", defaultRetained)
	keep(err)
	c.retainedDrivers, err = conf.GetInt("spark.worker.ui.retainedDrivers", defaultRetained)
	keep(err)
	if c.retainedExecutors < 0 || c.retainedDrivers < 0 {
		errs = append(errs, errors.New("worker: spark.worker.ui.retainedExecutors/retainedDrivers must be >= 0"))
	}
	c.syncMaxAttempts, err = conf.GetInt("spark.worker.executorStateSync.maxAttempts", defaultSyncMaxAttempts)
	keep(err)
	if c.syncMaxAttempts < 1 {
		errs = append(errs, errors.New("worker: spark.worker.executorStateSync.maxAttempts must be >= 1"))
	}
	c.executorKillGrace, err = conf.GetDuration(KeyExecutorKillGrace, defaultKillGrace, time.Millisecond)
	keep(err)
	c.driverKillGrace, err = conf.GetDuration("spark.worker.driverTerminateTimeout", defaultKillGrace, time.Millisecond)
	keep(err)
	if c.executorKillGrace < 0 || c.driverKillGrace < 0 {
		errs = append(errs, errors.New("worker: kill grace periods must be >= 0"))
	}
	c.shuffleEnabled, err = conf.GetBool("spark.shuffle.service.enabled", false)
	keep(err)
	c.shuffleDBEnabled, err = conf.GetBool("spark.shuffle.service.db.enabled", true)
	keep(err)
	// The executors and drivers get the secret the worker itself
	// authenticates with: spark.authenticate.secret, else the worker's own
	// _SPARK_AUTH_SECRET (as sbin scripts may set it), else
	// spark.authenticate.secret.file.
	if ac, err := auth.NewConf(conf, "rpc"); err != nil {
		keep(fmt.Errorf("worker: %w", err))
	} else {
		c.authEnabled, c.authSecret = ac.Enabled, ac.Secret
	}
	re := conf.GetString("spark.redaction.regex", defaultRedactionPattern)
	if c.redact, err = regexp.Compile(re); err != nil {
		errs = append(errs, fmt.Errorf("worker: spark.redaction.regex: %w", err))
	}
	c.localRoots = localRootDirs(conf)
	c.resources, err = workerResources(conf)
	keep(err)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c.rolling, err = rollingConfig(conf, log)
	keep(err)
	if proxy, err := conf.GetBool("spark.ui.reverseProxy", false); err != nil {
		keep(err)
	} else if proxy {
		// Spark's log URLs then go through the master's proxy; an unset
		// URL leaves them relative ("/proxy/...").
		c.reverseProxyURL = strings.TrimSuffix(conf.GetString("spark.ui.reverseProxyUrl", ""), "/") + "/proxy/"
	}
	c.sparkHome, c.sparkHomeFrom = opts.SparkHome, "the worker's options"
	if c.sparkHome == "" {
		c.sparkHome, c.sparkHomeFrom = conf.GetString(KeySparkHome, ""), KeySparkHome
	}
	if c.sparkHome == "" {
		c.sparkHome, c.sparkHomeFrom = os.Getenv("SPARK_HOME"), "SPARK_HOME"
	}
	if c.sparkHome == "" {
		// As Spark's worker; JVM launches then fail unless the current
		// directory is a Spark distribution (see sparkHomeProblem).
		c.sparkHome, c.sparkHomeFrom = ".", "the current directory: neither SPARK_HOME nor "+KeySparkHome+" is set"
	}
	if abs, err := filepath.Abs(c.sparkHome); err == nil {
		c.sparkHome = abs
	} else {
		errs = append(errs, err)
	}
	c.hostEnv = osHostEnv()
	return c, errors.Join(errs...)
}

func getPositiveFloat(conf *sparkconf.Conf, key string) (float64, error) {
	v, ok := conf.Get(key)
	if !ok {
		return 1, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 1, fmt.Errorf("worker: %s: want a positive number, got %q", key, v)
	}
	return f, nil
}

// javaIndex matches Java's explicit argument index (%2$s), which Go spells
// %[2]s.
var javaIndex = regexp.MustCompile(`%(\d+)\$`)

// formatWorkerID formats spark.worker.idPattern with (timestamp, host,
// port) as Spark's String.format does. Java's %n$ indexes are accepted;
// arguments the pattern does not use are ignored (as in Java). Patterns
// that do not format, or give an id with whitespace, are refused
// (SPARK-45867).
func formatWorkerID(pattern string, now time.Time, host string, port int) (string, error) {
	p := javaIndex.ReplaceAllString(pattern, "%[$1]")
	id := fmt.Sprintf(p, now.Format(idTimestampLayout), host, port)
	if i := strings.Index(id, "%!(EXTRA"); i >= 0 {
		id = id[:i] // Java ignores unused arguments
	}
	if strings.Contains(id, "%!") {
		return "", fmt.Errorf("worker: invalid spark.worker.idPattern %q: it must format (timestamp string, host string, port int), like %q",
			pattern, defaultIDPattern)
	}
	if id == "" || strings.ContainsFunc(id, isSpace) {
		return "", fmt.Errorf("worker: invalid spark.worker.idPattern %q: Whitespace is not allowed", pattern)
	}
	return id, nil
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xA0:
		return true
	}
	return false
}

// defaultWorkDir is $SPARK_WORKER_DIR, else $EMBER_HOME/work (the Ember
// installation the sbin scripts run from), else ./work. Spark's worker
// uses $SPARK_HOME/work, its own installation; for Ember SPARK_HOME is
// the Spark distribution JVM children run from, which Ember never writes
// into (a pip-installed one sits in site-packages).
func defaultWorkDir() string {
	if d := os.Getenv("SPARK_WORKER_DIR"); d != "" {
		return d
	}
	if h := os.Getenv("EMBER_HOME"); h != "" {
		return filepath.Join(h, "work")
	}
	return "work"
}

// defaultMemoryMB is the machine's memory minus 1 GiB, at least 1024 MB.
func defaultMemoryMB() int {
	total := totalMemoryMB()
	return max(total-1024, 1024)
}

// totalMemoryMB reads MemTotal from /proc/meminfo (0 if unknown).
func totalMemoryMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.Atoi(f[0]); err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}

// localRootDirs are the roots for executor-<uuid> app dirs: SPARK_LOCAL_DIRS
// (comma-separated) overrides spark.local.dir, which defaults to the
// system temp dir.
func localRootDirs(conf *sparkconf.Conf) []string {
	v := os.Getenv("SPARK_LOCAL_DIRS")
	if v == "" {
		v = conf.GetString("spark.local.dir", os.TempDir())
	}
	var out []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		out = []string{os.TempDir()}
	}
	return out
}

// workerResources are the custom resources the worker offers (Spark's
// getOrDiscoverAllResources for spark.worker): the allocations of
// component spark.worker in spark.worker.resourcesFile (the JSON list a
// resources file holds). Every spark.worker.resource.<name>.amount must be
// met by the file; discovery scripts are not supported.
func workerResources(conf *sparkconf.Conf) (map[string]deploy.ResourceInformation, error) {
	out := map[string]deploy.ResourceInformation{}
	if path, ok := conf.Get("spark.worker.resourcesFile"); ok && path != "" {
		var err error
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("worker: spark.worker.resourcesFile: %w", err)
		}
		if out, err = parseResourcesFile(b, "spark.worker"); err != nil {
			return nil, fmt.Errorf("worker: spark.worker.resourcesFile %s: %w", path, err)
		}
	}
	var errs []error
	for key, v := range conf.All() {
		rest, ok := strings.CutPrefix(key, "spark.worker.resource.")
		name, ok2 := strings.CutSuffix(rest, ".amount")
		if !ok || !ok2 || name == "" || strings.Contains(name, ".") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("worker: %s: want a count, got %q", key, v))
			continue
		}
		if have := len(out[name].Addresses); have < n {
			errs = append(errs, fmt.Errorf("worker: %s=%d but spark.worker.resourcesFile lists %d %s address(es) (discovery scripts are not supported)",
				key, n, have, name))
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, errors.Join(errs...)
}

// parseResourcesFile reads a resources file (a JSON list of Spark's
// ResourceAllocation) and keeps the allocations of component, by resource
// name.
func parseResourcesFile(b []byte, component string) (map[string]deploy.ResourceInformation, error) {
	var allocs []resourceAllocation
	if err := json.Unmarshal(b, &allocs); err != nil {
		return nil, err
	}
	out := map[string]deploy.ResourceInformation{}
	for _, a := range allocs {
		if a.ID.ComponentName != component || a.ID.ResourceName == "" {
			continue
		}
		r := out[a.ID.ResourceName]
		r.Name = a.ID.ResourceName
		r.Addresses = append(r.Addresses, a.Addresses...)
		out[a.ID.ResourceName] = r
	}
	return out, nil
}
