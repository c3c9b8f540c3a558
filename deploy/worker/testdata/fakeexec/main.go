// Command fakeexec stands in for an executor or driver in the worker's
// tests. It prints its pid, working dir, arguments and the environment
// variables of interest to stdout, writes a line to stderr, and then acts
// as FAKE_MODE says:
//
//	exit         exit with FAKE_EXIT_CODE (default 0)
//	sleep        wait for SIGTERM, then exit 143 (the default)
//	ignore-term  ignore SIGTERM and wait to be SIGKILLed
//	fail-once    exit 1 if FAKE_MARKER does not exist (creating it), else 0
//
// FAKE_EXIT_EXEC restricts "exit" to the executor whose --exec-id matches;
// the others sleep. FAKE_SPAWN_CHILD=1 first starts a sleeping copy of
// itself (same process group) and prints its pid as child=<pid>.
// The last line printed is "ready".
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	mode := os.Getenv("FAKE_MODE")
	if mode == "" {
		mode = "sleep"
	}
	if want := os.Getenv("FAKE_EXIT_EXEC"); want != "" && mode == "exit" && argAfter("--exec-id") != want {
		mode = "sleep"
	}
	// Signal handling first, so that a kill right after start is handled.
	term := make(chan os.Signal, 1)
	switch mode {
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	default:
		signal.Notify(term, syscall.SIGTERM)
	}

	fmt.Printf("pid=%d\n", os.Getpid())
	if wd, err := os.Getwd(); err == nil {
		fmt.Printf("cwd=%s\n", wd)
	}
	for i, a := range os.Args[1:] {
		fmt.Printf("arg[%d]=%s\n", i, a)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SPARK_") || strings.HasPrefix(k, "_SPARK_") || strings.HasPrefix(k, "FAKE_") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	for _, kv := range env {
		fmt.Printf("env.%s\n", kv)
	}
	fmt.Fprintln(os.Stderr, "fakeexec stderr line")

	if os.Getenv("FAKE_SPAWN_CHILD") == "1" {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "FAKE_SPAWN_CHILD=0", "FAKE_MODE=ignore-term")
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "spawn:", err)
			os.Exit(2)
		}
		fmt.Printf("child=%d\n", c.Process.Pid)
	}

	switch mode {
	case "exit":
		code, _ := strconv.Atoi(os.Getenv("FAKE_EXIT_CODE"))
		fmt.Println("ready")
		os.Exit(code)
	case "fail-once":
		marker := os.Getenv("FAKE_MARKER")
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, []byte("x"), 0o644)
			fmt.Println("ready")
			os.Exit(1)
		}
		fmt.Println("ready")
		os.Exit(0)
	case "ignore-term":
		fmt.Println("ready")
		for {
			time.Sleep(time.Hour)
		}
	default:
		fmt.Println("ready")
		<-term
		os.Exit(143)
	}
}

func argAfter(flag string) string {
	for i, a := range os.Args {
		if a == flag && i+1 < len(os.Args) {
			return os.Args[i+1]
		}
	}
	return ""
}
