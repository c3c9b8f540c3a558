//go:build linux

package fault

import (
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"
)

// scenarios are the fault scenarios, in the order the soak runs them.
var scenarios = []struct {
	name string
	run  func(*testing.T, *record)
}{
	{"worker-link-cut", scenarioWorkerCut},
	{"zookeeper-leader-killed", scenarioZooKeeper},
	{"zookeeper-leader-partitioned", scenarioZooKeeperPartition},
	{"shuffle-service-killed", scenarioShuffleKill},
	{"rpc-storm-EPOLL", func(t *testing.T, r *record) { scenarioRPCStorm(t, r, "EPOLL") }},
	{"rpc-storm-NIO", func(t *testing.T, r *record) { scenarioRPCStorm(t, r, "NIO") }},
	{"slow-lossy-link", scenarioSlowLink},
}

// Soak mode settings, from the environment.
const (
	// soakEnv is how long the soak runs (a Go duration, e.g. 10m); unset,
	// TestSoak skips.
	soakEnv = "EMBER_SOAK"
	// soakRunEnv, a regular expression, limits the soak to the scenarios
	// whose names match.
	soakRunEnv = "EMBER_SOAK_RUN"
	// soakSummaryEnv names a file that receives the summary table too.
	soakSummaryEnv = "EMBER_SOAK_SUMMARY"
	// soakMaxRounds bounds the rounds whatever the duration.
	soakMaxRounds = 10000
)

// TestSoak runs the scenarios round after round for $EMBER_SOAK (a round
// started before the end is finished), then prints a summary: per
// scenario its runs, failures and skips, and per timing its min, median
// and max over the runs that did not fail.
//
//	EMBER_SOAK=10m go test -run TestSoak -timeout 0 ./internal/fault/
//	EMBER_SOAK=5m EMBER_SOAK_RUN='storm|shuffle' go test -run TestSoak -timeout 0 ./internal/fault/
func TestSoak(t *testing.T) {
	v := os.Getenv(soakEnv)
	if v == "" {
		t.Skipf("soak mode: set %s to a duration (e.g. %s=10m go test -run TestSoak -timeout 0 ./internal/fault/)", soakEnv, soakEnv)
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", soakEnv, v)
	}
	var only *regexp.Regexp
	if re := os.Getenv(soakRunEnv); re != "" {
		if only, err = regexp.Compile(re); err != nil {
			t.Fatalf("%s: %v", soakRunEnv, err)
		}
	}
	requireFault(t)
	sum := newSummary()
	began := time.Now()
	deadline := began.Add(d)
	rounds := 0
	for rounds < soakMaxRounds && time.Now().Before(deadline) {
		rounds++
		for _, sc := range scenarios {
			if only != nil && !only.MatchString(sc.name) {
				continue
			}
			r := newRecord(sc.name)
			skipped := false
			ok := t.Run(fmt.Sprintf("%s/round%d", sc.name, rounds), func(t *testing.T) {
				defer func() { skipped = t.Skipped() }()
				sc.run(t, r)
			})
			sum.add(r, !ok, skipped)
		}
	}
	table := fmt.Sprintf("soak: %d rounds in %v (%s=%s)\n%s", rounds, time.Since(began).Round(time.Second), soakEnv, v, sum.table())
	t.Log("\n" + table)
	fmt.Println(table) // also without -v
	if path := os.Getenv(soakSummaryEnv); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}
