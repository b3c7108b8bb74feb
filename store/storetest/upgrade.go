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
		old, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		migrateOld(t, old, "sqlite", before)
		seed(t, old)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, SQLiteAt(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		u := PostgresURL(t)
		old, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		migrateOld(t, old, "postgres", before)
		seed(t, old)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
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
