package storetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the old schema
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for the old schema

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
)

// EachUpgrade tests a migration on data written before it, as an upgrade
// meets it, on SQLite and on PostgreSQL: for each, a database is migrated
// up to (not including) version before, seed writes rows in that older
// schema through a plain *sql.DB (SQL without arguments, the same text on
// both), and check gets the database reopened the vaspd way, which applies
// the rest of the migrations.
func EachUpgrade(t *testing.T, before int, seed func(t *testing.T, old *sql.DB), check func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vaspd.db")
		writeOld(t, "sqlite", path, sqlite.Driver{}, before, seed)
		check(t, SQLiteAt(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		u := PostgresURL(t)
		writeOld(t, "pgx", u, postgres.Driver{}, before, seed)
		check(t, PostgresAt(t, u))
	})
}

// writeOld opens dsn with the database/sql driver named sqlDriver, applies
// the migrations before version before and lets seed write to it.
func writeOld(t *testing.T, sqlDriver, dsn string, d store.Driver, before int, seed func(t *testing.T, old *sql.DB)) {
	t.Helper()
	sdb, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	old := store.New(sdb, d, nil)
	defer old.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := old.MigrateBefore(ctx, before); err != nil {
		t.Fatal(err)
	}
	seed(t, sdb)
}
