package launcher

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// Rendezvous names (LAUNCHER.md §7, CONFIG.md §6).
const (
	EnvLauncherPort   = "_SPARK_LAUNCHER_PORT"
	EnvLauncherSecret = "_SPARK_LAUNCHER_SECRET"

	ConfLauncherPort   = "spark.launcher.port"
	ConfLauncherSecret = "spark.launcher.secret"

	// ConfChildConnectionTimeout is how long, in milliseconds, the server
	// waits for a connection's Hello; also how long a child's exit waits
	// for its connection to drain. Default 10000; ≤ 0 closes new
	// connections at once.
	ConfChildConnectionTimeout = "spark.launcher.childConnectionTimeout"
	// confChildConnectionTimeoutOld is the misspelled key Spark still
	// accepts (with a warning).
	confChildConnectionTimeoutOld = "spark.launcher.childConectionTimeout"

	// DefaultChildConnectionTimeoutMs is the default of
	// ConfChildConnectionTimeout.
	DefaultChildConnectionTimeoutMs = 10000

	// ProtocolVersion is sent in Hello by the Backend.
	ProtocolVersion = "ember-launcher-1"

	// MaxFrameSize is the largest frame body accepted or written.
	MaxFrameSize = 64 << 10
)

// Message type names on the wire.
const (
	typeHello    = "hello"
	typeSetAppID = "setAppId"
	typeSetState = "setState"
	typeStop     = "stop"
	// typeSync is internal: a server dials itself with its own token to
	// make sure every connection queued before has been accepted.
	typeSync = "sync"
)

// Message is one launcher protocol message: *Hello, *SetAppID, *SetState
// or *Stop.
type Message interface{ messageType() string }

// Hello is the first message of a backend: the handle's secret and the
// backend's version.
type Hello struct {
	Secret  string
	Version string
}

// SetAppID reports the application id.
type SetAppID struct{ AppID string }

// SetState reports a new application state.
type SetState struct{ State State }

// Stop asks the application to stop (server → backend).
type Stop struct{}

// syncMsg is the server's own accept-queue marker.
type syncMsg struct{ Token string }

func (*Hello) messageType() string    { return typeHello }
func (*SetAppID) messageType() string { return typeSetAppID }
func (*SetState) messageType() string { return typeSetState }
func (*Stop) messageType() string     { return typeStop }
func (*syncMsg) messageType() string  { return typeSync }

// envelope is the JSON object of a frame.
type envelope struct {
	Type    string `json:"type"`
	Secret  string `json:"secret,omitempty"`
	Version string `json:"version,omitempty"`
	AppID   string `json:"appId,omitempty"`
	State   string `json:"state,omitempty"`
}

// Protocol errors.
var (
	ErrFrameTooLarge  = errors.New("launcher: frame too large")
	ErrEmptyFrame     = errors.New("launcher: empty frame")
	ErrUnknownMessage = errors.New("launcher: unknown message type")
)

// EncodeMessage returns the frame body (JSON) of m.
func EncodeMessage(m Message) ([]byte, error) {
	var e envelope
	switch v := m.(type) {
	case *Hello:
		e = envelope{Type: typeHello, Secret: v.Secret, Version: v.Version}
	case *SetAppID:
		e = envelope{Type: typeSetAppID, AppID: v.AppID}
	case *SetState:
		name, err := v.State.MarshalText()
		if err != nil {
			return nil, err
		}
		e = envelope{Type: typeSetState, State: string(name)}
	case *Stop:
		e = envelope{Type: typeStop}
	case *syncMsg:
		e = envelope{Type: typeSync, Secret: v.Token}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownMessage, m)
	}
	return json.Marshal(&e)
}

// DecodeMessage parses a frame body.
func DecodeMessage(body []byte) (Message, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("launcher: bad message: %w", err)
	}
	switch e.Type {
	case typeHello:
		return &Hello{Secret: e.Secret, Version: e.Version}, nil
	case typeSetAppID:
		return &SetAppID{AppID: e.AppID}, nil
	case typeSetState:
		s, err := ParseState(e.State)
		if err != nil {
			return nil, err
		}
		return &SetState{State: s}, nil
	case typeStop:
		return &Stop{}, nil
	case typeSync:
		return &syncMsg{Token: e.Secret}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownMessage, e.Type)
}

// WriteMessage writes m as one frame.
func WriteMessage(w io.Writer, m Message) error {
	body, err := EncodeMessage(m)
	if err != nil {
		return err
	}
	if len(body) > MaxFrameSize {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err = w.Write(buf)
	return err
}

// ReadMessage reads one frame and decodes it. A clean end of stream before
// a frame starts gives io.EOF.
func ReadMessage(r io.Reader) (Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return DecodeMessage(body)
}

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
