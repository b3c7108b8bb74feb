//go:build unix && !linux

package regtest

import "syscall"

// sysProcAttr puts the child in its own process group so Close can signal it
// and anything it spawned. (PR_SET_PDEATHSIG exists only on Linux.)
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
