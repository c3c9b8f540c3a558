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
// An executor runs Command.MainClass as a program path (a bare name is
// looked up in PATH) with Command.JavaOpts and then Command.Arguments, in
// workDir/<appId>/<execId>, in a process group of its own. Arguments that
// are exactly {{WORKER_URL}}, {{EXECUTOR_ID}}, {{HOSTNAME}}, {{CORES}},
// {{APP_ID}} or {{RESOURCE_PROFILE_ID}} are replaced; in JavaOpts
// {{APP_ID}} and {{EXECUTOR_ID}} are replaced anywhere and
// -Dspark.authenticate.secret* options are dropped. Its environment is the
// worker's, then Command.Environment, then _SPARK_AUTH_SECRET (when
// spark.authenticate), SPARK_EXECUTOR_DIRS, SPARK_LAUNCH_WITH_SCALA=0,
// SPARK_LOG_URL_STDOUT/STDERR, and two Ember additions:
// SPARK_EXECUTOR_MEMORY (the executor's memory, "<MB>m") and
// SPARK_EXECUTOR_CORES. stdout and stderr go to files of the executor dir;
// stderr starts with the `Spark Executor Command: "..."` header, secrets
// redacted with spark.redaction.regex. A kill is SIGTERM to the group, then
// SIGKILL after the grace period. Drivers run the same way in
// workDir/<driverId> ({{WORKER_URL}}, {{USER_JAR}}), relaunched with a
// doubling back-off when supervised.
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
// All the worker's state lives on its endpoint, which runs one message at
// a time; runners, timers and registration goroutines only send messages
// to it, and WorkerState asks it. Every goroutine is owned by the Worker:
// Shutdown kills the executor and driver processes, waits for them and for
// every goroutine, then stops the env and the shuffle service. Worker's
// methods are safe for concurrent use.
package worker
