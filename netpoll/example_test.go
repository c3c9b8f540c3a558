package netpoll_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// echo answers every RPC with "echo: " and the request.
type echo struct{}

func (echo) Receive(_ *netpoll.Client, msg []byte, r *netpoll.Responder) {
	r.Reply(append([]byte("echo: "), msg...)) // msg is valid only during the call: copy
}
func (echo) ReceiveOneWay(*netpoll.Client, []byte) {}
func (echo) StreamManager() netpoll.StreamManager  { return nil }

// An echo server and a client on one transport context: the server is
// served by the context's handler, the client comes from its factory, and
// one context bounds connecting and asking.
func Example_echo() {
	tc := netpoll.NewContext(netpoll.DefaultConf("rpc"), echo{})
	defer tc.Close()
	srv, err := tc.NewServer("127.0.0.1", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	f := tc.NewClientFactory()
	defer f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := f.CreateClientContext(ctx, "127.0.0.1", srv.Port())
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.SendRpcSyncContext(ctx, []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp))
	// Output: echo: hello
}

// silent never answers.
type silent struct{ echo }

func (silent) Receive(*netpoll.Client, []byte, *netpoll.Responder) {}

// A synchronous call whose deadline passes returns a *TimeoutError, which
// is context.DeadlineExceeded for errors.Is.
func ExampleClient_SendRpcSyncContext() {
	tc := netpoll.NewContext(netpoll.Conf{}, silent{}) // the zero Conf takes defaults
	defer tc.Close()
	srv, err := tc.NewServer("127.0.0.1", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	f := tc.NewClientFactory()
	defer f.Close()
	c, err := f.CreateClient("127.0.0.1", srv.Port())
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.SendRpcSyncContext(ctx, []byte("anyone?"))
	var te *netpoll.TimeoutError
	fmt.Println(errors.As(err, &te), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

// A module's settings read from Spark's keys, as the daemons read them.
func ExampleNewConf() {
	props := sparkconf.New().
		Set("spark.rpc.io.mode", "NIO").
		Set("spark.network.timeout", "30s").
		Set("spark.rpc.io.numConnectionsPerPeer", "2")
	conf, err := netpoll.NewConf("rpc", props, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(conf.Mode, conf.ConnectionTimeout, conf.NumConnectionsPerPeer)

	_, err = netpoll.NewConf("rpc", sparkconf.New().Set("spark.rpc.io.mode", "KQUEUE"), "")
	fmt.Println(err != nil)
	// Output:
	// NIO 30s 2
	// true
}
