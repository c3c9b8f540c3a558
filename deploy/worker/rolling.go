package worker

import (
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// Executor log rolling (Spark's FileAppender / RollingFileAppender), set
// by spark.executor.logs.rolling.*: with a strategy, an executor's stdout
// and stderr are copied through a rollingWriter that moves the active file
// aside as <name>--<suffix> when it is due and keeps the newest
// maxRetainedFiles rolled files. Without one the child writes straight to
// its files.

// Spark's limits: a size policy rolls at no less than 10 × 8 KiB, a time
// policy at no less than a minute.
const (
	minRollingSize     = 10 * 8192
	minRollingInterval = 60 * time.Second
)

// logRolling is the executors' log rolling configuration.
type logRolling struct {
	interval    time.Duration // time policy; 0: size policy (or none)
	layout      string        // time policy: the suffix, a Go time layout
	maxSize     int64         // size policy; 0: none
	maxRetained int           // > 0: keep that many rolled files
	compress    bool          // gzip rolled files (.gz)
}

// enabled reports whether a policy is set.
func (r logRolling) enabled() bool { return r.interval > 0 || r.maxSize > 0 }

// rollingConfig reads spark.executor.logs.rolling.*. Like Spark, a bad
// interval or size only logs a warning and leaves rolling off.
func rollingConfig(conf *sparkconf.Conf, log *slog.Logger) (logRolling, error) {
	var r logRolling
	var err error
	if r.maxRetained, err = conf.GetInt("spark.executor.logs.rolling.maxRetainedFiles", -1); err != nil {
		return r, fmt.Errorf("worker: %w", err)
	}
	if r.compress, err = conf.GetBool("spark.executor.logs.rolling.enableCompression", false); err != nil {
		return r, fmt.Errorf("worker: %w", err)
	}
	switch strategy := conf.GetString("spark.executor.logs.rolling.strategy", ""); strategy {
	case "":
	case "time":
		switch iv := conf.GetString("spark.executor.logs.rolling.time.interval", "daily"); iv {
		case "daily":
			r.interval, r.layout = 24*time.Hour, "--2006-01-02"
		case "hourly":
			r.interval, r.layout = time.Hour, "--2006-01-02--15"
		case "minutely":
			r.interval, r.layout = time.Minute, "--2006-01-02--15-04"
		default:
			secs, err := strconv.Atoi(iv)
			if err != nil {
				log.Warn("Illegal interval for rolling executor logs, rolling logs not enabled", "interval", iv)
				return r, nil
			}
			r.interval, r.layout = max(time.Duration(secs)*time.Second, minRollingInterval), "--2006-01-02--15-04-05"
		}
	case "size":
		v := conf.GetString("spark.executor.logs.rolling.maxSize", "1048576")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			log.Warn("Illegal size for rolling executor logs, rolling logs not enabled", "maxSize", v)
			return r, nil
		}
		if n < minRollingSize {
			log.Warn("Rolling size is too small; using the minimum", "maxSize", n, "minimum", minRollingSize)
			n = minRollingSize
		}
		r.maxSize = n
	default:
		log.Warn("Illegal strategy for rolling executor logs, rolling logs not enabled", "strategy", strategy)
	}
	return r, nil
}

// rollingWriter is an executor's stdout or stderr file under a rolling
// policy. The child's output reaches it through a pipe that os/exec copies
// on a goroutine of its own; Close ends it once the child is reaped.
type rollingWriter struct {
	cfg  logRolling
	path string
	now  func() time.Time
	log  *slog.Logger

	mu       sync.Mutex // guards the following
	f        *os.File
	written  int64     // since the last rollover (size policy)
	nextRoll time.Time // time policy
}

// newRollingWriter takes over f, the active file at path (its header
// already written).
func newRollingWriter(cfg logRolling, path string, f *os.File, now func() time.Time, log *slog.Logger) *rollingWriter {
	w := &rollingWriter{cfg: cfg, path: path, f: f, now: now, log: log}
	if fi, err := f.Stat(); err == nil {
		w.written = fi.Size()
	}
	w.nextRoll = w.nextRollover()
	return w
}

func (w *rollingWriter) nextRollover() time.Time {
	if w.cfg.interval <= 0 {
		return time.Time{}
	}
	iv := w.cfg.interval.Milliseconds()
	return time.UnixMilli((w.now().UnixMilli()/iv + 1) * iv)
}

// Write appends p, rolling the file over first when it is due.
func (w *rollingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	if w.due(int64(len(p))) {
		if err := w.rollover(); err != nil {
			w.log.Error("Error rolling over", "file", w.path, "err", err)
		}
	}
	n, err := w.f.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *rollingWriter) due(n int64) bool {
	if w.cfg.maxSize > 0 {
		return w.written+n > w.cfg.maxSize
	}
	return w.cfg.interval > 0 && w.now().After(w.nextRoll)
}

// suffix is the rolled file's suffix: the time policy's layout, or the
// size policy's --yyyy-MM-dd--HH-mm-ss--SSSS.
func (w *rollingWriter) suffix() string {
	now := w.now()
	if w.cfg.maxSize > 0 {
		return now.Format("--2006-01-02--15-04-05") + fmt.Sprintf("--%04d", now.Nanosecond()/int(time.Millisecond))
	}
	return now.Format(w.cfg.layout)
}

func (w *rollingWriter) rollover() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	dst := w.path + w.suffix()
	if w.exists(dst) {
		for i := 0; i < 10000; i++ {
			alt := dst + "--" + strconv.Itoa(i)
			if !w.exists(alt) {
				dst = alt
				break
			}
		}
	}
	err := w.moveAside(dst)
	f, oerr := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if oerr != nil {
		return oerr
	}
	w.f, w.written, w.nextRoll = f, 0, w.nextRollover()
	if err == nil && w.cfg.maxRetained > 0 {
		w.deleteOld()
	}
	return err
}

func (w *rollingWriter) exists(p string) bool {
	_, err := os.Stat(p)
	_, gzErr := os.Stat(p + ".gz")
	return err == nil || (w.cfg.compress && gzErr == nil)
}

// moveAside renames the active file to dst, or gzips it to dst.gz.
func (w *rollingWriter) moveAside(dst string) error {
	if !w.cfg.compress {
		return os.Rename(w.path, dst)
	}
	in, err := os.Open(w.path)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst + ".gz")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst + ".gz")
		return err
	}
	return os.Remove(w.path)
}

// deleteOld keeps the newest maxRetained rolled files (by name, which
// sorts by time).
func (w *rollingWriter) deleteOld() {
	dir, base := filepath.Dir(w.path), filepath.Base(w.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.log.Error("Error cleaning logs in directory", "dir", dir, "err", err)
		return
	}
	var rolled []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+"--") {
			rolled = append(rolled, e.Name())
		}
	}
	sort.Strings(rolled)
	for _, name := range rolled[:max(0, len(rolled)-w.cfg.maxRetained)] {
		w.log.Info("Deleting file executor log file", "file", filepath.Join(dir, name))
		_ = os.Remove(filepath.Join(dir, name))
	}
}

// Close closes the active file.
func (w *rollingWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
