package shuffle

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// DefaultPort is spark.shuffle.service.port's default.
const DefaultPort = 7337

// warnInterval is how often a peer's refused messages may log a warning;
// a variable for tests.
var warnInterval = time.Minute

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Conf holds spark.* keys: spark.shuffle.io.* (transport),
	// spark.shuffle.service.{port,db.enabled,index.cache.size},
	// spark.shuffle.service.fetch.rdd.enabled (keep RDD files when an
	// executor exits), spark.shuffle.maxChunksBeingTransferred, and Ember's
	// limits: spark.shuffle.service.ember.maxBlocksPerRequest,
	// maxBlocksPerConnection, maxStreamsPerConnection, maxOpenFiles (block
	// files kept open between chunks, 1024; 0: none), and
	// allowedLocalDirRoots (comma-separated dirs executors' local dirs must
	// lie beneath; unset: the temp dir, SPARK_LOCAL_DIRS, spark.local.dir
	// and LocalDirRoots; empty: any dir but system dirs).
	Conf *sparkconf.Conf
	// Host to bind; Port overrides spark.shuffle.service.port when >= 0.
	Host string
	Port int
	// DBDir holds the registration database when spark.shuffle.service.db.enabled
	// (default true); empty disables persistence.
	DBDir string
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Bootstraps wrap each connection's handler (authentication).
	Bootstraps []netpoll.ServerBootstrap
	// LocalDirRoots are added to the default roots executors' local dirs
	// must lie beneath when spark.shuffle.service.ember.allowedLocalDirRoots
	// is not set (a worker passes its work dir).
	LocalDirRoots []string
}

// Defaults of the service's own limits.
const (
	// DefaultMaxBlocksPerRequest (spark.shuffle.service.ember.maxBlocksPerRequest)
	// caps the blocks (and map ids) one OpenBlocks or FetchShuffleBlocks
	// names. A Spark reducer sends one request per executor it reads from
	// of about maxSizeInFlight/5 (9.6 MB by default) of non-empty blocks:
	// one block per map task of that executor (one per map and reduce id
	// without batch fetch). A million map outputs on one executor is far
	// beyond any real stage; the cap keeps one request's stream under
	// 16 MB.
	DefaultMaxBlocksPerRequest = 1 << 20
	// DefaultMaxBlocksPerConnection (spark.shuffle.service.ember.maxBlocksPerConnection)
	// caps the blocks in the open streams of one connection (all the
	// tasks of an executor share one): four full requests, 64 MB at most.
	DefaultMaxBlocksPerConnection = 4 << 20
	// DefaultMaxStreamsPerConnection (spark.shuffle.service.ember.maxStreamsPerConnection)
	// caps the open streams of one connection: an executor's tasks times
	// their requests in flight stay in the hundreds.
	DefaultMaxStreamsPerConnection = 1 << 14
)

// defaultLocalDirRoots are where Spark puts executors' local dirs when
// spark.shuffle.service.ember.allowedLocalDirRoots is not set: the temp
// dir (spark.local.dir's default: a JVM's java.io.tmpdir is /tmp whatever
// TMPDIR says, Go's temp dir follows TMPDIR), SPARK_LOCAL_DIRS,
// spark.local.dir, and the caller's extra roots.
func defaultLocalDirRoots(conf *sparkconf.Conf, extra []string) []string {
	roots := []string{os.TempDir()}
	if runtime.GOOS != "windows" && os.TempDir() != "/tmp" {
		roots = append(roots, "/tmp")
	}
	split := func(v string) {
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				roots = append(roots, d)
			}
		}
	}
	split(os.Getenv("SPARK_LOCAL_DIRS"))
	split(conf.GetString("spark.local.dir", ""))
	for _, d := range extra {
		if d != "" {
			roots = append(roots, d)
		}
	}
	return roots
}

// Service is the external shuffle service: a transport server on the
// "shuffle" module that serves registered executors' sort-shuffle files.
type Service struct {
	res     *resolver
	ctx     *netpoll.Context
	srv     *netpoll.Server
	streams *netpoll.OneForOneStreamManager
	metrics Metrics
	log     *slog.Logger
}

// NewService starts the service.
func NewService(cfg ServiceConfig) (*Service, error) {
	conf, log := confAndLogger(cfg.Conf, cfg.Logger)
	log = log.With("component", "shuffle-service")
	port := cfg.Port
	if port < 0 {
		p, err := conf.GetInt("spark.shuffle.service.port", DefaultPort)
		if err != nil {
			return nil, err
		}
		port = p
	}
	cacheSize, err := conf.GetBytes("spark.shuffle.service.index.cache.size", 100<<20, 1)
	if err != nil {
		return nil, err
	}
	rddOn, err := conf.GetBool("spark.shuffle.service.fetch.rdd.enabled", false)
	if err != nil {
		return nil, err
	}
	dbOn, err := conf.GetBool("spark.shuffle.service.db.enabled", true)
	if err != nil {
		return nil, err
	}
	maxBlocks, err := conf.GetInt("spark.shuffle.service.ember.maxBlocksPerRequest", DefaultMaxBlocksPerRequest)
	if err != nil {
		return nil, err
	}
	connBlocks, err := conf.GetInt("spark.shuffle.service.ember.maxBlocksPerConnection", DefaultMaxBlocksPerConnection)
	if err != nil {
		return nil, err
	}
	connStreams, err := conf.GetInt("spark.shuffle.service.ember.maxStreamsPerConnection", DefaultMaxStreamsPerConnection)
	if err != nil {
		return nil, err
	}
	maxOpen, err := conf.GetInt("spark.shuffle.service.ember.maxOpenFiles", DefaultMaxOpenFiles)
	if err != nil {
		return nil, err
	}
	if maxOpen < 0 {
		return nil, fmt.Errorf("shuffle: spark.shuffle.service.ember.maxOpenFiles (%d) must not be negative", maxOpen)
	}
	if lim := openFileLimit(); lim > 0 && uint64(maxOpen) > lim/2 {
		// Cached files may take at most half the descriptors the process
		// may open: connections, local dirs and chunks in flight need the rest.
		log.Warn("spark.shuffle.service.ember.maxOpenFiles lowered to half the open-file limit (ulimit -n)",
			"maxOpenFiles", maxOpen, "limit", lim, "now", lim/2)
		maxOpen = int(lim / 2)
	}
	if maxBlocks <= 0 || connBlocks <= 0 || connStreams <= 0 {
		return nil, fmt.Errorf("shuffle: spark.shuffle.service.ember.maxBlocksPerRequest (%d), maxBlocksPerConnection (%d) "+
			"and maxStreamsPerConnection (%d) must be positive", maxBlocks, connBlocks, connStreams)
	}
	var roots []string
	if v, ok := conf.Get("spark.shuffle.service.ember.allowedLocalDirRoots"); ok {
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				roots = append(roots, d)
			}
		}
		if len(roots) == 0 {
			log.Warn("spark.shuffle.service.ember.allowedLocalDirRoots is empty: executors may register any local dir " +
				"that is not a system dir, and the service will serve and delete files there")
		}
	} else {
		roots = defaultLocalDirRoots(conf, cfg.LocalDirRoots)
	}
	dirs, err := newDirPolicy(roots)
	if err != nil {
		return nil, err
	}
	tconf, err := netpoll.NewConf("shuffle", conf, "")
	if err != nil {
		return nil, err
	}
	dbPath := ""
	if dbOn && cfg.DBDir != "" {
		dbPath = filepath.Join(cfg.DBDir, "registeredExecutors.bolt")
	}
	fileOpt := codec.FileOptions{LazyFD: tconf.LazyFD, MemoryMapThreshold: tconf.MemoryMapThreshold}
	res, err := newResolver(log, resolverConfig{indexCacheBytes: cacheSize, maxOpenFiles: maxOpen, fileOpt: fileOpt,
		rddOn: rddOn, dbPath: dbPath, dirs: dirs})
	if err != nil {
		return nil, err
	}
	s := &Service{res: res, streams: netpoll.NewOneForOneStreamManager(), log: log}
	s.metrics.RegisteredExecutors = res.numExecutors
	s.metrics.OpenStreams = s.streams.NumStreams
	h := &blockHandler{res: res, streams: s.streams, metrics: &s.metrics, maxBlocks: maxBlocks,
		budgets: newConnBudgets(connStreams, connBlocks), warnings: ratelog.New(warnInterval, 1024)}
	// spark.authenticate and spark.ssl.rpc.* (Spark's shuffle service
	// reads them from its own configuration too).
	sec, err := auth.Configure(conf, "shuffle", "", log)
	if err != nil {
		res.close()
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	if cfg.Bootstraps == nil {
		cfg.Bootstraps = sec.Server
	}
	s.ctx = netpoll.NewContext(tconf, h, append(sec.ContextOptions(), netpoll.WithLogger(log))...)
	host := cfg.Host
	if host == "" {
		host = "0.0.0.0"
	}
	s.srv, err = s.ctx.NewServer(host, port, cfg.Bootstraps...)
	if err != nil {
		s.ctx.Close()
		res.close()
		return nil, fmt.Errorf("shuffle: cannot start the shuffle service on %s:%d: %w", host, port, err)
	}
	log.Info("shuffle service started", "port", s.srv.Port(), "db", dbPath != "", "mode", tconf.Mode,
		"localDirRoots", dirs.roots, "maxBlocksPerRequest", maxBlocks, "maxOpenFiles", maxOpen)
	return s, nil
}

// Port returns the bound port.
func (s *Service) Port() int { return s.srv.Port() }

// Metrics returns the service's counters.
func (s *Service) Metrics() *Metrics { return &s.metrics }

// RegisteredExecutors returns the number of registered executors.
func (s *Service) RegisteredExecutors() int { return s.res.numExecutors() }

// RegisterExecutor registers an executor directly (in-process use).
func (s *Service) RegisterExecutor(appID, execID string, info ExecutorShuffleInfo) error {
	return s.res.register(AppExecID{appID, execID}, info)
}

// ApplicationRemoved forgets an application's executors and, if cleanup,
// deletes their local dirs (the worker calls it when an app ends).
func (s *Service) ApplicationRemoved(appID string, cleanup bool) {
	s.res.applicationRemoved(appID, cleanup)
}

// ExecutorRemoved deletes an exited executor's files that the service does
// not serve.
func (s *Service) ExecutorRemoved(appID, execID string) { s.res.executorRemoved(appID, execID) }

// Close stops the service and closes the registration database.
func (s *Service) Close() error {
	s.srv.Close()
	s.ctx.Close()
	return s.res.close()
}
