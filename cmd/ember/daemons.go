package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/deploy/webui"
	"github.com/ember-rpc/ember/deploy/worker"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/rpcenv"
	"github.com/prometheus/client_golang/prometheus"
)

// envInt reads an integer environment variable, or def.
func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func waitForSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	signal.Stop(sig)
}

// runMaster is `ember master`: Spark's Master daemon arguments.
func runMaster(args []string) error {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	var host, props string
	var port, uiPort int
	fs.StringVar(&host, "host", envStr("SPARK_MASTER_HOST", defaultHost()), "hostname to listen on (SPARK_MASTER_HOST)")
	fs.StringVar(&host, "h", envStr("SPARK_MASTER_HOST", defaultHost()), "shorthand for --host")
	fs.IntVar(&port, "port", envInt("SPARK_MASTER_PORT", deploy.DefaultMasterPort), "port (SPARK_MASTER_PORT, 7077)")
	fs.IntVar(&port, "p", envInt("SPARK_MASTER_PORT", deploy.DefaultMasterPort), "shorthand for --port")
	fs.IntVar(&uiPort, "webui-port", -1, "web UI port (SPARK_MASTER_WEBUI_PORT, spark.master.ui.port, 8080)")
	fs.StringVar(&props, "properties-file", "", "spark-defaults.conf style file (default: conf/spark-defaults.conf)")
	var confs confFlags
	fs.Var(&confs, "conf", "spark.* property key=value (repeatable; wins over -D options of SPARK_MASTER_OPTS/SPARK_DAEMON_JAVA_OPTS and the file)")
	logLevel := fs.String("log-level", "", "DEBUG, INFO, WARN, ERROR or OFF (default spark.log.level, INFO; SIGUSR1/SIGUSR2 change it at run time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("master: unexpected arguments %q", fs.Args())
	}
	lc, err := loadConf("master", props, confs)
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
	if uiPort < 0 {
		uiPort, err = uiPortFrom(conf, "spark.master.ui.port", "SPARK_MASTER_WEBUI_PORT", deploy.DefaultMasterUIPort)
		if err != nil {
			return err
		}
	}
	m, err := master.Start(master.Options{Host: host, Port: port, Conf: conf, Logger: log.Logger})
	if err != nil {
		return err
	}
	defer m.Shutdown()
	killEnabled, err := conf.GetBool("spark.ui.killEnabled", true)
	if err != nil {
		return err
	}
	uiAuth, err := webui.BasicAuthFromConf(conf)
	if err != nil {
		return err
	}
	killSecret, err := webui.KillSecretFromConf(conf)
	if err != nil {
		return err
	}
	pprofOn, err := conf.GetBool(webui.KeyPprofEnabled, false)
	if err != nil {
		return err
	}
	warning, err := webui.SecurityWarning(conf, "master", host)
	if err != nil {
		return err
	}
	killLocalOnly, err := webui.KillLocalOnlyFromConf(conf)
	if err != nil {
		return err
	}
	ui, err := webui.Listen(uiBindHost(host), uiPort, webui.NewMasterHandler(m, webui.Options{KillEnabled: killEnabled, Title: "Ember Master",
		BasicAuth: uiAuth, KillSecret: killSecret, Pprof: pprofOn, Warning: warning, KillLocalOnly: killLocalOnly}))
	if err != nil {
		return fmt.Errorf("master: web UI on port %d: %w", uiPort, err)
	}
	defer ui.Close()
	uiURL := publicUIURL(ui.URL(), ui.Port())
	m.SetWebUIURL(uiURL, ui.Port())
	log.Info("master started", "url", m.MasterURL(), "webui", uiURL)
	fmt.Printf("Master at %s, web UI at %s\n", m.MasterURL(), uiURL)
	waitForSignal()
	log.Info("master shutting down")
	return nil
}

func uiPortFrom(conf *sparkconf.Conf, key, env string, def int) (int, error) {
	if v, ok := conf.Get(key); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 65535 {
			return 0, fmt.Errorf("%s: bad port %q", key, v)
		}
		return n, nil
	}
	return envInt(env, def), nil
}

// runWorker is `ember worker <master-urls>`: Spark's Worker arguments.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var host, props, memory, workDir, sparkHome string
	var port, uiPort, cores int
	fs.StringVar(&host, "host", defaultHost(), "hostname to listen on")
	fs.StringVar(&host, "h", defaultHost(), "shorthand for --host")
	fs.IntVar(&port, "port", envInt("SPARK_WORKER_PORT", 0), "port (SPARK_WORKER_PORT; 0 = random)")
	fs.IntVar(&port, "p", envInt("SPARK_WORKER_PORT", 0), "shorthand for --port")
	fs.IntVar(&cores, "cores", envInt("SPARK_WORKER_CORES", runtime.NumCPU()), "cores to offer (SPARK_WORKER_CORES)")
	fs.IntVar(&cores, "c", envInt("SPARK_WORKER_CORES", runtime.NumCPU()), "shorthand for --cores")
	fs.StringVar(&memory, "memory", os.Getenv("SPARK_WORKER_MEMORY"), "memory to offer, e.g. 1000M, 2G (SPARK_WORKER_MEMORY)")
	fs.StringVar(&memory, "m", os.Getenv("SPARK_WORKER_MEMORY"), "shorthand for --memory")
	fs.StringVar(&workDir, "work-dir", os.Getenv("SPARK_WORKER_DIR"), "work directory (SPARK_WORKER_DIR)")
	fs.StringVar(&workDir, "d", os.Getenv("SPARK_WORKER_DIR"), "shorthand for --work-dir")
	fs.IntVar(&uiPort, "webui-port", -1, "web UI port (SPARK_WORKER_WEBUI_PORT, spark.worker.ui.port, 8081)")
	fs.StringVar(&sparkHome, "spark-home", "", "the Spark distribution JVM executors and drivers run from (default "+worker.KeySparkHome+", else $SPARK_HOME)")
	fs.StringVar(&props, "properties-file", "", "spark-defaults.conf style file (default: conf/spark-defaults.conf)")
	var confs confFlags
	fs.Var(&confs, "conf", "spark.* property key=value (repeatable; wins over -D options of SPARK_WORKER_OPTS/SPARK_DAEMON_JAVA_OPTS and the file)")
	logLevel := fs.String("log-level", "", "DEBUG, INFO, WARN, ERROR or OFF (default spark.log.level, INFO; SIGUSR1/SIGUSR2 change it at run time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("worker: need exactly one master URL: spark://host:port[,host2:port2]")
	}
	masters, err := parseMasterURLs(fs.Arg(0))
	if err != nil {
		return err
	}
	lc, err := loadConf("worker", props, confs)
	if err != nil {
		return err
	}
	conf := lc.conf
	memMB := 0
	if memory != "" {
		b, err := sparkconf.ParseBytes(memory, 1<<20)
		if err != nil {
			return fmt.Errorf("worker: --memory: %w", err)
		}
		memMB = int(b >> 20)
		if memMB <= 0 {
			return fmt.Errorf("worker: --memory must be at least 1M")
		}
	}
	if cores <= 0 {
		return fmt.Errorf("worker: --cores must be positive")
	}
	if uiPort < 0 {
		if uiPort, err = uiPortFrom(conf, "spark.worker.ui.port", "SPARK_WORKER_WEBUI_PORT", deploy.DefaultWorkerUIPort); err != nil {
			return err
		}
	}
	uiAuth, err := webui.BasicAuthFromConf(conf)
	if err != nil {
		return err
	}
	pprofOn, err := conf.GetBool(webui.KeyPprofEnabled, false)
	if err != nil {
		return err
	}
	log, err := newDaemonLog(*logLevel, conf)
	if err != nil {
		return err
	}
	defer log.Close()
	if lc.file != "" {
		log.Info("using properties file", "file", lc.file)
	}
	ui, err := webui.Listen(uiBindHost(host), uiPort, nil)
	if err != nil {
		return fmt.Errorf("worker: web UI on port %d: %w", uiPort, err)
	}
	w, err := worker.Start(worker.Options{Host: host, Port: port, WebUIPort: ui.Port(), Cores: cores, MemoryMB: memMB,
		WorkDir: workDir, MasterURLs: masters, Conf: conf, Logger: log.Logger, PublicDNS: os.Getenv("SPARK_PUBLIC_DNS"),
		Instance: envInt("SPARK_WORKER_INSTANCE", 1), SparkHome: sparkHome})
	if err != nil {
		ui.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	if svc := w.ShuffleService(); svc != nil {
		if err := svc.RegisterMetrics(reg); err != nil {
			log.Warn("shuffle service metrics not exported", "err", err)
		}
	}
	warning, err := webui.SecurityWarning(conf, "worker", host)
	if err != nil {
		ui.Close()
		w.Shutdown()
		return err
	}
	ui.SetHandler(webui.NewWorkerHandler(w, webui.Options{Title: "Ember Worker", Registry: reg, BasicAuth: uiAuth, Pprof: pprofOn,
		Warning: warning}))
	defer ui.Close()
	defer w.Shutdown()
	uiURL := publicUIURL(ui.URL(), ui.Port())
	log.Info("worker started", "id", w.ID(), "address", w.Address().String(), "webui", uiURL)
	fmt.Printf("Worker %s at %s, web UI at %s\n", w.ID(), w.Address(), uiURL)
	waitForSignal()
	log.Info("worker shutting down")
	return nil
}

// parseMasterURLs splits spark://h1:p1,h2:p2 into spark:// URLs.
func parseMasterURLs(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "spark://")
	if !ok {
		return nil, fmt.Errorf("invalid master URL %q: must start with spark://", s)
	}
	var out []string
	for _, hp := range strings.Split(rest, ",") {
		u := "spark://" + strings.TrimSpace(hp)
		if _, err := rpcenv.ParseSparkURL(u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
