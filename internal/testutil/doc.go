// Package testutil holds helpers that tests of several packages share: free
// loopback ports, condition polling, process inspection through /proc, and
// a real standalone ZooKeeper server (StartZooKeeper).
//
// It is ordinary (non-test) code so that any package's tests can import it;
// nothing outside tests should.
package testutil
