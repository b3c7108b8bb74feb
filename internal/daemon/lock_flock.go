//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package daemon

import (
	"errors"
	"os"
	"syscall"
)

// haveFlock: a second `vaspd serve` on one SQLite database is refused.
const haveFlock = true

// tryLock takes an exclusive flock on f without waiting. flock locks
// belong to the open file description: the kernel releases this one when
// f is closed or the process dies, however it dies.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLocked
		}
		return err
	}
}
