package storetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the old schema
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for the old schema

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
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
		writeOld(t, "sqlite", path, "sqlite", before, seed)
		check(t, SQLiteAt(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		u := PostgresURL(t)
		writeOld(t, "pgx", u, "postgres", before, seed)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, u, nil)
		if err != nil {
			t.Fatalf("reopen postgres: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		check(t, db)
	})
}

// writeOld opens dsn with the database/sql driver named driver, migrates it
// up to (not including) version before and lets seed write to it.
func writeOld(t *testing.T, driver, dsn, variant string, before int, seed func(t *testing.T, old *sql.DB)) {
	t.Helper()
	old, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	migrateOld(t, old, variant, before)
	seed(t, old)
}

// migrateOld applies the migrations before version before, recording them
// as store.DB.Migrate does.
func migrateOld(t *testing.T, old *sql.DB, variant string, before int) {
	t.Helper()
	ms, err := store.Migrations(variant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= before {
			break
		}
		if _, err := old.Exec(m.SQL); err != nil {
			t.Fatalf("migration %04d_%s: %v", m.Version, m.Name, err)
		}
		if _, err := old.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (` +
			strconv.Itoa(m.Version) + `, '` + m.Name + `', 0)`); err != nil {
			t.Fatal(err)
		}
	}
}
