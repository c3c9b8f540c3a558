package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestPermanentWraps(t *testing.T) {
	base := errors.New("refused")
	err := fmt.Errorf("task: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || err.Error() != "task: refused" {
		t.Fatalf("Permanent: %v (permanent %v)", err, IsPermanent(err))
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Fatal("a plain error is permanent, or Permanent(nil) is not nil")
	}
}

// TestPermanentFailureEndsStage: a task failing with a Permanent error is
// not run again: the stage fails at once with its message.
func TestPermanentFailureEndsStage(t *testing.T) {
	m := startCluster(t, 1, 2)
	d := startDriver(t, m, 1, DriverConfig{AppName: "permanent", CoresPerExecutor: 2})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	dir := t.TempDir()
	_, err := d.RunTasks(ctx, []Task{{Kind: "test.permanent", Input: []byte(dir)}})
	if err == nil || !strings.Contains(err.Error(), "retrying cannot help") || !strings.Contains(err.Error(), "no service here: connection refused") {
		t.Fatalf("err = %v", err)
	}
	if attempts, _ := os.ReadDir(dir); len(attempts) != 1 {
		t.Fatalf("%d attempts of a permanently failing task, want 1", len(attempts))
	}
	// The driver still works.
	res, err := d.RunTasks(ctx, []Task{{Kind: "test.double", Input: []byte("21")}})
	if err != nil || string(res[0].Output) != "42" {
		t.Fatalf("after the failure: %v, %v", res, err)
	}
}
