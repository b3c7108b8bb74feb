// Package sqlite is vaspd's embedded default database: SQLite through
// modernc.org/sqlite, a pure-Go driver, so `go run ./cmd/vaspd serve` works on a
// machine with only Go installed (no C compiler). See the README's design
// notes for the measured comparison with the other drivers.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vaspd/vaspd/store"
)

// Driver implements store.Driver for SQLite.
type Driver struct{}

func (Driver) Name() string             { return "sqlite" }
func (Driver) MigrationVariant() string { return "sqlite" }
func (Driver) SkipLocked() string       { return "" }
func (Driver) ForUpdate() string        { return "" }
func (Driver) ForShare() string         { return "" }
func (Driver) SerializeWrites() bool    { return true }
func (Driver) Rebind(q string) string   { return store.RebindNumbered(q) }

func (Driver) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (Driver) IsRetryable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff // primary result code
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// TableExists looks in the main database's catalogue.
func (Driver) TableExists(ctx context.Context, q store.Querier, table string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, table).Scan(&n)
	return n > 0, err
}

// LockMigrations needs no extra lock: migrations run in IMMEDIATE
// transactions, which SQLite already makes exclusive between writers.
func (Driver) LockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	return func() {}, nil
}

// statementCacheSize bounds the prepared statements kept per database;
// vaspd runs a few hundred distinct short queries.
const statementCacheSize = 1024

// Open opens (creating if needed) the SQLite database at path and applies
// migrations. The connection uses WAL (readers never block the writer),
// a busy timeout (a second process such as `vaspd token create` waits rather
// than fails), foreign keys, and IMMEDIATE transactions so that a transaction
// that will write takes the write lock up front instead of failing to upgrade.
//
// The database holds vaspd's private keys, so a new file is created
// readable and writable by its owner only (SQLite gives the -wal and -shm
// files the database file's mode); an existing file that others can read
// is reported in the log, not changed.
func Open(ctx context.Context, path string, log *slog.Logger) (*store.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	if err := createPrivate(path, log); err != nil {
		return nil, err
	}
	db, err := connect(ctx, path, log, "rwc")
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	start(ctx, db, log)
	return db, nil
}

// Connect is Open for an existing database, without the migrations: it
// neither creates the file (an error wrapping fs.ErrNotExist says it is
// missing) nor changes the schema. CLI commands use it beside a running
// server, which alone migrates, and check the schema with
// [store.DB.CheckSchema].
func Connect(ctx context.Context, path string, log *slog.Logger) (*store.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// mode=rw as well: a file removed since the Stat is not created again.
	db, err := connect(ctx, path, log, "rw")
	if err != nil {
		return nil, err
	}
	start(ctx, db, log)
	return db, nil
}

// connect opens the pool on path with SQLite's open mode ("rw": the file
// must exist; "rwc": created if missing) and checks it answers.
func connect(ctx context.Context, path string, log *slog.Logger, mode string) (*store.DB, error) {
	q := url.Values{}
	q.Set("mode", mode)
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
	q.Add("_pragma", "foreign_keys(1)")
	// A multi-row statement inside a transaction keeps a statement journal
	// (the pages it changed, to undo it alone on a constraint failure);
	// beyond 64 KiB SQLite spills it to a temporary file, two pwrites per
	// page. A webhook fan-out to 100 endpoints spilled ~100 queue-index
	// pages: 26 % of its time (docs/webhook-engine-benchmarks.md, round 5).
	// Temporary tables and sorts live in memory too; vaspd's are bounded by
	// its page sizes.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(8)
	sdb.SetMaxIdleConns(8)
	sdb.SetConnMaxIdleTime(0)
	db := store.New(sdb, Driver{}, log)
	if err := db.Ping(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// start readies an open db for sharing: the statement cache and the
// background checkpoints, which Close stops.
func start(ctx context.Context, db *store.DB, log *slog.Logger) {
	// Compile each of vaspd's queries once per connection, not per call
	// (store/stmtcache.go); after the migrations, which run once.
	db.SetStatementCache(statementCacheSize)
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkpointLoop(ctx, db.SQL(), log)
	}()
	db.OnClose(func() { stop(); <-done })
}

// createPrivate creates the database file with mode 0600 if it does not
// exist, and warns if an existing one is open to other users.
func createPrivate(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create database %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the database file is readable by other users; it holds private keys (chmod 600 it and its -wal and -shm files)",
			"path", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	return nil
}
