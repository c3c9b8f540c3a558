package netpoll

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TransportConfSuite / SparkTransportConfSuite: the spark.<module>.io.* keys.

func TestConfDefaults(t *testing.T) {
	c := DefaultConf("shuffle")
	checks := []struct {
		name      string
		got, want any
	}{
		{"Module", c.Module, "shuffle"},
		{"Mode", c.Mode, NIO},
		{"ConnectionTimeout", c.ConnectionTimeout, 120 * time.Second},
		{"ConnectionCreationTimeout", c.ConnectionCreationTimeout, 120 * time.Second},
		{"NumConnectionsPerPeer", c.NumConnectionsPerPeer, 1},
		{"ServerThreads", c.ServerThreads, DefaultThreads()},
		{"ClientThreads", c.ClientThreads, DefaultThreads()},
		{"BackLog", c.BackLog, -1},
		{"ReceiveBuffer", c.ReceiveBuffer, -1},
		{"SendBuffer", c.SendBuffer, -1},
		{"EnableTCPKeepAlive", c.EnableTCPKeepAlive, false},
		{"MaxRetries", c.MaxRetries, 3},
		{"RetryWait", c.RetryWait, 5 * time.Second},
		{"LazyFD", c.LazyFD, true},
		{"MemoryMapThreshold", c.MemoryMapThreshold, int64(2 << 20)},
		{"MaxChunksBeingTransferred", c.MaxChunksBeingTransferred, int64(math.MaxInt64)},
		{"MaxFrameLength", c.MaxFrameLength, int64(0)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if d := DefaultThreads(); d < 1 || d > 8 {
		t.Errorf("DefaultThreads() = %d", d)
	}
	if k := c.Key("mode"); k != "spark.shuffle.io.mode" {
		t.Errorf("Key = %q", k)
	}
}

func TestConfReadsModuleKeys(t *testing.T) {
	sc := sparkconf.New().
		Set("spark.shuffle.io.mode", "nio").
		Set("spark.shuffle.io.connectionTimeout", "30s").
		Set("spark.shuffle.io.numConnectionsPerPeer", "4").
		Set("spark.shuffle.io.serverThreads", "3").
		Set("spark.shuffle.io.clientThreads", "5").
		Set("spark.shuffle.io.backLog", "64").
		Set("spark.shuffle.io.receiveBuffer", "65536").
		Set("spark.shuffle.io.sendBuffer", "32768").
		Set("spark.shuffle.io.enableTcpKeepAlive", "true").
		Set("spark.shuffle.io.maxRetries", "7").
		Set("spark.shuffle.io.retryWait", "250ms").
		Set("spark.shuffle.io.lazyFD", "false").
		Set("spark.storage.memoryMapThreshold", "4m").
		Set("spark.shuffle.maxChunksBeingTransferred", "100").
		Set("spark.shuffle.server.chunkFetchHandlerThreadsPercent", "50").
		Set("spark.shuffle.io.maxFrameLength", "1k").
		// Another module's keys are not read.
		Set("spark.rpc.io.numConnectionsPerPeer", "9").
		Set("spark.rpc.io.mode", "EPOLL")
	c, err := NewConf("shuffle", sc, "")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Mode", c.Mode, NIO},
		{"ConnectionTimeout", c.ConnectionTimeout, 30 * time.Second},
		{"ConnectionCreationTimeout (defaults to connectionTimeout)", c.ConnectionCreationTimeout, 30 * time.Second},
		{"NumConnectionsPerPeer", c.NumConnectionsPerPeer, 4},
		{"ServerThreads", c.ServerThreads, 3},
		{"ClientThreads", c.ClientThreads, 5},
		{"BackLog", c.BackLog, 64},
		{"ReceiveBuffer", c.ReceiveBuffer, 65536},
		{"SendBuffer", c.SendBuffer, 32768},
		{"EnableTCPKeepAlive", c.EnableTCPKeepAlive, true},
		{"MaxRetries", c.MaxRetries, 7},
		{"RetryWait", c.RetryWait, 250 * time.Millisecond},
		{"LazyFD", c.LazyFD, false},
		{"MemoryMapThreshold", c.MemoryMapThreshold, int64(4 << 20)},
		{"MaxChunksBeingTransferred", c.MaxChunksBeingTransferred, int64(100)},
		{"ChunkFetchHandlerThreadsPercent", c.ChunkFetchHandlerThreadsPercent, 50},
		{"MaxFrameLength", c.MaxFrameLength, int64(1024)},
		{"ChunkFetchWorkers", c.ChunkFetchWorkers(), 2},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestConfTimeouts(t *testing.T) {
	cases := []struct {
		kv               map[string]string
		timeout, connect time.Duration
	}{
		// connectionTimeout falls back to spark.network.timeout.
		{map[string]string{"spark.network.timeout": "45"}, 45 * time.Second, 45 * time.Second},
		// The module key wins; the idle timeout is whole seconds.
		{map[string]string{"spark.network.timeout": "45s", "spark.test.io.connectionTimeout": "2500ms"}, 2 * time.Second, 2 * time.Second},
		// The creation timeout has its own key and keeps its precision.
		{map[string]string{"spark.test.io.connectionTimeout": "10s", "spark.test.io.connectionCreationTimeout": "1500ms"}, 10 * time.Second, 1500 * time.Millisecond},
		{map[string]string{"spark.test.io.connectionTimeout": "0"}, 0, 0},
	}
	for _, tc := range cases {
		c, err := NewConf("test", sparkconf.FromMap(tc.kv), "")
		if err != nil {
			t.Fatalf("%v: %v", tc.kv, err)
		}
		if c.ConnectionTimeout != tc.timeout || c.ConnectionCreationTimeout != tc.connect {
			t.Errorf("%v: timeout %v / creation %v, want %v / %v", tc.kv, c.ConnectionTimeout, c.ConnectionCreationTimeout, tc.timeout, tc.connect)
		}
	}
}

func TestConfRoleOverrides(t *testing.T) {
	sc := sparkconf.New().
		Set("spark.test.io.serverThreads", "3").
		Set("spark.driver.test.io.serverThreads", "5").
		Set("spark.executor.test.io.clientThreads", "6").
		Set("spark.test.io.clientThreads", "2").
		Set("spark.driver.test.io.mode", "EPOLL")
	for _, tc := range []struct {
		role           string
		server, client int
		mode           IOMode
	}{
		{"driver", 5, 2, EPOLL},
		{"executor", 3, 6, NIO},
		{"", 3, 2, NIO},
	} {
		c, err := NewConf("test", sc, tc.role)
		if err != nil {
			t.Fatal(err)
		}
		if c.ServerThreads != tc.server || c.ClientThreads != tc.client || c.Mode != tc.mode {
			t.Errorf("role %q: server %d client %d mode %s, want %d %d %s", tc.role, c.ServerThreads, c.ClientThreads, c.Mode, tc.server, tc.client, tc.mode)
		}
	}
	// A role key alone is enough; it falls back to the default for others.
	c, err := NewConf("test", sparkconf.New().Set("spark.driver.test.io.numConnectionsPerPeer", "2"), "driver")
	if err != nil || c.NumConnectionsPerPeer != 2 {
		t.Fatalf("role-only key: %d %v", c.NumConnectionsPerPeer, err)
	}
	c, _ = NewConf("test", sparkconf.New().Set("spark.driver.test.io.numConnectionsPerPeer", "2"), "executor")
	if c.NumConnectionsPerPeer != 1 {
		t.Fatalf("another role's key was read: %d", c.NumConnectionsPerPeer)
	}
}

func TestConfBadValues(t *testing.T) {
	bad := map[string]string{
		"spark.test.io.mode":                                "KQUEUE",
		"spark.test.io.numConnectionsPerPeer":               "many",
		"spark.test.io.serverThreads":                       "1.5",
		"spark.test.io.connectionTimeout":                   "soon",
		"spark.test.io.connectionCreationTimeout":           "10 parsecs",
		"spark.network.timeout":                             "1.5s",
		"spark.test.io.retryWait":                           "5x",
		"spark.test.io.lazyFD":                              "maybe",
		"spark.test.io.enableTcpKeepAlive":                  "yes please",
		"spark.storage.memoryMapThreshold":                  "2 MiB",
		"spark.shuffle.maxChunksBeingTransferred":           "lots",
		"spark.test.io.maxFrameLength":                      "-1",
		"spark.test.server.chunkFetchHandlerThreadsPercent": "half",
		"spark.test.io.backLog":                             "99999999999999999999",
	}
	for k, v := range bad {
		if _, err := NewConf("test", sparkconf.New().Set(k, v), ""); err == nil {
			t.Errorf("%s=%s was accepted", k, v)
		}
	}
	invalid := map[string]string{
		"spark.test.io.numConnectionsPerPeer":               "0",
		"spark.shuffle.maxChunksBeingTransferred":           "0",
		"spark.test.server.chunkFetchHandlerThreadsPercent": "-1",
	}
	for k, v := range invalid {
		if _, err := NewConf("test", sparkconf.New().Set(k, v), ""); err == nil {
			t.Errorf("%s=%s passed validation", k, v)
		}
	}
}

func TestParseIOMode(t *testing.T) {
	for in, want := range map[string]IOMode{"EPOLL": EPOLL, "epoll": EPOLL, " Epoll ": EPOLL, "NIO": NIO, "nio": NIO,
		"AUTO": NIO, "auto": NIO} {
		if got, err := ParseIOMode(in); err != nil || got != want {
			t.Errorf("ParseIOMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "EPOLLX", "KQUEUE", "kqueue", "IO_URING"} {
		if _, err := ParseIOMode(in); err == nil {
			t.Errorf("ParseIOMode(%q) accepted", in)
		}
	}
}

// Spark 4.1's io-mode keys: spark.io.mode.default is every module's
// default, a module's own spark.<module>.io.mode wins, AUTO is NIO, and
// KQUEUE / IO_URING are refused with an error naming the key that set them.
func TestConfIOModeKeys(t *testing.T) {
	cases := []struct {
		name    string
		kv      map[string]string
		want    IOMode
		wantErr string // a key the error must name
	}{
		{"no keys: AUTO", nil, NIO, ""},
		{"default NIO", map[string]string{"spark.io.mode.default": "NIO"}, NIO, ""},
		{"default auto", map[string]string{"spark.io.mode.default": "auto"}, NIO, ""},
		{"default EPOLL", map[string]string{"spark.io.mode.default": "EPOLL"}, EPOLL, ""},
		{"module wins over default", map[string]string{"spark.io.mode.default": "NIO", "spark.shuffle.io.mode": "EPOLL"}, EPOLL, ""},
		{"module AUTO", map[string]string{"spark.io.mode.default": "EPOLL", "spark.shuffle.io.mode": "AUTO"}, NIO, ""},
		{"other module's key ignored", map[string]string{"spark.rpc.io.mode": "EPOLL"}, NIO, ""},
		{"role key wins", map[string]string{"spark.shuffle.io.mode": "EPOLL", "spark.executor.shuffle.io.mode": "NIO"}, NIO, ""},
		{"default KQUEUE", map[string]string{"spark.io.mode.default": "KQUEUE"}, "", "spark.io.mode.default"},
		{"module IO_URING", map[string]string{"spark.shuffle.io.mode": "IO_URING"}, "", "spark.shuffle.io.mode"},
		{"module junk", map[string]string{"spark.shuffle.io.mode": "fast"}, "", "spark.shuffle.io.mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConf("shuffle", sparkconf.FromMap(tc.kv), "executor")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error naming %s, got %v (mode %q)", tc.wantErr, err, c.Mode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode != tc.want {
				t.Fatalf("mode %q, want %q", c.Mode, tc.want)
			}
		})
	}
}

// The transport's own limits: defaults and keys.
func TestConfSlowPeerKeys(t *testing.T) {
	c := DefaultConf("rpc")
	if c.PreAuthMaxFrameLength != 8<<10 || c.MaxBufferedBytes != DefaultMaxBufferedBytes {
		t.Fatalf("defaults: preAuth %d budget %d", c.PreAuthMaxFrameLength, c.MaxBufferedBytes)
	}
	sc := sparkconf.New().Set("spark.rpc.io.ember.preAuthMaxFrameLength", "4k").Set(BudgetKey, "512m")
	c, err := NewConf("rpc", sc, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.PreAuthMaxFrameLength != 4<<10 || c.MaxBufferedBytes != 512<<20 {
		t.Fatalf("read: preAuth %d budget %d", c.PreAuthMaxFrameLength, c.MaxBufferedBytes)
	}
	for k, v := range map[string]string{BudgetKey: "0", "spark.rpc.io.ember.preAuthMaxFrameLength": "-1"} {
		if _, err := NewConf("rpc", sparkconf.New().Set(k, v), ""); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

func TestConfChunkFetchWorkers(t *testing.T) {
	for _, tc := range []struct{ threads, percent, want int }{
		{8, 0, 8}, {8, 50, 4}, {8, 100, 8}, {8, 1, 1}, {3, 50, 2}, {0, 0, 1},
	} {
		c := Conf{ServerThreads: tc.threads, ChunkFetchHandlerThreadsPercent: tc.percent}
		if got := c.ChunkFetchWorkers(); got != tc.want {
			t.Errorf("threads %d percent %d: %d workers, want %d", tc.threads, tc.percent, got, tc.want)
		}
	}
}
