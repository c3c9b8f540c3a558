package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/examples/pi"
)

// runExecutor is "ember executor --driver-url U --executor-id N --hostname H
// --cores C --app-id A": what the workers run for the applications of
// "ember example" (and of any driver whose ExecutorProgram is ember).
func runExecutor(args []string) error {
	a, err := app.ParseExecutorArgs(args)
	if err != nil {
		return err
	}
	a.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	return app.RunExecutor(a)
}

// runExample is "ember example pi --master spark://h:p [--slices N]
// [--samples N]": SparkPi on the cluster, with ember itself as the
// executors.
func runExample(args []string) error {
	if len(args) < 1 || args[0] != "pi" {
		return fmt.Errorf("usage: ember example pi --master spark://host:port [--slices N] [--samples N]")
	}
	fs := flag.NewFlagSet("example pi", flag.ContinueOnError)
	masterURL := fs.String("master", "", "the masters' URL, spark://host:port[,host2:port2]")
	slices := fs.Int("slices", 2, "number of tasks")
	samples := fs.Int("samples", 100000, "samples per task")
	host := fs.String("host", "127.0.0.1", "address the driver listens on (executors connect to it)")
	cores := fs.Int("executor-cores", 1, "cores per executor")
	wait := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	verbose := fs.Bool("verbose", false, "log the driver's progress")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *masterURL == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: ember example pi --master spark://host:port [--slices N] [--samples N]")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	d, err := app.NewDriver(app.DriverConfig{Master: *masterURL, AppName: "Ember Pi", Host: *host,
		CoresPerExecutor: *cores, Logger: log,
		Progress: func(done, total int) { log.Info("progress", "done", done, "total", total) }})
	if err != nil {
		return err
	}
	defer d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	if err := d.WaitExecutors(ctx, 1); err != nil {
		return err
	}
	v, err := pi.Run(ctx, d, *slices, *samples)
	if err != nil {
		return err
	}
	fmt.Printf("Pi is roughly %f\n", v)
	return nil
}
