// Command child is a test application for package launcher: it connects
// back through the launcher Backend and behaves as -mode says.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ember-rpc/ember/deploy/launcher"
)

func main() {
	mode := flag.String("mode", "wait-stop", "wait-stop | exit | finish-exit | hang | no-connect")
	code := flag.Int("code", 0, "exit code for exit, finish-exit and no-connect")
	appID := flag.String("appid", "app-child", "application id to report")
	flag.Parse()

	secret := os.Getenv(launcher.EnvLauncherSecret)
	if secret == "" {
		fmt.Fprintln(os.Stderr, "child: no secret in the environment")
		os.Exit(98)
	}
	for _, a := range os.Args {
		if strings.Contains(a, secret) {
			fmt.Fprintln(os.Stderr, "child: secret on the command line")
			os.Exit(99)
		}
	}
	if *mode == "no-connect" {
		os.Exit(*code)
	}

	stop := make(chan struct{}, 1)
	b := &launcher.Backend{OnStop: func() {
		select {
		case stop <- struct{}{}:
		default:
		}
	}}
	if err := b.Connect(nil); err != nil || !b.IsConnected() {
		fmt.Fprintln(os.Stderr, "child: connect:", err)
		os.Exit(97)
	}
	must(b.SetAppID(*appID))
	must(b.SetState(launcher.StateSubmitted))
	must(b.SetState(launcher.StateRunning))

	switch *mode {
	case "wait-stop":
		<-stop
		must(b.SetState(launcher.StateKilled))
		must(b.Close())
		os.Exit(0)
	case "exit":
		os.Exit(*code)
	case "finish-exit":
		must(b.SetState(launcher.StateFinished))
		os.Exit(*code)
	case "hang":
		select {}
	default:
		fmt.Fprintln(os.Stderr, "child: unknown mode", *mode)
		os.Exit(96)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(95)
	}
}
