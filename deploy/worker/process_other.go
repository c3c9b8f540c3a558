//go:build !unix

package worker

import (
	"os"
	"os/exec"
)

// setProcessGroup is a no-op where process groups do not exist.
func setProcessGroup(*exec.Cmd) {}

// softKill kills the child: there is no polite signal here.
func softKill(p *os.Process) error { return p.Kill() }

// hardKill kills the child.
func hardKill(p *os.Process) error { return p.Kill() }

// exitStatus is the child's exit code.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	return ps.ExitCode()
}
