package worker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// createAppLocalDirs makes one executor-<uuid> dir (mode 0700) under each
// local root, creating the roots as needed; roots that fail are skipped,
// and it is an error only if none works.
func createAppLocalDirs(roots []string, log *slog.Logger) ([]string, error) {
	var dirs []string
	var errs []error
	for _, root := range roots {
		if err := os.MkdirAll(root, 0o755); err != nil {
			log.Warn("Ignoring this directory", "dir", root, "err", err)
			errs = append(errs, err)
			continue
		}
		dir := filepath.Join(root, "executor-"+newUUID())
		if err := os.Mkdir(dir, 0o700); err != nil {
			log.Warn("Ignoring this directory", "dir", root, "err", err)
			errs = append(errs, err)
			continue
		}
		_ = os.Chmod(dir, 0o700)
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		dirs = append(dirs, dir)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no subfolder can be created in %s: %w", strings.Join(roots, ","), errors.Join(errs...))
	}
	return dirs, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// cleanupWorkDir is WorkDirCleanup: with the ids in use (the core's
// snapshot) it deletes, off the loop, the app dirs of workDir that are not
// in use and hold no file newer than spark.worker.cleanup.appDataTtl.
func (w *Worker) cleanupWorkDir(inUse map[string]bool) {
	svc := w.shuffle
	tellShuffle := svc != nil && w.cfg.shuffleEnabled && w.cfg.shuffleDBEnabled
	dir, ttl := w.cfg.workDir, w.cfg.appDataTTL
	w.spawn(func() {
		removed, err := cleanWorkDir(dir, inUse, time.Now().Add(-ttl), w.log)
		if err != nil {
			w.log.Error("App dir cleanup failed", "err", err)
		}
		if tellShuffle {
			for _, app := range removed {
				svc.ApplicationRemoved(app, true)
			}
		}
	})
}

// cleanWorkDir removes every directory of workDir not in inUse whose
// content has nothing modified after cutoff, and returns their names.
func cleanWorkDir(workDir string, inUse map[string]bool, cutoff time.Time, log *slog.Logger) ([]string, error) {
	entries, err := os.ReadDir(workDir)
	if err != nil {
		return nil, fmt.Errorf("failed to list files in %s: %w", workDir, err)
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || inUse[e.Name()] {
			continue
		}
		p := filepath.Join(workDir, e.Name())
		newer, err := containsNewerFiles(p, cutoff)
		if err != nil || newer {
			continue
		}
		log.Info("Removing directory", "dir", p)
		if err := os.RemoveAll(p); err != nil {
			log.Error("Removing directory failed", "dir", p, "err", err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// containsNewerFiles reports whether anything under dir (not dir itself)
// was modified after cutoff (Utils.doesDirectoryContainAnyNewFiles).
func containsNewerFiles(dir string, cutoff time.Time) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // vanished
		}
		if info.ModTime().After(cutoff) {
			return true, nil
		}
	}
	for _, e := range entries {
		if e.IsDir() {
			newer, err := containsNewerFiles(filepath.Join(dir, e.Name()), cutoff)
			if err != nil || newer {
				return true, err
			}
		}
	}
	return false, nil
}
