package rpcenv

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
)

// What the remote hot path recycles (remote ask calls, the outbox queue's
// array, sonic decoders) and how decodeContent boxes values: each keeps the
// behaviour it had before. (Message buffers are codec's pooled
// BytesBuffers, tested there.)

// An ask that timed out is answered late; its call is not recycled, so the
// late answer reaches no later ask: each of those gets its own echo.
func TestRemoteAskLateAnswer(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		asker := startEnv(t, envSpec{name: "asker", mode: mode})
		sil := newSilent()
		setup(t, srv, "silent", sil)
		setup(t, srv, "echo", &remoteEcho{got: make(chan struct{}, 1)})
		silent, echo := lookup(t, asker, srv, "silent"), lookup(t, asker, srv, "echo")

		// Nothing answers before the timeout: the silent endpoint holds the
		// call context until the test answers it below.
		if _, err := silent.AskTimeout("slow", 100*time.Millisecond); !isTimeout(err) {
			t.Fatalf("want a timeout, got %v", err)
		}
		cc := recv(t, sil.arrived, "the slow ask")
		done := make(chan struct{})
		go func() {
			defer close(done)
			cc.Reply("late")
		}()
		for i := range 200 {
			want := fmt.Sprintf("ask %d", i)
			if got := askOK(t, echo, want); got != want {
				t.Fatalf("ask %d answered %#v", i, got)
			}
		}
		recv(t, done, "the late reply")
	})
}

// Asks that fail before they leave (the peer is gone) are answered with
// the failure, and later asks are unaffected.
func TestRemoteAskFailuresThenAsks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		srv := startEnv(t, server(mode))
		asker := startEnv(t, envSpec{name: "asker", mode: mode})
		setup(t, srv, "echo", &remoteEcho{got: make(chan struct{}, 1)})
		echo := lookup(t, asker, srv, "echo")
		gone := asker.RefFor(EndpointAddress{Addr: NewAddress("127.0.0.1", 1), Name: "echo"})
		for i := range 3 {
			if _, err := gone.Ask(bigCtx(t), i); err == nil {
				t.Fatal("an ask to a closed port succeeded")
			}
			if got := askOK(t, echo, i); got != i {
				t.Fatalf("ask %d answered %#v", i, got)
			}
		}
	})
}

// The outbox queue moves waiting messages down instead of growing when
// its array is full of sent entries at the front, and keeps their order.
func TestOutboxQueueCompacts(t *testing.T) {
	o := &outbox{connecting: true} // drain returns at once: messages stay queued
	msg := func(i int) outboxMsg {
		b := codec.GetPooledBytes()
		b.Buf().B = fmt.Appendf(b.Buf().B, "m%d", i)
		return outboxMsg{payload: b}
	}
	for i := range 8 {
		o.send(msg(i))
	}
	arr := cap(o.queue)
	// As drain leaves them: the first five sent, their entries zeroed.
	for i := range 5 {
		o.queue[i].payload.Release()
		o.queue[i] = outboxMsg{}
	}
	o.head = 5
	for i := 8; len(o.queue)-o.head < arr; i++ {
		o.send(msg(i))
	}
	if cap(o.queue) != arr {
		t.Errorf("queue grew to %d entries; %d were enough", cap(o.queue), arr)
	}
	var got []string
	for _, m := range o.queue[o.head:] {
		b, _ := m.payload.Bytes()
		got = append(got, string(b))
	}
	want := []string{"m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12"}
	if strings.Join(got, " ") != strings.Join(want[:len(got)], " ") || len(got) != arr {
		t.Errorf("queue holds %v, want %v", got, want[:arr])
	}
	o.stop()
	if len(o.queue) != 0 || o.head != 0 {
		t.Errorf("stopped outbox keeps %d entries (head %d)", len(o.queue), o.head)
	}
}

// Test-only types, one per way a value sits in an interface.
type (
	boxPtr    struct{ N int }
	boxOnePtr struct{ P *int } // pointer-shaped: held in the interface itself
	boxEmpty  struct{}
	boxArr    [3]int16
	boxMap    map[string]int
)

func init() {
	Register[*boxPtr]("rpcenv.test.boxPtr")
	Register[boxOnePtr]("rpcenv.test.boxOnePtr")
	Register[boxEmpty]("rpcenv.test.boxEmpty")
	Register[boxArr]("rpcenv.test.boxArr")
	Register[boxMap]("rpcenv.test.boxMap")
}

// decodeContent boxes a decoded value in place when its type is held
// indirectly in an interface, and through reflect when it is pointer-shaped;
// either way the value, its type and its independence are as before.
func TestDecodeContentBoxing(t *testing.T) {
	seven := 7
	for _, v := range []any{
		benchMsg{N: 3, S: "x"}, "text", 42, int64(-1), 2.5, true, []byte{1, 2},
		&boxPtr{N: 9}, boxOnePtr{P: &seven}, boxOnePtr{}, boxEmpty{}, boxArr{1, -2, 3},
		boxMap{"a": 1}, checkExistence{Name: "ep"},
	} {
		enc, err := appendContent(nil, v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		a, _, err := decodeContent(enc)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		b, _, _ := decodeContent(enc)
		if reflect.TypeOf(a) != reflect.TypeOf(v) || !reflect.DeepEqual(a, v) {
			t.Errorf("%T %#v decoded as %T %#v", v, v, a, a)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%T: two decodings differ: %#v, %#v", v, a, b)
		}
	}
	// Decodings do not share memory.
	enc, _ := appendContent(nil, &boxPtr{N: 1})
	a, _, _ := decodeContent(enc)
	b, _, _ := decodeContent(enc)
	a.(*boxPtr).N = 2
	if b.(*boxPtr).N != 1 {
		t.Error("two decodings share one value")
	}
	// Decoded strings stay intact when the input bytes are reused.
	enc, _ = appendContent(nil, benchMsg{N: 1, S: "keep me"})
	v, _, _ := decodeContent(enc)
	for i := range enc {
		enc[i] = 'z'
	}
	if v.(benchMsg).S != "keep me" {
		t.Errorf("decoded string changed with its input: %q", v.(benchMsg).S)
	}
}

// An ask its asker gave up on is never put back in the pool: the
// transport may still answer it late (an answer taken from the
// connection's table as abort ran), and a recycled call would hand that
// answer to the next asker. Without the aborted guard in release, the
// pool returns the aborted call to the next newRemoteAsk, which then sees
// the late answer; the non-aborted control shows the pool does reuse.
func TestAbortedAskNotRecycled(t *testing.T) {
	ref := &Ref{env: &Env{}}
	reused := false
	for range 100 {
		a := newRemoteAsk(ref)
		a.abort()
		a.release() // the asker's hold
		a.release() // the outbox message's hold
		b := newRemoteAsk(ref)
		a.OnFailure(errors.New("late answer to the aborted ask"))
		if b == a {
			t.Fatal("an aborted ask was recycled")
		}
		if res, ok := b.tryResult(); ok {
			t.Fatalf("a new ask holds an answer it never asked for: %v", res.err)
		}
		b.release()
		b.release()
		c := newRemoteAsk(ref)
		reused = reused || c == b
		c.release()
		c.release()
	}
	if !reused {
		t.Error("the pool never reused a released ask: the test shows nothing")
	}
}
