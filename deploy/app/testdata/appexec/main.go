// Command appexec is the executor program of the app package's tests. Run
// as "appexec executor --driver-url ...", it is an executor with these task
// kinds:
//
//	test.double  input: a decimal integer; output: twice it
//	test.block   input: a directory; writes <dir>/pid-<pid>-<taskId>, waits
//	             for <dir>/release, outputs its pid
//	test.fail    always fails
//	test.permanent  input: a directory; writes <dir>/attempt-<taskId>,
//	             fails with an app.Permanent error
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ember-rpc/ember/deploy/app"
)

func main() {
	app.RegisterTask("test.double", func(_ context.Context, _ app.TaskContext, in []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(in))
		if err != nil {
			return nil, err
		}
		return []byte(strconv.Itoa(2 * n)), nil
	})
	app.RegisterTask("test.block", func(ctx context.Context, tc app.TaskContext, in []byte) ([]byte, error) {
		dir := string(in)
		pid := strconv.Itoa(os.Getpid())
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("pid-%s-%d", pid, tc.TaskID)), []byte(pid), 0o644); err != nil {
			return nil, err
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
				return []byte(pid), nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	app.RegisterTask("test.fail", func(context.Context, app.TaskContext, []byte) ([]byte, error) {
		return nil, errors.New("boom")
	})
	app.RegisterTask("test.permanent", func(_ context.Context, tc app.TaskContext, in []byte) ([]byte, error) {
		if err := os.WriteFile(filepath.Join(string(in), fmt.Sprintf("attempt-%d", tc.TaskID)), nil, 0o644); err != nil {
			return nil, err
		}
		return nil, app.Permanent(fmt.Errorf("no service here: %w", errors.New("connection refused")))
	})
	if len(os.Args) < 2 || os.Args[1] != "executor" {
		fmt.Fprintln(os.Stderr, "usage: appexec executor --driver-url URL --executor-id ID ...")
		os.Exit(2)
	}
	args, err := app.ParseExecutorArgs(os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := app.RunExecutor(args); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(1)
	}
}
