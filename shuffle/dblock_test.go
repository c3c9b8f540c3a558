package shuffle

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestDBLockTimeout: a registration db whose file lock is held (here by a
// second open in this process, which flock treats as another holder)
// fails after dbLockTimeout with an error naming the file and the lock,
// instead of waiting forever.
func TestDBLockTimeout(t *testing.T) {
	old := dbLockTimeout
	dbLockTimeout = 100 * time.Millisecond
	defer func() { dbLockTimeout = old }()
	path := filepath.Join(t.TempDir(), "registrations.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := newResolver(log, resolverConfig{indexCacheBytes: 1 << 20, dbPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer first.db.Close()
	_, err = newResolver(log, resolverConfig{indexCacheBytes: 1 << 20, dbPath: path})
	if err == nil {
		t.Fatal("a second open of a locked db succeeded")
	}
	if !errors.Is(err, bolt.ErrTimeout) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("error %q: want bolt.ErrTimeout naming %s and the lock", err, path)
	}
}
