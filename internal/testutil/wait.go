package testutil

import (
	"testing"
	"time"
)

// WaitLimit is the default bound of the waits of end-to-end tests: it only
// turns a hang into a failure and never decides an outcome, so it is
// generous (a loaded two-core machine running -race must pass).
const WaitLimit = 60 * time.Second

// PollInterval is how often Eventually re-checks its condition.
const PollInterval = 25 * time.Millisecond

// Eventually polls cond until it returns true, failing t (Fatal) when limit
// passes first. cond's second result says what was last seen; it goes into
// the failure message.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if err := Poll(limit, cond); err != "" {
		t.Fatalf("timed out after %v waiting for %s; last seen: %s", limit, what, err)
	}
}

// Poll polls cond until it returns true or limit passes; it returns ""
// on success, else what cond last reported (never "" on failure).
func Poll(limit time.Duration, cond func() (bool, string)) string {
	deadline := time.Now().Add(limit)
	for {
		ok, seen := cond()
		if ok {
			return ""
		}
		if time.Now().After(deadline) {
			if seen == "" {
				seen = "(nothing reported)"
			}
			return seen
		}
		time.Sleep(PollInterval)
	}
}
