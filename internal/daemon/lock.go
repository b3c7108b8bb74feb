package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SQLite is a one-process deployment: the store serialises writers with an
// in-process mutex, migrations take no lock of their own on SQLite, and
// nothing coordinates two servers' background loops through one file.
// So `vaspd serve` holds an exclusive OS lock on DATABASE.lock (beside the
// database) for its whole life, and a second server on the same database
// stops at once instead of running beside the first. Several processes
// need PostgreSQL.
//
// The lock is flock(2) where the platform has it (lock_flock.go): the
// kernel drops it when the process ends in any way, kill -9 included, so
// a crash never leaves a stale lock to clean up. The file itself stays
// (removing it would let a third process lock a new file while a second
// still holds the old one); it records the holder's PID for the error.
//
// CLI commands that open the database (vaspd token …) do not take it:
// their short transactions wait for the server's through SQLite's own
// file locking and busy timeout, and they never migrate (OpenDB), so the
// server is the only process that changes the schema. The exception is
// `vaspd keys forget` (ForgetKeys), which is only safe with no server
// running: it takes the lock, so it is refused while one runs and a
// server starting meanwhile is refused until it is done.

// errLocked is what tryLock returns when another process holds the lock.
var errLocked = errors.New("locked")

// lockSQLite takes the server's lock for the SQLite database at dbPath.
// setting names the configuration setting that chose the database, for
// the error, which is a *lockHeldError when another process holds the
// lock. release gives the lock up.
func lockSQLite(setting, dbPath string) (release func() error, err error) {
	// The lock is the database file's, however it is named: beside the
	// file a symbolic link points to (where SQLite keeps its -wal), not
	// beside the link, which another process may not use. (A file not yet
	// there is named as given: serve creates it.)
	if real, err := filepath.EvalSymlinks(dbPath); err == nil {
		dbPath = real
	}
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("setting %s: cannot create %s: %w", setting, dir, err)
	}
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("setting %s: open lock file: %w", setting, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("setting %s: lock %s: %w", setting, path, err)
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir, path = abs, filepath.Join(abs, filepath.Base(path))
		}
		return nil, &lockHeldError{setting: setting, dir: dir, path: path, pid: readPID(path)}
	}
	// Best effort: the PID only makes the error above more helpful.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil // closing the descriptor releases the lock
}

// lockHeldError is lockSQLite's error when another process holds the lock.
// Its message is the one for a second `vaspd serve`; other commands that
// take the lock (vaspd keys forget) say it their way.
type lockHeldError struct {
	setting   string // the setting that chose the database
	dir, path string // the database's directory and the lock file, absolute if possible
	pid       int    // the holder's PID as it recorded it, or 0
}

// holder names the process holding the lock.
func (e *lockHeldError) holder() string {
	if e.pid > 0 {
		return fmt.Sprintf("another vaspd process (pid %d)", e.pid)
	}
	return "another vaspd process"
}

func (e *lockHeldError) Error() string {
	return fmt.Sprintf("setting %s: %s already serves the SQLite database in %s (it holds %s); "+
		"SQLite allows one vaspd serve per database: stop that one, give this one its own database, "+
		"or use PostgreSQL (database-url) to run several", e.setting, e.holder(), e.dir, e.path)
}

// readPID returns the PID recorded in a lock file, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 32 {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
