//go:build linux

package netns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the program the tests run inside the hosts:
// with helperEnv set it runs a helper (below) instead of the tests.
const (
	helperEnv = "NETNS_TEST_HELPER"
	addrEnv   = "NETNS_TEST_ADDR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(addrEnv)))
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runHelper runs one helper mode:
//
//	listen  serve TCP on addr: a connection's first line "echo" makes it
//	        echo lines; "sink N" makes it read N bytes and answer "got N"
//	dial    connect to addr within a second, exchange a line, exit 0 (1 on
//	        any failure, printing it)
//	spawn   start a child helper "sleep" in a process group of its own,
//	        print "child <pid>", then sleep
//	sleep   block until killed
func runHelper(mode, addr string) int {
	switch mode {
	case "listen":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("listening on", l.Addr())
		for {
			c, err := l.Accept()
			if err != nil {
				fmt.Println("accept:", err)
				return 1
			}
			go serveConn(c)
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		if _, err := io.WriteString(c, "echo\nping\n"); err != nil {
			fmt.Println("write:", err)
			return 1
		}
		line, err := r.ReadString('\n')
		if err != nil || line != "ping\n" {
			fmt.Printf("read: %q %v\n", line, err)
			return 1
		}
		fmt.Println("ok")
		return 0
	case "spawn":
		self, err := os.Executable()
		if err != nil {
			fmt.Println(err)
			return 1
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), helperEnv+"=sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // escapes its parent's group
		if err := cmd.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("child", cmd.Process.Pid)
		select {}
	case "sleep":
		select {}
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

func serveConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	cmd, err := r.ReadString('\n')
	if err != nil {
		return
	}
	switch {
	case cmd == "echo\n":
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	case strings.HasPrefix(cmd, "sink "):
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(cmd, "sink ")), 10, 64)
		if err != nil {
			return
		}
		got, _ := io.CopyN(io.Discard, r, n)
		fmt.Fprintf(c, "got %d\n", got)
	}
}

// self is the test binary, run as a helper in the hosts.
func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func helperEnvFor(mode, addr string) StartOption {
	return WithEnv(append(os.Environ(), helperEnv+"="+mode, addrEnv+"="+addr))
}
