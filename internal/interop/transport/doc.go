// Package transport holds the live interop tests between Ember's transport
// (package netpoll) and a real Apache Spark 4.1.4: Spark's own
// TransportServer, TransportClientFactory, OneForOneStreamManager and
// encoders, running in a JVM beside the test.
//
// # Model
//
// The Java peer kit (internal/interop/jvm/transport, compiled with
// testutil.CompileJava against $SPARK_HOME/jars) is a program driven over
// stdin/stdout, one command per line and one answer per line. It holds a
// Spark transport stack per io mode (NIO, EPOLL) with an interop RpcHandler:
// it echoes RPCs, fails one on command with a known exception, opens a
// file-backed multi-chunk stream on command, records one-way messages,
// serves files as named streams and hashes uploaded streams. Its client
// side runs the same operations against an Ember server and reports what
// it got (lengths, SHA-256 of the bytes, error texts).
//
// The Go side mirrors that handler with Ember's public API, so both
// directions check the same things:
//
//   - TestSparkClientEmberServer: Spark's TransportClient against an Ember
//     Server, for each Ember io mode.
//   - TestEmberClientSparkServer: Ember's Client against Spark's
//     TransportServer, for each Ember io mode.
//   - TestGolden41Regenerate: Spark's own MessageEncoder and
//     BlockTransferMessage encoders rewrite the golden vectors that
//     codec/golden41_test.go and shuffle/golden41_test.go check without
//     Spark; the committed files must be identical.
//
// Each Ember io mode is paired with the same Spark io mode (EPOLL with
// Netty's native epoll transport, NIO with Java NIO), so both of Spark's
// engines are exercised too.
//
// # Usage
//
//	go test -race -count=1 ./internal/interop/transport/
//
// The tests need Spark (testutil.RequireSpark): they skip without it, or
// with -short, and fail without it when EMBER_REQUIRE_SPARK=1.
//
// # Concurrency
//
// One JVM is started per top-level test and killed in its cleanup; its
// subtests run one after another and talk to it through one
// mutex-guarded line channel. Payloads never cross the pipe: each side
// makes its own, and only hashes and lengths are compared.
package transport
