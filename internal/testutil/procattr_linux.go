package testutil

import "syscall"

// childProcAttr puts a child in a process group of its own (so that a
// group kill reaches everything it started) and has the kernel kill it if
// the test process dies first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
