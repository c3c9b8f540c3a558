package launcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
)

// Backend is the application side of the launcher channel (Spark's
// LauncherBackend): it connects back to the launcher's server, says Hello
// with its secret and reports the application id and state.
//
// Set the callbacks before Connect. OnStop runs on a new goroutine for
// every Stop received, so it may call SetState and Close. OnDisconnected
// runs once on the reader goroutine when the connection ends; it must not
// call Close.
type Backend struct {
	OnStop         func()
	OnDisconnected func()
	Logger         *slog.Logger

	mu        sync.Mutex
	conn      net.Conn
	connected bool
	lastState State
	hasLast   bool
	readDone  chan struct{}

	wmu sync.Mutex
}

// Connect reads the rendezvous from conf (spark.launcher.port /
// spark.launcher.secret), falling back to the environment
// (_SPARK_LAUNCHER_PORT / _SPARK_LAUNCHER_SECRET), and connects only if
// both a port and a secret are found; otherwise it returns nil and the
// backend stays unconnected (IsConnected is false).
func (b *Backend) Connect(conf map[string]string) error {
	port, okPort := conf[ConfLauncherPort]
	if !okPort {
		port, okPort = os.LookupEnv(EnvLauncherPort)
	}
	secret, okSecret := conf[ConfLauncherSecret]
	if !okSecret {
		secret, okSecret = os.LookupEnv(EnvLauncherSecret)
	}
	if !okPort || !okSecret {
		return nil
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("launcher: bad launcher port %q", port)
	}
	return b.ConnectTo(p, secret)
}

// ConnectTo connects to the server on 127.0.0.1:port and says Hello.
func (b *Backend) ConnectTo(port int, secret string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return errors.New("launcher: backend already connected")
	}
	conn, err := net.DialTCP("tcp", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return fmt.Errorf("launcher: connect: %w", err)
	}
	if err := WriteMessage(conn, &Hello{Secret: secret, Version: ProtocolVersion}); err != nil {
		conn.Close()
		return fmt.Errorf("launcher: hello: %w", err)
	}
	b.conn = conn
	b.connected = true
	b.readDone = make(chan struct{})
	go b.read(conn, b.readDone)
	return nil
}

// IsConnected reports whether the connection is up.
func (b *Backend) IsConnected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected
}

func (b *Backend) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.Default()
}

func (b *Backend) read(conn net.Conn, done chan struct{}) {
	defer close(done)
	for {
		msg, err := ReadMessage(conn)
		if err != nil {
			if isProtocolError(err) {
				b.log().Info("launcher backend: bad message from server", "err", err)
			}
			break
		}
		if _, ok := msg.(*Stop); !ok {
			b.log().Info("launcher backend: unexpected message", "type", msg.messageType())
			break
		}
		if f := b.OnStop; f != nil {
			go f()
		}
	}
	conn.Close()
	b.mu.Lock()
	b.connected = false
	b.mu.Unlock()
	if f := b.OnDisconnected; f != nil {
		f()
	}
}

func (b *Backend) send(m Message) error {
	b.mu.Lock()
	conn, ok := b.conn, b.connected
	b.mu.Unlock()
	if !ok {
		return ErrNotConnected
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return WriteMessage(conn, m)
}

// SetAppID reports the application id.
func (b *Backend) SetAppID(id string) error { return b.send(&SetAppID{AppID: id}) }

// SetState reports a state; a state equal to the last one sent is dropped.
func (b *Backend) SetState(s State) error {
	b.mu.Lock()
	if b.hasLast && b.lastState == s {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	if err := b.send(&SetState{State: s}); err != nil {
		return err
	}
	b.mu.Lock()
	b.lastState, b.hasLast = s, true
	b.mu.Unlock()
	return nil
}

// Close closes the connection and waits for the reader goroutine (which
// calls OnDisconnected). Closing an unconnected backend does nothing.
func (b *Backend) Close() error {
	b.mu.Lock()
	conn, done := b.conn, b.readDone
	b.mu.Unlock()
	if conn == nil {
		return nil
	}
	conn.Close()
	<-done
	return nil
}
