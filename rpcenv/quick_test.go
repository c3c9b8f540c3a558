package rpcenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

type ping struct {
	N    int  `json:"n"`
	From *Ref `json:"from,omitempty"`
}

type pong struct {
	N int `json:"n"`
}

func init() {
	Register[ping]("rpcenv.test.ping")
	Register[pong]("rpcenv.test.pong")
}

type pingEndpoint struct {
	BaseEndpoint
	got chan ping
}

func (p *pingEndpoint) Receive(msg any, _ Address) error {
	p.got <- msg.(ping)
	return nil
}

func (p *pingEndpoint) ReceiveAndReply(msg any, cc CallContext) error {
	switch m := msg.(type) {
	case ping:
		if m.N < 0 {
			return errors.New("negative")
		}
		if m.N == 99 {
			return nil // never replies
		}
		cc.Reply(pong{N: m.N + 1})
		return nil
	}
	return unsupportedf("%T", msg)
}

func newTestEnv(t *testing.T, name string, kv ...string) *Env {
	t.Helper()
	conf := sparkconf.New()
	for i := 0; i+1 < len(kv); i += 2 {
		conf.Set(kv[i], kv[i+1])
	}
	e, err := Create(Config{Name: name, BindHost: "127.0.0.1", Conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func TestQuickLocalAndRemote(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			a := newTestEnv(t, "a", "spark.rpc.io.mode", mode, "spark.rpc.askTimeout", "3s")
			b := newTestEnv(t, "b", "spark.rpc.io.mode", mode)
			ep := &pingEndpoint{got: make(chan ping, 10)}
			if _, err := b.SetupEndpoint("ping", ep); err != nil {
				t.Fatal(err)
			}
			local, _ := a.SetupEndpoint("local", &pingEndpoint{got: make(chan ping, 10)})
			v, err := local.Ask(context.Background(), ping{N: 1})
			if err != nil || v.(pong).N != 2 {
				t.Fatalf("local ask: %v %v", v, err)
			}
			ref, err := a.SetupEndpointRef(b.Address(), "ping")
			if err != nil {
				t.Fatal(err)
			}
			got, err := Ask[pong](context.Background(), ref, ping{N: 41})
			if err != nil || got.N != 42 {
				t.Fatalf("remote ask: %v %v", got, err)
			}
			if err := ref.Send(ping{N: 7, From: local}); err != nil {
				t.Fatal(err)
			}
			m := <-ep.got
			if m.N != 7 || m.From == nil || m.From.Address() != local.Address() {
				t.Fatalf("send: %+v", m)
			}
			// The ref that arrived is usable by the receiver.
			back, err := Ask[pong](context.Background(), m.From, ping{N: 1})
			if err != nil || back.N != 2 {
				t.Fatalf("ask through received ref: %v %v", back, err)
			}
			_, err = ref.Ask(context.Background(), ping{N: -1})
			if err == nil || !strings.Contains(err.Error(), "negative") {
				t.Fatalf("want remote failure, got %v", err)
			}
			_, err = ref.AskSync(ping{N: 99})
			var te *TimeoutError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), "spark.rpc.askTimeout") {
				t.Fatalf("want timeout naming spark.rpc.askTimeout, got %v", err)
			}
			if _, err := a.SetupEndpointRef(b.Address(), "nope"); !errors.Is(err, ErrEndpointNotFound) {
				t.Fatalf("want not found, got %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := ref.Ask(ctx, ping{N: 99}); !errors.As(err, &te) {
				t.Fatalf("want ctx timeout, got %v", err)
			}
		})
	}
}
