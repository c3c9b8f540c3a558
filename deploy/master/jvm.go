package master

// Real Spark applications: importing sparkmsg registers the mapper that
// lets the Master endpoint read a JVM driver's RegisterApplication,
// UnregisterApplication, RequestExecutors, KillExecutors and the
// cluster-mode driver requests in Java serialization, and write
// RegisteredApplication, ExecutorAdded, ExecutorUpdated and the rest back
// in Java to the driver's ref. A JVM app is the same app in State as an
// Ember one; its executor Command is the driver's Java command
// (CoarseGrainedExecutorBackend), which the workers launch as JVMs.
import _ "github.com/ember-rpc/ember/deploy/sparkmsg"
