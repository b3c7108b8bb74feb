//go:build linux

package regtest

import "syscall"

// sysProcAttr puts the child in its own process group (so Close can signal
// it and anything it spawned) and asks the kernel to kill it if the test
// binary dies first, so an interrupted `go test` leaves no daemons behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
