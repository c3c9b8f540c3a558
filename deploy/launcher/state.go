package launcher

import "fmt"

// State is the state of an application seen through a Handle
// (Spark's SparkAppHandle.State).
type State int

// Handle states. FINISHED, FAILED, KILLED and LOST are final.
const (
	StateUnknown State = iota
	StateConnected
	StateSubmitted
	StateRunning
	StateFinished
	StateFailed
	StateKilled
	StateLost
)

var stateNames = [...]string{
	StateUnknown:   "UNKNOWN",
	StateConnected: "CONNECTED",
	StateSubmitted: "SUBMITTED",
	StateRunning:   "RUNNING",
	StateFinished:  "FINISHED",
	StateFailed:    "FAILED",
	StateKilled:    "KILLED",
	StateLost:      "LOST",
}

// String returns Spark's name of the state, e.g. "RUNNING".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// IsFinal reports whether the state is final: once a handle is in a final
// state it does not leave it (except for the forced FAILED of a child that
// exits with a non-zero code after FINISHED).
func (s State) IsFinal() bool {
	switch s {
	case StateFinished, StateFailed, StateKilled, StateLost:
		return true
	}
	return false
}

// ParseState parses a state name as written by String.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("launcher: unknown state %q", name)
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("launcher: invalid state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
