//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package daemon

import "os"

// haveFlock: nothing is refused here (see tryLock).
const haveFlock = false

// tryLock does nothing on platforms without flock(2) (Windows, Plan 9,
// AIX, Solaris, wasm): there two `vaspd serve` on one SQLite database are
// not refused, and keeping to one is the operator's job. (Windows would
// need LockFileEx; vaspd is not deployed there.)
func tryLock(*os.File) error { return nil }
