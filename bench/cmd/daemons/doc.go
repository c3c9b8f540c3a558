// Command daemons benchmarks Ember's standalone master and worker side by
// side with Spark 4.1's own Master and Worker, running real Spark
// applications, and prints a Markdown report.
//
// Usage:
//
//	go run ./cmd/daemons -out report/daemons.md
//
// One run measures both systems on the same machine, at the same time:
//
//   - pi: spark-submit of the JVM SparkPi (internal/interop/jvm/sparkapp)
//     against each cluster (a master and one 2-core worker), alternating
//     the systems (A B B A ...); the time from spark-submit's start to
//     the driver's "Starting task 0.0 in stage 0.0" log line (the first
//     task sent to an executor) and to the process's exit; then the same
//     for Spark's examples' pi.py (-pyspark).
//   - resources: VmRSS, VmHWM and CPU (utime+stime over an interval) of
//     each master and worker, idle after a settle period, and while the
//     master holds 50 registered applications (AppFleet,
//     internal/interop/jvm/daemonbench: 50 StandaloneAppClients in one
//     JVM, asking for 64 GiB executors, so no executor launches).
//   - recovery: two masters under ZooKeeper, N workers and one live app
//     (a lingering SparkPi holding executors); the leader is killed with
//     SIGKILL and the standby's /json is polled until it is ALIVE with
//     every worker ALIVE and the app RUNNING.
//
// The command starts every process in a process group of its own (with a
// parent-death signal) and kills them all before it exits. It needs Spark
// (SPARK_HOME or .spark/), a JDK and Debian's ZooKeeper
// (/usr/share/java/zookeeper.jar) for the recovery part (skipped without).
//
// Concurrency: the phases run one after another; within a phase a
// goroutine per child reads its output. Nothing is shared across phases
// but the result struct, written only by the main goroutine.
package main
