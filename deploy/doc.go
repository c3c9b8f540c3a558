// Package deploy holds what Spark's standalone cluster manager's parts say
// to each other: the DeployMessages (worker ↔ master, app ↔ master,
// clients ↔ master), their data types, and the state snapshots the web UIs
// serve as JSON with Spark's field names. Every message is registered with
// rpcenv under a "deploy.<Name>" type name.
//
// The parts live in sub-packages: master (the Master daemon and its pure
// state machine), worker (the Worker daemon, executor and driver runners),
// recovery (FILESYSTEM and ZOOKEEPER persistence and leader election), and
// webui (the master and worker web UIs).
package deploy
