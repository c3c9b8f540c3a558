package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// idle-conns: one server process, one client process holding n
// connections to it, each of which made one 64-byte RPC round trip and
// then stays idle. The server's RSS before the clients came (after a GC)
// and after they all connected (again after a GC, and without one) gives
// its memory per idle connection.

// rawMode is the plain-Go baseline server of idle-conns.
const rawMode = "RAW"

// idleArgs are the arguments of the idle-server and idle-clients roles.
type idleArgs struct {
	Mode     string `json:"mode"` // EPOLL, NIO or RAW
	Addr     string `json:"addr,omitempty"`
	Conns    int    `json:"conns"`
	Parallel int    `json:"parallel,omitempty"`
}

// scaleConf is a transport configuration for module "scale" in mode:
// everything at its default but the mode and a connection timeout long
// enough that nothing times out while a measurement runs.
func scaleConf(mode string) (netpoll.Conf, error) {
	return netpoll.NewConf("scale", sparkconf.New().
		Set("spark.scale.io.mode", mode).
		Set("spark.scale.io.connectionTimeout", "3600s"), "")
}

func init() {
	roles["idle-server"] = startIdleServer
	roles["idle-clients"] = startIdleClients
}

// counter is a transport handler that echoes RPCs and counts open
// connections.
type counter struct {
	open atomic.Int64
}

func (h *counter) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(bytes.Clone(msg))
}
func (h *counter) ReceiveOneWay(*netpoll.Client, []byte)  {}
func (h *counter) StreamManager() netpoll.StreamManager   { return nil }
func (h *counter) ChannelActive(*netpoll.Client)          { h.open.Add(1) }
func (h *counter) ChannelInactive(*netpoll.Client)        { h.open.Add(-1) }
func (h *counter) ExceptionCaught(error, *netpoll.Client) {}
func (h *counter) extra() map[string]int64                { return map[string]int64{"conns": h.open.Load()} }

func startIdleServer(raw json.RawMessage) (*role, error) {
	var a idleArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if _, err := raiseNoFile(uint64(a.Conns) + 1024); err != nil {
		return nil, err
	}
	if a.Mode == rawMode {
		return startRawServer()
	}
	conf, err := scaleConf(a.Mode)
	if err != nil {
		return nil, err
	}
	h := &counter{}
	ctx := netpoll.NewContext(conf, h, netpoll.WithLogger(logger))
	srv, err := ctx.NewServer("127.0.0.1", 0)
	if err != nil {
		ctx.Close()
		return nil, err
	}
	return &role{info: map[string]any{"port": srv.Port()}, extra: h.extra,
		close: func() error { return errors.Join(srv.Close(), ctx.Close()) }}, nil
}

// ---- the plain-Go baseline ----

// rawServer serves length-prefixed echo (an 8-byte big-endian length, then
// the body) with a goroutine and a 4 KiB bufio.Reader per connection, the
// shape of a typical Go server (net/http's per-connection reader is 4 KiB).
type rawServer struct {
	ln    net.Listener
	open  atomic.Int64
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startRawServer() (*role, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &rawServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return &role{info: map[string]any{"port": ln.Addr().(*net.TCPAddr).Port},
		extra: func() map[string]int64 { return map[string]int64{"conns": s.open.Load()} },
		close: s.close}, nil
}

func (s *rawServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.open.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			rawEcho(c)
			c.Close()
			s.open.Add(-1)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// rawEcho echoes frames until the connection fails.
func rawEcho(c net.Conn) {
	br := bufio.NewReaderSize(c, 4<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint64(hdr[:])
		if n > 1<<20 {
			return
		}
		frame := make([]byte, 8+n)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(br, frame[8:]); err != nil {
			return
		}
		if _, err := c.Write(frame); err != nil {
			return
		}
	}
}

func (s *rawServer) close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// rawPing does one length-prefixed round trip on c.
func rawPing(c net.Conn, payload []byte) error {
	frame := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(frame, uint64(len(payload)))
	copy(frame[8:], payload)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	back := make([]byte, len(frame))
	if _, err := io.ReadFull(c, back); err != nil {
		return err
	}
	if !bytes.Equal(back, frame) {
		return errors.New("scale: echo differs")
	}
	return nil
}

// ---- the clients ----

func startIdleClients(raw json.RawMessage) (*role, error) {
	var a idleArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if _, err := raiseNoFile(uint64(a.Conns) + 1024); err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	base, _ := readStatus(os.Getpid())
	payload := bytes.Repeat([]byte{0x5A}, 64)
	closers := make([]func() error, a.Conns)
	var ctx *netpoll.Context
	var factory *netpoll.ClientFactory
	var connect func(i int) error
	if a.Mode == rawMode {
		connect = func(i int) error {
			c, err := net.DialTimeout("tcp", a.Addr, 30*time.Second)
			if err != nil {
				return err
			}
			closers[i] = c.Close
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			err = rawPing(c, payload)
			_ = c.SetDeadline(time.Time{})
			return err
		}
	} else {
		conf, err := scaleConf(a.Mode)
		if err != nil {
			return nil, err
		}
		ctx = netpoll.NewContext(conf, &counter{}, netpoll.WithLogger(logger))
		factory = ctx.NewClientFactory()
		host, portStr, err := net.SplitHostPort(a.Addr)
		if err != nil {
			return nil, err
		}
		var port int
		if _, err := fmt.Sscanf(portStr, "%d", &port); err != nil {
			return nil, err
		}
		connect = func(i int) error {
			c, err := factory.CreateUnmanagedClient(host, port)
			if err != nil {
				return err
			}
			closers[i] = func() error { c.Close(); <-c.Done(); return nil }
			resp, err := c.SendRpcSync(payload, 30*time.Second)
			if err == nil && !bytes.Equal(resp, payload) {
				err = errors.New("scale: echo differs")
			}
			return err
		}
	}
	closeAll := func() error {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, cl := range closers {
			if cl == nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				cl()
				<-sem
			}()
		}
		wg.Wait()
		if ctx != nil {
			factory.Close()
			return ctx.Close()
		}
		return nil
	}
	t0 := time.Now()
	if err := forEach(a.Conns, max(1, a.Parallel), connect); err != nil {
		return nil, errors.Join(err, closeAll())
	}
	took := time.Since(t0)
	return &role{
		info:  map[string]any{"conns": a.Conns, "connectSeconds": took.Seconds(), "baseRSS": base.RSS},
		close: closeAll,
	}, nil
}

// forEach runs f(0..n-1) on parallel goroutines and returns the first
// error; after one, the rest are skipped.
func forEach(n, parallel int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// ---- the measurement ----

// idleResult is one mode's figures.
type idleResult struct {
	churned                 bool
	mode                    string
	conns                   int
	connect                 time.Duration
	base, after, afterGC    childStat
	clientBase, clientAfter int64 // KiB
}

func (r idleResult) perConn(kib int64) float64 { return float64(kib) / float64(r.conns) }

func runIdleConns(o *options) error {
	modes := make([]string, 0, len(o.modes)+1)
	for _, m := range o.modes {
		modes = append(modes, string(m))
	}
	if o.raw {
		modes = append(modes, rawMode)
	}
	var results []idleResult
	for _, mode := range modes {
		r, err := idleConns(mode, o)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, r)
	}
	fmt.Printf("%d idle connections to one server, each after one 64 B RPC round trip. Server and clients are separate processes.\n", o.conns)
	fmt.Printf("KiB/conn = (server VmRSS with the connections - VmRSS before) / conns; both after runtime.GC + debug.FreeOSMemory unless noted.\n")
	fmt.Printf("heap B/conn is HeapInuse growth: memory the GC counts, resident or not (a buffer's untouched pages are not resident).\n\n")
	fmt.Println("| server | KiB/conn (after GC) | KiB/conn (no GC) | VmHWM growth KiB/conn | heap B/conn | stacks B/conn | goroutines/conn | server VmRSS before → after (MiB) | client KiB/conn | connect time |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
	for _, r := range results {
		n := float64(r.conns)
		fmt.Printf("| %s | **%.1f** | %.1f | %.1f | %.0f | %.0f | %.2f | %s → %s | %.1f | %.2f s |\n", r.mode,
			r.perConn(r.afterGC.Proc.RSS-r.base.Proc.RSS),
			r.perConn(r.after.Proc.RSS-r.base.Proc.RSS),
			r.perConn(r.afterGC.Proc.HWM-r.base.Proc.RSS),
			(float64(r.afterGC.HeapInuse)-float64(r.base.HeapInuse))/n,
			(float64(r.afterGC.StackInuse)-float64(r.base.StackInuse))/n,
			float64(r.afterGC.Goroutines-r.base.Goroutines)/n,
			mib(r.base.Proc.RSS), mib(r.afterGC.Proc.RSS),
			r.perConn(r.clientAfter-r.clientBase), r.connect.Seconds())
	}
	var ep, nio *idleResult
	for i := range results {
		switch results[i].mode {
		case string(netpoll.EPOLL):
			ep = &results[i]
		case string(netpoll.NIO):
			nio = &results[i]
		}
	}
	if ep != nil && nio != nil {
		e := ep.perConn(ep.afterGC.Proc.RSS - ep.base.Proc.RSS)
		n := nio.perConn(nio.afterGC.Proc.RSS - nio.base.Proc.RSS)
		fmt.Printf("\nEPOLL / NIO server RSS per connection: %.2f. Target < 30 KiB/conn: EPOLL %s (%.1f), NIO %s (%.1f).\n",
			e/n, metOrMissed(e < 30), e, metOrMissed(n < 30), n)
	}
	return nil
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func idleConns(mode string, o *options) (r idleResult, err error) {
	r.mode, r.conns = mode, o.conns
	srv, err := startSelf("idle-server "+mode, "idle-server", idleArgs{Mode: mode, Conns: o.conns})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	port, err := srv.readyInt("port")
	if err != nil {
		return r, err
	}
	time.Sleep(300 * time.Millisecond) // let the process settle
	if r.base, err = srv.call("gc"); err != nil {
		return r, err
	}
	cl, err := startSelf("idle-clients "+mode, "idle-clients",
		idleArgs{Mode: mode, Addr: fmt.Sprintf("127.0.0.1:%d", port), Conns: o.conns, Parallel: o.parallel})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, cl.stop()) }()
	var secs float64
	if raw, ok := cl.ready["connectSeconds"]; ok {
		_ = json.Unmarshal(raw, &secs)
	}
	r.connect = time.Duration(secs * float64(time.Second))
	if raw, ok := cl.ready["baseRSS"]; ok {
		_ = json.Unmarshal(raw, &r.clientBase)
	}
	if err := waitConns(srv, int64(o.conns)); err != nil {
		return r, err
	}
	time.Sleep(time.Second) // let lazily freed memory and timers settle
	if r.after, err = srv.call("stat"); err != nil {
		return r, err
	}
	if r.afterGC, err = srv.call("gc"); err != nil {
		return r, err
	}
	if o.heapProfiles != "" {
		name := fmt.Sprintf("idle-%s-%d", strings.ToLower(mode), o.conns)
		if _, err := srv.call("heap " + filepath.Join(o.heapProfiles, name+".pprof")); err != nil {
			return r, err
		}
	}
	cst, err := cl.call("gc")
	if err != nil {
		return r, err
	}
	r.clientAfter = cst.Proc.RSS
	// Close the clients; the server must see every connection go.
	if err := cl.stop(); err != nil {
		return r, err
	}
	return r, waitConns(srv, 0)
}

// waitConns polls the server's open-connection count until it is want.
func waitConns(srv *child, want int64) error {
	deadline := time.Now().Add(childLimit)
	for {
		st, err := srv.call("stat")
		if err != nil {
			return err
		}
		got := st.Extra["conns"]
		if got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d connections after %v, want %d", srv.name, got, childLimit, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
