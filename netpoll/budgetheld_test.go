package netpoll

import (
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// onlyServerConn returns the server's side of its one connection.
func onlyServerConn(t testing.TB, s *Server) *Client {
	t.Helper()
	var c *Client
	waitFor(t, "the server's connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.clients {
			c = sc
		}
		return len(s.clients) == 1
	})
	return c
}

// What a connection's input side keeps between reading passes counts
// against the process budget while it is held, and comes off when the
// connection closes: the spare large-frame buffer left by a large frame,
// a kept small partial frame, and the pass buffer a larger incomplete
// frame keeps. (Before, only a large frame being received counted: a
// connection could hold a 2 MiB spare and a 64 KiB pass buffer unseen.)
func TestBudgetCountsKeptInput(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			checkLeaks(t)
			h := newEchoHandler(nil)
			e := newEnv(t, testConf(t, mode), h)
			conn := rawDial(t, e.srv.Port())
			sc := onlyServerConn(t, e.srv)

			// A 1 MiB one-way message: received into a buffer of its
			// size, which stays as the spare once it is handled.
			big := frame(t, &codec.Message{Type: codec.TypeOneWayMessage}, make([]byte, 1<<20))
			if _, err := conn.Write(big); err != nil {
				t.Fatal(err)
			}
			recv(t, h.got, "the large one-way message")
			waitFor(t, "the spare buffer counted", func() bool { return sc.held.Load() >= 1<<20 })

			// A small partial frame: kept between passes, counted.
			small := frame(t, &codec.Message{Type: codec.TypeOneWayMessage}, make([]byte, 100))
			if _, err := conn.Write(small[:50]); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the kept partial frame counted", func() bool { return sc.held.Load() >= 1<<20+50 })
			if _, err := conn.Write(small[50:]); err != nil {
				t.Fatal(err)
			}
			recv(t, h.got, "the small one-way message")

			// A larger partial frame (over keepSmall) keeps the pass
			// buffer: counted at its full size.
			mid := frame(t, &codec.Message{Type: codec.TypeOneWayMessage}, make([]byte, 32<<10))
			if _, err := conn.Write(mid[:16<<10]); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the pass buffer counted", func() bool { return sc.held.Load() >= 1<<20+readBufSize })
			if _, err := conn.Write(mid[16<<10:]); err != nil {
				t.Fatal(err)
			}
			recv(t, h.got, "the 32 KiB one-way message")

			conn.Close()
			waitDone(t, sc.Done(), "the server's side to close")
			if n := sc.held.Load(); n != 0 {
				t.Fatalf("a closed connection still holds %d bytes against the budget", n)
			}
		})
	}
}
