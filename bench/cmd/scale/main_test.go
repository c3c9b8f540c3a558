package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain lets the test binary play the child roles too: the
// measurements start os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if roleName := os.Getenv(childEnv); roleName != "" {
		if err := runChild(roleName); err != nil {
			fmt.Fprintln(os.Stderr, "scale child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMeasurementsShort runs every measurement with -short sizes (small
// connection and worker counts, 1 s loads), with the daemons played by
// this binary, and checks that nothing is left running.
func TestMeasurementsShort(t *testing.T) {
	for _, m := range measurements {
		t.Run(m.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t0 := time.Now()
			if err := run([]string{"-what", m.name, "-short", "-conns", "20", "-workers", "10", "-ops", "200"}); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s took %v", m.name, time.Since(t0))
			goleak.VerifyNone(t, ignore,
				// cloudwego/netpoll's pollers and its gopool workers are
				// process-wide and outlive every connection.
				goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
				goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"))
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{{"4096", 4096, true}, {"4KiB", 4 << 10, true}, {"1MiB", 1 << 20, true}, {"12B", 12, true},
		{"", 0, false}, {"0KiB", 0, false}, {"x", 0, false}, {"-1", 0, false}} {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
