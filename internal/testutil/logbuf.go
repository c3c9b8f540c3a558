package testutil

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// LogBuffer collects log output from many goroutines for a test to search.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a text logger at level writing to l.
func (l *LogBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// CheckLeaks fails t, at its end, if goroutines started during it are
// still running (the reactor's process-wide goroutines excepted). The
// goroutines running when it is called are the baseline: call it before
// the test starts anything.
func CheckLeaks(t *testing.T) {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, ReactorGoroutines...)
	t.Cleanup(func() {
		goleak.VerifyNone(t, opts...)
	})
}
