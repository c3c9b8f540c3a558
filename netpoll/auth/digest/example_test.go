package digest_test

import (
	"fmt"

	"github.com/ember-rpc/ember/netpoll/auth/digest"
)

// A Spark-style exchange that agrees on auth-conf, then one message each
// way through the security layer.
func Example() {
	const user, secret = "c3BhcmtTYXNsVXNlcg==", "c2VjcmV0"
	srv := digest.NewServer(digest.SparkRealm, []string{"auth-conf", "auth"},
		func(u string) (string, bool) { return secret, u == user })
	cli := digest.NewClient(user, secret, "", digest.SparkDigestURI, []string{"auth-conf"})

	challenge, _ := srv.Evaluate(cli.InitialResponse())
	response, _ := cli.Evaluate(challenge)
	rspauth, err := srv.Evaluate(response)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := cli.Evaluate(rspauth); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cli.Complete(), srv.Complete(), cli.QOP(), cli.Cipher())

	cl, _ := cli.SecurityLayer()
	sl, _ := srv.SecurityLayer()
	tok, _ := cl.Wrap(nil, []byte("ping"))
	msg, _ := sl.Unwrap(nil, tok)
	tok, _ = sl.Wrap(nil, []byte("pong"))
	reply, _ := cl.Unwrap(nil, tok)
	fmt.Println(string(msg), string(reply))
	// Output:
	// true true auth-conf 3des
	// ping pong
}
