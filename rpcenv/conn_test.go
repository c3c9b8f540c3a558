package rpcenv

import (
	"sync"
	"testing"
)

// connRecorder records the Conn of every send and ask, and the closes.
type connRecorder struct {
	mu     sync.Mutex
	sends  []connEvent
	asks   []connEvent
	closed []Conn
}

type connEvent struct {
	msg    any
	sender Address
	conn   Conn
}

func (r *connRecorder) Receive(any, Address) error {
	panic("a ConnReceiver gets ReceiveOver, not Receive")
}

func (r *connRecorder) ReceiveOver(msg any, sender Address, conn Conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sends = append(r.sends, connEvent{msg, sender, conn})
	return nil
}

func (r *connRecorder) ReceiveAndReply(msg any, cc CallContext) error {
	r.mu.Lock()
	r.asks = append(r.asks, connEvent{msg, cc.SenderAddress(), ConnOf(cc)})
	r.mu.Unlock()
	cc.Reply(true)
	return nil
}

func (r *connRecorder) OnConnClosed(c Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, c)
}

func (r *connRecorder) snapshot() (sends, asks []connEvent, closed []Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connEvent(nil), r.sends...), append([]connEvent(nil), r.asks...), append([]Conn(nil), r.closed...)
}

// TestConnIdentifiesConnection: an endpoint sees which connection each
// send and ask came over, the same for a send and an ask over one
// connection, different for another peer, the socket's real address
// whatever the envelope says, zero for local messages, and a close event
// after the connection's last message.
func TestConnIdentifiesConnection(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		rec := &connRecorder{}
		local := setup(t, srv, "conns", rec)
		a := startEnv(t, server(mode)) // listening: writes its own address as sender
		b := startEnv(t, client(mode))
		refA, refB := lookup(t, a, srv, "conns"), lookup(t, b, srv, "conns")
		if err := refA.Send("from a"); err != nil {
			t.Fatal(err)
		}
		askOK(t, refA, "ask a")
		if err := refB.Send("from b"); err != nil {
			t.Fatal(err)
		}
		askOK(t, refB, "ask b")
		if err := local.Send("local"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "three sends and two asks", func() bool {
			s, k, _ := rec.snapshot()
			return len(s) == 3 && len(k) == 2
		})
		sends, asks, _ := rec.snapshot()
		by := map[any]connEvent{}
		for _, ev := range append(sends, asks...) {
			by[ev.msg] = ev
		}
		ca, cb := by["from a"].conn, by["from b"].conn
		if ca.IsZero() || cb.IsZero() || ca == cb {
			t.Fatalf("conns of two peers: %v and %v", ca, cb)
		}
		if by["ask a"].conn != ca || by["ask b"].conn != cb {
			t.Errorf("an ask and a send over one connection have different conns: %v/%v, %v/%v", by["ask a"].conn, ca, by["ask b"].conn, cb)
		}
		if !by["local"].conn.IsZero() {
			t.Errorf("a local send has conn %v", by["local"].conn)
		}
		sockA := addrOf(t, pooledClient(t, a, srv.Address()).LocalAddr())
		if got := ca.RemoteAddr(); got != sockA {
			t.Errorf("RemoteAddr = %v, want the socket's %v", got, sockA)
		}
		if by["from a"].sender != a.Address() || by["from a"].sender == ca.RemoteAddr() {
			t.Errorf("the envelope's sender %v should be a's listen address %v, apart from the socket", by["from a"].sender, a.Address())
		}
		if got := srv.AddressUsedOver(ca); got != srv.Address() {
			t.Errorf("AddressUsedOver(a's connection) = %v, want %v", got, srv.Address())
		}
		if got := srv.AddressUsedOver(cb); !got.IsZero() {
			t.Errorf("AddressUsedOver(a client-mode peer's connection) = %v, want zero", got)
		}
		// A listening peer that names the server by another spelling.
		c := startEnv(t, server(mode))
		spelled := NewAddress("localhost", srv.Address().Port)
		refC := &Ref{env: c, addr: EndpointAddress{Addr: spelled, Name: "conns"}}
		if err := refC.Send("from c"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "c's send", func() bool { s, _, _ := rec.snapshot(); return len(s) == 4 })
		sends, _, _ = rec.snapshot()
		if got := srv.AddressUsedOver(sends[3].conn); got != spelled {
			t.Errorf("AddressUsedOver(c's connection) = %v, want %v", got, spelled)
		}
		if ca.Outgoing() || !ca.IsActive() {
			t.Errorf("an accepted connection: outgoing %v active %v", ca.Outgoing(), ca.IsActive())
		}
		a.Shutdown()
		waitFor(t, "a's connection to close", func() bool {
			_, _, closed := rec.snapshot()
			for _, c := range closed {
				if c == ca {
					return true
				}
			}
			return false
		})
		if ca.IsActive() {
			t.Error("a closed connection is still active")
		}
		_, _, closed := rec.snapshot()
		for _, c := range closed {
			if c == cb {
				t.Error("b's connection reported closed while open")
			}
		}
	})
}
