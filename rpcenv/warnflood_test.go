package rpcenv

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

type nopHandler struct{}

func (nopHandler) Receive(_ *netpoll.Client, _ []byte, r *netpoll.Responder) { r.Fail(nil) }
func (nopHandler) ReceiveOneWay(*netpoll.Client, []byte)                     {}
func (nopHandler) StreamManager() netpoll.StreamManager                      { return nil }

// A peer sending one undecodable one-way message after another costs one
// log line, not one per message.
func TestUndecodableOneWayFloodLogsOnce(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			logs := &testutil.LogBuffer{}
			conf := sparkconf.New().Set("spark.rpc.io.mode", mode)
			a, err := Create(Config{Name: "a", BindHost: "127.0.0.1", Conf: conf, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.Shutdown)
			ctx := netpoll.NewContext(netpoll.DefaultConf("rpc"), nopHandler{})
			f := ctx.NewClientFactory()
			t.Cleanup(func() { f.Close(); ctx.Close() })
			c, err := f.CreateClient(a.Address().Host, a.Address().Port)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200; i++ {
				if err := c.Send([]byte("\x01not a message")); err != nil {
					t.Fatal(err)
				}
			}
			// Frames are handled in order: once an ask sent after them is
			// answered, every one-way message before it has been handled.
			if _, err := c.SendRpcSync([]byte("\x01not an ask"), 20*time.Second); err == nil {
				t.Fatal("an undecodable ask was answered")
			}
			if n := strings.Count(logs.String(), "dropping undecodable one-way message"); n != 1 {
				t.Fatalf("%d log lines for 200 undecodable one-way messages from one peer, want 1:\n%s", n, logs.String())
			}
		})
	}
}
