//go:build !linux

package netns

import "testing"

// Available reports false: network namespaces are Linux's.
func Available() (bool, string) { return false, "network namespaces need Linux" }

// Required reports whether EMBER_REQUIRE_NETNS asks that missing
// namespaces fail the tests instead of skipping them.
func Required() bool { return requiredFromEnv() }

// Require skips t, or fails it when EMBER_REQUIRE_NETNS is set.
func Require(t testing.TB) {
	t.Helper()
	_, reason := Available()
	if Required() {
		t.Fatal(reason + " [EMBER_REQUIRE_NETNS is set]")
	}
	t.Skip(reason)
}
