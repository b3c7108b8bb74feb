// Package postgres is vaspd's PostgreSQL database, through pgx v5. Several
// vaspd processes may share one database: workers claim rows with
// FOR UPDATE SKIP LOCKED and migrations run under an advisory lock.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaspd/vaspd/store"
)

// Driver implements store.Driver for PostgreSQL.
type Driver struct{}

func (Driver) Name() string             { return "postgres" }
func (Driver) MigrationVariant() string { return "postgres" }
func (Driver) SkipLocked() string       { return "FOR UPDATE SKIP LOCKED" }
func (Driver) ForUpdate() string        { return "FOR UPDATE" }
func (Driver) ForShare() string         { return "FOR SHARE" }
func (Driver) SerializeWrites() bool    { return false }
func (Driver) Rebind(q string) string   { return q }

// PerCall marks args so that pgx runs the statement unnamed, described once
// per connection (so its parameters are still sent in binary) but parsed
// and planned by the server at every call, with the values at hand: never
// from a generic plan cached while the tables were small (store.PlannedPerCall).
func (Driver) PerCall(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}

func (Driver) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

func (Driver) IsRetryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
}

// TableExists looks in current_schema(), where the migrations create
// their tables (the schema LockMigrations keys its lock by).
func (Driver) TableExists(ctx context.Context, q store.Querier, table string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = $1)`, table).Scan(&ok)
	return ok, err
}

// LockMigrations takes a session advisory lock keyed by the current schema,
// so processes sharing a database serialise their migrations while tests in
// separate schemas do not wait for each other.
func (Driver) LockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		conn.Close()
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("vaspd-migrations:" + schema))
	key := int64(h.Sum64())
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key)
		conn.Close()
	}, nil
}

// Open connects to the database at url (postgres://…) and applies migrations.
func Open(ctx context.Context, url string, log *slog.Logger) (*store.DB, error) {
	db, err := Connect(ctx, url, log)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect is Open without the migrations: the caller applies them with
// [store.DB.Migrate]. A caller bounding how long reaching the database may
// take bounds only this step, since migrations wait for another process's
// and may themselves take long on a large database.
func Connect(ctx context.Context, url string, log *slog.Logger) (*store.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", redact(err))
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(20)
	sdb.SetMaxIdleConns(20) // = MaxOpenConns: bursts must not churn connections
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	db := store.New(sdb, Driver{}, log)
	if err := db.Ping(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, redact(err))
	}
	return db, nil
}

// CheckURL reports whether the driver can parse url, as Connect would,
// without connecting: a URL it cannot parse is a broken setting, to refuse
// at start rather than retry as an unreachable database. The error never
// echoes the URL.
func CheckURL(url string) error {
	if _, err := pgx.ParseConfig(url); err != nil {
		return fmt.Errorf("database URL: %w", redact(err))
	}
	return nil
}

// redact drops pgx's echo of the connection string, which may hold a password.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse (check the URL's form; the value is not echoed because it may contain a password)")
	}
	return err
}
