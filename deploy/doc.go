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
//
// Messages from peers are untrusted: each has a Validate method
// (validate.go) that bounds what it carries (cores in [1, MaxCores],
// memory in [1, MaxMemoryMB], coresPerExecutor >= 1 when set, host names,
// ids, URLs and free text by length, commands and their environment to
// MaxCommandBytes, lists to MaxEntries), and the master and worker call it
// through Validate before a field reaches their state. A refusal is a
// ValidationError (errors.Is ErrInvalid) naming the message and field.
package deploy
