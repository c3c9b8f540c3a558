package ratelog

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOneLinePerKeyPerInterval(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(time.Minute, 16)
	l.SetClock(clk.now)
	if ok, n := l.Allow("a"); !ok || n != 0 {
		t.Fatalf("first line: ok=%v n=%d", ok, n)
	}
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow("a"); ok {
			t.Fatalf("line %d within the interval passed", i)
		}
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited by a's lines")
	}
	clk.add(time.Minute)
	if ok, n := l.Allow("a"); !ok || n != 1000 {
		t.Fatalf("after the interval: ok=%v suppressed=%d, want true 1000", ok, n)
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the interval did not restart")
	}
}

func TestKeysAreBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(time.Minute, 8)
	l.SetClock(clk.now)
	passed := 0
	for i := 0; i < 10000; i++ {
		if ok, _ := l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256)); ok {
			passed++
		}
	}
	if l.Len() > 8 {
		t.Fatalf("%d keys tracked, want at most 8", l.Len())
	}
	// 8 keys of their own, then one overflow line for all the others.
	if passed != 9 {
		t.Fatalf("%d lines passed for 10000 peers in one interval, want 9", passed)
	}
	clk.add(time.Minute)
	if ok, _ := l.Allow("fresh"); !ok {
		t.Fatal("a new key after the interval was refused")
	}
}

func TestLogWritesSuppressedCount(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var buf testutil.LogBuffer
	log := buf.Logger(slog.LevelInfo)
	l := New(time.Second, 4)
	l.SetClock(clk.now)
	for i := 0; i < 50; i++ {
		l.Warn(log, PeerKey("127.0.0.1:"+fmt.Sprint(40000+i)), "dropping one-way message")
	}
	clk.add(time.Second)
	l.Warn(log, PeerKey("127.0.0.1:1"), "dropping one-way message")
	out := buf.String()
	if got := strings.Count(out, "dropping one-way message"); got != 2 {
		t.Fatalf("%d lines, want 2:\n%s", got, out)
	}
	if !strings.Contains(out, "suppressed=49") {
		t.Fatalf("no suppressed count:\n%s", out)
	}
	// A disabled level costs no entry.
	quiet := buf.Logger(slog.LevelError)
	if l.Warn(quiet, "x", "m") {
		t.Fatal("logged below the logger's level")
	}
}

func TestConcurrentUse(t *testing.T) {
	l := New(time.Hour, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if ok, _ := l.Allow("peer"); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if passed != 1 {
		t.Fatalf("%d lines passed, want 1", passed)
	}
}

func TestPeerKey(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:7077": "127.0.0.1", "[::1]:80": "::1", "host": "host"} {
		if got := PeerKey(in); got != want {
			t.Errorf("PeerKey(%q) = %q, want %q", in, got, want)
		}
	}
}
