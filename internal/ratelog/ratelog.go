package ratelog

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"
)

// OverflowKey is the key every new peer shares once the table is full of
// keys that are not stale yet.
const OverflowKey = "(other peers)"

// Limiter lets one line per key through per interval.
type Limiter struct {
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu      sync.Mutex // guards entries
	entries map[string]*entry
}

type entry struct {
	last       time.Time // when the last line for the key passed
	suppressed int       // lines held back since last
}

// New returns a limiter that passes one line per key per interval and
// tracks at most maxKeys keys (at least 1).
func New(interval time.Duration, maxKeys int) *Limiter {
	return &Limiter{interval: interval, maxKeys: max(maxKeys, 1), now: time.Now, entries: make(map[string]*entry)}
}

// SetClock replaces the limiter's clock (tests).
func (l *Limiter) SetClock(now func() time.Time) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// Allow reports whether a line for key may be logged now and, if so, how
// many lines for it were suppressed since the last one that passed.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.entries[key]
	if e == nil {
		if len(l.entries) >= l.maxKeys {
			l.evictLocked(now)
		}
		if len(l.entries) >= l.maxKeys {
			key = OverflowKey
			e = l.entries[key]
		}
		if e == nil {
			if len(l.entries) >= l.maxKeys {
				// The overflow entry takes the place of one more key.
				l.evictOldestLocked()
			}
			l.entries[key] = &entry{last: now}
			return true, 0
		}
	}
	if now.Sub(e.last) < l.interval {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// evictLocked drops the keys whose interval is over. Their suppressed
// counts are lost (at most interval's worth of lines went unreported).
func (l *Limiter) evictLocked(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.last) >= l.interval {
			delete(l.entries, k)
		}
	}
}

func (l *Limiter) evictOldestLocked() {
	var oldest string
	var t time.Time
	for k, e := range l.entries {
		if oldest == "" || e.last.Before(t) {
			oldest, t = k, e.last
		}
	}
	delete(l.entries, oldest)
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Log writes msg at level through log if key's line is due, adding
// "suppressed"=n when lines were held back. It reports whether it logged.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) bool {
	if log == nil || !log.Enabled(context.Background(), level) {
		return false
	}
	ok, n := l.Allow(key)
	if !ok {
		return false
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
	return true
}

// Warn is Log at WARN.
func (l *Limiter) Warn(log *slog.Logger, key, msg string, args ...any) bool {
	return l.Log(log, slog.LevelWarn, key, msg, args...)
}

// PeerKey is the host of a "host:port" address (the whole string when it
// has no port): a peer opening many connections is one key.
func PeerKey(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
