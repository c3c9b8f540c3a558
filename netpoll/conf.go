package netpoll

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// IOMode selects the I/O engine of a transport module.
type IOMode string

const (
	// EPOLL runs connections on Ember's own epoll reactor (Linux), one per
	// Context. It is Ember's default.
	EPOLL IOMode = "EPOLL"
	// NIO runs connections on Go's net package: one reading goroutine per
	// connection over the runtime's poller.
	NIO IOMode = "NIO"
)

// AUTO is Spark 4.1's "pick the best engine" value. Ember maps it to the
// engine that measured fastest: NIO (see autoMode).
const AUTO IOMode = "AUTO"

// autoMode is what AUTO means, on every platform: NIO. Measured on this
// project's 2-core machine over three compare runs (BENCHMARKS.md,
// "AUTO"), NIO won five rows in every run (4 KiB round trips at 32 and
// 256 in flight, 1 MiB round trips at 1 in flight, chunk fetch on one
// connection with 8 in flight, the 4 KiB shuffle read) and EPOLL one
// (64-byte round trips with 256 in flight, 1.15-1.21x); the other rows
// changed sides between runs. On 1 core (taskset) NIO was level or ahead
// (round trips by 1-9%). Machines with more cores were not measured.
const autoMode = NIO

// ModeDefaultKey is Spark 4.1's default for every module's io.mode.
const ModeDefaultKey = "spark.io.mode.default"

// ParseIOMode reads an io.mode value, case-insensitively. AUTO is NIO;
// EPOLL is refused off Linux.
// KQUEUE (BSD) and IO_URING are refused: Ember has neither engine.
func ParseIOMode(s string) (IOMode, error) {
	switch v := strings.ToUpper(strings.TrimSpace(s)); v {
	case string(AUTO):
		return autoMode, nil
	case "EPOLL":
		if !epollAvailable {
			return "", fmt.Errorf("netpoll: io mode EPOLL needs Linux's epoll, not available on %s (use AUTO or NIO)", runtime.GOOS)
		}
		return EPOLL, nil
	case "NIO":
		return NIO, nil
	case "KQUEUE", "IO_URING":
		return "", fmt.Errorf("netpoll: io mode %s is not supported by Ember (Linux only: use AUTO, EPOLL or NIO)", v)
	}
	return "", fmt.Errorf("netpoll: unknown io mode %q (want AUTO, EPOLL or NIO)", s)
}

// Conf is the configuration of one transport module (Spark's TransportConf):
// the spark.<module>.io.* keys with Spark's defaults.
//
// Build one with DefaultConf (every key at Spark's default) and change the
// fields you need, or read it from spark.* properties with NewConf. A Conf
// built by hand is checked by NewContext: a field whose zero value means
// nothing (Module, Mode, the thread and connection counts, the budgets)
// takes its default there, so even the zero Conf works; a zero timeout or
// limit means none, as documented on each field. An invalid Conf (a
// negative limit, an unknown mode) makes NewServer and CreateClient fail
// with an error naming the key, never panic.
type Conf struct {
	// Module is the key prefix: "rpc", "shuffle", "files", ...
	Module string
	// Mode is spark.<module>.io.mode, whose default is spark.io.mode.default
	// (default AUTO, which is NIO).
	Mode IOMode
	// ServerThreads is spark.<module>.io.serverThreads (default
	// min(cores, 8)). In EPOLL mode a Context runs
	// max(ServerThreads, ClientThreads) pollers, started with its first
	// connection; each Context has its own, so two contexts in one process
	// may have different counts.
	ServerThreads int
	// ClientThreads is spark.<module>.io.clientThreads.
	ClientThreads int
	// NumConnectionsPerPeer is the number of pooled connections per peer.
	NumConnectionsPerPeer int
	// ConnectionTimeout is the idle/request timeout (default
	// spark.network.timeout, 120s); zero or less disables it.
	ConnectionTimeout time.Duration
	// ConnectionCreationTimeout is the TCP connect timeout (default
	// ConnectionTimeout); zero or less waits without limit.
	ConnectionCreationTimeout time.Duration
	// BackLog is the listen backlog; zero or less means the system default.
	BackLog int
	// ReceiveBuffer and SendBuffer set SO_RCVBUF / SO_SNDBUF when > 0.
	ReceiveBuffer int
	SendBuffer    int
	// EnableTCPKeepAlive sets SO_KEEPALIVE on accepted sockets (clients
	// always set it).
	EnableTCPKeepAlive bool
	// MaxRetries and RetryWait drive block-transfer retries and the
	// client factory's fast-fail window (95% of RetryWait).
	MaxRetries int
	RetryWait  time.Duration
	// LazyFD opens file segments only when they are sent.
	LazyFD bool
	// MemoryMapThreshold is spark.storage.memoryMapThreshold.
	MemoryMapThreshold int64
	// MaxChunksBeingTransferred is spark.shuffle.maxChunksBeingTransferred:
	// a chunk or stream request arriving while this many are in flight
	// closes its connection.
	MaxChunksBeingTransferred int64
	// ChunkFetchHandlerThreadsPercent sizes the chunk-fetch pool as a
	// percentage of ServerThreads (spark.<module>.server.chunkFetchHandlerThreadsPercent);
	// zero means one chunk-fetch worker per server thread.
	ChunkFetchHandlerThreadsPercent int
	// MaxFrameLength caps incoming frames; zero means Spark's limit.
	MaxFrameLength int64

	// Limits against hostile or broken peers (Ember's own keys).
	//
	// MaxConnections caps the connections a server holds at once
	// (spark.<module>.io.ember.maxConnections, 0 = no cap); connections
	// beyond it are closed as soon as they are accepted.
	MaxConnections int
	// MaxOutstandingRequests bounds the requests received on one
	// connection whose answer is not on the wire yet
	// (spark.<module>.io.ember.maxOutstandingRequests, default 65536,
	// 0 = no bound): past it the connection stops reading (Netty's
	// autoRead=false) until answers leave, and its peer's writes block.
	MaxOutstandingRequests int64
	// MaxQueuedBytes caps the bytes waiting to be written to one
	// connection, file regions included (spark.<module>.io.ember.maxQueuedBytes,
	// default 1g, 0 = no cap): a peer that does not read its answers is
	// disconnected instead of growing the queue.
	MaxQueuedBytes int64
	// PreAuthMaxFrameLength caps the frames a connection may send before
	// it authenticates, on servers that require authentication
	// (spark.<module>.io.ember.preAuthMaxFrameLength, default 8k).
	PreAuthMaxFrameLength int64
	// MaxBufferedBytes is the process-wide budget for every buffer the
	// connections hold: queued output in memory, large input frames, and
	// what input keeps between reads (the reused large-frame buffer, partial
	// frames) (spark.ember.io.maxBufferedBytes,
	// default 2g; the smallest value configured in the process applies).
	// Past it the connections holding the most are disconnected.
	MaxBufferedBytes int64
}

// DefaultThreads is Spark's default transport thread count: min(cores, 8).
func DefaultThreads() int {
	n := runtime.NumCPU()
	if n > 8 {
		n = 8
	}
	return n
}

// DefaultConf returns the configuration of module with every key at its
// default.
func DefaultConf(module string) Conf {
	c, _ := NewConf(module, sparkconf.New(), "")
	return c
}

// NewConf reads the module's keys from conf. role ("driver", "executor" or
// "") enables Spark's role overrides: spark.<role>.<module>.io.<key> wins
// over spark.<module>.io.<key>.
func NewConf(module string, conf *sparkconf.Conf, role string) (Conf, error) {
	c := Conf{Module: module}
	r := confReader{conf: conf, role: role, module: module}

	def := conf.GetString(ModeDefaultKey, string(AUTO))
	modeKey := ModeDefaultKey
	if k, ok := r.ioKey("mode"); ok {
		modeKey = k
	}
	mode := r.str("mode", def)
	var err error
	if c.Mode, err = ParseIOMode(mode); err != nil {
		return c, fmt.Errorf("%s: %w", modeKey, err)
	}
	networkTimeout := r.duration("spark.network.timeout", 120*time.Second, time.Second)
	c.ConnectionTimeout = r.ioDuration("connectionTimeout", networkTimeout, time.Second)
	// Spark reads the idle timeout in whole seconds.
	c.ConnectionTimeout = c.ConnectionTimeout.Truncate(time.Second)
	c.ConnectionCreationTimeout = r.ioDuration("connectionCreationTimeout", c.ConnectionTimeout, time.Second)
	c.BackLog = r.ioInt("backLog", -1)
	c.NumConnectionsPerPeer = r.ioInt("numConnectionsPerPeer", 1)
	c.ServerThreads = r.ioInt("serverThreads", 0)
	c.ClientThreads = r.ioInt("clientThreads", 0)
	if c.ServerThreads <= 0 {
		c.ServerThreads = DefaultThreads()
	}
	if c.ClientThreads <= 0 {
		c.ClientThreads = DefaultThreads()
	}
	c.ReceiveBuffer = r.ioInt("receiveBuffer", -1)
	c.SendBuffer = r.ioInt("sendBuffer", -1)
	c.EnableTCPKeepAlive = r.ioBool("enableTcpKeepAlive", false)
	c.MaxRetries = r.ioInt("maxRetries", 3)
	c.RetryWait = r.ioDuration("retryWait", 5*time.Second, time.Second)
	c.LazyFD = r.ioBool("lazyFD", true)
	c.MemoryMapThreshold = r.bytes("spark.storage.memoryMapThreshold", 2<<20, 1)
	c.MaxChunksBeingTransferred = r.int64("spark.shuffle.maxChunksBeingTransferred", math.MaxInt64)
	c.ChunkFetchHandlerThreadsPercent = int(r.int64("spark."+module+".server.chunkFetchHandlerThreadsPercent", 0))
	c.MaxFrameLength = r.bytes("spark."+module+".io.maxFrameLength", 0, 1)
	c.MaxConnections = r.ioInt("ember.maxConnections", 0)
	c.MaxOutstandingRequests = int64(r.ioInt("ember.maxOutstandingRequests", 65536))
	c.MaxQueuedBytes = r.ioBytes("ember.maxQueuedBytes", 1<<30)
	c.PreAuthMaxFrameLength = r.ioBytes("ember.preAuthMaxFrameLength", 8<<10)
	c.MaxBufferedBytes = r.bytes(BudgetKey, DefaultMaxBufferedBytes, 1)
	if r.err != nil {
		return c, r.err
	}
	return c, c.validate()
}

// withDefaults fills the fields whose zero value is not meaningful.
func (c Conf) withDefaults() Conf {
	if c.Module == "" {
		c.Module = "rpc"
	}
	if c.Mode == "" || c.Mode == AUTO {
		c.Mode = autoMode
	}
	if c.ServerThreads <= 0 {
		c.ServerThreads = DefaultThreads()
	}
	if c.ClientThreads <= 0 {
		c.ClientThreads = DefaultThreads()
	}
	if c.NumConnectionsPerPeer == 0 {
		c.NumConnectionsPerPeer = 1
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.MaxChunksBeingTransferred == 0 {
		c.MaxChunksBeingTransferred = math.MaxInt64
	}
	return c
}

// Validate reports the first setting of c that NewServer and CreateClient
// would refuse, naming its key. Zero values that NewContext replaces with
// defaults are not errors.
func (c Conf) Validate() error {
	d := c.withDefaults()
	return d.validate()
}

func (c *Conf) validate() error {
	switch {
	case c.Mode != EPOLL && c.Mode != NIO:
		return fmt.Errorf("netpoll: spark.%s.io.mode: unknown mode %q", c.Module, c.Mode)
	case c.NumConnectionsPerPeer < 1:
		return fmt.Errorf("netpoll: spark.%s.io.numConnectionsPerPeer must be at least 1, got %d", c.Module, c.NumConnectionsPerPeer)
	case c.ChunkFetchHandlerThreadsPercent < 0:
		return fmt.Errorf("netpoll: spark.%s.server.chunkFetchHandlerThreadsPercent must not be negative", c.Module)
	case c.MaxConnections < 0 || c.MaxOutstandingRequests < 0 || c.MaxQueuedBytes < 0 || c.PreAuthMaxFrameLength < 0:
		return fmt.Errorf("netpoll: spark.%s.io.ember.* limits must not be negative", c.Module)
	case c.MaxBufferedBytes <= 0:
		return fmt.Errorf("netpoll: %s must be positive", BudgetKey)
	case c.MaxChunksBeingTransferred <= 0:
		return fmt.Errorf("netpoll: spark.shuffle.maxChunksBeingTransferred must be positive")
	}
	return nil
}

// ChunkFetchWorkers is the size of the pool that serves ChunkFetchRequests.
func (c *Conf) ChunkFetchWorkers() int {
	if c.ChunkFetchHandlerThreadsPercent <= 0 {
		if c.ServerThreads < 1 {
			return 1
		}
		return c.ServerThreads
	}
	n := (c.ServerThreads*c.ChunkFetchHandlerThreadsPercent + 99) / 100
	if n < 1 {
		n = 1
	}
	return n
}

// Key returns the full key of a module io setting, for messages.
func (c *Conf) Key(suffix string) string { return "spark." + c.Module + ".io." + suffix }

// confReader reads keys and keeps the first error.
type confReader struct {
	conf   *sparkconf.Conf
	role   string
	module string
	err    error
}

func (r *confReader) keep(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// ioKey finds spark.[<role>.]<module>.io.<suffix>.
func (r *confReader) ioKey(suffix string) (string, bool) {
	key, _, ok := r.conf.ModuleLookup(r.role, r.module, suffix)
	return key, ok
}

func (r *confReader) str(suffix, def string) string {
	if key, ok := r.ioKey(suffix); ok {
		return r.conf.GetString(key, def)
	}
	return def
}

func (r *confReader) ioInt(suffix string, def int) int {
	key, ok := r.ioKey(suffix)
	if !ok {
		return def
	}
	v, err := r.conf.GetInt(key, def)
	r.keep(err)
	return v
}

func (r *confReader) ioBool(suffix string, def bool) bool {
	key, ok := r.ioKey(suffix)
	if !ok {
		return def
	}
	v, err := r.conf.GetBool(key, def)
	r.keep(err)
	return v
}

func (r *confReader) ioDuration(suffix string, def, unit time.Duration) time.Duration {
	key, ok := r.ioKey(suffix)
	if !ok {
		return def
	}
	return r.duration(key, def, unit)
}

func (r *confReader) duration(key string, def, unit time.Duration) time.Duration {
	v, err := r.conf.GetDuration(key, def, unit)
	r.keep(err)
	return v
}

func (r *confReader) ioBytes(suffix string, def int64) int64 {
	key, ok := r.ioKey(suffix)
	if !ok {
		return def
	}
	return r.bytes(key, def, 1)
}

func (r *confReader) bytes(key string, def, unit int64) int64 {
	v, err := r.conf.GetBytes(key, def, unit)
	r.keep(err)
	return v
}

func (r *confReader) int64(key string, def int64) int64 {
	v, err := r.conf.GetInt64(key, def)
	r.keep(err)
	return v
}
