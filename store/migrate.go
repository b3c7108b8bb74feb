package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the migrations for a driver variant ("sqlite" or
// "postgres"), in version order. A file NNNN_name.sql serves both databases;
// NNNN_name.<variant>.sql, when present, replaces it for that database.
func Migrations(variant string) ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	type pick struct {
		m        Migration
		specific bool
	}
	byVersion := map[int]pick{}
	for _, e := range entries {
		name := e.Name()
		base := strings.TrimSuffix(name, ".sql")
		specific := false
		if i := strings.LastIndexByte(base, '.'); i >= 0 {
			if base[i+1:] != variant {
				continue // another database's variant
			}
			base, specific = base[:i], true
		}
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", name)
		}
		body, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		prev, seen := byVersion[v]
		switch {
		case seen && prev.specific == specific:
			return nil, fmt.Errorf("migration version %d is used twice (%s, %s)", v, prev.m.Name, label)
		case seen && prev.specific:
			continue
		}
		byVersion[v] = pick{m: Migration{Version: v, Name: label, SQL: string(body)}, specific: specific}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, p := range byVersion {
		out = append(out, p.m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies every migration not yet applied, each in its own
// transaction, under the driver's cross-process migration lock, so several
// vaspd processes starting at once on one PostgreSQL database are safe.
func (db *DB) Migrate(ctx context.Context) error { return db.MigrateBefore(ctx, math.MaxInt) }

// MigrateBefore is Migrate for the migrations older than version only: it
// leaves the schema as a vaspd of that time left it. Tests of a migration
// use it to write rows in the schema the migration meets
// (storetest.EachUpgrade).
func (db *DB) MigrateBefore(ctx context.Context, version int) error {
	unlock, err := db.driver.LockMigrations(ctx, db.sql)
	if err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer unlock()

	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}

	ms, err := Migrations(db.driver.MigrationVariant())
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Version >= version {
			break
		}
		if _, ok := applied[m.Version]; ok {
			continue
		}
		err := db.inTxOnce(ctx, foreground, func(tx *Tx) error {
			// Multi-statement DDL: executed without arguments, which both
			// drivers send as one script.
			if _, err := tx.tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, Micros(timeNow()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		db.log.Info("applied migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

// appliedVersions reads what schema_migrations records: version → name.
func (db *DB) appliedVersions(ctx context.Context) (map[int]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]string{}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}

// MigrationsDone reports whether every migration this binary knows is
// applied; /readyz uses it. It checks the versions, not how many rows
// schema_migrations has: an extra row never makes up for a missing one.
//
// A recorded version this binary does not know (a newer vaspd applied it)
// does not make it false. That is consistent with `vaspd serve`, whose
// [DB.Migrate] applies only what is missing and runs on such a database, as
// during a rolling upgrade where the first new process migrates while older
// ones still serve; failing their readiness would take them all out of
// rotation at once. Commands that must see exactly this binary's schema
// use [DB.CheckSchema], which refuses unknown versions.
func (db *DB) MigrationsDone(ctx context.Context) (bool, error) {
	ms, err := Migrations(db.driver.MigrationVariant())
	if err != nil {
		return false, err
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if _, ok := applied[m.Version]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// UnknownMigrations returns the migrations the database records that this
// binary does not have (a newer vaspd applied them), in version order,
// with their recorded names and no SQL; none on a database at this
// binary's migrations or older. `vaspd serve` runs on such a database (see
// [DB.MigrationsDone]) and warns of them at startup.
func (db *DB) UnknownMigrations(ctx context.Context) ([]Migration, error) {
	ms, err := Migrations(db.driver.MigrationVariant())
	if err != nil {
		return nil, err
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		delete(applied, m.Version)
	}
	unknown := make([]Migration, 0, len(applied))
	for v, name := range applied {
		unknown = append(unknown, Migration{Version: v, Name: name})
	}
	sort.Slice(unknown, func(i, j int) bool { return unknown[i].Version < unknown[j].Version })
	return unknown, nil
}

// SchemaError is what [DB.CheckSchema] returns for a database whose
// applied migrations are not exactly this binary's.
type SchemaError struct {
	Applied  int // the newest migration the database records; 0 when none
	Expected int // the newest migration this binary has
	Missing  int // the oldest of this binary's migrations not applied; 0 when none
	Unknown  int // the newest migration recorded that this binary does not have (a newer vaspd applied it); 0 when none
}

func (e *SchemaError) Error() string {
	switch {
	case e.Unknown != 0:
		return fmt.Sprintf("the database is at migration %04d, this vaspd expects %04d and does not know migration %04d",
			e.Applied, e.Expected, e.Unknown)
	case e.Applied == 0:
		return fmt.Sprintf("the database has no migrations applied, this vaspd expects %04d", e.Expected)
	case e.Missing < e.Applied:
		// A gap: an older migration added after newer ones were applied.
		return fmt.Sprintf("the database is at migration %04d but lacks %04d, this vaspd expects %04d",
			e.Applied, e.Missing, e.Expected)
	default:
		return fmt.Sprintf("the database is at migration %04d, this vaspd expects %04d", e.Applied, e.Expected)
	}
}

// CheckSchema compares the migrations the database records with this
// binary's, without changing the database (unlike [DB.Migrate], which
// creates the bookkeeping table and applies what is missing). It returns
// nil when they are the same set and a *SchemaError otherwise: CLI
// commands, which must not migrate a database a server may be using, call
// it before they touch anything else.
func (db *DB) CheckSchema(ctx context.Context) error {
	ms, err := Migrations(db.driver.MigrationVariant())
	if err != nil {
		return err
	}
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.Version] = true
	}
	e := &SchemaError{Expected: ms[len(ms)-1].Version}
	applied := map[int]string{}
	exists, err := db.driver.TableExists(ctx, db, "schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if exists {
		if applied, err = db.appliedVersions(ctx); err != nil {
			return err
		}
	}
	for v := range applied {
		e.Applied = max(e.Applied, v)
		if !known[v] {
			e.Unknown = max(e.Unknown, v)
		}
	}
	for _, m := range ms {
		if _, ok := applied[m.Version]; !ok {
			e.Missing = m.Version
			break
		}
	}
	if e.Unknown != 0 || e.Missing != 0 {
		return e
	}
	return nil
}
