// Command fakeexec stands in for an executor in Ember's end-to-end tests.
// It prints its pid, parent pid, working dir, arguments and the SPARK_*,
// FAKEEXEC_* and EMBER_E2E_* environment variables to stdout, one
// key=value per line, then "ready". Then:
//
//   - with FAKEEXEC_EXIT_CODE=<n> it exits with n;
//   - else it sleeps until SIGTERM or SIGINT (then prints "terminated" and
//     exits 143), or until its parent is gone (a worker killed with -9:
//     it exits 3, as a real executor ends when it loses its worker).
//
// With FAKEEXEC_PID_DIR set it also writes <dir>/<pid>.pid holding its
// arguments, one per line.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// Signals first, so that a kill right after the start is handled.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	ppid := os.Getppid()

	fmt.Printf("pid=%d\n", os.Getpid())
	fmt.Printf("ppid=%d\n", ppid)
	if wd, err := os.Getwd(); err == nil {
		fmt.Printf("cwd=%s\n", wd)
	}
	fmt.Printf("argc=%d\n", len(os.Args)-1)
	for i, a := range os.Args[1:] {
		fmt.Printf("arg[%d]=%s\n", i, a)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"SPARK_", "_SPARK_", "FAKEEXEC_", "EMBER_E2E_"} {
			if strings.HasPrefix(k, p) {
				env = append(env, kv)
				break
			}
		}
	}
	sort.Strings(env)
	for _, kv := range env {
		fmt.Printf("env.%s\n", kv)
	}
	fmt.Fprintln(os.Stderr, "fakeexec stderr line")
	if dir := os.Getenv("FAKEEXEC_PID_DIR"); dir != "" {
		body := strings.Join(os.Args[1:], "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".pid"), []byte(body), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fakeexec:", err)
			os.Exit(2)
		}
	}
	fmt.Println("ready")

	if v, ok := os.LookupEnv("FAKEEXEC_EXIT_CODE"); ok {
		code, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakeexec: bad FAKEEXEC_EXIT_CODE", v)
			os.Exit(2)
		}
		os.Exit(code)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case sig := <-term:
			fmt.Printf("terminated=%s\n", sig)
			os.Exit(143)
		case <-tick.C:
			if os.Getppid() != ppid {
				fmt.Println("parent gone")
				os.Exit(3)
			}
		}
	}
}
