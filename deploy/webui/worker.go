package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/ember-rpc/ember/deploy"
)

// NewWorkerHandler serves the worker web UI:
//
//	GET /                     HTML status page (?refresh=N reloads every N s)
//	GET /json, /json/         the worker state (Spark's field names, in order)
//	GET /logPage/?appId=&executorId=&logType=stdout|stderr[&offset=&byteLength=]
//	GET /logPage/?driverId=&logType=...      an HTML page with the log text
//	GET /log?...              the same as plain text, headed like Spark's
//	GET /metrics/prometheus   ember_worker_* gauges, then Spark's worker gauges
//	                          (PrometheusServlet's lines; Prometheus text)
//	GET /healthz              200 "ok"
func NewWorkerHandler(src WorkerSource, opts Options) http.Handler {
	n := opts.MaxLogRequests
	if n <= 0 {
		n = DefaultMaxLogRequests
	}
	wu := &workerUI{src: src, opts: opts, logSlots: make(chan struct{}, n)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", wu.page)
	mux.HandleFunc("GET /json", wu.json)
	mux.HandleFunc("GET /json/{$}", wu.json)
	mux.HandleFunc("GET /logPage", wu.logPage)
	mux.HandleFunc("GET /logPage/{$}", wu.logPage)
	mux.HandleFunc("GET /log", wu.logText)
	mux.HandleFunc("GET /log/{$}", wu.logText)
	metrics := combinedMetricsHandler(metricsHandler(opts.Registry, newWorkerCollector(src)), src.WorkerState,
		sparkWorkerGauges)
	mux.Handle("GET /metrics/prometheus", metrics)
	mux.Handle("GET /metrics/prometheus/{$}", metrics)
	mux.HandleFunc("GET /healthz", healthz)
	registerPprof(mux, opts)
	return wrap(mux, opts)
}

type workerUI struct {
	src  WorkerSource
	opts Options
	// logSlots holds one token per log request being served: past
	// MaxLogRequests, log requests get 503 at once.
	logSlots chan struct{}
}

// DefaultMaxLogRequests is how many log requests a worker UI serves at
// once when Options.MaxLogRequests is 0.
const DefaultMaxLogRequests = 8

// logBufferSize is the one buffer a log request streams through.
const logBufferSize = 32 << 10

func (wu *workerUI) state(w http.ResponseWriter) (deploy.WorkerStateResponse, bool) {
	st, err := wu.src.WorkerState()
	if err != nil {
		unavailable(w, err)
		return st, false
	}
	return normalizeWorker(st), true
}

func (wu *workerUI) json(w http.ResponseWriter, r *http.Request) {
	if st, ok := wu.state(w); ok {
		writeJSON(w, r, st)
	}
}

func (wu *workerUI) page(w http.ResponseWriter, r *http.Request) {
	st, ok := wu.state(w)
	if !ok {
		return
	}
	renderHTML(w, r, http.StatusOK, "worker", newWorkerView(st, wu.opts, r))
}

// DefaultLogBytes is how much of a log /logPage and /log show when no
// byteLength is given: the last 100 KiB, as Spark's LogPage.
const DefaultLogBytes = 100 * 1024

// maxLogBytes bounds byteLength: the most one request streams (through
// a logBufferSize buffer, never held whole).
const maxLogBytes = 16 * 1024 * 1024

// logRequest is a parsed, validated log query.
type logRequest struct {
	AppID, ExecutorID, DriverID string
	LogType                     string
	Offset                      *int64
	ByteLength                  int64
	dir                         string // the log directory, inside the work dir
}

// errBadLogRequest marks a client error (400).
var errBadLogRequest = errors.New("bad log request")

func badLog(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadLogRequest, fmt.Sprintf(format, args...))
}

// safeID rejects what could leave the work dir: empty, absolute, '/',
// '\\', '..', NUL.
func safeID(name, v string) error {
	switch {
	case v == "":
		return badLog("%s is empty", name)
	case strings.ContainsAny(v, "/\\\x00"), strings.Contains(v, ".."), filepath.IsAbs(v), v == ".":
		return badLog("%s %q is not a valid id", name, v)
	}
	return nil
}

func parseLogRequest(q url.Values, workDir string) (*logRequest, error) {
	lr := &logRequest{
		AppID:      q.Get("appId"),
		ExecutorID: q.Get("executorId"),
		DriverID:   q.Get("driverId"),
		LogType:    q.Get("logType"),
		ByteLength: DefaultLogBytes,
	}
	if lr.LogType != "stdout" && lr.LogType != "stderr" {
		return nil, badLog("logType must be one of stdout, stderr")
	}
	if workDir == "" {
		return nil, errors.New("the worker has no work directory")
	}
	switch {
	case lr.AppID != "" && lr.ExecutorID != "" && lr.DriverID == "":
		if err := safeID("appId", lr.AppID); err != nil {
			return nil, err
		}
		if err := safeID("executorId", lr.ExecutorID); err != nil {
			return nil, err
		}
		lr.dir = filepath.Join(workDir, lr.AppID, lr.ExecutorID)
	case lr.AppID == "" && lr.ExecutorID == "" && lr.DriverID != "":
		if err := safeID("driverId", lr.DriverID); err != nil {
			return nil, err
		}
		lr.dir = filepath.Join(workDir, lr.DriverID)
	default:
		return nil, badLog("request must specify either application (appId and executorId) or driver (driverId) identifiers")
	}
	// Belt and braces: the directory must be inside the work dir.
	if rel, err := filepath.Rel(filepath.Clean(workDir), lr.dir); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, badLog("invalid log directory")
	}
	if s := q.Get("offset"); s != "" {
		off, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, badLog("offset %q is not an integer", s)
		}
		lr.Offset = &off
	}
	if s := q.Get("byteLength"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, badLog("byteLength %q is not a non-negative integer", s)
		}
		lr.ByteLength = min(n, maxLogBytes)
	}
	return lr, nil
}

// logChunk is the part of a log a request asks for: bytes [Start, End)
// of the Len bytes of the log's files, and where they lie.
type logChunk struct {
	// Text stands in the page template for the streamed log text.
	Text            string
	Start, End, Len int64
	Path            string // <dir>/<logType>, for the header
	parts           []logPart
}

// logPart is a byte range of one file of the log.
type logPart struct {
	path    string
	off, n  int64
	gzipped bool
}

// header is Spark's "==== Bytes a-b of n of <path> ====" line.
func (c logChunk) header() string {
	return fmt.Sprintf("==== Bytes %d-%d of %d of %s ====\n", c.Start, c.End, c.Len, c.Path)
}

// logFiles are the log's files in order: rolled-over files
// (<logType>--<suffix>, gzipped ones too, sorted by name without .gz) then
// the active <logType>, as Spark's getSortedRolledOverFiles.
func logFiles(dir, logType string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rolled []string
	active := ""
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		switch {
		case name == logType:
			active = name
		case strings.HasPrefix(name, logType+"--"):
			rolled = append(rolled, name)
		}
	}
	sort.Slice(rolled, func(i, j int) bool {
		return strings.TrimSuffix(rolled[i], gzSuffix) < strings.TrimSuffix(rolled[j], gzSuffix)
	})
	if active != "" {
		rolled = append(rolled, active)
	}
	for i, n := range rolled {
		rolled[i] = filepath.Join(dir, n)
	}
	return rolled, nil
}

// gzSuffix marks a rolled log the worker compressed
// (spark.executor.logs.rolling.enableCompression).
const gzSuffix = ".gz"

// logLength is a log file's length, uncompressed for a .gz one.
func logLength(path string) (int64, error) {
	if !strings.HasSuffix(path, gzSuffix) {
		fi, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// planLog finds bytes [start, end) of the log, as Spark's LogPage.getLog:
// without an offset the last byteLength bytes, offsets clamped to the log.
// Nothing of the log is read yet.
func planLog(lr *logRequest) (logChunk, error) {
	c := logChunk{Path: filepath.Join(lr.dir, lr.LogType)}
	files, err := logFiles(lr.dir, lr.LogType)
	if err != nil {
		return c, err
	}
	sizes := make([]int64, len(files))
	for i, f := range files {
		n, err := logLength(f)
		if err != nil {
			return c, err
		}
		sizes[i] = n
		c.Len += sizes[i]
	}
	off := c.Len - lr.ByteLength
	if lr.Offset != nil {
		off = *lr.Offset
	}
	c.Start = max(0, min(off, c.Len))
	c.End = min(c.Start+lr.ByteLength, c.Len)
	var base int64 // offset of files[i] in the whole log
	for i, f := range files {
		from, to := max(c.Start, base), min(c.End, base+sizes[i])
		if from < to {
			c.parts = append(c.parts, logPart{path: f, off: from - base, n: to - from, gzipped: strings.HasSuffix(f, gzSuffix)})
		}
		base += sizes[i]
	}
	return c, nil
}

// stream writes the chunk's bytes to dst through one buffer.
func (c logChunk) stream(dst io.Writer) error {
	buf := make([]byte, logBufferSize)
	for _, p := range c.parts {
		if err := copyRange(dst, p, buf); err != nil {
			return err
		}
	}
	return nil
}

// readLog reads the chunk whole (tests).
func readLog(lr *logRequest) (logChunk, error) {
	c, err := planLog(lr)
	if err != nil {
		return c, err
	}
	var b strings.Builder
	if err := c.stream(&b); err != nil {
		return c, err
	}
	c.Text = b.String()
	return c, nil
}

func copyRange(dst io.Writer, p logPart, buf []byte) error {
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if p.gzipped {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(zr, p.off), buf); err != nil {
			return err
		}
		_, err = io.CopyBuffer(dst, io.LimitReader(zr, p.n), buf)
		return err
	}
	// A plain reader and writer: io.CopyBuffer then uses buf, not a
	// ReaderFrom's buffer of its own.
	_, err = io.CopyBuffer(onlyWriter{dst}, onlyReader{io.NewSectionReader(f, p.off, p.n)}, buf)
	return err
}

type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// htmlWriter escapes what it writes for HTML text.
type htmlWriter struct{ w io.Writer }

func (h htmlWriter) Write(p []byte) (int, error) {
	template.HTMLEscape(h.w, p)
	return len(p), nil
}

// serveLog parses the request and plans the chunk under a log slot (503
// when none is free), and reports errors; ok is false when it already
// answered. Errors are an HTML page for /logPage, plain text for /log.
// The caller streams the chunk, then calls done.
func (wu *workerUI) serveLog(w http.ResponseWriter, r *http.Request, html bool) (lr *logRequest, c logChunk, done func(), ok bool) {
	fail := func(code int, msg string) {
		if html {
			renderError(w, r, code, http.StatusText(code), msg)
		} else {
			http.Error(w, msg, code)
		}
	}
	lr, err := parseLogRequest(r.URL.Query(), wu.src.WorkDir())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errBadLogRequest) {
			code = http.StatusBadRequest
		}
		fail(code, err.Error())
		return nil, logChunk{}, nil, false
	}
	select {
	case wu.logSlots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, "too many log requests at once; try again")
		return nil, logChunk{}, nil, false
	}
	done = func() { <-wu.logSlots }
	c, err = planLog(lr)
	if err != nil {
		done()
		fail(http.StatusInternalServerError, "reading log: "+err.Error())
		return nil, logChunk{}, nil, false
	}
	return lr, c, done, true
}

func (wu *workerUI) logText(w http.ResponseWriter, r *http.Request) {
	_, c, done, ok := wu.serveLog(w, r, false)
	if !ok {
		return
	}
	defer done()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(c.header()))+c.End-c.Start, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.WriteString(w, c.header()); err != nil {
		return
	}
	_ = c.stream(w) // a file shrinking under us ends the answer early
}

// logToken marks where the log text goes in a rendered page; it is random
// per process, so no id in the page can contain it.
var logToken = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "ember-log-" + hex.EncodeToString(b)
}()

func (wu *workerUI) logPage(w http.ResponseWriter, r *http.Request) {
	lr, c, done, ok := wu.serveLog(w, r, true)
	if !ok {
		return
	}
	defer done()
	c.Text = logToken
	var page bytes.Buffer
	if err := pages.ExecuteTemplate(&page, "log", newLogView(lr, c, wu.opts)); err != nil {
		http.Error(w, "rendering page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	head, tail, _ := bytes.Cut(page.Bytes(), []byte(logToken))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(head); err != nil {
		return
	}
	if c.Len > 0 {
		if err := c.stream(htmlWriter{w}); err != nil {
			return
		}
	}
	_, _ = w.Write(tail)
}
