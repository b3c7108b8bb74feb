package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd/store"
)

// TestBackupWhileWriting: a backup taken while another pool (as a server
// would be) keeps committing holds every row committed before it started,
// passes integrity_check, is private (0600), and leaves no temporary file.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := openMigrated(t, live)
	writer, err := Connect(ctx, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()

	// The writer commits one row per transaction until stopped; committed
	// counts the rows whose commit has returned.
	var committed atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	warm := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := writer.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, 'v', 0)`, fmt.Sprintf("w-%06d", i))
				return err
			})
			if err != nil {
				done <- err
				return
			}
			if committed.Add(1) == 200 {
				close(warm)
			}
		}
	}()
	<-warm
	before := committed.Load()

	out := filepath.Join(dir, "out", "backup.db")
	if err := os.Mkdir(filepath.Dir(out), 0o700); err != nil {
		t.Fatal(err)
	}
	info, err := Backup(ctx, db, out, false)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	after := committed.Load()

	if info.Path != out {
		t.Errorf("info.Path %q, want %q", info.Path, out)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != fi.Size() || info.Size == 0 {
		t.Errorf("info.Size %d, file size %d", info.Size, fi.Size())
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("backup mode %#o, want 0600", m)
	}
	if want := latestMigration(t); info.Migration != want {
		t.Errorf("info.Migration %d, want %d", info.Migration, want)
	}

	onlyFiles(t, filepath.Dir(out), "backup.db")
	c := openReadOnly(t, out)
	checkIntegrity(t, c)
	var n int64
	var maxName string
	if err := c.QueryRow(`SELECT COUNT(*), COALESCE(MAX(name), '') FROM settings WHERE name LIKE 'w-%'`).Scan(&n, &maxName); err != nil {
		t.Fatal(err)
	}
	// Rows are named in commit order, so the copy holds a prefix of them:
	// at least every row committed before Backup was called, at most those
	// committed by the time it returned.
	if n < before || n > after || (n > 0 && maxName != fmt.Sprintf("w-%06d", n-1)) {
		t.Errorf("backup holds %d writer rows (last %q); %d were committed before it started, %d when it returned", n, maxName, before, after)
	}
}

// TestBackupBesideOpenWriteTransaction: Backup is a reader. It completes
// while another connection holds SQLite's write lock with a transaction
// open (as the server does between BEGIN IMMEDIATE and COMMIT), without
// waiting for it, and holds none of its uncommitted rows.
func TestBackupBesideOpenWriteTransaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := openMigrated(t, live)
	if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('committed', 'v', 0)`); err != nil {
		t.Fatal(err)
	}
	other, err := Connect(ctx, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.SQL().BeginTx(ctx, nil) // IMMEDIATE (_txlock): takes the write lock now
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('uncommitted', 'v', 0)`); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "backup.db")
	if _, err := Backup(ctx, db, out, false); err != nil {
		t.Fatalf("backup beside an open write transaction: %v", err)
	}
	c := openReadOnly(t, out)
	checkIntegrity(t, c)
	var names []string
	rows, err := c.Query(`SELECT name FROM settings WHERE name IN ('committed', 'uncommitted')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		names = append(names, s)
	}
	rows.Close()
	if fmt.Sprint(names) != "[committed]" {
		t.Errorf("backup holds %v, want [committed]", names)
	}
}

// TestBackupRefusesExisting: an existing file is left as it is unless
// replace is set; replaced, it becomes the backup (private, whatever the
// old file's mode). A directory is never replaced.
func TestBackupRefusesExisting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openMigrated(t, filepath.Join(dir, "live.db"))
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, "backup.db")
	if err := os.WriteFile(path, []byte("yesterday's backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	_, err := Backup(ctx, db, path, false)
	if !errors.Is(err, ErrBackupExists) || !strings.Contains(err.Error(), path) {
		t.Fatalf("backup over an existing file: %v, want ErrBackupExists naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "yesterday's backup" {
		t.Fatalf("the existing file was changed: %q", b)
	}
	onlyFiles(t, out, "backup.db")

	if _, err := Backup(ctx, db, path, true); err != nil {
		t.Fatalf("backup with replace: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("replaced backup mode %#o, want 0600", m)
	}
	onlyFiles(t, out, "backup.db")
	checkIntegrity(t, openReadOnly(t, path))

	sub := filepath.Join(out, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, db, sub, true); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("backup onto a directory: %v, want an error saying it is a directory", err)
	}
}

// TestBackupIntoMissingDirectory: the error names the directory, not the
// temporary file that could not be made in it.
func TestBackupIntoMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	db := openMigrated(t, filepath.Join(dir, "live.db"))
	missing := filepath.Join(dir, "nodir")
	_, err := Backup(context.Background(), db, filepath.Join(missing, "backup.db"), false)
	if err == nil || !strings.Contains(err.Error(), missing+": no such file or directory") || strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("backup into a missing directory: %v, want an error naming %s alone", err, missing)
	}
}

// TestBackupRefusesLiveDatabase: the live database and its -wal and -shm
// (and the server's lock file) are never a backup's path, however they are
// named: directly, relatively, through a symbolic link, with replace set.
func TestBackupRefusesLiveDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := openMigrated(t, live)
	if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('keep', 'v', 0)`); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	fileLink := filepath.Join(t.TempDir(), "live-link.db")
	if err := os.Symlink(live, fileLink); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, live)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{live, live + "-wal", live + "-shm", live + "-journal", live + ".lock", rel,
		filepath.Join(link, "live.db"), filepath.Join(link, "live.db-wal"), fileLink} {
		_, err := Backup(ctx, db, p, true)
		if err == nil || !strings.Contains(err.Error(), "live database") {
			t.Errorf("backup to %s: %v, want a refusal naming the live database", p, err)
		}
	}
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'keep'`).Scan(&v); err != nil {
		t.Fatalf("the live database after the refusals: %v", err)
	}
	checkIntegrity(t, db.SQL())
}

// TestBackupCheckFailureLeavesNothing: a copy that fails its check (here
// damaged after it was written) is deleted and the path never created.
func TestBackupCheckFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openMigrated(t, filepath.Join(dir, "live.db"))
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	damageBackup = func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		// Every page after the first (the schema's root and header): the
		// tables' b-trees become garbage.
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		garbage := []byte(strings.Repeat("\xa5", int(fi.Size())-4096))
		_, err = f.WriteAt(garbage, 4096)
		return err
	}
	defer func() { damageBackup = nil }()
	path := filepath.Join(out, "backup.db")
	_, err := Backup(ctx, db, path, false)
	if err == nil || !strings.Contains(err.Error(), "check") {
		t.Fatalf("backup of a damaged copy: %v, want a failed check", err)
	}
	onlyFiles(t, out)
}

func openMigrated(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func latestMigration(t *testing.T) int {
	t.Helper()
	ms, err := store.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].Version
}

// openReadOnly opens a backup as a reader that changes nothing.
func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	c, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func checkIntegrity(t *testing.T, c *sql.DB) {
	t.Helper()
	var res string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q (%v)", res, err)
	}
}

// onlyFiles checks dir holds exactly the files named: no temporary file,
// journal or log is left behind.
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

// TestBackupRefusesAnotherDatabaseInUse: with replace set, a path that is
// another SQLite database in use — its -wal or -journal beside it, as
// while a server runs on it — is refused and left as it is. Renamed over,
// its server would go on writing to the file unlinked (every write after
// lost), and the log beside it, of the old file, would be replayed into
// the copy when it is next opened.
func TestBackupRefusesAnotherDatabaseInUse(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, filepath.Join(t.TempDir(), "live.db"))
	other := filepath.Join(t.TempDir(), "other.db")
	odb := openMigrated(t, other)
	if _, err := odb.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('keep', 'v', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other + "-wal"); err != nil {
		t.Fatalf("the other database in use has no -wal: %v", err)
	}
	_, err := Backup(ctx, db, other, true)
	if err == nil || !strings.Contains(err.Error(), other+"-wal") {
		t.Errorf("backup over a database in use: %v, want a refusal naming its -wal", err)
	}
	var v string
	if err := odb.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'keep'`).Scan(&v); err != nil {
		t.Fatalf("the other database after the refusal: %v", err)
	}
	// A rollback journal beside it: a transaction of another program was
	// cut off, and SQLite rolls it back into whatever file is there.
	journaled := filepath.Join(t.TempDir(), "journaled.db")
	for _, f := range []string{journaled, journaled + "-journal"} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Backup(ctx, db, journaled, true); err == nil || !strings.Contains(err.Error(), journaled+"-journal") {
		t.Errorf("backup over a database with a -journal: %v, want a refusal naming it", err)
	}
	// Closed, its -wal gone: replaced, as asked.
	odb.Close()
	if _, err := os.Stat(other + "-wal"); err == nil {
		t.Skip("the -wal stayed after the last connection closed")
	}
	if _, err := Backup(ctx, db, other, true); err != nil {
		t.Errorf("backup over a database not in use: %v", err)
	}
}
