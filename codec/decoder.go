package codec

import (
	"encoding/binary"
	"fmt"
)

// Source is a buffered byte stream that frames are pulled from. The
// cloudwego/netpoll Reader satisfies it, and so does BufReader.
//
// Peek and Next block until n bytes are buffered (or the stream fails). The
// slices they return stay valid until Release is called, so every frame of a
// batch can be handled before the memory under it is reused.
type Source interface {
	Len() int
	Peek(n int) ([]byte, error)
	Next(n int) ([]byte, error)
	Release() error
}

// Interceptor receives the raw bytes that follow a StreamResponse or an
// UploadStream frame. Exactly one of OnComplete or OnFailure is called, once.
type Interceptor interface {
	// OnData gets the next piece of the raw bytes. p is valid only during the
	// call. A returned error is fatal for the connection.
	OnData(p []byte) error
	// OnComplete is called once every byte has been passed to OnData.
	OnComplete() error
	// OnFailure is called if the stream ends before all bytes arrived.
	OnFailure(err error)
}

// Decoder pulls frames from a Source one at a time. After each frame the
// caller may install an interceptor, which takes the bytes that follow before
// the next frame is parsed. A Decoder is owned by one goroutine.
type Decoder struct {
	msg Message
	// MaxFrameLength caps the frame length field; 0 means Spark's limit.
	MaxFrameLength int64

	ic          Interceptor
	icRemaining int64
}

// NewDecoder returns a decoder with Spark's frame limits.
func NewDecoder() *Decoder { return &Decoder{} }

// SetInterceptor makes the next n raw bytes of the stream go to ic. With n == 0
// it calls ic.OnComplete at once and installs nothing. Installing a second
// interceptor while one is active fails with ErrInterceptorInstalled.
func (d *Decoder) SetInterceptor(n int64, ic Interceptor) error {
	if d.ic != nil {
		return ErrInterceptorInstalled
	}
	if n < 0 {
		return fmt.Errorf("%w: negative interceptor length %d", ErrMalformed, n)
	}
	if n == 0 {
		return ic.OnComplete()
	}
	d.ic, d.icRemaining = ic, n
	return nil
}

// Intercepting reports whether an interceptor is active.
func (d *Decoder) Intercepting() bool { return d.ic != nil }

// Fail tells an active interceptor that the stream ended with err and removes
// it. The owner calls it when the connection closes or fails.
func (d *Decoder) Fail(err error) {
	if ic := d.ic; ic != nil {
		d.ic = nil
		ic.OnFailure(err)
	}
}

// Decode returns the next frame of src. It first feeds an active
// interceptor, then blocks until a whole frame is buffered. The returned
// Message is reused by the next call; its slices are valid until
// src.Release().
func (d *Decoder) Decode(src Source) (*Message, error) {
	for d.ic != nil {
		if err := d.feedInterceptor(src); err != nil {
			return nil, err
		}
	}
	head, err := src.Peek(8)
	if err != nil {
		return nil, err
	}
	frameLen := int64(binary.BigEndian.Uint64(head))
	if err := d.checkLength(frameLen); err != nil {
		return nil, err
	}
	frame, err := src.Next(int(frameLen))
	if err != nil {
		return nil, err
	}
	if err := DecodeFrame(frame[8:], &d.msg); err != nil {
		return nil, err
	}
	return &d.msg, nil
}

func (d *Decoder) checkLength(frameLen int64) error {
	if frameLen <= 8 { // not frameLen-8 <= 0: that overflows for lengths near MinInt64
		return fmt.Errorf("%w: frame length field %d", ErrFrameLength, frameLen)
	}
	max := int64(MaxFrameLength)
	if d.MaxFrameLength > 0 && d.MaxFrameLength < max {
		max = d.MaxFrameLength
	}
	if frameLen > max {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, frameLen, max)
	}
	return nil
}

// feedInterceptor passes what is buffered (at least one byte, blocking for
// it) to the interceptor.
func (d *Decoder) feedInterceptor(src Source) error {
	n := int64(src.Len())
	if n == 0 {
		n = 1
	}
	if n > d.icRemaining {
		n = d.icRemaining
	}
	// Small pieces: a reactor's buffer is a list of nodes, and a read that
	// spans two nodes is copied into fresh memory; bounded pieces keep those
	// copies rare and small.
	if n > maxFeed {
		n = maxFeed
	}
	p, err := src.Next(int(n))
	if err != nil {
		return err
	}
	d.icRemaining -= n
	ic := d.ic
	last := d.icRemaining == 0
	if last {
		d.ic = nil
	}
	if err := ic.OnData(p); err != nil {
		if last {
			ic.OnFailure(err) // already removed above, but it must still be told
		} else if d.ic != nil {
			d.ic = nil
			ic.OnFailure(err)
		}
		return err
	}
	if last {
		return ic.OnComplete()
	}
	return nil
}

// maxFeed bounds one piece passed to an interceptor.
const maxFeed = 128 << 10

// Feed passes the bytes src already holds (up to what the active
// interceptor still needs) to the interceptor, without blocking. Reactor
// loops use it so that a goroutine never parks waiting for stream bytes.
func (d *Decoder) Feed(src Source) error {
	if d.ic == nil || src.Len() == 0 {
		return nil
	}
	return d.feedInterceptor(src)
}
