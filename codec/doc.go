// Package codec is Spark's transport wire format: the thirteen message types,
// their byte layouts, a frame encoder that writes headers into pooled buffers,
// a pull-style frame decoder with one stream interceptor at a time, and the
// managed buffers (in-memory bytes and file segments) that carry bodies.
//
// # Frames
//
// Every message on a connection is one frame:
//
//	i64 frameLength   // counts itself: 8 + 1 + headerLen (+ bodyLen when the body is in the frame)
//	i8  type          // see Type
//	... header fields // per type, big-endian
//	... body          // in-frame bodies only
//
// StreamResponse and UploadStream bodies are not in the frame: their
// ByteCount raw bytes follow it unframed. The decoder hands those bytes to an
// interceptor (see Decoder.SetInterceptor) before it parses the next frame.
//
// # Messages
//
// Message is one struct for all types (a tagged union) so that the decoder can
// reuse a single value per connection and the hot paths allocate nothing.
// Only the fields of Message.Type are meaningful; the table in types.go says
// which those are.
//
// Encoding writes the frame header (length, type, header fields, and nothing
// of the body) with AppendHeader; the caller sends the body after it without
// copying it (writev for bytes, sendfile for file segments). A FileSegment
// either opens its path itself or, from NewSharedFileSegment, reads a
// SharedFile its caller already opened (a reference-counted descriptor
// that many segments may send at once, at explicit offsets).
//
//	var m codec.Message
//	m.Type, m.RequestID = codec.TypeRpcRequest, 7
//	hdr, err := codec.AppendHeader(nil, &m, int64(len(payload)))
//	// write hdr, then payload
//
// Decoding pulls from a Source (a cloudwego/netpoll Reader, or this package's
// BufReader over any io.Reader):
//
//	d := codec.NewDecoder()
//	for {
//		m, err := d.Decode(src) // blocks until one whole frame is buffered
//		...                      // m and m.Body are valid until src.Release()
//	}
//
// # Concurrency
//
// A Decoder and a BufReader belong to one reading goroutine. Message values
// are plain data. ManagedBuffer implementations are safe for concurrent
// Retain/Release; their content must not be changed while shared.
package codec
