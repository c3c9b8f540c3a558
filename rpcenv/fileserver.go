package rpcenv

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

func refValue(v any) reflect.Value { return reflect.ValueOf(v) }

// fileServer serves files, jars and directories over the transport's
// StreamRequest (Spark's NettyStreamManager). Chunk fetches are not
// supported.
type fileServer struct {
	mu    sync.RWMutex // guards the maps
	files map[string]string
	jars  map[string]string
	dirs  map[string]string
}

func newFileServer() *fileServer {
	return &fileServer{files: map[string]string{}, jars: map[string]string{}, dirs: map[string]string{}}
}

func (s *fileServer) GetChunk(int64, int32) (codec.ManagedBuffer, error) {
	return nil, errors.New("rpcenv: the file server does not serve chunks")
}

func (s *fileServer) ConnectionTerminated(*netpoll.Client) {}

// OpenStream serves /files/<name>, /jars/<name> and /<dir>/<path>; paths
// that leave the added directory are refused.
func (s *fileServer) OpenStream(id string) (codec.ManagedBuffer, error) {
	kind, rest, ok := strings.Cut(strings.TrimPrefix(id, "/"), "/")
	if !ok || rest == "" {
		return nil, nil
	}
	if un, err := url.PathUnescape(rest); err == nil {
		rest = un
	}
	s.mu.RLock()
	var path string
	switch kind {
	case "files":
		path = s.files[rest]
	case "jars":
		path = s.jars[rest]
	default:
		dir, known := s.dirs["/"+kind]
		if !known {
			s.mu.RUnlock()
			return nil, fmt.Errorf("Invalid stream URI: %s not found.", kind)
		}
		clean := filepath.Clean("/" + rest)
		path = filepath.Join(dir, clean)
		if !strings.HasPrefix(path, filepath.Clean(dir)+string(filepath.Separator)) {
			s.mu.RUnlock()
			return nil, fmt.Errorf("rpcenv: %q is outside the served directory", id)
		}
	}
	s.mu.RUnlock()
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	return codec.NewFileSegment(path, 0, st.Size(), codec.DefaultFileOptions)
}

func (s *fileServer) add(table map[string]string, prefix, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	name := filepath.Base(abs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := table[name]; ok && old != abs {
		return "", fmt.Errorf("rpcenv: file %s was already registered with a different path (old path = %s, new path = %s)", name, old, abs)
	}
	table[name] = abs
	return prefix + url.PathEscape(name), nil
}

// AddFile serves a file at spark://host:port/files/<name> and returns
// that URI.
func (e *Env) AddFile(path string) (string, error) {
	if e.addr.IsZero() {
		return "", ErrClientMode
	}
	p, err := e.files.add(e.files.files, "/files/", path)
	return e.addr.SparkURL() + p, err
}

// AddJar serves a jar at spark://host:port/jars/<name>.
func (e *Env) AddJar(path string) (string, error) {
	if e.addr.IsZero() {
		return "", ErrClientMode
	}
	p, err := e.files.add(e.files.jars, "/jars/", path)
	return e.addr.SparkURL() + p, err
}

// AddDirectory serves dir under baseURI (like "/dir1"), which must not be
// /files or /jars or taken already, and returns spark://host:port<baseURI>.
func (e *Env) AddDirectory(baseURI, dir string) (string, error) {
	if e.addr.IsZero() {
		return "", ErrClientMode
	}
	fixed := "/" + strings.Trim(baseURI, "/")
	if fixed == "/files" || fixed == "/jars" {
		return "", fmt.Errorf("rpcenv: directory URI cannot be /files or /jars")
	}
	if strings.Count(fixed, "/") != 1 {
		return "", fmt.Errorf("rpcenv: directory URI %q must be one path element", baseURI)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	e.files.mu.Lock()
	defer e.files.mu.Unlock()
	if _, ok := e.files.dirs[fixed]; ok {
		return "", fmt.Errorf("rpcenv: URI %q already registered", fixed)
	}
	e.files.dirs[fixed] = abs
	return e.addr.SparkURL() + fixed, nil
}

// downloader fetches files from other envs over a "files" transport module
// (spark.files.io.*, defaulting to the rpc module's keys), whose idle
// connections are closed.
type downloader struct {
	ctx     *netpoll.Context
	factory *netpoll.ClientFactory
}

func newDownloader(e *Env, conf *sparkconf.Conf) (*downloader, error) {
	fc := conf.Clone()
	for k, v := range conf.All() {
		if rest, ok := strings.CutPrefix(k, "spark.rpc.io."); ok && !fc.Contains("spark.files.io."+rest) {
			fc.Set("spark.files.io."+rest, v)
		}
	}
	if !fc.Contains("spark.files.io.threads") {
		fc.Set("spark.files.io.clientThreads", "1")
	}
	tconf, err := netpoll.NewConf("files", fc, "")
	if err != nil {
		return nil, err
	}
	opts := append(e.sec.ContextOptions(), netpoll.WithCloseIdleConnections(true), netpoll.WithLogger(e.log))
	ctx := netpoll.NewContext(tconf, noRequests{}, opts...)
	return &downloader{ctx: ctx, factory: ctx.NewClientFactory(e.sec.Client...)}, nil
}

func (d *downloader) close() {
	d.factory.Close()
	d.ctx.Close()
}

// OpenChannel downloads a spark://host:port/<path> URI served by another
// env's AddFile/AddJar/AddDirectory. The remote error, if any, comes out of
// Read.
func (e *Env) OpenChannel(uri string) (io.ReadCloser, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(u.Host)
	if err != nil || port <= 0 || u.Path == "" || u.Path == "/" {
		return nil, fmt.Errorf("rpcenv: invalid file URI %q", uri)
	}
	c, err := e.dl.factory.CreateClient(host, port)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	c.Stream(u.EscapedPath(), &pipeStream{pw: pw})
	return pr, nil
}

// pipeStream writes a stream's bytes into a pipe.
type pipeStream struct{ pw *io.PipeWriter }

func (p *pipeStream) OnData(_ string, b []byte) error {
	_, err := p.pw.Write(b)
	return err
}
func (p *pipeStream) OnComplete(string) error { return p.pw.Close() }
func (p *pipeStream) OnFailure(_ string, err error) {
	p.pw.CloseWithError(err)
}

// noRequests refuses requests on download connections.
type noRequests struct{}

func (noRequests) Receive(_ *netpoll.Client, _ []byte, r *netpoll.Responder) {
	r.Fail(errors.New("rpcenv: download connections take no requests"))
}
func (noRequests) ReceiveOneWay(*netpoll.Client, []byte) {}
func (noRequests) StreamManager() netpoll.StreamManager  { return nil }
