// Package shuffle proves Ember's external shuffle service and block
// fetcher live against Apache Spark's own, in both directions, with the
// pinned Spark release (testutil.SparkVersion).
//
// # Model
//
// The package holds tests only. Each test function starts one JVM, the
// peer in internal/interop/jvm/shuffle (ShufflePeer.java; the Spark
// application's test starts ShuffleJob.java instead, whose driver launches
// two executor JVMs), which hosts Spark's external shuffle service (ExternalBlockHandler on a
// TransportServer, with AuthServerBootstrap when spark.authenticate is on)
// and Spark's ExternalBlockStoreClient, as many of each as the test asks
// for by name. The Go test drives it over stdin and stdout, one
// tab-separated request line and one "@@ok"/"@@err" answer line at a time.
//
// The tests write sort-shuffle files with Ember's layout (shuffle.FilePath,
// shuffle.MapOutputWriter) at test time, so Spark's resolver reading them
// is itself a check of Ember's layout, and then:
//
//   - Spark's client against Ember's service (TestSparkClientAgainstEmberService):
//     RegisterExecutor, fetches by OpenBlocks, by FetchShuffleBlocks, by
//     batch (shuffle_S_M_R1_R2) and to disk, RDD blocks, RemoveBlocks,
//     GetLocalDirsForExecutors, DiagnoseCorruption, a restart from the
//     registration database, and Spark's retries across a restart;
//
//   - Ember's client against Spark's service (TestEmberClientAgainstSparkService):
//     the same operations, FetchAll, Ember's retries across a restart of
//     Spark's service, and Ember's FilePath against Spark's
//     ExecutorDiskUtils;
//
//   - corruption diagnosis (TestDiagnoseCorruptionMatchesSpark): Spark's
//     service and Ember's answer the same for every case and every
//     algorithm name, supported or not, asked by either client;
//
//   - request parity (TestRequestParityWithSpark): the same raw requests,
//     well-formed and hostile, answered alike (knowing departures are
//     named and checked), push-based shuffle refused alike, another
//     application's requests and streams refused alike under
//     spark.authenticate, and the same files left behind when an executor
//     or an application is removed.
//
//   - real Spark applications (TestSparkJobOnEmberShuffleService, Linux):
//     Spark's local-cluster mode with spark.shuffle.service.enabled, whose
//     two executor JVMs register with Ember's service and read each
//     other's map outputs from the dirs it names, or fetch them through
//     it, plain and under spark.authenticate.
//
// Every transport test runs in both io modes (EPOLL, NIO), plain and under
// each security setting: AuthEngine v1 and v2, SASL, SASL with encryption,
// and TLS from PEM files (the certificates are made by TestMain).
//
// # Usage
//
//	go test -race ./internal/interop/shuffle/
//
// Without Spark (scripts/spark.sh) the tests skip, or fail when
// EMBER_REQUIRE_SPARK=1; -short skips them.
//
// # Concurrency
//
// A peer serves one request at a time; the harness serialises calls, so
// subtests may share a peer but do not run in parallel.
package shuffle
