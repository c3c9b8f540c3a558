// Package worker is Spark's standalone Worker daemon in Go: it registers
// with the masters, heartbeats, and runs executors and cluster-mode
// drivers as real OS processes, as Spark's Worker, ExecutorRunner and
// DriverRunner do (DEPLOY.md §4).
//
// # Model
//
// Start creates the env sparkWorker<Instance> and its Worker endpoint,
// whose id is spark.worker.idPattern formatted with (yyyyMMddHHmmss, host,
// port). It sends RegisterWorker to every master at once and retries on
// Spark's schedule: every round(10·fuzz) s, then every round(60·fuzz) s
// after spark.worker.initialRegistrationRetries attempts, giving up (exit
// 1) after spark.worker.maxRegistrationRetries; fuzz is drawn once in
// [0.5, 1.5). Once registered it heartbeats every spark.worker.timeout/4,
// cleans old app dirs every spark.worker.cleanup.interval, and answers the
// master's LaunchExecutor, KillExecutor, LaunchDriver, KillDriver,
// ApplicationFinished, MasterChanged and ReconnectWorker. Losing the
// master's connection starts a new registration round.
//
// The decisions are a Core's (state.go): a pure, single-threaded state
// machine with no goroutines, sockets, processes or files. Its inputs are
// events (Start, Tick(timer), RegisteredWorker, RegisterWorkerFailed,
// MasterChanged, ReconnectWorker, Disconnected, LaunchExecutor,
// KillExecutor, ExecutorStateChanged, ResyncExecutorState,
// ApplicationFinished, LaunchDriver, KillDriver, DriverStateChanged); its
// outputs are calls on an Effects (register at a master, send to the
// master, ask it to take an executor state, start or stop a timer, make
// directories, launch or kill a runner, clean app dirs, exit). It tracks
// the executors, drivers, cores, memory and custom resources in use, the
// app local dirs and the registration round. Worker is the thin shell:
// its endpoint turns messages into events, and it performs the effects
// with the RPC env, timers, processes and the file system. Scenario
// scripts in state_test.go drive a Core against recorded effects.
//
// # Launching executors and drivers
//
// When Command.MainClass is a Java class name (a Spark application's
// org.apache.spark.executor.CoarseGrainedExecutorBackend, or
// org.apache.spark.deploy.worker.DriverWrapper for a cluster-mode driver)
// the worker starts a JVM exactly as Spark 4.1's ExecutorRunner,
// DriverRunner, CommandUtils and WorkerCommandBuilder do:
//
//	$JAVA_HOME/bin/java <lines of $SPARK_CONF_DIR/java-opts> -cp <classpath> -Xmx<memory>M <javaOpts> <mainClass> <arguments>
//
// with JAVA_HOME and the other variables taken from the Command's
// environment first, then the worker's (java from PATH when JAVA_HOME is
// unset: the worker is no JVM with a java.home to fall back on), and the
// classpath the Command's classPathEntries, the conf dir
// (SPARK_CONF_DIR or $SPARK_HOME/conf), the slf4j-api jar, $SPARK_HOME/jars/*,
// HADOOP_CONF_DIR, YARN_CONF_DIR and SPARK_DIST_CLASSPATH, without
// duplicates, directories ending in '/'. SPARK_HOME is Options.SparkHome,
// else spark.worker.ember.sparkHome (KeySparkHome), else the worker's
// $SPARK_HOME, else the current directory (as Spark's worker: 4.x
// application descriptions carry no Spark home); it is also set in the
// child's environment. The worker logs at start which Spark home JVM
// children will use, or warns that it has none (no jars/ there); a JVM
// launch from such a home fails with an error naming the directory, where
// it came from, SPARK_HOME and the key. Otherwise MainClass is a program path
// (Ember's Go executors; a bare name is looked up in PATH), run with
// Command.JavaOpts and then Command.Arguments, and two Ember additions in
// its environment: SPARK_EXECUTOR_MEMORY ("<MB>m") and SPARK_EXECUTOR_CORES.
//
// Either way the child runs in workDir/<appId>/<execId> (drivers:
// workDir/<driverId>, with the user jar fetched into it), in a process
// group of its own. Arguments that are exactly {{WORKER_URL}}
// (spark://Worker@host:port), {{EXECUTOR_ID}}, {{HOSTNAME}}, {{CORES}},
// {{APP_ID}} or {{RESOURCE_PROFILE_ID}} are replaced (drivers:
// {{WORKER_URL}}, {{USER_JAR}}); in an executor's JavaOpts {{APP_ID}} and
// {{EXECUTOR_ID}} are replaced anywhere; -Dspark.authenticate.secret* and
// the spark.ssl.rpc.*Password options are dropped. Assigned custom
// resources are written to a resource-<component>-*.json file passed as
// --resourcesFile (executors) or -Dspark.driver.resourcesFile (drivers).
// The environment is the worker's (without an inherited secret), then the
// Command's, LD_LIBRARY_PATH with Command.libraryPathEntries first,
// _SPARK_AUTH_SECRET (when spark.authenticate), and for executors
// SPARK_EXECUTOR_DIRS, SPARK_LAUNCH_WITH_SCALA=0 and
// SPARK_LOG_URL_STDOUT/STDERR (the worker UI's log pages; through the
// master's proxy with spark.ui.reverseProxy). stdout and stderr go to
// files of the child's dir (for executors under
// spark.executor.logs.rolling.strategy=time|size, copied into files
// rolled over as <name>--<suffix>, the newest maxRetainedFiles kept,
// gzipped with enableCompression); stderr starts with the
// `Spark Executor Command: "..."` (drivers: `Launch Command: "..."`)
// header, secrets redacted with spark.redaction.regex. An executor ends
// EXITED with "Command exited with code N"; a kill is SIGTERM to the
// group, then SIGKILL after the grace period, and ends KILLED with the
// child's status (143 for a JVM that obeyed). Drivers end FINISHED (0),
// FAILED, KILLED or ERROR, relaunched with a doubling back-off when
// supervised.
//
// # Authority
//
// Every remote message is validated (deploy.Validate: bounded cores,
// memory, lengths and counts) and then admitted by Core.Admit before it
// becomes an event. Orders (LaunchExecutor, KillExecutor, LaunchDriver,
// KillDriver, ApplicationFinished, ReconnectWorker) are obeyed only from
// the active master's address; MasterChanged and the answers to a
// registration only from a master of the configured list, naming itself.
// Addresses are compared with the configured masters' host names resolved
// (by the system resolver, off the endpoint's loop: at start, and the
// active master's again when it changes); names peers give are looked up
// within a small budget for the worker's life, also off the loop, and a
// master met by such a name is then reached at its configured address. A
// comparison never waits for a lookup: a name not resolved yet matches
// only literally, and a master refused so is admitted when it answers the
// next registration attempt (deploy/internal/authority).
// A refused message is one warning per peer host per 10 s
// (internal/ratelog), never an error per message.
//
// The address a message claims is what the peer's env writes in each
// request, so Admit also checks the connection it came over (rpcenv.Conn):
// an Ember master answers the registration and gives its orders over the
// worker's own connection to it, so no other connection is listened to
// for them; a master that dials the worker (Spark's, or any after a
// failover) is bound to the one connection it dialled from its host. A
// forged master address from another host is always refused; from the
// master's own host only while the master has no connection open to the
// worker that it needs (between a dialling master's reconnects), or as a
// MasterChanged naming a configured master whose active connection is
// gone. spark.authenticate closes that last gap.
//
// Ember-only keys, beside Spark's (CONFIG.md §5):
//
//   - spark.worker.ember.registrationIntervalScale (1.0) multiplies both
//     registration intervals: a test hook.
//   - spark.worker.ember.executorKillGrace (10s) is the executor's SIGTERM
//     to SIGKILL grace; drivers use spark.worker.driverTerminateTimeout.
//   - spark.worker.ember.driverBackoffScale (1.0) multiplies the supervised
//     driver's relaunch back-off: a test hook.
//
// # Usage
//
//	w, err := worker.Start(worker.Options{Host: "10.0.0.5", Cores: 8, MemoryMB: 16384,
//		MasterURLs: []string{"spark://10.0.0.1:7077"}, Conf: conf})
//	if err != nil {
//		return err
//	}
//	defer w.Shutdown()
//	st, _ := w.WorkerState() // what the web UI's /json shows
//
// # Concurrency
//
// All the worker's state lives in its Core, which only the endpoint
// touches, one message at a time; runners, timers and the state-sync
// goroutine only send messages to it, and WorkerState asks it. A Core is
// not safe for concurrent use. Every goroutine is owned by the Worker:
// Shutdown kills the executor and driver processes, waits for them and for
// every goroutine, then stops the env and the shuffle service. Worker's
// methods are safe for concurrent use.
package worker
