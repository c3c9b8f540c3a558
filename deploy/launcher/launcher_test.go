package launcher

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
)

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// awaitClosed blocks until the server closes c (reads fail).
func awaitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func rawFrame(body []byte) []byte {
	b := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	copy(b[4:], body)
	return b
}

func TestStateFinality(t *testing.T) {
	for s := StateUnknown; s <= StateLost; s++ {
		want := s >= StateFinished
		if s.IsFinal() != want {
			t.Errorf("%v.IsFinal() = %v", s, s.IsFinal())
		}
		p, err := ParseState(s.String())
		if err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), p, err)
		}
	}
	if _, err := ParseState("BOGUS"); err == nil {
		t.Error("ParseState(BOGUS) succeeded")
	}

	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, err := srv.NewHandle(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Disconnect()
	h.setState(StateRunning, false)
	h.setState(StateFinished, false)
	if h.setState(StateRunning, false) || h.setState(StateLost, false) {
		t.Fatal("left a final state")
	}
	if !h.setState(StateFailed, true) {
		t.Fatal("forced state not applied")
	}
	if got, want := rec.snapshot(), []State{StateRunning, StateFinished, StateFailed}; !equalStates(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestFraming(t *testing.T) {
	msgs := []Message{&Hello{Secret: "s", Version: "v"}, &SetAppID{AppID: "app"},
		&SetState{State: StateRunning}, &Stop{}}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range msgs {
		got, err := ReadMessage(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got.messageType() != want.messageType() {
			t.Fatalf("got %T, want %T", got, want)
		}
	}
	if _, err := ReadMessage(&buf); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	// The JSON shape is {"type": ...}.
	body, _ := EncodeMessage(&SetState{State: StateFinished})
	if string(body) != `{"type":"setState","state":"FINISHED"}` {
		t.Fatalf("body %s", body)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], MaxFrameSize+1)
	if _, err := ReadMessage(bytes.NewReader(hdr[:])); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if err := WriteMessage(io.Discard, &SetAppID{AppID: string(make([]byte, MaxFrameSize))}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(rawFrame([]byte(`{"type":"nope"}`)))); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(rawFrame([]byte(`{"type":"setState","state":"WEIRD"}`)))); err == nil {
		t.Fatal("bad state accepted")
	}
	if _, err := ReadMessage(bytes.NewReader(rawFrame([]byte(`not json`)))); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}: true,
		&net.TCPAddr{IP: net.IPv4(127, 1, 2, 3), Port: 1}: true,
		&net.TCPAddr{IP: net.IPv6loopback, Port: 1}:       true,
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}:  false,
		&net.UDPAddr{IP: net.IPv4(192, 168, 1, 1)}:        false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%v) = %v", addr, got)
		}
	}
	if isLoopback(nil) {
		t.Error("isLoopback(nil)")
	}
}

func TestChildConnectionTimeoutConfig(t *testing.T) {
	srv := newTestServer(t, nil)
	if d := srv.connTimeout(); d.Milliseconds() != DefaultChildConnectionTimeoutMs {
		t.Fatalf("default %v", d)
	}
	SetConfig(confChildConnectionTimeoutOld, "1234")
	if d := srv.connTimeout(); d.Milliseconds() != 1234 {
		t.Fatalf("old key %v", d)
	}
	SetConfig(ConfChildConnectionTimeout, "42")
	if d := srv.connTimeout(); d.Milliseconds() != 42 {
		t.Fatalf("global %v", d)
	}
	UnsetConfig(ConfChildConnectionTimeout)
	UnsetConfig(confChildConnectionTimeoutOld)
	local := newTestServer(t, map[string]string{ConfChildConnectionTimeout: "-5"})
	if d := local.connTimeout(); d != 0 {
		t.Fatalf("negative %v", d)
	}
}

// testLauncherServerReuse.
func TestServerReuse(t *testing.T) {
	if SharedServer() != nil {
		t.Fatal("a shared server is already running")
	}
	h1, err := NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	s1 := h1.Server()
	h2, err := NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	if h2.Server() != s1 || SharedServer() != s1 {
		t.Fatal("shared server not reused while a handle is alive")
	}
	if h1.Secret() == h2.Secret() {
		t.Fatal("two handles with one secret")
	}
	if s1.Refs() != 2 {
		t.Fatalf("refs %d", s1.Refs())
	}
	h1.Disconnect()
	if s1.Closed() || SharedServer() != s1 || s1.Refs() != 1 {
		t.Fatal("server closed while a handle still refers to it")
	}
	if h1.State() != StateLost {
		t.Fatalf("disposed handle state %v", h1.State())
	}
	h2.Kill() // no child, no connection: KILLED then disposed
	<-h2.Done()
	if h2.State() != StateKilled {
		t.Fatalf("killed handle state %v", h2.State())
	}
	<-s1.Done()
	if !s1.Closed() || SharedServer() != nil {
		t.Fatal("server not released after all handles were disposed")
	}
	h3, err := NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	if h3.Server() == s1 {
		t.Fatal("closed server reused")
	}
	h3.Disconnect()
	<-h3.Server().Done()
	if _, err := s1.NewHandle(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("NewHandle on a closed server: %v", err)
	}
}

// testCommunication.
func TestCommunication(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, err := srv.NewHandle(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Stop before connect: %v", err)
	}
	stopped := make(chan struct{}, 1)
	disconnected := make(chan struct{})
	b := &Backend{
		OnStop:         func() { stopped <- struct{}{} },
		OnDisconnected: func() { close(disconnected) },
	}
	if err := b.Connect(h.BackendConf()); err != nil {
		t.Fatal(err)
	}
	rec.awaitState(StateConnected)
	if srv.isPending(h) {
		t.Fatal("connected handle still pending")
	}
	if err := b.SetAppID("app-20260101-0001"); err != nil {
		t.Fatal(err)
	}
	rec.await(func(r *recorder) bool { return len(r.appIDs) == 1 })
	if h.AppID() != "app-20260101-0001" {
		t.Fatalf("app id %q", h.AppID())
	}
	for _, s := range []State{StateSubmitted, StateSubmitted, StateRunning} {
		if err := b.SetState(s); err != nil {
			t.Fatal(err)
		}
	}
	rec.awaitState(StateRunning)
	if got, want := rec.snapshot(), []State{StateConnected, StateSubmitted, StateRunning}; !equalStates(got, want) {
		t.Fatalf("events %v, want %v (duplicate SetState must be dropped)", got, want)
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	<-stopped
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	<-disconnected
	if b.IsConnected() {
		t.Fatal("backend still connected after Close")
	}
	<-h.Done()
	if h.State() != StateLost {
		t.Fatalf("state %v after the backend went away", h.State())
	}
	if srv.Refs() != 1 {
		t.Fatalf("refs %d after dispose", srv.Refs())
	}
	if err := b.SetState(StateFinished); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SetState after Close: %v", err)
	}
}

func TestFinalStateKeptOnDisconnect(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)
	b := &Backend{}
	if err := b.Connect(h.BackendConf()); err != nil {
		t.Fatal(err)
	}
	b.SetState(StateRunning)
	b.SetState(StateFinished)
	rec.awaitState(StateFinished)
	b.Close()
	<-h.Done()
	if h.State() != StateFinished {
		t.Fatalf("state %v", h.State())
	}
	if got, want := rec.snapshot(), []State{StateConnected, StateRunning, StateFinished}; !equalStates(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// testTimeout: with a timeout of 0 the server closes a new connection at
// once, so a Hello on it fails; the handle stays pending and unconnected
// and can still connect once the timeout allows it.
func TestTimeout(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)

	SetConfig(ConfChildConnectionTimeout, "0")
	c := dial(t, srv)
	WriteMessage(c, &Hello{Secret: h.Secret(), Version: ProtocolVersion})
	awaitClosed(t, c)
	UnsetConfig(ConfChildConnectionTimeout)
	if h.State() != StateUnknown || !srv.isPending(h) || len(rec.snapshot()) != 0 {
		t.Fatalf("handle changed: %v pending=%v", h.State(), srv.isPending(h))
	}

	// A short, non-zero timeout: no Hello is ever sent, the server closes.
	short := newTestServer(t, map[string]string{ConfChildConnectionTimeout: "1"})
	c2 := dial(t, short)
	awaitClosed(t, c2)

	// The handle was not disposed by the timeout: a later Hello works.
	b := &Backend{}
	if err := b.Connect(h.BackendConf()); err != nil {
		t.Fatal(err)
	}
	rec.awaitState(StateConnected)
	b.Close()
	<-h.Done()
}

func TestWrongSecret(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)
	c := dial(t, srv)
	if err := WriteMessage(c, &Hello{Secret: "not-" + h.Secret(), Version: ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	awaitClosed(t, c)
	if h.State() != StateUnknown || !srv.isPending(h) || h.Disposed() || len(rec.snapshot()) != 0 {
		t.Fatal("wrong secret changed the handle")
	}
	// The server still serves the right secret.
	b := &Backend{}
	if err := b.ConnectTo(srv.Port(), h.Secret()); err != nil {
		t.Fatal(err)
	}
	rec.awaitState(StateConnected)
	// A second Hello with the same (now claimed) secret is refused.
	c2 := dial(t, srv)
	WriteMessage(c2, &Hello{Secret: h.Secret(), Version: ProtocolVersion})
	awaitClosed(t, c2)
	if h.State() != StateConnected {
		t.Fatalf("state %v", h.State())
	}
	b.Close()
	<-h.Done()
}

func TestBadFramesBeforeHello(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)
	var oversized [4]byte
	binary.BigEndian.PutUint32(oversized[:], 1<<20)
	for name, payload := range map[string][]byte{
		"oversized":    oversized[:],
		"empty":        rawFrame(nil),
		"garbage":      rawFrame([]byte("\xac\xed\x00\x05 java serialization")),
		"unknown type": rawFrame([]byte(`{"type":"exec","cmd":"rm -rf /"}`)),
		"not hello":    rawFrame([]byte(`{"type":"setState","state":"RUNNING"}`)),
		"stop":         rawFrame([]byte(`{"type":"stop"}`)),
	} {
		c := dial(t, srv)
		if _, err := c.Write(payload); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		awaitClosed(t, c)
	}
	if h.State() != StateUnknown || !srv.isPending(h) {
		t.Fatal("bad frames changed the handle")
	}
	b := &Backend{}
	if err := b.Connect(h.BackendConf()); err != nil {
		t.Fatal(err)
	}
	rec.awaitState(StateConnected)
	b.Close()
	<-h.Done()
}

func TestBadFrameAfterHelloDisposes(t *testing.T) {
	srv := newTestServer(t, nil)
	for name, payload := range map[string][]byte{
		"unknown type": rawFrame([]byte(`{"type":"exec"}`)),
		"second hello": rawFrame([]byte(`{"type":"hello","secret":"x"}`)),
		"stop":         rawFrame([]byte(`{"type":"stop"}`)),
		"bad state":    rawFrame([]byte(`{"type":"setState","state":"WEIRD"}`)),
		"oversized":    {0, 0x10, 0, 0},
	} {
		rec := newRecorder()
		h, _ := srv.NewHandle(rec)
		c := dial(t, srv)
		WriteMessage(c, &Hello{Secret: h.Secret(), Version: ProtocolVersion})
		WriteMessage(c, &SetState{State: StateRunning})
		c.Write(payload)
		awaitClosed(t, c)
		<-h.Done()
		if got, want := rec.snapshot(), []State{StateConnected, StateRunning, StateLost}; !equalStates(got, want) {
			t.Fatalf("%s: events %v, want %v", name, got, want)
		}
	}
	if srv.Refs() != 1 {
		t.Fatalf("refs %d", srv.Refs())
	}
}

// testAppHandleDisconnect.
func TestHandleDisconnect(t *testing.T) {
	srv := newTestServer(t, nil)
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)
	disconnected := make(chan struct{})
	b := &Backend{OnDisconnected: func() { close(disconnected) }}
	if err := b.Connect(h.BackendConf()); err != nil {
		t.Fatal(err)
	}
	b.SetState(StateRunning)
	rec.awaitState(StateRunning)
	if srv.Refs() != 2 {
		t.Fatalf("refs %d", srv.Refs())
	}
	h.Disconnect()
	if h.State() != StateLost || !h.Disposed() {
		t.Fatalf("state %v disposed=%v", h.State(), h.Disposed())
	}
	<-disconnected
	if srv.Refs() != 1 {
		t.Fatalf("refs %d after disconnect", srv.Refs())
	}
	b.Close()
	h.Disconnect() // idempotent
}

func TestServerCloseLosesConnectedHandles(t *testing.T) {
	srv, err := NewServer(ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	h, _ := srv.NewHandle(rec)
	pending, _ := srv.NewHandle()
	b := &Backend{}
	b.Connect(h.BackendConf())
	rec.awaitState(StateConnected)
	srv.Close()
	<-h.Done()
	if h.State() != StateLost {
		t.Fatalf("state %v", h.State())
	}
	if pending.State() != StateUnknown {
		t.Fatalf("pending state %v", pending.State())
	}
	b.Close()
	pending.Disconnect()
	if _, err := srv.NewHandle(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("NewHandle after Close: %v", err)
	}
}

func TestBackendWithoutRendezvous(t *testing.T) {
	t.Setenv(EnvLauncherPort, "")
	t.Setenv(EnvLauncherSecret, "")
	os.Unsetenv(EnvLauncherPort)
	os.Unsetenv(EnvLauncherSecret)
	b := &Backend{}
	for _, conf := range []map[string]string{nil, {ConfLauncherSecret: "x"}, {ConfLauncherPort: "1"}} {
		if err := b.Connect(conf); err != nil || b.IsConnected() {
			t.Fatalf("Connect(%v) = %v, connected=%v", conf, err, b.IsConnected())
		}
	}
	if err := b.Connect(map[string]string{ConfLauncherPort: "nope", ConfLauncherSecret: "x"}); err == nil {
		t.Fatal("bad port accepted")
	}
	if err := b.SetAppID("x"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SetAppID: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
