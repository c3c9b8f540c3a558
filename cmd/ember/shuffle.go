package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ember-rpc/ember/shuffle"
)

// shuffleService runs the external shuffle service until SIGINT/SIGTERM.
func shuffleService(args []string) error {
	fs := flag.NewFlagSet("shuffle-service", flag.ContinueOnError)
	host := fs.String("host", "0.0.0.0", "address to bind")
	port := fs.Int("port", -1, "port (default spark.shuffle.service.port, 7337)")
	props := fs.String("properties-file", "", "spark-defaults.conf style file (default $SPARK_CONF_DIR/spark-defaults.conf)")
	dbDir := fs.String("db-dir", "", "directory of the registration database (default $SPARK_HOME/work/shuffle-db or ./work/shuffle-db)")
	var confs confFlags
	fs.Var(&confs, "conf", "spark.* property key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conf, err := loadConf(*props, confs)
	if err != nil {
		return err
	}
	if *dbDir == "" {
		home := os.Getenv("SPARK_HOME")
		if home == "" {
			home = "."
		}
		*dbDir = filepath.Join(home, "work", "shuffle-db")
	}
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: conf, Host: *host, Port: *port, DBDir: *dbDir})
	if err != nil {
		return err
	}
	fmt.Printf("shuffle service listening on %s:%d\n", *host, svc.Port())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return svc.Close()
}
