package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/shuffle"
)

// shuffleService runs the external shuffle service until SIGINT/SIGTERM.
func shuffleService(args []string) error {
	fs := flag.NewFlagSet("shuffle-service", flag.ContinueOnError)
	host := fs.String("host", "0.0.0.0", "address to bind")
	port := fs.Int("port", -1, "port (default spark.shuffle.service.port, 7337)")
	props := fs.String("properties-file", "", "spark-defaults.conf style file (default $SPARK_CONF_DIR/spark-defaults.conf)")
	dbDir := fs.String("db-dir", "", "directory of the registration database (default $EMBER_HOME/work/shuffle-db, else ./work/shuffle-db)")
	var confs confFlags
	fs.Var(&confs, "conf", "spark.* property key=value (repeatable; wins over -D options of SPARK_SHUFFLE_OPTS/SPARK_DAEMON_JAVA_OPTS and the file)")
	logLevel := fs.String("log-level", "", "DEBUG, INFO, WARN, ERROR or OFF (default spark.log.level, INFO; SIGUSR1/SIGUSR2 change it at run time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("shuffle-service: unexpected arguments %q", fs.Args())
	}
	lc, err := loadConf("shuffle-service", *props, confs)
	if err != nil {
		return err
	}
	conf := lc.conf
	log, err := newDaemonLog(*logLevel, conf)
	if err != nil {
		return err
	}
	defer log.Close()
	if lc.file != "" {
		log.Info("using properties file", "file", lc.file)
	}
	if *dbDir == "" {
		// EMBER_HOME is set by the sbin scripts; SPARK_HOME is Spark's
		// distribution, where Ember writes nothing.
		home := os.Getenv("EMBER_HOME")
		if home == "" {
			home = "."
		}
		*dbDir = filepath.Join(home, "work", "shuffle-db")
	}
	// Protected mode (spark.ember.protectedMode) when spark.authenticate
	// is off: only peers on this host are served.
	sec, err := auth.ProtectedMode(conf, "shuffle service", *host, log.Logger)
	if err != nil {
		return err
	}
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: *host, Port: *port, DBDir: *dbDir, Logger: log.Logger,
		Bootstraps: sec.Bootstraps})
	if err != nil {
		return err
	}
	fmt.Printf("shuffle service listening on %s:%d\n", *host, svc.Port())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return svc.Close()
}
