// Package recovery keeps a standalone master's state across restarts and
// elects the leader among several masters (Spark's PersistenceEngine and
// LeaderElectionAgent): FILESYSTEM (files in a directory, self-elected) and
// ZOOKEEPER (znodes under spark.deploy.zookeeper.dir, leader election with
// an ephemeral sequential latch).
package recovery

import "errors"

// Engine persists master state as key → bytes. Keys are app_<id>,
// driver_<id> and worker_<id>.
type Engine interface {
	// Persist writes key. Writing a key that exists is an error for the
	// FILESYSTEM engine ("File already exists"), as in Spark.
	Persist(key string, value []byte) error
	// Unpersist deletes key; a missing key is not an error.
	Unpersist(key string) error
	// Read returns every key with the prefix.
	Read(prefix string) (map[string][]byte, error)
	Close() error
}

// Leadership receives the outcome of an election.
type Leadership interface {
	ElectedLeader()
	RevokedLeadership()
}

// Agent takes part in leader election for one master until stopped.
type Agent interface {
	Stop() error
}

// ErrExists: persisting a key that is already persisted (FILESYSTEM).
var ErrExists = errors.New("recovery: File already exists")

// blackHole persists nothing (recoveryMode NONE).
type blackHole struct{}

func (blackHole) Persist(string, []byte) error           { return nil }
func (blackHole) Unpersist(string) error                 { return nil }
func (blackHole) Read(string) (map[string][]byte, error) { return map[string][]byte{}, nil }
func (blackHole) Close() error                           { return nil }

// None returns the engine of recoveryMode NONE.
func None() Engine { return blackHole{} }

// monarchy elects its master at once (NONE and FILESYSTEM).
type monarchy struct{}

func (monarchy) Stop() error { return nil }

// SelfElect makes l the leader at once and returns the (trivial) agent.
func SelfElect(l Leadership) Agent {
	l.ElectedLeader()
	return monarchy{}
}
