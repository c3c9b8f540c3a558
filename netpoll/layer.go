package netpoll

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/valyala/bytebufferpool"
)

// Sealer is the writing half of a session encryption layer (AES-CTR after
// the AuthEngine handshake, SASL auth-conf wrapping). It sits below the
// frame codec, so it sees whole frames, length fields included; on a TLS
// connection it sits below TLS too and sees the TLS records.
//
// Seal is called by one goroutine at a time, in the order the bytes go on
// the wire.
type Sealer interface {
	// Seal appends the wire form of plaintext p to dst. A layer with its
	// own record framing may split p into several records.
	Seal(dst, p []byte) ([]byte, error)
}

// Opener is the reading half of a session encryption layer. Open is called
// by one goroutine at a time, with the wire bytes in arrival order.
type Opener interface {
	// Open appends to dst the plaintext of wire. A layer with record
	// framing keeps an incomplete record until the rest arrives, so the
	// result may be shorter or longer than wire. An error is fatal for the
	// connection (tampering, a bad MAC, a malformed record).
	Open(dst, wire []byte) ([]byte, error)
}

// StreamOpener is an Opener whose output has the length of its input (a
// stream cipher such as AES-CTR). The transport then decrypts in place.
type StreamOpener interface {
	Opener
	// XORInPlace turns wire bytes into plaintext in place.
	XORInPlace(p []byte)
}

// sealChunk bounds how many plaintext bytes are sealed into one scratch
// buffer before it is written, so a 100 MiB body never doubles in memory.
const sealChunk = 256 << 10

// ErrEarlyData is returned when a peer sends bytes after its last
// handshake message but before the handshake's answer could have reached
// it. A peer that does so is not following the protocol.
var ErrEarlyData = errors.New("peer sent data before the authentication handshake finished")

// enableEncryption installs a session encryption layer on the connection
// (Setup.EnableEncryption).
// Frames queued before the call (the handshake's last answer, typically)
// go out as they are; every byte written after them goes through seal,
// and every byte read from now on through open.
//
// On a TLS connection the layer goes under TLS, as Spark orders them: the
// TLS records written after those frames are sealed, and the records read
// from now on are opened before TLS reads them.
//
// Authentication bootstraps call it: on the server inside Receive, right
// after answering the final handshake message, and on the client once the
// final answer has arrived and before anything else is sent. It may be
// called once per connection.
func (c *Client) enableEncryption(seal Sealer, open Opener) error {
	if seal == nil || open == nil {
		return errors.New("netpoll: EnableEncryption needs both halves of the layer")
	}
	if !c.layerOn.CompareAndSwap(false, true) {
		return errors.New("netpoll: an encryption layer is already installed on " + c.remote)
	}
	if t, ok := c.raw.(*tlsConn); ok {
		// Under TLS the layer seals and opens the TLS records (Spark's
		// order: cipher(TLS(frames))), below tls.Conn.
		t.layer.opener.Store(&openerBox{open})
	} else {
		c.installOpener(open)
	}
	// The marker goes through the write queue, so the switch happens
	// exactly between the frames queued before and after this call.
	return c.queue1(outMsg{sealer: seal})
}

// closeAfterWrites closes the connection with cause once every frame
// queued before the call is on the wire, so that a last answer (an auth
// failure, say) reaches the peer before the connection ends.
func (c *Client) closeAfterWrites(cause error) {
	if cause == nil {
		cause = ErrClosed
	}
	if err := c.queue1(outMsg{closeWith: cause}); err != nil {
		c.shutdown(&ConnError{Op: "close", Addr: c.remote, Err: cause})
	}
}

// Encrypted reports whether a session encryption layer is installed.
func (c *Client) Encrypted() bool { return c.layerOn.Load() }

// installOpener makes every byte read from now on go through open.
func (c *Client) installOpener(open Opener) { c.opener.Store(&openerBox{open}) }

type openerBox struct{ Opener }

// sealedConn is what the writer writes through once a Sealer is
// installed: every byte is sealed, and files are read and sealed in pieces
// instead of going out with sendfile.
type sealedConn struct {
	inner frameWriter
	seal  Sealer
	out   []byte // sealed bytes waiting to be written; owned by the flusher
	one   [1][]byte

	// For a stream cipher: the sealer, and writeInPlace bound once (a
	// method value made per file region would allocate).
	stream   StreamSealer
	xorWrite func([][]byte) error
}

func newSealedConn(inner frameWriter, seal Sealer) *sealedConn {
	s := &sealedConn{inner: inner, seal: seal}
	if ss, ok := seal.(StreamSealer); ok {
		s.stream = ss
		s.xorWrite = s.writeInPlace
	}
	return s
}

func (s *sealedConn) writev(bufs [][]byte) error {
	defer func() {
		if cap(s.out) > 4*sealChunk {
			s.out = nil // do not keep an outsized scratch
		}
	}()
	s.out = s.out[:0]
	for _, b := range bufs {
		for len(b) > 0 {
			n := len(b)
			if n > sealChunk {
				n = sealChunk
			}
			var err error
			if s.out, err = s.seal.Seal(s.out, b[:n]); err != nil {
				return fmt.Errorf("encrypting: %w", err)
			}
			b = b[n:]
			if len(s.out) >= sealChunk {
				if err := s.flushOut(); err != nil {
					return err
				}
			}
		}
	}
	return s.flushOut()
}

func (s *sealedConn) flushOut() error {
	if len(s.out) == 0 {
		return nil
	}
	s.one[0] = s.out
	err := s.inner.writev(s.one[:])
	s.one[0] = nil
	s.out = s.out[:0]
	return err
}

// sendFile reads the region in pieces and writes each sealed. A stream
// cipher encrypts each piece in place, saving a copy.
func (s *sealedConn) sendFile(f *os.File, off, n int64) error {
	if s.xorWrite != nil {
		return copyFileChunks(f, off, n, sealFileChunk, s.xorWrite)
	}
	return copyFileChunks(f, off, n, sealChunk, s.writev)
}

// writeInPlace encrypts pieces the transport owns in place and writes them.
func (s *sealedConn) writeInPlace(b [][]byte) error {
	for _, p := range b {
		s.stream.XORInPlace(p)
	}
	return s.inner.writev(b)
}

// StreamSealer is a Sealer whose output has the length of its input (a
// stream cipher): buffers the transport owns are encrypted in place.
type StreamSealer interface {
	Sealer
	XORInPlace(p []byte)
}

// sealFileChunk is the piece size for file regions under a stream cipher.
const sealFileChunk = 1 << 20

// copyFileChunks reads n bytes of f from off in pieces of at most chunk
// bytes and passes each to write.
func copyFileChunks(f *os.File, off, n int64, chunk int, write func([][]byte) error) error {
	bb := bytebufferpool.Get()
	defer bytebufferpool.Put(bb)
	if cap(bb.B) < chunk {
		bb.B = make([]byte, chunk)
	}
	buf := bb.B[:chunk]
	var one [1][]byte
	for n > 0 {
		k := int64(len(buf))
		if k > n {
			k = n
		}
		m, err := f.ReadAt(buf[:k], off)
		if m > 0 {
			one[0] = buf[:m]
			if werr := write(one[:]); werr != nil {
				return werr
			}
			off += int64(m)
			n -= int64(m)
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				return io.ErrUnexpectedEOF // the file is shorter than the segment
			}
			return err
		}
	}
	return nil
}
