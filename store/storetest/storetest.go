// Package storetest gives tests a fresh, migrated database of each kind, so
// one test body runs against SQLite and PostgreSQL alike.
//
// SQLite always runs (a file in t.TempDir()). PostgreSQL runs when
// VASPD_TEST_POSTGRES_URL is set (e.g. postgres://127.0.0.1:5432/test); each
// test gets its own schema, dropped when the test ends, so tests run in
// parallel and leave nothing behind. Without the variable the PostgreSQL
// half skips with one line.
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
)

// PostgresEnv names the environment variable holding the test server's URL.
const PostgresEnv = "VASPD_TEST_POSTGRES_URL"

// Each runs fn as two subtests, "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a fresh migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return SQLiteAt(t, filepath.Join(t.TempDir(), "vaspd.db"))
}

// openTimeout bounds opening and migrating a test database. Migrating a
// new one runs every migration, each a transaction of its own: under -race,
// with a package's parallel tests each migrating its own database on a
// loaded two-core machine, that once took over 30 s (CI, load 16). The
// bound is there to name a database that never answers, not to time it.
const openTimeout = 3 * time.Minute

// SQLiteAt opens (or reopens) the SQLite database at path; reopening the same
// path simulates a restart.
func SQLiteAt(t testing.TB, path string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Postgres returns a fresh migrated PostgreSQL database in a new schema, or
// skips the test when VASPD_TEST_POSTGRES_URL is not set.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return PostgresAt(t, PostgresURL(t))
}

// PostgresAt opens (or reopens) the PostgreSQL database at u, a URL from
// PostgresURL; reopening the same URL simulates a restart.
func PostgresAt(t testing.TB, u string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	db, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresURL creates an empty schema for this test and returns a URL whose
// search_path points at it; reopening the URL simulates a restart, and
// several processes may share it. Skips without VASPD_TEST_POSTGRES_URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skip(PostgresEnv + " not set: skipping the PostgreSQL run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, drop, err := postgres.NewSchema(ctx, base, "vt_")
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return u
}
