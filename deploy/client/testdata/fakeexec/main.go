// Command fakeexec stands in for an executor in the app client's tests: it
// prints its arguments and waits for SIGTERM (or at most a minute).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("pid=%d args=%q\n", os.Getpid(), os.Args[1:])
	select {
	case <-term:
		os.Exit(143)
	case <-time.After(time.Minute):
	}
}
