package shuffle

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// The shuffle service with spark.authenticate on: Spark's
// ExternalShuffleSecuritySuite (testValid, testBadAppId, testBadSecret,
// testEncryption), over both io modes and every way of securing a
// connection. The service and its clients configure themselves from the
// conf (auth.Configure), as in production.

const (
	secAppID  = "my-app-id"
	secSecret = "s3cr3t-of-my-app-7f0e" // distinctive: the logs must not show it
)

// secModes are the authentication protocols, each as conf overrides on
// top of spark.authenticate=true.
var secModes = []struct {
	name string
	kv   []string
	// encrypted: the session is encrypted after the handshake.
	encrypted bool
}{
	{"sasl", nil, false},
	{"sasl-auth-conf", []string{"spark.authenticate.enableSaslEncryption=true"}, true},
	{"aes-ctr-v1", []string{"spark.network.crypto.enabled=true"}, true},
	{"aes-ctr-v2", []string{"spark.network.crypto.enabled=true", "spark.network.crypto.authEngineVersion=2"}, true},
}

// secConf is testConf with spark.authenticate on and secret.
func secConf(mode, secret string, kv ...string) *sparkconf.Conf {
	return testConf(mode, append([]string{"spark.authenticate=true", "spark.authenticate.secret=" + secret}, kv...)...)
}

// logBuffer is a slog destination tests can search.
type logBuffer = testutil.LogBuffer

// secService is an authenticating shuffle service with one registered
// executor's map output (app secAppID, executor "exec-0").
type secService struct {
	svc  *Service
	logs *logBuffer
	sh   *shuffleFiles
	dirs []string
}

// startSecService starts a service from conf, logging into a buffer.
// secrets, when set, replaces the conf's single secret (Spark's suite
// uses a secret holder that knows one app only).
func startSecService(t *testing.T, conf *sparkconf.Conf, secrets auth.Secrets) *secService {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var boots []netpoll.ServerBootstrap
	if secrets != nil {
		ac, err := auth.NewConf(conf, "shuffle")
		if err != nil {
			t.Fatal(err)
		}
		b, err := auth.NewServerBootstrap(ac, secrets, log)
		if err != nil {
			t.Fatal(err)
		}
		boots = append(boots, b)
	}
	svc, err := NewService(ServiceConfig{Conf: conf, Host: localhost, Port: 0, Logger: log, Bootstraps: boots})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	dirs := newExecDirs(t, 2)
	return &secService{svc: svc, logs: logs, dirs: dirs, sh: writeShuffle(t, dirs, 3, 2, 3, nil)}
}

// ids is every block id of the service's shuffle.
func (s *secService) ids() []string {
	var out []string
	for m := 0; m < s.sh.maps; m++ {
		for r := 0; r < s.sh.reduces; r++ {
			out = append(out, s.sh.id(m, r))
		}
	}
	return out
}

// fetchAll fetches every block of the shuffle from port with both fetch
// protocols and returns the two listeners (new protocol first).
func (s *secService) fetchAll(t *testing.T, cl *Client, port int) [2]*recListener {
	t.Helper()
	var out [2]*recListener
	for i, old := range []bool{false, true} {
		cl.useOld = old
		l := newRecListener(len(s.ids()))
		cl.FetchBlocks(localhost, port, "exec-0", s.ids(), nil, l)
		l.wait(t)
		out[i] = l
	}
	cl.useOld = false
	return out
}

// validate is the suite's validate(): register an executor with the
// service and fetch its blocks through port (the service's or a relay's).
// The service must then have wantExecs registered executors.
func (s *secService) validate(t *testing.T, cl *Client, port, wantExecs int) {
	t.Helper()
	if err := cl.RegisterWithShuffleServer(localhost, port, "exec-0", execInfo(s.dirs)); err != nil {
		t.Fatalf("RegisterWithShuffleServer: %v", err)
	}
	if n := s.svc.RegisteredExecutors(); n != wantExecs {
		t.Fatalf("service has %d registered executors, want %d", n, wantExecs)
	}
	for _, l := range s.fetchAll(t, cl, port) {
		l.checkOK(t, s.sh.expected())
	}
	c := conn(t, cl, port)
	if id := c.ClientID(); id != secAppID {
		t.Errorf("the connection authenticated as %q, want %q", id, secAppID)
	}
}

// TestSecurityValid: with the right secret, an executor registers and
// its blocks are fetched, whatever the protocol (testValid).
func TestSecurityValid(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, sm := range secModes {
			t.Run(sm.name, func(t *testing.T) {
				checkLeaks(t)
				conf := secConf(mode, secSecret, sm.kv...)
				s := startSecService(t, conf, nil)
				cl := newClient(t, conf, secAppID)
				s.validate(t, cl, s.svc.Port(), 1)
				if got := conn(t, cl, s.svc.Port()).Encrypted(); got != sm.encrypted {
					t.Errorf("connection encrypted: %t, want %t", got, sm.encrypted)
				}
				if n := s.svc.Metrics().BlocksServed.Load(); n != int64(2*len(s.ids())) {
					t.Errorf("service served %d blocks, want %d", n, 2*len(s.ids()))
				}
				if strings.Contains(s.logs.String(), secSecret) {
					t.Errorf("the service's log shows the secret:\n%s", s.logs.String())
				}
			})
		}
	})
}

// oneApp is Spark's TestSecretKeyHolder: it knows the secret of one
// application only.
type oneApp struct{ app, secret string }

func (o oneApp) SecretKey(appID string) (string, bool) {
	if appID != o.app {
		return "", false
	}
	return o.secret, true
}

// TestSecurityBadAppID: an application the service has no secret for is
// refused at authentication (testBadAppId), and an application that
// authenticated cannot register or fetch for another one.
func TestSecurityBadAppID(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, sm := range secModes {
			t.Run(sm.name, func(t *testing.T) {
				checkLeaks(t)
				conf := secConf(mode, secSecret, sm.kv...)
				s := startSecService(t, conf, oneApp{secAppID, secSecret})

				// An unknown application: the handshake fails, the client
				// hears only that authentication failed, the service's log
				// says why.
				wrong := newClient(t, conf, "wrong-app-id")
				err := wrong.RegisterWithShuffleServer(localhost, s.svc.Port(), "exec-0", execInfo(s.dirs))
				checkAuthFailure(t, "RegisterWithShuffleServer as wrong-app-id", err, true)
				waitLog(t, s.logs, `non-registered app \"wrong-app-id\"`)
				if n := s.svc.RegisteredExecutors(); n != 0 {
					t.Fatalf("%d executors registered by an unauthenticated client", n)
				}

				// The known application authenticates, and then names another
				// application in its messages: refused by the handler.
				boot, err := auth.NewClientBootstrap(mustAuthConf(t, conf), secAppID, quietLogger())
				if err != nil {
					t.Fatal(err)
				}
				cl, err := NewClient(ClientConfig{Conf: conf, AppID: "other-app", TmpDir: t.TempDir(), Logger: quietLogger(),
					Bootstraps: []netpoll.ClientBootstrap{boot}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cl.Close() })
				err = cl.RegisterWithShuffleServer(localhost, s.svc.Port(), "exec-0", execInfo(s.dirs))
				var re *netpoll.RemoteError
				if !errors.As(err, &re) || !strings.Contains(re.Msg, "Client for "+secAppID+" not authorized for application other-app") {
					t.Errorf("registering for another application: %v; want a failure naming both applications", err)
				}
				if n := s.svc.RegisteredExecutors(); n != 0 {
					t.Fatalf("%d executors registered for another application", n)
				}
				// Its own executor registered, other-app's blocks (the same
				// files, under other-app's name) are not served to it.
				if err := s.svc.RegisterExecutor("other-app", "exec-0", execInfo(s.dirs)); err != nil {
					t.Fatal(err)
				}
				for _, l := range s.fetchAll(t, cl, s.svc.Port()) {
					l.checkFailed(t, "not authorized", s.ids()...)
				}
				if n := s.svc.Metrics().BlocksServed.Load(); n != 0 {
					t.Errorf("%d blocks served to a client of another application", n)
				}
				if id := conn(t, cl, s.svc.Port()).ClientID(); id != secAppID {
					t.Errorf("the connection authenticated as %q, want %q", id, secAppID)
				}

				// The known application, under its own name, is served.
				s.validate(t, newClient(t, conf, secAppID), s.svc.Port(), 2)
			})
		}
	})
}

// TestSecurityBadSecret: a client with another secret cannot register or
// fetch (testBadSecret), nor can one without authentication; the service
// still serves the right secret afterwards.
func TestSecurityBadSecret(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, sm := range secModes {
			t.Run(sm.name, func(t *testing.T) {
				checkLeaks(t)
				s := startSecService(t, secConf(mode, secSecret, sm.kv...), nil)
				if err := s.svc.RegisterExecutor(secAppID, "exec-0", execInfo(s.dirs)); err != nil {
					t.Fatal(err)
				}
				// The client with the wrong secret fails its handshake; the
				// one without authentication sends its registration, which
				// the service takes for a handshake and refuses.
				clients := []struct {
					name      string
					cl        *Client
					bootstrap bool
				}{
					{"bad-secret", newClient(t, secConf(mode, "bad-s3cr3t", sm.kv...), secAppID), true},
					{"no-auth", newClient(t, testConf(mode), secAppID), false},
				}
				for _, c := range clients {
					name, cl := c.name, c.cl
					err := cl.RegisterWithShuffleServer(localhost, s.svc.Port(), "exec-1", execInfo(s.dirs))
					checkAuthFailure(t, name+": RegisterWithShuffleServer", err, c.bootstrap)
					for _, l := range s.fetchAll(t, cl, s.svc.Port()) {
						l.checkFailed(t, "uthenticat", s.ids()...)
					}
				}
				waitLog(t, s.logs, "authentication failed")
				if n := s.svc.RegisteredExecutors(); n != 1 {
					t.Errorf("%d registered executors, want only the one registered locally", n)
				}
				if n := s.svc.Metrics().BlocksServed.Load(); n != 0 {
					t.Errorf("%d blocks served without authentication", n)
				}
				if strings.Contains(s.logs.String(), "bad-s3cr3t") {
					t.Errorf("the service's log shows the client's secret:\n%s", s.logs.String())
				}
				s.validate(t, newClient(t, secConf(mode, secSecret, sm.kv...), secAppID), s.svc.Port(), 1)
			})
		}
	})
}

// TestSecurityEncryption: with SASL auth-conf or AES-CTR a real
// registration and fetch work through a relay that records the traffic,
// and neither the blocks nor the registration's paths cross it in the
// clear (testEncryption). Plain SASL, authenticated but not encrypted,
// shows both: the check can fail.
func TestSecurityEncryption(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		for _, sm := range secModes {
			t.Run(sm.name, func(t *testing.T) {
				checkLeaks(t)
				conf := secConf(mode, secSecret, sm.kv...)
				s := startSecService(t, conf, nil)
				cl := newClient(t, conf, secAppID)
				relay := startRelay(t, s.svc.Port())
				s.validate(t, cl, relay.port(), 1)
				if got := conn(t, cl, relay.port()).Encrypted(); got != sm.encrypted {
					t.Errorf("connection encrypted: %t, want %t", got, sm.encrypted)
				}
				block := s.sh.data(1, 2)
				if len(block) == 0 {
					t.Fatal("test data: the probed block is empty")
				}
				for what, plain := range map[string][]byte{
					"block data":       block,
					"an executor path": []byte(s.dirs[1]),
				} {
					if seen := relay.saw(plain); seen == sm.encrypted {
						t.Errorf("%s in the clear on the wire: %t; encryption: %t", what, seen, sm.encrypted)
					}
				}
			})
		}
	})
}

// checkAuthFailure fails unless err says authentication failed: a failed
// connection bootstrap (the client's handshake) when bootstrap, else the
// service's refusal of an unauthenticated request.
func checkAuthFailure(t *testing.T, what string, err error, bootstrap bool) {
	t.Helper()
	var ce *netpoll.ConnError
	var re *netpoll.RemoteError
	switch {
	case err == nil:
		t.Errorf("%s succeeded; want an authentication failure", what)
	case bootstrap && (!errors.As(err, &ce) || ce.Op != "bootstrap"):
		t.Errorf("%s: %v; want a failed connection bootstrap", what, err)
	case bootstrap && !strings.Contains(ce.Err.Error(), "auth: "):
		t.Errorf("%s: %v; want the handshake's error", what, err)
	case !bootstrap && !errors.As(err, &re):
		t.Errorf("%s: %v; want the service's refusal", what, err)
	case !strings.Contains(err.Error(), "Authentication failed"):
		t.Errorf("%s: %v; want it to say the authentication failed", what, err)
	}
}

func mustAuthConf(t *testing.T, conf *sparkconf.Conf) *auth.Conf {
	t.Helper()
	c, err := auth.NewConf(conf, "shuffle")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitLog polls logs until it contains s (the service logs a refusal on
// its own goroutine, maybe after the client heard of it).
func waitLog(t *testing.T, logs *logBuffer, s string) {
	t.Helper()
	testutil.Eventually(t, testutil.WaitLimit, "the service to log "+strconv.Quote(s), func() (bool, string) {
		return strings.Contains(logs.String(), s), logs.String()
	})
}

// relay is a loopback TCP relay that records the bytes going both ways.
type relay struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex // guards the following
	seen  bytes.Buffer
	conns []net.Conn
}

// startRelay relays connections to target until the test ends; its
// cleanup closes every connection and waits for its goroutines.
func startRelay(t *testing.T, target int) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", localhost+":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", net.JoinHostPort(localhost, strconv.Itoa(target)))
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, s)
			r.mu.Unlock()
			r.wg.Add(2)
			go r.pipe(s, c)
			go r.pipe(c, s)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, io.TeeReader(src, r))
	dst.Close()
	src.Close()
}

func (r *relay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.Write(p)
}

// saw reports whether b crossed the relay in one piece.
func (r *relay) saw(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.seen.Bytes(), b)
}

func (r *relay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }
