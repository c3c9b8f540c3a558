// Command peer is a test helper for rpcenv's process test: an env on
// 127.0.0.1:0 in its own OS process, serving an "echo" endpoint. It prints
// "PORT <n>" on stdout once it listens and exits on SIGTERM, SIGINT or when
// its stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// The same message types as the test, under the same names.
type ping struct {
	N    int         `json:"n"`
	From *rpcenv.Ref `json:"from,omitempty"`
}

type pong struct {
	N int `json:"n"`
}

func init() {
	rpcenv.MustRegister[ping]("rpcenv.test.ping")
	rpcenv.MustRegister[pong]("rpcenv.test.pong")
}

// echo answers ping{N} with pong{N+1} and strings with themselves; a
// one-way ping with a ref gets pong{N+1} sent to that ref.
type echo struct{ rpcenv.BaseEndpoint }

func (*echo) Receive(msg any, _ rpcenv.Address) error {
	if p, ok := msg.(ping); ok && p.From != nil {
		return p.From.Send(pong{N: p.N + 1})
	}
	return fmt.Errorf("peer: unexpected one-way %T", msg)
}

func (*echo) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	switch m := msg.(type) {
	case ping:
		cc.Reply(pong{N: m.N + 1})
	case string:
		cc.Reply(m)
	default:
		return fmt.Errorf("peer: unexpected ask %T", msg)
	}
	return nil
}

func main() {
	mode := flag.String("mode", "EPOLL", "spark.rpc.io.mode")
	flag.Parse()
	conf := sparkconf.New().Set("spark.rpc.io.mode", *mode)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env, err := rpcenv.Create(rpcenv.Config{Name: "peer", BindHost: "127.0.0.1", Conf: conf, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	if _, err := env.SetupEndpoint("echo", &echo{}); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	// Catch the signals before telling the port: from then on the test
	// may send them.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	fmt.Printf("PORT %d\n", env.Address().Port)
	select {
	case <-stdinClosed:
	case <-sig:
	}
	env.Shutdown()
}
