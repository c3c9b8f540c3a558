package bench

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	cwnetpoll "github.com/cloudwego/netpoll"
)

// BenchmarkNetpollRawEcho is cloudwego/netpoll on its own: an echo server
// on netpoll's event loop and a ping-pong client on a netpoll connection,
// with the raw baseline's framing (8-byte length + payload) and no Ember
// code at all. Next to BenchmarkRawTCPPingPong (Go's net) and
// BenchmarkRPC/EPOLL it separates what the reactor costs from what Ember's
// transport adds on top of it.
func BenchmarkNetpollRawEcho(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(echoSizeName(size), func(b *testing.B) { benchNetpollEcho(b, size) })
	}
}

func echoSizeName(n int) string {
	if n >= 1024 {
		return echoItoa(n/1024) + "KiB"
	}
	return echoItoa(n) + "B"
}

func echoItoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// startNetpollEcho starts an echo server on netpoll's event loop on
// 127.0.0.1:0 that answers every frame (8-byte big-endian length, then the
// payload) with the frame itself; b.Cleanup shuts it down. It returns the
// server's address.
func startNetpollEcho(b *testing.B) string {
	b.Helper()
	ln, err := cwnetpoll.CreateListener("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	evl, err := cwnetpoll.NewEventLoop(func(_ context.Context, c cwnetpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		for r.Len() > 0 {
			head, err := r.Peek(8)
			if err != nil {
				return err
			}
			n := int(binary.BigEndian.Uint64(head))
			frame, err := r.Next(8 + n)
			if err != nil {
				return err
			}
			if _, err := w.WriteBinary(frame); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_ = r.Release()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = evl.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = evl.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func benchNetpollEcho(b *testing.B, size int) {
	addr := startNetpollEcho(b)
	conn, err := cwnetpoll.DialConnection("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	_ = conn.SetReadTimeout(30 * time.Second)
	msg := make([]byte, 8+size)
	binary.BigEndian.PutUint64(msg, uint64(size))
	lat := make([]int64, b.N)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := nanotime()
		w := conn.Writer()
		if _, err := w.WriteBinary(msg); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		r := conn.Reader()
		if _, err := r.Next(8 + size); err != nil {
			b.Fatal(err)
		}
		_ = r.Release()
		lat[i] = nanotime() - t0
	}
	reportDist(b, lat, time.Since(start))
}
