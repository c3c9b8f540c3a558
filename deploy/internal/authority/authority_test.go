package authority

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/rpcenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// table is a lookup answering from a map the test may change, counting
// lookups per name.
type table struct {
	mu    sync.Mutex
	ips   map[string][]string
	count map[string]int
}

func newTable(ips map[string][]string) *table { return &table{ips: ips, count: map[string]int{}} }

func (tb *table) lookup(_ context.Context, host string) ([]string, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.count[host]++
	if ips, ok := tb.ips[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host")
}

func (tb *table) set(host string, ips ...string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.ips[host] = ips
}

func (tb *table) lookups(host string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.count[host]
}

func TestSameHost(t *testing.T) {
	tb := newTable(map[string][]string{"master": {"10.0.0.1"}, "peer": {"10.0.0.1"}})
	r := NewResolver(tb.lookup, 1)
	defer r.Close()
	r.Trust("master", "10.0.0.9")
	r.Wait()
	cases := []struct {
		host, trusted string
		want          bool
	}{
		{"master", "master", true},
		{"", "", false},
		{"10.0.0.1", "master", true},
		{"::ffff:10.0.0.1", "10.0.0.1", true},
		{"10.0.0.2", "master", false},
		{"10.0.0.1", "10.0.0.9", false},
		{"unknown-trusted-is-looked-up", "master", false},
	}
	for _, c := range cases {
		if got := r.SameHost(c.host, c.trusted); got != c.want {
			t.Errorf("SameHost(%q, %q) = %v, want %v", c.host, c.trusted, got, c.want)
		}
	}
	if tb.lookups("10.0.0.9") != 0 {
		t.Error("an IP literal was looked up")
	}
	if !r.SameAddress(rpcenv.NewAddress("10.0.0.1", 7077), rpcenv.NewAddress("master", 7077)) {
		t.Error("SameAddress by IP")
	}
	if r.SameAddress(rpcenv.NewAddress("10.0.0.1", 7078), rpcenv.NewAddress("master", 7077)) {
		t.Error("SameAddress with another port")
	}
	if r.SameAddress(rpcenv.Address{}, rpcenv.Address{}) {
		t.Error("SameAddress of zero addresses")
	}
}

// TestPeerNamesWithinBudget: a name a peer gives is looked up off the
// caller (the first comparison does not match), within the budget.
func TestPeerNamesWithinBudget(t *testing.T) {
	tb := newTable(map[string][]string{"master": {"10.0.0.1"}, "peer": {"10.0.0.1"}, "other": {"10.0.0.1"}})
	r := NewResolver(tb.lookup, 1)
	defer r.Close()
	if r.SameHost("peer", "10.0.0.1") {
		t.Fatal("a peer's name matched before its lookup answered")
	}
	r.Wait()
	if !r.SameHost("peer", "10.0.0.1") {
		t.Fatal("a peer's name did not match once resolved")
	}
	r.SameHost("other", "10.0.0.1")
	r.Wait()
	if r.SameHost("other", "10.0.0.1") || tb.lookups("other") != 0 {
		t.Fatalf("a peer name past the budget was looked up (%d)", tb.lookups("other"))
	}
	literal := NewResolver(tb.lookup, 0)
	defer literal.Close()
	literal.SameHost("peer", "10.0.0.1")
	literal.Wait()
	if literal.SameHost("peer", "10.0.0.1") || tb.lookups("peer") != 1 {
		t.Fatal("a Resolver without a peer budget looked up a peer's name")
	}
}

// TestBlockedLookup: comparisons never wait for a lookup; Refresh keeps
// the last answer until the new one; Close cancels a blocked lookup.
func TestBlockedLookup(t *testing.T) {
	var mu sync.Mutex
	answer := "10.0.0.1"
	block := make(chan struct{})
	calls := make(chan struct{}, 8)
	r := NewResolver(func(ctx context.Context, host string) ([]string, error) {
		calls <- struct{}{}
		mu.Lock()
		a, b := answer, block
		mu.Unlock()
		if b != nil {
			select {
			case <-b:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []string{a}, nil
	}, 0)
	r.Trust("master")
	<-calls
	if r.SameHost("10.0.0.1", "master") {
		t.Fatal("matched before the lookup answered")
	}
	close(block)
	r.Wait()
	if !r.SameHost("10.0.0.1", "master") {
		t.Fatal("no match after the lookup answered")
	}
	// The master moves: a refresh, blocked; the old answer stands.
	mu.Lock()
	answer, block = "10.0.0.2", make(chan struct{})
	b := block
	mu.Unlock()
	r.Refresh("master")
	<-calls
	if !r.SameHost("10.0.0.1", "master") || r.SameHost("10.0.0.2", "master") {
		t.Fatal("the answer changed before the refresh answered")
	}
	close(b)
	r.Wait()
	if r.SameHost("10.0.0.1", "master") || !r.SameHost("10.0.0.2", "master") {
		t.Fatal("the refresh's answer was not taken")
	}
	// A lookup that never answers ends with Close.
	mu.Lock()
	block = make(chan struct{})
	mu.Unlock()
	r.Trust("stuck")
	<-calls
	r.Close()
	r.Trust("after-close")
	r.Wait()
	if len(calls) != 0 {
		t.Fatal("a lookup started after Close")
	}
}

func TestSameIP(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"127.0.0.1", "::ffff:127.0.0.1", true}, {"h", "h", true}, {"h", "127.0.0.1", false}, {"10.0.0.1", "10.0.0.2", false}} {
		if got := SameIP(c.a, c.b); got != c.want {
			t.Errorf("SameIP(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// TestRefusals: one line per host per interval, keyed by the claimed
// host when there is no connection.
func TestRefusals(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	r := NewRefusals()
	for i := 0; i < 5; i++ {
		r.Refuse(log, rpcenv.NewAddress("10.6.6.6", 1000+i), rpcenv.Conn{}, struct{}{}, errors.New("no"))
	}
	r.Refuse(log, rpcenv.NewAddress("10.6.6.7", 1), rpcenv.Conn{}, struct{}{}, errors.New("no"))
	if n := strings.Count(buf.String(), "refusing message"); n != 2 {
		t.Fatalf("%d lines, want 2 (one per host):\n%s", n, buf.String())
	}
	if k := RefusalKey(rpcenv.NewAddress("h", 1), rpcenv.Conn{}); k != "h" {
		t.Fatalf("RefusalKey without a connection = %q", k)
	}
}
