// Command ember is Ember's one binary. Subcommands:
//
//	ember selfcheck [-mode EPOLL|NIO|both] [-rpcs N] [-file-mib N]
//	    start a transport server and client on loopback and exercise RPC,
//	    one-way messages, chunk fetch (sendfile) and streams, printing what
//	    it measured.
//	ember shuffle-service [--host H] [--port P] [--conf k=v] [--properties-file F] [--db-dir D]
//	    run the external shuffle service.
//	ember secret [--out FILE] [--force] [--spark-submit-conf FILE2]
//	    write a random shared secret file (mode 0600) and print the
//	    spark-defaults.conf lines that secure a cluster with it (secret.go).
//
// and the commands listed by "ember help". Every command takes --help
// (usage, exit 0). The daemons (master, worker, shuffle-service) read
// conf/spark-defaults.conf (found through SPARK_CONF_DIR, else the
// binary's own location, bin/ember → conf/, else $SPARK_HOME/conf), the -Dspark.* options of
// SPARK_DAEMON_JAVA_OPTS and SPARK_MASTER_OPTS / SPARK_WORKER_OPTS /
// SPARK_SHUFFLE_OPTS, then --conf; they take --log-level (or
// spark.log.level) and change it at run time on SIGUSR1 (more) and
// SIGUSR2 (less).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "selfcheck":
		err = selfcheck(os.Args[2:])
	case "shuffle-service":
		err = shuffleService(os.Args[2:])
	case "master":
		err = runMaster(os.Args[2:])
	case "worker":
		err = runWorker(os.Args[2:])
	case "executor":
		err = runExecutor(os.Args[2:])
	case "example":
		err = runExample(os.Args[2:])
	case "demo":
		err = runDemo(os.Args[2:])
	case "submit":
		err = runSubmit(os.Args[2:])
	case "secret":
		err = runSecret(os.Args[2:])
	case "help", "-h", "--help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "ember: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the command printed its usage: asking for it is no failure
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ember:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: ember <command> [flags]

Every command takes --help. Daemons take --log-level (spark.log.level); SIGUSR1/SIGUSR2 raise/lower it at run time.

commands:
  selfcheck        run the transport end to end on loopback (RPC, one-way, chunk fetch, stream)
  shuffle-service  run the external shuffle service (spark.shuffle.service.port, 7337)
  master           run a standalone master (--host, --port 7077, --webui-port 8080, --properties-file, --conf, --log-level)
  worker           run a standalone worker: ember worker [flags] spark://host:port[,host2:port2]
  executor         run an application's executor (started by workers): --driver-url, --executor-id, --hostname, --cores, --app-id, --worker-url, --heartbeat-interval
  example          run an example application: ember example pi --master spark://host:port [--slices N] [--samples N]
                   or ember example sort --master spark://host:port [--size 64m] [--maps N] [--reduces N]
  demo             start a local cluster (a master, two workers with shuffle services) and sort --size bytes (default 1g) on it
                   (--keep: leave the cluster and its web UI up until Ctrl-C)
  secret           secure a cluster: write a random shared secret file (mode 0600; --out, default conf/spark-auth-secret) and print the spark-defaults lines that use it
  submit           submit a program: ember submit --master spark://host:port [--deploy-mode client|cluster] [options] <program> [args] (--kill/--status ID)
`)
}
