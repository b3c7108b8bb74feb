package sqlite

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
)

// TestFilesArePrivate: a new database and its log files are readable by
// their owner only (they hold private keys); an existing file open to
// others is reported.
func TestFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('x', 'y', 0)`); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(f), m)
		}
	}
	db.Close()

	loose := filepath.Join(dir, "loose.db")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	var logged bytes.Buffer
	db, err = Open(ctx, loose, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !strings.Contains(logged.String(), "readable by other users") {
		t.Fatalf("no warning for a 0644 database; log: %s", logged.String())
	}
}

// TestConnectionSettings: every connection of the pool, not only the first,
// runs with the settings Open promises (the DSN's pragmas apply per
// connection), and Connect's too: the CLI opens with it beside a server and
// needs the busy timeout to wait for the server's writes.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkConnectionSettings(t, db)
	cdb, err := Connect(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()
	checkConnectionSettings(t, cdb)
}

func checkConnectionSettings(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "1", // NORMAL: WAL commits without an fsync each
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"temp_store":   "2", // MEMORY: statement journals never spill to a file
	}
	// Hold several connections at once so the pool must open new ones.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for name, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", i, name, err)
			}
			if got != w {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, name, got, w)
			}
		}
	}
}

// TestConnectNeitherCreatesNorMigrates: Connect, for CLI commands, says a
// missing database is missing instead of creating an empty one, and
// leaves an existing one's schema as it is.
func TestConnectNeitherCreatesNorMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "missing.db")
	if db, err := Connect(ctx, path, nil); !errors.Is(err, fs.ErrNotExist) {
		if db != nil {
			db.Close()
		}
		t.Errorf("Connect on a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Connect created %s (stat: %v)", path, err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Connect(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := (Driver{}).TableExists(ctx, db, "schema_migrations"); err != nil || ok {
		t.Errorf("after Connect, schema_migrations exists = %v (%v), want false", ok, err)
	}
}
