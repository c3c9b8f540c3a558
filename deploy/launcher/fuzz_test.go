package launcher

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// framed is body as one frame: a big-endian u32 length, then body.
func framed(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// launcherSeeds are frame streams: every message kind as the backend and
// the server write it, several frames in a row, and broken frames.
func launcherSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	msgs := []Message{
		&Hello{Secret: "0123abcd", Version: ProtocolVersion},
		&Hello{},
		&SetAppID{AppID: "app-20240101000000-0001"},
		&SetAppID{AppID: "é\x00<&>\U0001F600"},
		&SetState{State: StateRunning},
		&SetState{State: StateFinished},
		&Stop{},
		&syncMsg{Token: "tok"},
	}
	var all bytes.Buffer
	var seeds [][]byte
	for _, m := range msgs {
		var b bytes.Buffer
		if err := WriteMessage(&b, m); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
		all.Write(b.Bytes())
	}
	return append(seeds,
		all.Bytes(),               // a whole session
		all.Bytes()[:all.Len()/2], // cut inside a frame
		nil,
		[]byte{0, 0, 0, 0},             // empty frame
		[]byte{0xFF, 0xFF, 0xFF, 0xFF}, // too large
		[]byte{0, 1, 0, 1},             // just over MaxFrameSize
		framed(`{"type":"setState","state":"NOPE"}`),
		framed(`{"type":"nope"}`),
		framed(`{"type":"hello","secret":1}`),
		framed(`[]`),
		framed(`null`),
		framed(`{"TYPE":"SetAppId","APPID":"x"}`),
		framed("{\"type\":\"hello\",\"secret\":\"\xff\xfe\"}"),
	)
}

// FuzzReadMessage: reading frames from arbitrary bytes never panics and
// ends with a clear error or io.EOF; reading through one-byte reads gives
// the same messages; every message read writes back as a frame that reads
// as the same message (once normalised by the first read).
func FuzzReadMessage(f *testing.F) {
	for _, s := range launcherSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := readAll(bytes.NewReader(b))
		if err == nil {
			t.Fatal("readAll ended without an error")
		}
		if len(msgs) > len(b)/5+1 {
			t.Fatalf("%d messages out of %d bytes", len(msgs), len(b))
		}
		// A clean end only at a frame boundary; every other failure is one
		// of the protocol's errors or a truncated stream.
		switch {
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF),
			errors.Is(err, ErrEmptyFrame), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrUnknownMessage):
		default:
			if msg := err.Error(); len(msg) < len("launcher: ") || msg[:len("launcher: ")] != "launcher: " {
				t.Fatalf("error %q (%T) does not say it comes from the launcher protocol", msg, err)
			}
		}
		// Frames split at every byte decode the same.
		split, serr := readAll(iotest.OneByteReader(bytes.NewReader(b)))
		if !reflect.DeepEqual(split, msgs) || (serr == io.EOF) != (err == io.EOF) {
			t.Fatalf("one byte at a time: %v, %v; whole: %v, %v", split, serr, msgs, err)
		}
		for _, m := range msgs {
			var out bytes.Buffer
			if err := WriteMessage(&out, m); err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					continue // JSON escaping can grow a body past the limit
				}
				t.Fatalf("writing back %#v: %v", m, err)
			}
			back, err := ReadMessage(&out)
			if err != nil {
				t.Fatalf("reading back %#v: %v", m, err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("round trip: %#v became %#v", m, back)
			}
			if out.Len() != 0 {
				t.Fatalf("%d bytes left after one frame", out.Len())
			}
		}
	})
}

// readAll reads messages until the first error (bounded by the input: a
// frame is at least five bytes).
func readAll(r io.Reader) ([]Message, error) {
	var msgs []Message
	for {
		m, err := ReadMessage(r)
		if err != nil {
			return msgs, err
		}
		if m == nil {
			return msgs, errors.New("launcher: ReadMessage returned neither a message nor an error")
		}
		msgs = append(msgs, m)
	}
}

// FuzzDecodeMessage: a frame body either decodes to one of the protocol's
// messages or gives an error that names the launcher; every field of what
// decodes survives encoding and decoding again.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range launcherSeeds(f) {
		if len(s) > 4 {
			f.Add(s[4:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeMessage(body)
		if err != nil {
			if m != nil {
				t.Fatalf("DecodeMessage returned %#v with error %v", m, err)
			}
			if msg := err.Error(); len(msg) < len("launcher: ") || msg[:len("launcher: ")] != "launcher: " {
				t.Fatalf("error %q does not say it comes from the launcher protocol", msg)
			}
			return
		}
		switch v := m.(type) {
		case *Hello, *SetAppID, *Stop, *syncMsg:
		case *SetState:
			if _, err := v.State.MarshalText(); err != nil {
				t.Fatalf("decoded an invalid state %d", int(v.State))
			}
		default:
			t.Fatalf("decoded a %T", m)
		}
		enc, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("EncodeMessage(%#v): %v", m, err)
		}
		back, err := DecodeMessage(enc)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip of %#v: %#v, %v", m, back, err)
		}
	})
}
