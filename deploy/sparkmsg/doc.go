// Package sparkmsg maps Spark 4.1's standalone deploy messages, as a JVM
// driver, spark-submit's ClientApp or a DriverWrapper sends them in Java
// serialization, to and from Ember's deploy messages. It is what lets a
// real Spark application register with Ember's master and run its
// executors on Ember's workers (SPARK-APPS.md).
//
// # Model
//
// The package registers a JavaMapper with rpcenv at init: any binary that
// imports it (the master does) reads the Java classes below in Java
// content and writes Ember's messages back as their Java twins whenever
// the peer is a JVM (a ref that arrived in Java, or an ask that came in
// Java). Ember-to-Ember traffic stays JSON.
//
//	JVM class (org.apache.spark.deploy.DeployMessages$...)   Ember message (deploy.)
//	RegisterApplication(appDescription, driver)              RegisterApplication (reads)
//	UnregisterApplication, MasterChangeAcknowledged          the same (both ways)
//	RequestExecutors(appId, Map[ResourceProfile, Int])       RequestExecutors: the sum of the totals
//	KillExecutors(appId, Seq[String])                        KillExecutors (both ways)
//	RequestSubmitDriver, RequestDriverStatus, RequestKillDriver   the same (reads)
//	RegisteredApplication, ExecutorAdded, ExecutorUpdated,
//	ApplicationRemoved, WorkerRemoved, MasterChanged         the same (writes and reads)
//	SubmitDriverResponse, DriverStatusResponse,
//	KillDriverResponse                                       the same (writes and reads), with the
//	                                                         master's own ref
//	RpcEndpointVerifier$CheckExistence, java.lang.Boolean    rpcenv's built-ins
//
// An ApplicationDescription becomes a deploy.ApplicationDescription whose
// Command is the driver's Java command (CoarseGrainedExecutorBackend and
// its placeholders), which Ember's workers launch as a JVM; the memory and
// cores per executor come from the default ResourceProfile's "memory" and
// "cores" executor resources (no "cores": take what a worker offers, as
// Spark's standalone master does). Executor and driver states are Scala
// Enumeration values by id (ExecutorState LAUNCHING..DECOMMISSIONED =
// 0..6, DriverState SUBMITTED..ERROR = 0..7). A driver status's exception
// is always written as None: Ember never writes a Throwable.
//
// Class descriptors come from the Spark release's class table
// (deploy/sparkmsg/suid), which the package installs in rpcenv with a few
// classes the table lacks but JVMs send (classes.go: spark-submit's
// cluster mode passes sys.env, a Map.WithDefault holding a serialized
// lambda, as the driver command's environment; its map is read, the
// default dropped). A peer of another release is refused by rpcenv with an
// error naming the class and the release expected.
//
// # Concurrency
//
// The mapper is stateless and safe for concurrent use; each conversion
// uses the rpcenv.JavaConv it is given, which belongs to one goroutine.
package sparkmsg
