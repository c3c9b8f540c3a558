//go:build unix

package testutil

import (
	"errors"
	"os"
	"syscall"
)

// killGroup sends SIGKILL to p's process group (p leads it), or to p
// alone if that fails.
func killGroup(p *os.Process) {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.Kill()
	}
}

// processExists reports whether signal 0 reaches pid (it may be a zombie).
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
