package bench

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkRawHandOff/<variant> is the raw 64-byte ping-pong of
// BenchmarkRawTCPPingPong (one connection, one message in flight) with the
// goroutine hand-offs an asynchronous RPC API adds, to price them on this
// machine (BENCHMARKS.md, "Why round-trip p50 stays"):
//
//   - raw: the caller writes and reads its own answer; the server goroutine
//     reads and writes its own reply;
//   - client: a reading goroutine receives each answer and signals the
//     caller over a channel (what a response callback that wakes its caller
//     does);
//   - server: the server's reader hands each reply to a writer goroutine
//     over a channel (what a connection's writer does);
//   - both: the two together.
func BenchmarkRawHandOff(b *testing.B) {
	for _, v := range []struct {
		name           string
		client, server bool
	}{{"raw", false, false}, {"client", true, false}, {"server", false, true}, {"both", true, true}} {
		b.Run(v.name, func(b *testing.B) { runHandOff(b, v.client, v.server) })
	}
}

// serveHandOff echoes 64-byte messages, through a writer goroutine when
// writer is set.
func serveHandOff(writer bool) func(net.Conn) {
	return func(conn net.Conn) {
		out := make(chan []byte, 16)
		done := make(chan struct{})
		if writer {
			go func() {
				defer close(done)
				for m := range out {
					if _, err := conn.Write(m); err != nil {
						return
					}
				}
			}()
		} else {
			close(done)
		}
		defer func() { close(out); <-done }()
		var buf [64]byte
		for {
			if _, err := io.ReadFull(conn, buf[:]); err != nil {
				return
			}
			if !writer {
				if _, err := conn.Write(buf[:]); err != nil {
					return
				}
				continue
			}
			m := make([]byte, len(buf))
			copy(m, buf[:])
			out <- m
		}
	}
}

func runHandOff(b *testing.B, clientHop, serverHop bool) {
	srv := startRawServer(b, serveHandOff(serverHop))
	conn := srv.dial(b, runLimit())
	answers := make(chan error, 1)
	if clientHop {
		go func() {
			var buf [64]byte
			for {
				_, err := io.ReadFull(conn, buf[:])
				answers <- err
				if err != nil {
					return
				}
			}
		}()
	}
	msg := make([]byte, 64)
	var buf [64]byte
	roundTrip := func() error {
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		if clientHop {
			return <-answers
		}
		_, err := io.ReadFull(conn, buf[:])
		return err
	}
	for range 16 { // warm up
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]int64, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := range lat {
		s := nanotime()
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
		lat[i] = nanotime() - s
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	reportDist(b, lat, elapsed)
}
