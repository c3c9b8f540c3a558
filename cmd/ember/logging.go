package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// keyLogLevel is Spark's spark.log.level: the daemons' log level.
const keyLogLevel = "spark.log.level"

// levelOff is above every level a record is logged at.
const levelOff = slog.Level(100)

// parseLogLevel reads Spark's log level names (any case): ALL, TRACE and
// DEBUG log everything, then INFO, WARN, ERROR, FATAL (as ERROR) and OFF.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ALL", "TRACE", "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR", "FATAL":
		return slog.LevelError, nil
	case "OFF":
		return levelOff, nil
	}
	return 0, fmt.Errorf("bad log level %q: want one of ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF", s)
}

// levelName is the Spark name of a level parseLogLevel gives.
func levelName(l slog.Level) string {
	switch {
	case l >= levelOff:
		return "OFF"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// logLevelFrom is the level a daemon starts at: --log-level when given,
// else spark.log.level, else INFO.
func logLevelFrom(flagValue string, conf *sparkconf.Conf) (slog.Level, error) {
	if flagValue != "" {
		l, err := parseLogLevel(flagValue)
		if err != nil {
			return 0, fmt.Errorf("--log-level: %w", err)
		}
		return l, nil
	}
	if v, ok := conf.Get(keyLogLevel); ok {
		l, err := parseLogLevel(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", keyLogLevel, err)
		}
		return l, nil
	}
	return slog.LevelInfo, nil
}

// daemonLog is a daemon's logger with a level that changes at run time.
type daemonLog struct {
	*slog.Logger
	level *slog.LevelVar
	out   io.Writer
	stop  func()
}

// newDaemonLog makes the logger of a daemon (text to stderr at the level
// of logLevelFrom), warns once for each unknown key of conf, and starts
// the level signals: SIGUSR1 logs more (one step towards DEBUG), SIGUSR2
// less (towards OFF); each change is announced on stderr. Close stops the
// signals.
func newDaemonLog(flagValue string, conf *sparkconf.Conf) (*daemonLog, error) {
	l, err := logLevelFrom(flagValue, conf)
	if err != nil {
		return nil, err
	}
	d := &daemonLog{level: new(slog.LevelVar), out: os.Stderr}
	d.level.Set(l)
	d.Logger = slog.New(slog.NewTextHandler(d.out, &slog.HandlerOptions{Level: d.level}))
	warnUnknownKeys(conf, func(k string) {
		d.Warn("unknown configuration key, ignored (a typo?)", "key", k)
	})
	d.stop = d.watchSignals()
	return d, nil
}

// warnUnknownKeys reports conf's unknown keys, each once per process.
func warnUnknownKeys(conf *sparkconf.Conf, warn func(key string)) {
	conf.WarnUnknownKeys(warn)
}

var levelLadder = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, levelOff}

// step moves the level by delta rungs of levelLadder (negative: more
// verbose) and returns the new level.
func (d *daemonLog) step(delta int) slog.Level {
	cur := d.level.Level()
	i := 0
	for i < len(levelLadder)-1 && levelLadder[i] < cur {
		i++
	}
	i = min(max(i+delta, 0), len(levelLadder)-1)
	d.level.Set(levelLadder[i])
	return levelLadder[i]
}

func (d *daemonLog) watchSignals() func() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-sig:
				delta := 1
				if s == syscall.SIGUSR1 {
					delta = -1
				}
				l := d.step(delta)
				fmt.Fprintf(d.out, "log level is now %s (SIGUSR1: more, SIGUSR2: less)\n", levelName(l))
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sig)
			close(done)
			wg.Wait()
		})
	}
}

// Close stops watching the level signals.
func (d *daemonLog) Close() { d.stop() }
