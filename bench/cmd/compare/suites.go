package main

import (
	"fmt"
	"strings"
)

// A system is one row of a comparison table: Ember in one I/O mode, or a
// peer.
type system struct {
	key   string // stable id: the system element of the benchmark names
	label string // the row's name in the table
}

// A cell is one system's measurement of a workload: one benchmark.
type cell struct {
	sys   string // system key
	bench string // benchmark name as go test prints it, minus -GOMAXPROCS
	ref   bool   // measured by another suite: shown when present, not run here
}

// A workload is one comparison table.
type workload struct {
	id       string // names its plot file
	title    string
	group    string // a group's benchmarks run in one process per system
	metric   string // the key metric's unit (ops/s, MB/s, msgs/s, p99-ns)
	baseline string // key of the system the ratios divide by ("": none)
	extra    []string
	cells    []cell
	curves   bool // plot latency percentile curves
	// peers maps a row's system to the Spark 4.1 JVM system its
	// "vs Spark 4.1 JVM" ratios divide by (nil: no such column).
	peers map[string]string
}

// A suite is one section of the report; -suite selects suites by name.
type suite struct {
	name      string
	title     string
	intro     string
	systems   []system
	workloads []workload
	loadPlots bool // plot latency against offered load (open loop)
}

// The Spark 4.1 JVM peers (bench/jvm_peer_test.go): Spark's own transport
// in a JVM, and Ember's shuffle client reading from Spark's external
// shuffle service in a JVM.
const (
	sparkJVM       = "spark-jvm"
	sparkESSPrefix = "spark-ess-"
	sparkLabel     = "Spark 4.1 JVM"
)

// isSparkSystem reports whether key is a Spark JVM peer, which needs Spark
// 4.1 and a JDK.
func isSparkSystem(key string) bool {
	return key == sparkJVM || strings.HasPrefix(key, sparkESSPrefix)
}

// emberVsSpark maps Ember's transport rows to the Spark JVM row.
var emberVsSpark = map[string]string{"EPOLL": sparkJVM, "NIO": sparkJVM}

// suiteNames are the suites in run order.
var suiteNames = []string{"rpc", "ask", "fetch", "oneway", "shuffle", "openloop", "iperf"}

// lowerIsBetter reports whether a smaller value of metric is better.
func lowerIsBetter(metric string) bool {
	return strings.HasSuffix(metric, "-ns")
}

// defineSuites returns every suite. With short the benchmarks run with
// -test.short, which makes BenchmarkRPCMatrix's largest payload 64 KiB and
// leaves BenchmarkShuffleMatrix only its 4 KiB-block layout.
func defineSuites(short bool) []suite {
	large := "1MiB"
	shuffleBlocks := []string{"64KiB", "4KiB"}
	if short {
		large = "64KiB"
		shuffleBlocks = []string{"4KiB"}
	}
	inflights := []int{1, 32, 256}

	rpc := suite{
		name:  "rpc",
		title: "RPC round trips (`BenchmarkRPCMatrix`)",
		intro: "Closed-loop echo round trips: n callers, each sending its next request when its previous one is answered. " +
			"Ember, net/rpc and Spark share one connection among all callers, grpc-go one ClientConn; " +
			"raw TCP and cloudwego/netpoll have one connection per caller (one message in flight each), grpc-go streaming one stream per caller. " +
			"Spark 4.1 JVM: Spark's TransportClient and TransportServer (Netty, native epoll) in one JVM, callers as callbacks that send the next request, " +
			"timed in the JVM after a fixed warm-up (bench/jvm_peer_test.go). " +
			"Baseline: raw Go TCP ping-pong, the software-stack limit.",
		systems: []system{
			{"rawtcp", "raw Go TCP ping-pong"},
			{"EPOLL", "**Ember EPOLL**"},
			{"NIO", "**Ember NIO**"},
			{"cwnetpoll", "cloudwego/netpoll raw echo"},
			{"grpc-unary", "grpc-go unary"},
			{"grpc-stream", "grpc-go bidi stream"},
			{"netrpc", "net/rpc"},
			{sparkJVM, sparkLabel + ": TransportClient ↔ TransportServer"},
		},
	}
	for _, size := range []string{"64B", "4KiB", large} {
		for _, n := range inflights {
			w := workload{
				id:       fmt.Sprintf("rpc-%s-c%d", size, n),
				title:    fmt.Sprintf("%s payload, %d in flight", size, n),
				group:    size,
				metric:   "ops/s",
				baseline: "rawtcp",
				curves:   true,
				peers:    emberVsSpark,
			}
			for _, s := range rpc.systems {
				w.cells = append(w.cells, cell{sys: s.key, bench: fmt.Sprintf("BenchmarkRPCMatrix/%s/%s/inflight=%d", s.key, size, n)})
			}
			rpc.workloads = append(rpc.workloads, w)
		}
	}

	ask := suite{
		name:  "ask",
		title: "RPC environment asks (`BenchmarkAskMatrix`)",
		intro: "Closed-loop `rpcenv.Ask` of a 64-byte JSON message to a remote echo endpoint (n callers sharing one ref, one connection), " +
			"next to 64-byte echoes of the bare transport and the peers from the RPC suite. Baseline: grpc-go unary.",
		systems: []system{
			{"grpc-unary", "grpc-go unary"},
			{"ask-EPOLL", "**Ember ask EPOLL**"},
			{"ask-NIO", "**Ember ask NIO**"},
			{"EPOLL", "Ember transport EPOLL"},
			{"NIO", "Ember transport NIO"},
			{"netrpc", "net/rpc"},
		},
	}
	for _, n := range inflights {
		w := workload{
			id:       fmt.Sprintf("ask-c%d", n),
			title:    fmt.Sprintf("%d in flight", n),
			group:    "ask",
			metric:   "ops/s",
			baseline: "grpc-unary",
			curves:   true,
		}
		for _, s := range ask.systems {
			name := fmt.Sprintf("BenchmarkRPCMatrix/%s/64B/inflight=%d", s.key, n)
			if mode, ok := strings.CutPrefix(s.key, "ask-"); ok {
				name = fmt.Sprintf("BenchmarkAskMatrix/%s/inflight=%d", mode, n)
			}
			w.cells = append(w.cells, cell{sys: s.key, bench: name})
		}
		ask.workloads = append(ask.workloads, w)
	}

	fetch := suite{
		name:  "fetch",
		title: "Chunk fetch (`BenchmarkFetchMatrix`)",
		intro: "1 MiB chunks of a page-cached file, n requests outstanding on each of c connections; latencies run from request to last byte " +
			"(queueing behind earlier chunks included). Spark 4.1 JVM: Spark's fetchChunk of FileSegmentManagedBuffers of the same file, client and server in one JVM. " +
			"Baseline: the raw Go sendfile loop. The iperf3 row (when that suite ran) is the kernel's loopback limit " +
			"with as many streams as connections.",
		systems: []system{
			{"rawsendfile", "raw Go sendfile loop"},
			{"EPOLL", "**Ember EPOLL**"},
			{"NIO", "**Ember NIO**"},
			{sparkJVM, sparkLabel + ": fetchChunk"},
			{"iperf3", "iperf3 -Z (kernel loopback)"},
		},
	}
	for _, c := range []int{1, 4} {
		for _, n := range []int{1, 8, 32} {
			w := workload{
				id:       fmt.Sprintf("fetch-c%d-conns%d", n, c),
				title:    fmt.Sprintf("%d in flight per connection, %d connection(s)", n, c),
				group:    fmt.Sprintf("conns=%d", c),
				metric:   "MB/s",
				baseline: "rawsendfile",
				peers:    emberVsSpark,
			}
			for _, s := range fetch.systems {
				if s.key != "iperf3" {
					w.cells = append(w.cells, cell{sys: s.key, bench: fmt.Sprintf("BenchmarkFetchMatrix/%s/inflight=%d/conns=%d", s.key, n, c)})
				}
			}
			w.cells = append(w.cells, cell{sys: "iperf3", bench: fmt.Sprintf("iperf3/streams=%d", c), ref: true})
			fetch.workloads = append(fetch.workloads, w)
		}
	}

	oneway := suite{
		name:  "oneway",
		title: "One-way messages (`BenchmarkOneWayMatrix`)",
		intro: "64-byte one-way messages from one sender on one connection, as fast as it can; the run ends when the receiver has counted all. " +
			"Spark 4.1 JVM: TransportClient.send from one thread, counted by the server's RpcHandler, in one JVM after a fixed warm-up. " +
			"Baseline: raw Go TCP with one write per message; buffered raw TCP is the batching limit.",
		systems: []system{
			{"rawtcp", "raw Go TCP, a write per message"},
			{"rawtcp-buffered", "raw Go TCP, buffered writes"},
			{"EPOLL", "**Ember EPOLL**"},
			{"NIO", "**Ember NIO**"},
			{"grpc-stream", "grpc-go client stream"},
			{sparkJVM, sparkLabel + ": TransportClient.send"},
		},
	}
	ow := workload{id: "oneway-64B", title: "64B messages", group: "oneway", metric: "msgs/s", baseline: "rawtcp", peers: emberVsSpark}
	for _, s := range oneway.systems {
		ow.cells = append(ow.cells, cell{sys: s.key, bench: fmt.Sprintf("BenchmarkOneWayMatrix/%s/64B", s.key)})
	}
	oneway.workloads = []workload{ow}

	shuffle := suite{
		name:  "shuffle",
		title: "Shuffle read (`BenchmarkShuffleMatrix`)",
		intro: "One op reads a whole 64 maps × 64 reducers shuffle laid out as Spark's sort shuffle writes it: through Ember's shuffle service " +
			"(FetchAll, 4 reducers at a time), through Ember's transport alone (a chunk stream per reducer, 32 in flight), " +
			"and with a raw Go sendfile loop over the same file regions (32 in flight). " +
			"Spark 4.1 JVM shuffle service: Ember's client (in the named mode) reading the same files from Spark's external shuffle service " +
			"(TransportServer + ExternalBlockHandler, -Xmx1g, native epoll) in a JVM, after a fixed warm-up; " +
			"Ember shuffle service process: the same client reading from `ember shuffle-service` in a process of its own. " +
			"`server peak RSS` is the service process's VmHWM (the JVM's over its whole life, warm-ups included). " +
			"Baseline: the raw loop.",
		systems: []system{
			{"rawsendfile", "raw Go sendfile of the same blocks"},
			{"chunkfetch-EPOLL", "Ember transport chunk fetch EPOLL"},
			{"chunkfetch-NIO", "Ember transport chunk fetch NIO"},
			{"EPOLL", "**Ember shuffle service EPOLL**"},
			{"NIO", "**Ember shuffle service NIO**"},
			{"essproc-EPOLL", "**Ember shuffle service process EPOLL**"},
			{"essproc-NIO", "**Ember shuffle service process NIO**"},
			{sparkESSPrefix + "EPOLL", sparkLabel + " shuffle service, EPOLL client"},
			{sparkESSPrefix + "NIO", sparkLabel + " shuffle service, NIO client"},
		},
	}
	for _, block := range shuffleBlocks {
		w := workload{
			id:       "shuffle-64x64x" + block,
			title:    "64 × 64 blocks of " + block,
			group:    block,
			metric:   "MB/s",
			baseline: "rawsendfile",
			extra:    []string{"blocks/s", "peak-RSS-MiB"},
			peers: map[string]string{"EPOLL": sparkESSPrefix + "EPOLL", "NIO": sparkESSPrefix + "NIO",
				"essproc-EPOLL": sparkESSPrefix + "EPOLL", "essproc-NIO": sparkESSPrefix + "NIO"},
		}
		for _, s := range shuffle.systems {
			w.cells = append(w.cells, cell{sys: s.key, bench: fmt.Sprintf("BenchmarkShuffleMatrix/%s/maps=64/reducers=64/block=%s", s.key, block)})
		}
		shuffle.workloads = append(shuffle.workloads, w)
	}

	openloop := suite{
		name:  "openloop",
		title: "Latency under load (`BenchmarkOpenLoop`)",
		intro: "64-byte echoes (asks: the 64-byte JSON message) with 32 callers. `closed`: closed loop, the system's maximum. " +
			"`10%`, `50%`, `80%`: open loop at that fraction of the maximum the same process measured just before; requests are released by the wall clock " +
			"whatever the answers do, and latency runs from each request's scheduled time, so queueing counts (no coordinated omission). " +
			"`lag p99` is how late the generator itself released requests (its resolution). Key metric: p99; baseline: raw Go TCP.",
		systems: []system{
			{"rawtcp", "raw Go TCP ping-pong"},
			{"EPOLL", "**Ember EPOLL**"},
			{"NIO", "**Ember NIO**"},
			{"ask-EPOLL", "**Ember ask EPOLL**"},
			{"ask-NIO", "**Ember ask NIO**"},
			{"cwnetpoll", "cloudwego/netpoll raw echo"},
			{"grpc-unary", "grpc-go unary"},
			{"grpc-stream", "grpc-go bidi stream"},
			{"netrpc", "net/rpc"},
		},
		loadPlots: true,
	}
	for _, load := range openLoopLoads {
		w := workload{
			id:       "openloop-" + load.id,
			title:    load.title,
			group:    "openloop",
			metric:   "p99-ns",
			baseline: "rawtcp",
			extra:    []string{"target-ops/s", "ops/s", "lag-p99-ns"},
			curves:   true,
		}
		if load.id == "closed" {
			w.metric = "ops/s"
			w.extra = nil
		}
		for _, s := range openloop.systems {
			w.cells = append(w.cells, cell{sys: s.key, bench: fmt.Sprintf("BenchmarkOpenLoop/%s/load=%s", s.key, load.name)})
		}
		openloop.workloads = append(openloop.workloads, w)
	}

	iperf := suite{
		name:  "iperf",
		title: "Kernel loopback limit (iperf3 -Z)",
		intro: "`iperf3 -Z` (sendfile) on 127.0.0.1, one run per round; MB/s received.",
		systems: []system{
			{"iperf3", "iperf3 -Z"},
		},
	}
	for _, streams := range []int{1, 4} {
		iperf.workloads = append(iperf.workloads, workload{
			id:     fmt.Sprintf("iperf3-P%d", streams),
			title:  fmt.Sprintf("%d stream(s)", streams),
			group:  "iperf",
			metric: "MB/s",
			cells:  []cell{{sys: "iperf3", bench: fmt.Sprintf("iperf3/streams=%d", streams)}},
		})
	}

	return []suite{rpc, ask, fetch, oneway, shuffle, openloop, iperf}
}

// openLoopLoads are BenchmarkOpenLoop's load levels in table order.
var openLoopLoads = []struct{ id, name, title string }{
	{"10", "10%", "Open loop at 10% of the maximum"},
	{"50", "50%", "Open loop at 50% of the maximum"},
	{"80", "80%", "Open loop at 80% of the maximum"},
	{"closed", "closed", "Closed loop (the maximum)"},
}
