package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Launcher starts an application as a child process and watches it
// (Spark's SparkLauncher.startApplication).
type Launcher struct {
	// Program is the executable to run; Args are its arguments.
	Program string
	Args    []string
	// Env is added to this process's environment (and wins over it).
	// _SPARK_LAUNCHER_PORT and _SPARK_LAUNCHER_SECRET are always set by
	// the launcher.
	Env map[string]string
	// Dir is the child's working directory ("" = this process's).
	Dir string
	// Stdout and Stderr receive the child's output; nil discards it.
	Stdout, Stderr io.Writer
	// Server is the server to register with; nil means the shared one.
	Server *Server
}

// StartApplication registers a handle with a fresh secret, starts the
// child with the rendezvous port and secret in its environment, attaches
// the process to the handle and monitors its exit: when the child exits
// the handle is disposed (FAILED on a non-zero exit unless already in a
// final state other than FINISHED; LOST if still not final).
func (l *Launcher) StartApplication(listeners ...Listener) (*Handle, error) {
	if l.Program == "" {
		return nil, errors.New("launcher: no program")
	}
	s := l.Server
	if s == nil {
		var err error
		if s, err = AcquireServer(); err != nil {
			return nil, err
		}
	} else if err := s.ref(); err != nil {
		return nil, err
	}
	h, err := s.register(true, listeners)
	if err != nil {
		s.Release()
		return nil, err
	}
	cmd := exec.Command(l.Program, l.Args...)
	cmd.Dir = l.Dir
	cmd.Stdout = l.Stdout
	cmd.Stderr = l.Stderr
	cmd.Env = childEnv(l.Env, s.Port(), h.Secret())
	if err := cmd.Start(); err != nil {
		close(h.procDone)
		h.dispose()
		return nil, fmt.Errorf("launcher: start %s: %w", l.Program, err)
	}
	h.attach(cmd)
	return h, nil
}

func childEnv(extra map[string]string, port int, secret string) []string {
	drop := func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		if k == EnvLauncherPort || k == EnvLauncherSecret {
			return true
		}
		_, over := extra[k]
		return over
	}
	var env []string
	for _, kv := range os.Environ() {
		if !drop(kv) {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		if k == EnvLauncherPort || k == EnvLauncherSecret {
			continue
		}
		env = append(env, k+"="+v)
	}
	return append(env, EnvLauncherPort+"="+strconv.Itoa(port), EnvLauncherSecret+"="+secret)
}
