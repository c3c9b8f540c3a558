//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/ember-rpc/ember/shuffle"
)

// The slow-consumer suite against the real daemons, in both io modes
// (chosen with Spark 4.1's spark.io.mode.default): a peer that bursts
// requests and never reads cannot stall a master, a worker or a shuffle
// service for anyone else, and is closed at the write deadline with one
// log line naming it and the key. Assertions are on events (answers, log
// lines, states), never on timings.

var ioModes = []string{"EPOLL", "NIO"}

// writeDeadlineLine is what a daemon logs when it closes a peer that did
// not read.
var writeDeadlineLine = regexp.MustCompile(`peer did not read within the write deadline[^\n]*`)

// dialNonReader connects with a small receive buffer (set before the
// connect, so the window stays small) and never reads.
func dialNonReader(t *testing.T, port int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// captureAsk records the RpcRequest body an rpcenv ask of msg to endpoint
// name carries, by asking a listener that only records.
func captureAsk(t *testing.T, name string, msg any) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env, err := rpcenv.Create(rpcenv.Config{Name: "capture", ClientMode: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Shutdown()
	port := ln.Addr().(*net.TCPAddr).Port
	ref := env.RefFor(rpcenv.EndpointAddress{Addr: rpcenv.NewAddress("127.0.0.1", port), Name: name})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = ref.Ask(ctx, msg) }()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	src := codec.NewBufReader(conn, 64<<10)
	var dec codec.Decoder
	for {
		m, err := dec.Decode(src)
		if err != nil {
			t.Fatalf("capturing the ask: %v", err)
		}
		if m.Type == codec.TypeRpcRequest {
			return bytes.Clone(m.Body)
		}
		_ = src.Release()
	}
}

// burstAsks writes n asks with the body in one write, from a goroutine
// (the daemon may stop reading; the write then ends when it closes).
func burstAsks(t *testing.T, c net.Conn, body []byte, n int) {
	t.Helper()
	var b []byte
	for i := range n {
		var err error
		if b, err = codec.AppendHeader(b, &codec.Message{Type: codec.TypeRpcRequest, RequestID: int64(i + 1)}, int64(len(body))); err != nil {
			t.Fatal(err)
		}
		b = append(b, body...)
	}
	go func() { _, _ = c.Write(b) }()
}

// checkDeadlineLine waits for the daemon's write-deadline line and checks
// it names the peer and the key, once.
func checkDeadlineLine(t *testing.T, p *proc, peer net.Addr, key string) {
	t.Helper()
	line := p.waitOutput(t, writeDeadlineLine)[0]
	if !strings.Contains(line, peer.String()) || !strings.Contains(line, key) {
		t.Fatalf("%s's line does not name the peer %s and the key %s: %s", p.name, peer, key, line)
	}
	if n := p.countOutput("peer did not read within the write deadline"); n != 1 {
		t.Fatalf("%s logged %d write-deadline lines for one peer", p.name, n)
	}
}

// A non-reading peer bursts 20,000 RequestMasterState asks at a master:
// /json keeps answering, and the peer is closed at the write deadline.
func TestSlowPeerAtMaster(t *testing.T) {
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			m := c.startMaster("master", masterOpts{conf: []string{
				"spark.io.mode.default=" + mode, "spark.rpc.io.connectionTimeout=5s"}})
			ask := captureAsk(t, deploy.MasterEndpointName, deploy.RequestMasterState{})
			slow := dialNonReader(t, m.port)
			burstAsks(t, slow, ask, 20000)
			for i := range 10 {
				if _, err := m.state(); err != nil {
					t.Fatalf("/json %d while a peer does not read: %v", i, err)
				}
			}
			checkDeadlineLine(t, m.proc, slow.LocalAddr(), "spark.rpc.io.connectionTimeout")
			if _, err := m.state(); err != nil {
				t.Fatalf("/json after the slow peer left: %v", err)
			}
		})
	}
}

// The same burst at a worker: its /json keeps answering, its heartbeats
// go on (the master keeps it ALIVE), and the peer is closed.
func TestSlowPeerAtWorker(t *testing.T) {
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			conf := []string{"spark.io.mode.default=" + mode, "spark.rpc.io.connectionTimeout=5s"}
			m := c.startMaster("master", masterOpts{conf: conf})
			w := c.startWorker("worker", m.url, workerOpts{conf: conf})
			m.waitState(t, "the worker registered", func(st deploy.MasterStateResponse) bool {
				return workerState(st, w.id) == deploy.WorkerAlive
			})
			ask := captureAsk(t, deploy.WorkerEndpointName, deploy.RequestWorkerState{})
			slow := dialNonReader(t, w.port)
			burstAsks(t, slow, ask, 20000)
			for i := range 10 {
				if _, err := w.state(); err != nil {
					t.Fatalf("worker /json %d while a peer does not read: %v", i, err)
				}
			}
			checkDeadlineLine(t, w.proc, slow.LocalAddr(), "spark.rpc.io.connectionTimeout")
			st, err := m.state()
			if err != nil {
				t.Fatal(err)
			}
			if s := workerState(st, w.id); s != deploy.WorkerAlive {
				t.Fatalf("the worker is %s at the master after a slow peer", s)
			}
			if n := m.countOutput("DEAD"); n != 0 {
				t.Fatalf("the master declared something dead:\n%s", tail(m.output(), 2000))
			}
		})
	}
}

// Four peers each ask a shuffle service for a 64 MiB chunk and never
// read: six legitimate block fetches still succeed, and the four are
// closed at the write deadline.
func TestSlowChunkFetchersAtShuffleService(t *testing.T) {
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			port := testutil.FreePort(t)
			svc := c.start("shuffle", nil, emberBin, "shuffle-service", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
				"--db-dir", c.mkdir("shuffle-db"),
				"--conf", "spark.io.mode.default="+mode, "--conf", "spark.shuffle.io.connectionTimeout=5s",
				"--conf", "spark.shuffle.io.serverThreads=2")
			svc.waitOutput(t, regexp.MustCompile(`shuffle service listening`))

			// One map output: partition 0 is 64 MiB, partitions 1-6 are 64 KiB.
			local := c.mkdir("local")
			w, err := shuffle.NewMapOutputWriter([]string{local}, 4, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WritePartition(io.LimitReader(zeros{}, 64<<20)); err != nil {
				t.Fatal(err)
			}
			for p := 1; p <= 6; p++ {
				if err := w.WritePartition(bytes.NewReader(bytes.Repeat([]byte{byte(p)}, 64<<10))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			const appID, execID = "app-slow", "1"
			sc := sparkconf.New().Set("spark.shuffle.io.mode", mode)
			cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: sc, AppID: appID, TmpDir: c.mkdir("tmp"),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			info := shuffle.ExecutorShuffleInfo{LocalDirs: []string{local}, SubDirsPerLocalDir: 4, ShuffleManager: shuffle.SortShuffleManager}
			if err := cl.RegisterWithShuffleServer("127.0.0.1", port, execID, info); err != nil {
				t.Fatal(err)
			}

			var slowAddrs []net.Addr
			for i := range 4 {
				slow := dialNonReader(t, port)
				sid := openStream(t, slow, appID, execID, shuffle.ShuffleBlockID(0, 0, 0))
				req, err := codec.AppendHeader(nil, &codec.Message{Type: codec.TypeChunkFetchRequest,
					Chunk: codec.StreamChunkID{StreamID: sid, ChunkIndex: 0}}, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := slow.Write(req); err != nil {
					t.Fatalf("slow fetcher %d: %v", i, err)
				}
				slowAddrs = append(slowAddrs, slow.LocalAddr())
			}

			var blocks []string
			for p := int32(1); p <= 6; p++ {
				blocks = append(blocks, shuffle.ShuffleBlockID(0, 0, p))
			}
			l := &fetchCounter{done: make(chan error, len(blocks))}
			cl.FetchBlocks("127.0.0.1", port, execID, blocks, nil, l)
			for i := range blocks {
				select {
				case err := <-l.done:
					if err != nil {
						t.Fatalf("legitimate fetch %d: %v", i, err)
					}
				case <-time.After(waitLimit):
					t.Fatalf("legitimate fetch %d never finished", i)
				}
			}
			testutil.Eventually(t, waitLimit, "the four slow fetchers closed", func() (bool, string) {
				n := svc.countOutput("peer did not read within the write deadline")
				return n == 4, fmt.Sprintf("%d lines", n)
			})
			out := svc.output()
			for _, a := range slowAddrs {
				if !strings.Contains(out, a.String()) || !strings.Contains(out, "spark.shuffle.io.connectionTimeout") {
					t.Fatalf("no line names the slow fetcher %s and the key:\n%s", a, tail(out, 3000))
				}
			}
		})
	}
}

// openStream sends OpenBlocks on a raw connection and reads only its
// answer (a StreamHandle).
func openStream(t *testing.T, c net.Conn, appID, execID, block string) int64 {
	t.Helper()
	body := shuffle.Encode(&shuffle.OpenBlocks{AppID: appID, ExecID: execID, BlockIDs: []string{block}})
	req, err := codec.AppendHeader(nil, &codec.Message{Type: codec.TypeRpcRequest, RequestID: 1}, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(append(req, body...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	defer c.SetReadDeadline(time.Time{})
	// Read exactly one frame (nothing more: the connection stays unread).
	var lenBuf [8]byte
	br := bufio.NewReaderSize(c, 16)
	if _, err := io.ReadFull(br, lenBuf[:]); err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, b := range lenBuf {
		n = n<<8 | int64(b)
	}
	frame := make([]byte, n)
	copy(frame, lenBuf[:])
	if _, err := io.ReadFull(br, frame[8:]); err != nil {
		t.Fatal(err)
	}
	var m codec.Message
	if err := codec.DecodeFrame(frame[8:], &m); err != nil || m.Type != codec.TypeRpcResponse {
		t.Fatalf("OpenBlocks answer: %v %v %q", m.Type, err, m.Error)
	}
	h, err := shuffle.Decode(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	sh, ok := h.(*shuffle.StreamHandle)
	if !ok {
		t.Fatalf("OpenBlocks answered %T", h)
	}
	return sh.StreamID
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type fetchCounter struct{ done chan error }

func (f *fetchCounter) OnBlockFetchSuccess(id string, data codec.ManagedBuffer) {
	n := data.Size()
	data.Release()
	if n != 64<<10 {
		f.done <- fmt.Errorf("block %s: %d bytes", id, n)
		return
	}
	f.done <- nil
}

func (f *fetchCounter) OnBlockFetchFailure(id string, err error) {
	f.done <- fmt.Errorf("block %s: %w", id, err)
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// A shuffle service with spark.authenticate=true refuses a 2 GiB frame
// before authentication at the pre-auth cap: the connection closes, the
// log names the key, and the service's memory does not move.
func TestPreAuthFrameAtShuffleService(t *testing.T) {
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			port := testutil.FreePort(t)
			svc := c.start("shuffle", nil, emberBin, "shuffle-service", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
				"--db-dir", c.mkdir("shuffle-db"),
				"--conf", "spark.io.mode.default="+mode,
				"--conf", "spark.authenticate=true", "--conf", "spark.authenticate.secret=s3cret-for-the-test")
			svc.waitOutput(t, regexp.MustCompile(`shuffle service listening`))
			before := vmRSS(t, svc.pid())
			conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hdr := make([]byte, 9, 64<<10)
			hdr[3] = 0x80 // length field 2 GiB (big endian)
			hdr[8] = byte(codec.TypeRpcRequest)
			hdr = hdr[:cap(hdr)] // and the first 64 KiB of its body
			if _, err := conn.Write(hdr); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
			if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
				t.Fatalf("the connection was not closed at the cap: %v", err) // (a reset is a close)
			}
			svc.waitOutput(t, regexp.MustCompile(`frame before authentication is over the cap[^\n]*spark\.shuffle\.io\.ember\.preAuthMaxFrameLength`))
			if after := vmRSS(t, svc.pid()); after > before+64<<20 {
				t.Fatalf("RSS grew from %d to %d bytes for a refused frame", before, after)
			}
		})
	}
}

// A one-way flood (up to 1 GiB) at a master with a 256 MiB buffer budget:
// whether the master keeps up or stops reading the flooder (its writes
// then block in the kernel; which one happens depends on the machine, so
// it is logged, not asserted), its RSS stays under the budget throughout
// and /json answers during the flood.
func TestOneWayFloodAtMaster(t *testing.T) {
	const budget = 256 << 20
	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t)
			m := c.startMaster("master", masterOpts{conf: []string{
				"spark.io.mode.default=" + mode, "spark.ember.io.maxBufferedBytes=256m"}})
			// An unregistered application's unregister: the master logs
			// nothing for it and drops it.
			body := captureSend(t, deploy.MasterEndpointName, deploy.UnregisterApplication{AppID: "app-flood"})
			conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(m.port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var batch []byte
			for len(batch) < 4<<20 {
				var err error
				if batch, err = codec.AppendHeader(batch, &codec.Message{Type: codec.TypeOneWayMessage}, int64(len(body))); err != nil {
					t.Fatal(err)
				}
				batch = append(batch, body...)
			}
			blocked := false
			for i := 0; i < 256 && !blocked; i++ { // at most 1 GiB
				_ = conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if _, err := conn.Write(batch); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						blocked = true
						break
					}
					t.Fatalf("flood write %d: %v", i, err)
				}
				if rss := vmRSS(t, m.pid()); rss > budget {
					t.Fatalf("master RSS %d over the %d budget after %d MiB", rss, budget, (i+1)*4)
				}
			}
			if rss := vmRSS(t, m.pid()); rss > budget {
				t.Fatalf("master RSS %d over the %d budget", rss, budget)
			}
			if _, err := m.state(); err != nil {
				t.Fatalf("/json during the flood: %v", err)
			}
			t.Logf("%s: flooder pushed back: %v", mode, blocked)
		})
	}
}

// captureSend records the OneWayMessage body an rpcenv send of msg to
// endpoint name carries.
func captureSend(t *testing.T, name string, msg any) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env, err := rpcenv.Create(rpcenv.Config{Name: "capture", ClientMode: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Shutdown()
	port := ln.Addr().(*net.TCPAddr).Port
	ref := env.RefFor(rpcenv.EndpointAddress{Addr: rpcenv.NewAddress("127.0.0.1", port), Name: name})
	go func() { _ = ref.Send(msg) }()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	src := codec.NewBufReader(conn, 64<<10)
	var dec codec.Decoder
	for {
		m, err := dec.Decode(src)
		if err != nil {
			t.Fatalf("capturing the send: %v", err)
		}
		if m.Type == codec.TypeOneWayMessage {
			return bytes.Clone(m.Body)
		}
		_ = src.Release()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
