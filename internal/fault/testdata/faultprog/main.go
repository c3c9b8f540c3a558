// Command faultprog is the program the fault scenarios run inside their
// hosts, besides ember itself:
//
//	faultprog driver --master spark://h:p[,h2:p2] --host IP --tasks N [--gate FILE] [--markers DIR] ...
//	    an application's driver: it runs one stage of N "fault.gated" tasks
//	    and prints, one line each, what a test follows:
//	      APP <app id>                 once a master accepted it
//	      EXECUTORS <id,id,...>        whenever its set of executors changes
//	      RAN <index> exec=<id> attempt=<n>   for each task's accepted result
//	      RESULT <sum>                 the sum of the tasks' values (index²+1)
//	      ERROR <message>              on failure (exit status 1)
//	faultprog executor ...
//	    the application's executors, started by the workers
//	faultprog echo --host IP --port P --record DIR [--io-mode EPOLL|NIO]
//	    an RPC env serving the endpoint "echo": each ask echoes its id
//	    with the server's pid, after appending the id to DIR/<pid>.ids,
//	    so a test can check that no request was delivered twice.
//
// A fault.gated task writes a marker file "<markers>/started-<index>-<attempt>-<executor>"
// when it starts, sleeps, then waits until the gate file exists: a test
// holds the job running (every core busy) while it injects a fault, and
// opens the gate to let it finish.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
)

// gatedKind is the task kind of the driver's stage.
const gatedKind = "fault.gated"

func init() { app.RegisterTask(gatedKind, gated) }

type gatedInput struct {
	Index   int    `json:"index"`
	Gate    string `json:"gate"`
	Markers string `json:"markers"`
	SleepMS int    `json:"sleepMs"`
}

type gatedOutput struct {
	Value   int64  `json:"value"`
	Exec    string `json:"exec"`
	Attempt int    `json:"attempt"`
}

// value is what task index returns; the test knows the sum.
func value(index int) int64 { return int64(index)*int64(index) + 1 }

func gated(ctx context.Context, tc app.TaskContext, in []byte) ([]byte, error) {
	var g gatedInput
	if err := json.Unmarshal(in, &g); err != nil {
		return nil, err
	}
	if g.Markers != "" {
		name := fmt.Sprintf("started-%d-%d-%s", g.Index, tc.Attempt, tc.ExecutorID)
		if err := os.WriteFile(filepath.Join(g.Markers, name), nil, 0o644); err != nil {
			return nil, err
		}
	}
	t := time.NewTimer(time.Duration(g.SleepMS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	if g.Gate != "" {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(g.Gate); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-tick.C:
			}
		}
	}
	return json.Marshal(gatedOutput{Value: value(g.Index), Exec: tc.ExecutorID, Attempt: tc.Attempt})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faultprog driver|executor|echo [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "driver":
		err = runDriver(os.Args[2:])
	case "executor":
		var a app.ExecutorArgs
		if a, err = app.ParseExecutorArgs(os.Args[2:]); err == nil {
			a.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			err = app.RunExecutor(a)
		}
	case "echo":
		err = runEcho(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		os.Exit(1)
	}
}

type confFlags []string

func (c *confFlags) String() string     { return strings.Join(*c, ",") }
func (c *confFlags) Set(s string) error { *c = append(*c, s); return nil }

func runDriver(args []string) error {
	fs := flag.NewFlagSet("driver", flag.ContinueOnError)
	master := fs.String("master", "", "the masters: spark://h:p[,h2:p2]")
	host := fs.String("host", "127.0.0.1", "address to bind (executors connect to it)")
	name := fs.String("name", "fault-app", "application name")
	tasks := fs.Int("tasks", 6, "tasks in the stage")
	gate := fs.String("gate", "", "the tasks wait until this file exists")
	markers := fs.String("markers", "", "directory for the tasks' started markers")
	sleepMS := fs.Int("sleep-ms", 0, "each task sleeps this long first")
	maxCores := fs.Int("max-cores", 0, "spark.cores.max (0: all)")
	attempts := fs.Int("max-attempts", 8, "failures of one task before the stage fails")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	var confs confFlags
	fs.Var(&confs, "conf", "spark.* key=value for the driver (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conf := sparkconf.New()
	for _, kv := range confs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad --conf %q", kv)
		}
		conf.Set(k, v)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := app.NewDriver(app.DriverConfig{Master: *master, AppName: *name, Host: *host,
		MaxCores: *maxCores, MemoryPerExecutorMB: 128, MaxTaskAttempts: *attempts, Conf: conf, Logger: log})
	if err != nil {
		return err
	}
	defer d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	// Report the app id and every change of the executor set.
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var appID string
		var last []string
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if appID == "" {
				if appID = d.AppID(); appID != "" {
					fmt.Printf("APP %s\n", appID)
				}
			}
			if ex := d.Executors(); !slices.Equal(ex, last) {
				last = ex
				fmt.Printf("EXECUTORS %s\n", strings.Join(ex, ","))
			}
			select {
			case <-watchCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stopWatch(); wg.Wait() }()

	if err := d.WaitExecutors(ctx, 1); err != nil {
		return err
	}
	ts := make([]app.Task, *tasks)
	for i := range ts {
		in, _ := json.Marshal(gatedInput{Index: i, Gate: *gate, Markers: *markers, SleepMS: *sleepMS})
		ts[i] = app.Task{Kind: gatedKind, Input: in}
	}
	res, err := d.RunTasks(ctx, ts)
	if err != nil {
		return err
	}
	var sum int64
	for i, r := range res {
		var out gatedOutput
		if err := json.Unmarshal(r.Output, &out); err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		fmt.Printf("RAN %d exec=%s attempt=%d\n", i, out.Exec, out.Attempt)
		sum += out.Value
	}
	fmt.Printf("RESULT %d\n", sum)
	return nil
}

// The echo server's messages; the test registers the same types under
// the same names.
type echoReq struct {
	ID int64 `json:"id"`
}

type echoResp struct {
	ID  int64 `json:"id"`
	Pid int   `json:"pid"`
}

func init() {
	rpcenv.MustRegister[echoReq]("fault.echoReq")
	rpcenv.MustRegister[echoResp]("fault.echoResp")
}

// echo records each request id, then answers it.
type echo struct {
	rpcenv.BaseEndpoint
	rec *os.File
}

func (e *echo) ReceiveAndReply(msg any, cc rpcenv.CallContext) error {
	m, ok := msg.(echoReq)
	if !ok {
		return fmt.Errorf("echo: unexpected ask %T", msg)
	}
	// One write(2) per id, before the reply: an id the asker saw answered
	// is in the file even if this process is killed right after.
	if _, err := e.rec.WriteString(strconv.FormatInt(m.ID, 10) + "\n"); err != nil {
		return err
	}
	cc.Reply(echoResp{ID: m.ID, Pid: os.Getpid()})
	return nil
}

func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "address to bind")
	port := fs.Int("port", 7100, "port to bind")
	dir := fs.String("record", "", "directory of the id records")
	mode := fs.String("io-mode", "EPOLL", "spark.rpc.io.mode")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("echo: --record is required")
	}
	rec, err := os.OpenFile(filepath.Join(*dir, strconv.Itoa(os.Getpid())+".ids"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer rec.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	conf := sparkconf.New().Set("spark.port.maxRetries", "0").Set("spark.rpc.io.mode", *mode)
	env, err := rpcenv.Create(rpcenv.Config{Name: "echo", BindHost: *host, Port: *port, Conf: conf, Logger: log})
	if err != nil {
		return err
	}
	defer env.Shutdown()
	if _, err := env.SetupEndpoint("echo", &echo{rec: rec}); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	fmt.Printf("ECHO listening on %s pid=%d\n", env.Address(), os.Getpid())
	<-sig
	return nil
}
