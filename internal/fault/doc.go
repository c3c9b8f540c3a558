// Package fault holds Ember's fault-injection scenarios: real processes
// (the ember binary and a small test program, testdata/faultprog) on real
// hosts built with network namespaces (internal/netns), with the faults a
// cluster meets in production: a worker's link cut and healed, the leading
// master killed, or cut off, under ZooKeeper HA, a shuffle service killed
// mid-fetch and restarted, RPC servers killed at random under a storm of
// asks, and a slow, lossy link.
//
// The package has no code of its own: everything is in its tests.
//
//	go test -race -timeout 15m ./internal/fault/                       # each scenario once
//	EMBER_SOAK=10m go test -run TestSoak -timeout 0 ./internal/fault/  # loop them, print a summary
//
// Each scenario asserts the outcome (results, states, counts) and records
// how long detection, failover and recovery took (t.Logf "timing ..."
// lines); the soak mode summarises those timings (min, median, max) over
// its runs. RELIABILITY.md at the repository's root has the numbers from a
// run and what the scenarios do not cover.
//
// TestZooKeeperLeaderPartitioned found a split brain (a cut-off leader kept
// leading for the session timeout it had asked for); it is fixed in
// deploy/recovery and the test fails if it comes back.
//
// The tests need root and iproute2 (scripts/netns.sh); without them they
// skip, or fail when EMBER_REQUIRE_NETNS=1. The ZooKeeper scenario also
// needs Debian's zookeeper package (scripts/zookeeper.sh) and honours
// EMBER_REQUIRE_ZOOKEEPER. Everything skips under -short.
package fault
