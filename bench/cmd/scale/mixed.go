package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/ember-rpc/ember/shuffle"
)

// The mixed server: one process serving the three hot paths the allocs
// and gc measurements drive, all in one I/O mode:
//
//   - a transport server (module "scale") that echoes RPCs, counts one-way
//     messages, and serves chunks of a data file as codec.FileSegments (sent
//     with sendfile). The RPC "open:<n>" registers a stream of n 1 MiB
//     chunks of the file, tied to the asking connection, and answers its id
//     (8 bytes, big-endian); "count" answers the number of one-way messages
//     received so far (8 bytes). Anything else is echoed.
//   - an RPC env with an endpoint "echo" that answers asks with the
//     message, counts sends, and answers scaleCount with that count.
//   - a shuffle service.

// chunkSize is the size of one served chunk.
const chunkSize = 1 << 20

// mixedArgs are the mixed-server role's arguments.
type mixedArgs struct {
	Mode      string `json:"mode"`
	DataFile  string `json:"dataFile"`
	ShuffleDB string `json:"shuffleDB"`
}

// scaleMsg is the RPC env message: with a 7-digit N and a 44-byte S its
// JSON is 64 bytes, as in the bench package's rpcenv suite.
type scaleMsg struct {
	N int    `json:"n"`
	S string `json:"s"`
}

// scaleCount asks the echo endpoint how many sends it has received.
type scaleCount struct{}

func init() {
	rpcenv.MustRegister[scaleMsg]("bench.scale.msg")
	rpcenv.MustRegister[scaleCount]("bench.scale.count")
	roles["mixed-server"] = startMixedServer
}

func newScaleMsg(w int) any { return scaleMsg{N: 1_000_000 + w, S: strings.Repeat("s", 44)} }

// rpcConf is the RPC env and shuffle configuration of mode.
func rpcConf(mode string) *sparkconf.Conf {
	return sparkconf.New().
		Set("spark.rpc.io.mode", mode).
		Set("spark.shuffle.io.mode", mode).
		Set("spark.rpc.askTimeout", "120s").
		Set("spark.rpc.lookupTimeout", "60s")
}

// ---- the transport handler ----

type mixedHandler struct {
	sm     *netpoll.OneForOneStreamManager
	path   string
	chunks int64 // chunks in the file
	oneWay atomic.Int64
}

func (h *mixedHandler) Receive(c *netpoll.Client, msg []byte, r *netpoll.Responder) {
	switch {
	case bytes.HasPrefix(msg, []byte("open:")):
		n, err := strconv.Atoi(string(msg[len("open:"):]))
		if err != nil || n <= 0 {
			r.Fail(fmt.Errorf("scale: bad open %q", msg))
			return
		}
		id := h.sm.RegisterStream("scale", &fileChunks{path: h.path, total: h.chunks, n: n}, c)
		r.Reply(binary.BigEndian.AppendUint64(nil, uint64(id)))
	case string(msg) == "count":
		r.Reply(binary.BigEndian.AppendUint64(nil, uint64(h.oneWay.Load())))
	default:
		r.Reply(bytes.Clone(msg))
	}
}

func (h *mixedHandler) ReceiveOneWay(*netpoll.Client, []byte) { h.oneWay.Add(1) }

func (h *mixedHandler) StreamManager() netpoll.StreamManager { return h.sm }

// fileChunks is a stream of n 1 MiB chunks of a file, wrapping at total;
// each chunk is a FileSegment made when asked for, as Spark's block
// resolvers do.
type fileChunks struct {
	path  string
	total int64
	n     int
}

func (f *fileChunks) NumChunks() int { return f.n }

func (f *fileChunks) Chunk(i int) (codec.ManagedBuffer, error) {
	fs, err := codec.NewFileSegment(f.path, (int64(i)%f.total)*chunkSize, chunkSize, codec.DefaultFileOptions)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

func (f *fileChunks) Discard(int) {}

// ---- the echo endpoint ----

type echoEndpoint struct {
	rpcenv.BaseEndpoint
	sends atomic.Int64
}

func (e *echoEndpoint) Receive(any, rpcenv.Address) error {
	e.sends.Add(1)
	return nil
}

func (e *echoEndpoint) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	if _, ok := msg.(scaleCount); ok {
		cc.Reply(e.sends.Load())
		return nil
	}
	cc.Reply(msg)
	return nil
}

// ---- the role ----

func startMixedServer(raw json.RawMessage) (r *role, err error) {
	var a mixedArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	fi, err := os.Stat(a.DataFile)
	if err != nil {
		return nil, err
	}
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, closeAll())
		}
	}()

	conf, err := scaleConf(a.Mode)
	if err != nil {
		return nil, err
	}
	h := &mixedHandler{sm: netpoll.NewOneForOneStreamManager(), path: a.DataFile, chunks: fi.Size() / chunkSize}
	if h.chunks == 0 {
		return nil, fmt.Errorf("scale: %s is smaller than one chunk", a.DataFile)
	}
	tctx := netpoll.NewContext(conf, h, netpoll.WithLogger(logger))
	closers = append(closers, tctx.Close)
	srv, err := tctx.NewServer("127.0.0.1", 0)
	if err != nil {
		return nil, err
	}
	closers = append(closers, srv.Close)

	env, err := rpcenv.Create(rpcenv.Config{Name: "scale-server", BindHost: "127.0.0.1", Conf: rpcConf(a.Mode), Logger: logger})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() error { env.Shutdown(); return nil })
	ep := &echoEndpoint{}
	if _, err := env.SetupEndpoint("echo", ep); err != nil {
		return nil, err
	}

	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: rpcConf(a.Mode), Host: "127.0.0.1", Port: 0, DBDir: a.ShuffleDB, Logger: logger})
	if err != nil {
		return nil, err
	}
	closers = append(closers, svc.Close)

	return &role{
		info: map[string]any{"transportPort": srv.Port(), "rpcPort": env.Address().Port, "shufflePort": svc.Port()},
		extra: func() map[string]int64 {
			return map[string]int64{"oneWay": h.oneWay.Load(), "sends": ep.sends.Load(), "streams": int64(h.sm.NumStreams())}
		},
		close: closeAll,
	}, nil
}

// ---- the parent's side ----

// mixedClient is a connection to each of a mixed server's services, in
// one mode.
type mixedClient struct {
	mode    string
	srv     *child
	tctx    *netpoll.Context
	factory *netpoll.ClientFactory
	conn    *netpoll.Client
	env     *rpcenv.Env
	echo    *rpcenv.Ref
	shuffle *shuffle.Client
	tport   int // the transport server's port
	shPort  int // the shuffle service's port
}

// startMixed starts a mixed server in mode and connects to it.
func startMixed(mode, dataFile, dir string) (m *mixedClient, err error) {
	m = &mixedClient{mode: mode}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.close())
			m = nil
		}
	}()
	db := filepath.Join(dir, "shuffle-db-"+mode)
	m.srv, err = startSelf("mixed-server "+mode, "mixed-server", mixedArgs{Mode: mode, DataFile: dataFile, ShuffleDB: db})
	if err != nil {
		return m, err
	}
	if m.tport, err = m.srv.readyInt("transportPort"); err != nil {
		return m, err
	}
	rport, err := m.srv.readyInt("rpcPort")
	if err != nil {
		return m, err
	}
	if m.shPort, err = m.srv.readyInt("shufflePort"); err != nil {
		return m, err
	}
	conf, err := scaleConf(mode)
	if err != nil {
		return m, err
	}
	m.tctx = netpoll.NewContext(conf, &counter{}, netpoll.WithLogger(logger))
	m.factory = m.tctx.NewClientFactory()
	if m.conn, err = m.factory.CreateClient("127.0.0.1", m.tport); err != nil {
		return m, err
	}
	m.env, err = rpcenv.Create(rpcenv.Config{Name: "scale-client", ClientMode: true, Conf: rpcConf(mode), Logger: logger})
	if err != nil {
		return m, err
	}
	if m.echo, err = m.env.SetupEndpointRef(rpcenv.NewAddress("127.0.0.1", rport), "echo"); err != nil {
		return m, err
	}
	m.shuffle, err = shuffle.NewClient(shuffle.ClientConfig{Conf: rpcConf(mode), AppID: shuffleAppID, TmpDir: dir, Logger: logger})
	return m, err
}

func (m *mixedClient) close() error {
	var errs []error
	if m.shuffle != nil {
		errs = append(errs, m.shuffle.Close())
	}
	if m.env != nil {
		m.env.Shutdown()
	}
	if m.factory != nil {
		errs = append(errs, m.factory.Close())
	}
	if m.tctx != nil {
		errs = append(errs, m.tctx.Close())
	}
	if m.srv != nil {
		errs = append(errs, m.srv.stop())
	}
	return errors.Join(errs...)
}

// openStream registers a stream of n chunks on the server for m.conn.
func (m *mixedClient) openStream(n int) (int64, error) {
	resp, err := m.conn.SendRpcSync([]byte("open:"+strconv.Itoa(n)), time.Minute)
	if err != nil {
		return 0, err
	}
	if len(resp) != 8 {
		return 0, fmt.Errorf("scale: open answered %d bytes", len(resp))
	}
	return int64(binary.BigEndian.Uint64(resp)), nil
}

// oneWayCount asks the transport server how many one-way messages it got.
func (m *mixedClient) oneWayCount() (int64, error) {
	resp, err := m.conn.SendRpcSync([]byte("count"), time.Minute)
	if err != nil {
		return 0, err
	}
	if len(resp) != 8 {
		return 0, fmt.Errorf("scale: count answered %d bytes", len(resp))
	}
	return int64(binary.BigEndian.Uint64(resp)), nil
}

// ask asks the echo endpoint msg (newScaleMsg(w)) and checks the echo.
func (m *mixedClient) ask(msg any, w int) error {
	got, err := rpcenv.Ask[scaleMsg](context.Background(), m.echo, msg)
	if err != nil {
		return err
	}
	if got.N != 1_000_000+w {
		return fmt.Errorf("scale: echo of %d came back as %d", 1_000_000+w, got.N)
	}
	return nil
}

// ---- reusable callbacks ----

var errLength = errors.New("scale: reply has the wrong length")

// rpcWaiter is a reusable RpcResponseCallback.
type rpcWaiter struct {
	want int
	err  error
	ch   chan struct{}
}

func (w *rpcWaiter) OnSuccess(resp []byte) {
	w.err = nil
	if len(resp) != w.want {
		w.err = errLength
	}
	w.ch <- struct{}{}
}

func (w *rpcWaiter) OnFailure(err error) { w.err = err; w.ch <- struct{}{} }

// chunkWaiter is a reusable ChunkReceivedCallback that checks the length
// only.
type chunkWaiter struct{ done chan error }

func (w *chunkWaiter) OnSuccess(_ int32, buf []byte) {
	if len(buf) != chunkSize {
		w.done <- errLength
		return
	}
	w.done <- nil
}

func (w *chunkWaiter) OnFailure(_ int32, err error) { w.done <- err }

// ---- data ----

// makeDataFile writes size random bytes to a new file in dir, syncs it and
// reads it once, so it is in the page cache.
func makeDataFile(dir string, size int64) (string, error) {
	f, err := os.CreateTemp(dir, "data-*.bin")
	if err != nil {
		return "", err
	}
	defer f.Close()
	block := make([]byte, chunkSize)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i+8 <= len(block); i += 8 {
		binary.LittleEndian.PutUint64(block[i:], r.Uint64())
	}
	for off := int64(0); off < size; off += chunkSize {
		binary.BigEndian.PutUint64(block, uint64(off))
		if _, err := f.Write(block[:min(int64(len(block)), size-off)]); err != nil {
			return "", err
		}
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	_, err = io.CopyBuffer(io.Discard, f, block)
	return f.Name(), err
}
