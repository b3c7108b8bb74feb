package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vaspd/vaspd/store"
)

// ErrBackupExists is returned by [Backup] for a path that already exists
// when it may not replace it.
var ErrBackupExists = errors.New("already exists")

// BackupInfo describes the copy [Backup] wrote.
type BackupInfo struct {
	Path      string // absolute
	Size      int64  // bytes
	Migration int    // the newest migration the copy records
}

// damageBackup, when set (by tests only), is called on the temporary copy
// before it is checked: the way to prove a copy that fails its check is
// never put in place.
var damageBackup func(tmp string) error

// Backup writes a consistent snapshot of db, a live SQLite database, to
// path. It is a reader: VACUUM INTO copies one read transaction's view of
// the database, so a server keeps committing beside it (WAL: readers never
// block the writer, nor it them) and the copy holds exactly what was
// committed when it began. cp of the file would not be safe: it would mix
// pages of different commits and miss what is still only in the -wal.
//
// The copy is written to a temporary file in path's directory, created
// 0600 (it holds the UMA private keys and the token-hashing key), synced,
// opened read-only and checked (integrity_check, and the migration it
// records is db's), then put in place by a link or rename and the
// directory synced: a crash never leaves a partial file at path, and a
// copy that fails its check is deleted. An existing path is an error
// wrapping [ErrBackupExists] unless replace is set; the live database, its
// -wal, -shm and -journal, and the server's lock file beside it are
// refused in any case (replacing one would destroy the database or let a
// second server run), and so is a path with a -wal or -journal of its own
// beside it (refuseLogBeside).
func Backup(ctx context.Context, db *store.DB, path string, replace bool) (BackupInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup path %s: %w", path, err)
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	defer conn.Close()
	live, err := mainFile(ctx, conn)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := refuseLive(abs, live); err != nil {
		return BackupInfo{}, err
	}
	switch fi, err := os.Lstat(abs); {
	case err == nil && fi.IsDir():
		return BackupInfo{}, fmt.Errorf("backup path %s is a directory: give the file to write", abs)
	case err == nil && !replace:
		return BackupInfo{}, fmt.Errorf("backup path %s %w", abs, ErrBackupExists)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return BackupInfo{}, fmt.Errorf("backup path: %w", err)
	}

	if err := refuseLogBeside(abs); err != nil {
		return BackupInfo{}, err
	}

	version, err := migrationVersion(ctx, conn)
	if err != nil {
		return BackupInfo{}, err
	}
	// CreateTemp makes the file 0600 before a byte is written; VACUUM INTO
	// writes into an existing empty file, keeping its mode.
	dir := filepath.Dir(abs)
	f, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // not the temporary file's name, which means nothing to the reader
			err = pe.Err
		}
		return BackupInfo{}, fmt.Errorf("create the backup in %s: %w", dir, err)
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		return BackupInfo{}, err
	}
	placed := false
	defer func() {
		if !placed {
			removeTemp(tmp)
		}
	}()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?1`, tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: VACUUM INTO: %w", err)
	}
	// VACUUM INTO does not sync its output.
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: sync: %w", err)
	}
	if damageBackup != nil {
		if err := damageBackup(tmp); err != nil {
			return BackupInfo{}, err
		}
	}
	if err := checkCopy(ctx, tmp, version); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy failed its check, nothing was written to %s: %w", abs, err)
	}

	if replace {
		err = os.Rename(tmp, abs)
	} else {
		// A link, unlike a rename, fails if path has appeared since it
		// was looked at, so a file created meanwhile is not replaced.
		err = os.Link(tmp, abs)
		if errors.Is(err, fs.ErrExist) {
			return BackupInfo{}, fmt.Errorf("backup path %s %w", abs, ErrBackupExists)
		}
		if err == nil {
			_ = os.Remove(tmp)
		}
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: put the copy in place: %w", err)
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: sync %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return BackupInfo{}, err
	}
	return BackupInfo{Path: abs, Size: fi.Size(), Migration: version}, nil
}

// mainFile is the path of the database file conn has open, as SQLite
// resolved it.
func mainFile(ctx context.Context, conn *sql.Conn) (string, error) {
	rows, err := conn.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return "", fmt.Errorf("backup: find the database file: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", fmt.Errorf("backup: find the database file: %w", err)
		}
		if name == "main" && file != "" {
			return file, nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("backup: find the database file: %w", err)
	}
	return "", errors.New("backup: the database has no file (in memory)")
}

// refuseLive refuses a backup path that names the live database or a file
// SQLite or the server keep beside it, however it is spelt: the same
// directory (symbolic links resolved) and name, or the same file.
func refuseLive(path, live string) error {
	target := canonical(path)
	tfi, terr := os.Stat(path)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".lock"} {
		f := live + suffix
		same := target == canonical(f)
		if !same && terr == nil {
			if fi, err := os.Stat(f); err == nil && os.SameFile(tfi, fi) {
				same = true
			}
		}
		if same {
			return fmt.Errorf("backup path %s is the live database's %s: write the backup elsewhere", path, describeLive(suffix))
		}
	}
	return nil
}

// refuseLogBeside refuses a backup path with a -wal or -journal beside
// it: another database in use there (a server running on it, which would
// go on writing to the file renamed over, every write after lost), or one
// not closed cleanly. SQLite would replay that log, of the old file, into
// the copy when it is next opened, as the restore steps warn
// (docs/backups.md).
func refuseLogBeside(path string) error {
	for _, suffix := range []string{"-wal", "-journal"} {
		if _, err := os.Lstat(path + suffix); err == nil {
			return fmt.Errorf("backup path %s has %s beside it: a database there is in use or was not closed cleanly, "+
				"and SQLite would replay that log into the copy; write the backup elsewhere, or stop what uses it and remove the log",
				path, path+suffix)
		}
	}
	return nil
}

func describeLive(suffix string) string {
	switch suffix {
	case "":
		return "file itself"
	case ".lock":
		return "lock file"
	}
	return strings.TrimPrefix(suffix, "-") + " file"
}

// canonical is path with its directory's symbolic links resolved (the
// file itself may not exist yet).
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	dir, base := filepath.Split(abs)
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return filepath.Join(dir, base)
}

// migrationVersion is the newest migration a database records.
func migrationVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return v, nil
}

// OpenReadOnly opens the SQLite file at path for reading only, with none of
// Open's settings and no migration: a backup is looked at as it is. The
// path is escaped into a file: URI, so a name holding "?" or "#" is still
// that file.
func OpenReadOnly(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
}

// checkCopy opens the copy read-only and checks it is whole and at the
// source's migration.
func checkCopy(ctx context.Context, path string, version int) error {
	c, err := OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	rows, err := c.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("integrity_check: %w", err)
		}
		problems = append(problems, s)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		if len(problems) > 3 { // its messages name pages and indexes, never values
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("integrity_check: %s", strings.Join(problems, "; "))
	}
	got, err := migrationVersion(ctx, c)
	if err != nil {
		return err
	}
	if got != version {
		return fmt.Errorf("the copy is at migration %04d, the database at %04d", got, version)
	}
	return nil
}

// removeTemp deletes a temporary copy and anything SQLite made beside it.
func removeTemp(tmp string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		_ = os.Remove(tmp + suffix)
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename or link in dir durable. Windows cannot sync a
// directory (and needs not: NTFS journals its metadata).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
