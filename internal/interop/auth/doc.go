// Package auth holds the live interop tests between Ember's authentication
// and session encryption (package netpoll/auth, TLS in package netpoll) and
// a real Apache Spark 4.1.4: Spark's AuthServerBootstrap and
// AuthClientBootstrap (the AuthEngine protocol, versions 1 and 2, with
// AES-CTR or AES-GCM), SaslServerBootstrap and SaslClientBootstrap
// (DIGEST-MD5, with and without auth-conf) and its PEM-configured RPC TLS,
// each in a JVM beside the test.
//
// # Model
//
// The Java peer kit (internal/interop/jvm/auth, compiled with
// testutil.CompileJava against $SPARK_HOME/jars) is a program driven over
// stdin/stdout, one command per line and one answer per line. It starts
// Spark TransportServers with any configuration (a TransportConf over a
// MapConfigProvider) and connects Spark clients with any configuration to
// a port. Its handler echoes RPCs, serves registered files as one-chunk
// streams, and answers an upload with the SHA-256 of its body; the Go side
// has a twin handler, so both directions check the same things.
//
// TestLive runs, for every security mode (plain, AuthEngine v1/v2 with
// AES-CTR and AES-GCM, SASL, SASL auth-conf, SASL with
// serverAlwaysEncrypt, TLS, TLS with AES-GCM), each Ember io mode (EPOLL,
// NIO) and each direction (Spark client to Ember server, Ember client to
// Spark server): a marker RPC, a 1 MiB RPC, a 1.5 MiB file chunk fetch and
// a 700 KiB upload (200 KiB and 100 KiB under SASL auth-conf, whose 3DES
// is slow), all through a loopback TCP tap that keeps every byte.
// The marker must be on the wire exactly for the modes that do not
// encrypt. Each mode also runs Spark against itself as a control; under
// TLS the control checks what Spark's client sends: TLS records only with
// TLS alone, TLS records wrapped by the session cipher once AuthEngine
// or SASL encryption is on too (cipher(TLS(frames))); the Ember-client
// subtests check Ember's client writes the same layering. Its subtests also cover saslFallback (on: each protocol's
// client works against the other's server; off: a SASL client is refused
// cleanly) and a wrong secret (a clear client error, nothing reaches the
// handler, the server keeps serving good clients).
//
// # Usage
//
//	go test -race -count=1 ./internal/interop/auth/
//
// The tests need Spark (testutil.RequireSpark): they skip without it or
// with -short, and fail without it when EMBER_REQUIRE_SPARK=1.
//
// # Concurrency
//
// One JVM serves the whole package; it is started by TestLive and killed
// in its cleanup. Subtests run one after another and talk to it through a
// mutex-guarded command channel; payloads never cross the pipe, only
// lengths, hashes and error texts.
package auth
