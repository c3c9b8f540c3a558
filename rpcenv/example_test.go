package rpcenv_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// Ping and Pong are the messages of the counter actor.
type Ping struct{ N int }
type Pong struct{ N int }

func init() {
	// Both ends register the messages they exchange, under names prefixed
	// with the package (the registry is process-wide).
	rpcenv.MustRegister[Ping]("rpcenv_test.Ping")
	rpcenv.MustRegister[Pong]("rpcenv_test.Pong")
}

// counter answers Ping{N} with Pong{N+1}.
type counter struct{ rpcenv.BaseEndpoint }

func (counter) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	p, ok := msg.(Ping)
	if !ok {
		return rpcenv.ErrUnsupported
	}
	cc.Reply(Pong{N: p.N + 1})
	return nil
}

// An actor in one env, asked from another (a client-mode env, which only
// connects out), with Spark's keys as the configuration.
func Example_ask() {
	conf := sparkconf.New().Set("spark.rpc.askTimeout", "30s")
	server, err := rpcenv.Create(rpcenv.Config{Name: "server", BindHost: "127.0.0.1", Conf: conf})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Shutdown()
	if _, err := server.SetupEndpoint("counter", counter{}); err != nil {
		log.Fatal(err)
	}

	client, err := rpcenv.Create(rpcenv.Config{Name: "client", ClientMode: true, Conf: conf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ref, err := client.SetupEndpointRefContext(ctx, server.Address(), "counter")
	if err != nil {
		log.Fatal(err)
	}
	pong, err := rpcenv.Ask[Pong](ctx, ref, Ping{N: 41})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pong.N)
	// Output: 42
}

// A name registered to another type is an error, not a panic.
func ExampleRegister() {
	type Other struct{}
	err := rpcenv.Register[Other]("rpcenv_test.Ping")
	fmt.Println(errors.Is(err, rpcenv.ErrNameConflict))
	// Output: true
}
