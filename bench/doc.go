// Package bench holds the benchmark suites of Ember's transport (package
// netpoll) and of the plain-Go baselines it is compared with. Everything
// runs in one process, on loopback (127.0.0.1) only, so one `go test
// -bench` run measures Ember and its baselines on the same machine under
// the same load. The package has no API; the suites are in its _test.go
// files.
//
// # Running
//
// bench is a Go module of its own (bench/go.mod replaces
// github.com/ember-rpc/ember with ../), so the library's go.mod does not
// carry the benchmark peers (grpc-go) and the plotting library; run these
// from the repository root:
//
//	bash bench/run.sh -benchtime=2s      # full suite, output in bench/results/latest.txt
//	(cd bench && go test -run='^$' -bench=. -benchmem -count=1 .)
//	(cd bench && go test -run='^$' -bench=. -benchtime=10x -short ./...)   # smoke
//
// run.sh passes its arguments to go test, tees the output to
// bench/results/latest.txt and, when iperf3 is available (installed with
// apt-get when running as root), appends iperf3's loopback TCP throughput
// (zero-copy sender, 5 s) as the ceiling of the bulk benchmarks.
//
// # Benchmarks
//
// Ember's transport, in both I/O modes (<mode> is EPOLL, cloudwego/netpoll's
// reactor, or NIO, Go's net package):
//
//   - BenchmarkRPC/<mode>/<size>/inflight=<n>/conns=<c>: SendRpc round
//     trips against an echo handler, payloads of 64B or 4KiB. inflight=1 is
//     one caller; inflight=32/conns=1 is 32 goroutines sharing ONE
//     connection, as Spark's RPC env does (one connection per peer);
//     inflight=32/conns=32 gives each goroutine a connection of its own
//     (CreateUnmanagedClient), the shape of BenchmarkRawTCPPingPong's
//     conns=32. The callers use a reusable RpcResponseCallback that
//     signals a reusable channel, so the loop allocates nothing itself.
//   - BenchmarkRPCSync/...: the same through SendRpcSync (30 s timeout),
//     which adds its timer and the copy of the reply.
//   - BenchmarkOneWay/<mode>: Send of 64-byte one-way messages on one
//     connection as fast as the caller can; the run ends once the server's
//     handler has counted all b.N (a run that does not get there in time
//     fails).
//   - BenchmarkChunkFetch/<mode>/inflight=<1|8>: FetchChunk of 1 MiB chunks
//     that are codec.FileSegments of a page-cached file (1 GiB; 64 MiB with
//     -short or for runs of at most 64 chunks), so the server sends them
//     with sendfile(2). Chunks are registered in a
//     netpoll.OneForOneStreamManager, one stream per 64 chunks, and asked
//     for in order on one connection, 1 or 8 outstanding. The client's
//     callback only checks the chunk's length (no copy). One op is one
//     chunk.
//   - BenchmarkStream/<mode>: Client.Stream of a 256 MiB file segment
//     (64 MiB with -short), sent with sendfile; the callback counts bytes.
//     One op is one whole stream.
//
// Baselines, plain Go with an 8-byte length header per message and
// buffered readers (one read and one write per message per side):
//
//   - BenchmarkRawTCPPingPong/<size>/conns=<1|32>: length-prefixed echo
//     over net.Conn, a server goroutine per connection, one message in
//     flight per connection. Compare conns=1 with BenchmarkRPC's
//     inflight=1/conns=1 and conns=32 with inflight=32/conns=32.
//   - BenchmarkRawSendfile/inflight=<1|8>: the client asks for chunk i with
//     an 8-byte request; the server writes an 8-byte length and the chunk's
//     1 MiB region of the same file with (*net.TCPConn).ReadFrom of an
//     io.LimitedReader over a Seek'ed *os.File (Go's sendfile path); the
//     client reads it into a reusable buffer. Requests are pipelined 1 or
//     8 deep. Compare with BenchmarkChunkFetch.
//
// # Comparison matrices and bench/cmd/compare
//
// Every system of a workload under the same sub-benchmark names, with
// p99.9-ns next to p50-ns and p99-ns (details in each file's comment):
//
//   - BenchmarkRPCMatrix/<system>/<64B|4KiB|1MiB>/inflight=<1|32|256>
//     (matrix_bench_test.go; 64KiB instead of 1MiB with -short): echo round
//     trips; systems EPOLL, NIO, rawtcp, cwnetpoll, grpc-unary,
//     grpc-stream, netrpc (peers_test.go) and spark-jvm (below).
//   - BenchmarkAskMatrix/<EPOLL|NIO>/inflight=<1|32|256>: remote
//     rpcenv.Ask.
//   - BenchmarkOneWayMatrix/<system>/64B: EPOLL, NIO, rawtcp,
//     rawtcp-buffered, grpc-stream, spark-jvm.
//   - BenchmarkFetchMatrix/<EPOLL|NIO|rawsendfile|spark-jvm>/inflight=<1|8|32>/conns=<1|4>
//     (fetch_matrix_bench_test.go): 1 MiB chunks, n in flight on each of c
//     connections.
//   - BenchmarkShuffleMatrix/<system>/maps=64/reducers=64/block=<64KiB|4KiB>
//     (shuffle_matrix_bench_test.go): shuffle service, transport chunk
//     fetch and a raw sendfile loop over the same blocks; essproc-<mode>
//     reads them from `ember shuffle-service` in a process of its own and
//     spark-ess-<mode> from Spark's shuffle service, both with the
//     service process's peak RSS.
//   - BenchmarkOpenLoop/<system>/load=<closed|10%|50%|80%>
//     (openloop_bench_test.go): latency at fixed offered loads, scheduled by
//     the wall clock and measured from each request's scheduled time.
//
// # The Spark 4.1 JVM peer
//
// spark-jvm and spark-ess-<mode> are Spark 4.1.4's own network stack in a
// JVM (internal/interop/jvm/bench/BenchPeer.java, compiled against
// $SPARK_HOME/jars and driven over stdin/stdout; jvm_peer_test.go): Spark's
// TransportClient and TransportServer (Netty's native epoll when it loads)
// for RPCs, one-way messages and chunk fetches, and Spark's external shuffle service
// (ExternalBlockHandler) for shuffle reads by Ember's client, with the
// JVM's peak RSS. Each configuration gets a fixed JVM warm-up first (20,000
// round trips, 1,000 for 1 MiB payloads; 1,000 chunks; 2 whole shuffles).
// The rows skip without Spark (SPARK_HOME or .spark/pyspark-4.1.4/pyspark,
// see scripts/spark.sh) and with -short. TestSparkJVMPeer checks the peer's
// paths without timing them.
//
// With EMBER_BENCH_LATDIR set they write each run's latency percentile
// curve there (latency_test.go). (cd bench && go run ./cmd/compare) runs them, and
// iperf3 -Z, A/B/A/B in separate processes and writes a markdown report
// with PNG plots to bench/results/; see its package comment.
//
// # Reading the numbers
//
//   - ns/op: wall time per operation with all in-flight callers together,
//     that is 1/throughput: for inflight=32, ns/op is NOT a latency.
//   - p50-ns, p99-ns: per-operation latency percentiles (issue to answer),
//     from every operation of the run; these are the latencies to compare.
//     For chunk fetches with 8 in flight they include queueing behind the
//     chunks ahead.
//   - ops/s (msgs/s for one-way): operations completed per second.
//   - MB/s: payload bytes per second (10^6 bytes): the RPC payload one way,
//     the 1 MiB chunk, the streamed file. Protocol headers are not counted.
//   - B/op, allocs/op: heap allocation per operation of the WHOLE process,
//     that is client and server together (and the echo handler's copy of
//     each RPC, one allocation), since both ends run in it.
//
// Every run sets up its own server, contexts and connections before the
// timer starts and closes them in b.Cleanup; a watchdog (or, for the
// baselines, a connection deadline) fails a run that takes longer than
// two minutes or three times -benchtime. Data files are made once per
// process in os.TempDir(), read once so they are page-cached, and removed
// when the process ends.
package bench
