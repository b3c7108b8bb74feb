// Package store is vaspd's persistence layer: one API over two databases.
//
// Every package that persists something (tokens, the nonce cache, the
// Lightning node, the webhook outbox, the ledger) writes plain SQL against a
// *DB or a *Tx from this package. Queries use PostgreSQL's "$1" placeholders;
// the SQLite driver rewrites them to SQLite's numbered "?1" form, so one query
// string serves both databases. The schema is portable on purpose (TEXT,
// BIGINT, BOOLEAN, BYTEA, no sequences, no database-side clocks) and lives in
// one place, the versioned migrations under migrations/.
//
// The database-specific parts — opening, locking, error classification —
// live in the driver packages store/sqlite and store/postgres, each of which
// implements [Driver]. Package storetest runs one suite against both.
//
// Times are stored as BIGINT microseconds since the Unix epoch (UTC), never as
// database timestamps, so both databases compare and sort them identically.
//
// Write transactions go through [DB.InTx], or [DB.InBackgroundTx] for work
// that can wait a little (the webhook engine's bookkeeping). SQLite has a
// single writer, so on SQLite the DB queues write transactions in process,
// and application transactions go first: a background transaction lets
// waiting InTx transactions pass it, but only for a short patience (2 ms),
// so the engine's many small transactions add little to a payment's latency
// and are still never starved. A package that writes many rows
// over one transaction can buffer them and write them together just before
// COMMIT with a [Flusher] ([Tx.Flusher]); the webhook outbox does. On SQLite
// the DB also keeps its short queries prepared ([DB.SetStatementCache]),
// since the driver would otherwise compile each statement on every call.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrNotFound is returned by helpers that look up a single row.
var ErrNotFound = errors.New("store: not found")

// Driver is what a database package provides. Implementations: store/sqlite,
// store/postgres.
type Driver interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Rebind turns a "$1"-style query into the driver's placeholder syntax.
	Rebind(query string) string
	// IsUniqueViolation reports whether err is a unique/primary-key conflict.
	IsUniqueViolation(err error) bool
	// IsRetryable reports whether a transaction failed in a way that is safe
	// to run again from the start (serialization failure, deadlock, busy).
	IsRetryable(err error) bool
	// SkipLocked is the clause appended to a SELECT that claims rows:
	// "FOR UPDATE SKIP LOCKED" on PostgreSQL, "" on SQLite, whose write
	// transactions are already exclusive.
	SkipLocked() string
	// ForUpdate is the clause appended to a SELECT inside a write
	// transaction to lock the rows it reads until the transaction ends:
	// "FOR UPDATE" on PostgreSQL, "" on SQLite, whose write transactions
	// are already exclusive.
	ForUpdate() string
	// ForShare is the clause appended to a SELECT inside a write
	// transaction that must keep the rows it reads from changing until
	// the transaction ends, while letting other readers do the same:
	// "FOR SHARE" on PostgreSQL, "" on SQLite. Under READ COMMITTED a
	// plain SELECT neither waits for a concurrent UPDATE of the row nor
	// makes it wait, so a check ("the user is live") and the write it
	// guards could both commit against an UPDATE that undoes the check.
	ForShare() string
	// LockMigrations serialises schema migrations across processes and
	// returns the function that releases the lock.
	LockMigrations(ctx context.Context, db *sql.DB) (unlock func(), err error)
	// MigrationVariant picks the file suffix for dialect-specific migrations.
	MigrationVariant() string
	// TableExists reports whether the schema the queries run in has the
	// table: [DB.CheckSchema] asks before it reads schema_migrations, which
	// an empty database lacks.
	TableExists(ctx context.Context, q Querier, table string) (bool, error)
	// SerializeWrites reports whether write transactions should queue in
	// process before reaching the database. SQLite allows one writer at a
	// time; waiting on a Go mutex is far cheaper than SQLite's busy-retry.
	SerializeWrites() bool
}

// PlannedPerCall is implemented by drivers that keep prepared statements
// (PostgreSQL: pgx prepares each query text once per connection). Such a
// statement may be run from a generic plan, made once and kept: made while a
// table was small (a fresh database, or one PostgreSQL has not analyzed
// yet), it can scan the whole table on every call long after the table has
// grown. PerCall returns args marked so that the statement is planned for
// the values it runs with, on every call; drivers without the problem do
// not implement it, and [PlanPerCall] leaves args as they are.
type PlannedPerCall interface {
	PerCall(args []any) []any
}

// PlanPerCall returns args for a statement that d must plan for the values
// it runs with, on every call (see [PlannedPerCall]).
func PlanPerCall(d Driver, args []any) []any {
	if p, ok := d.(PlannedPerCall); ok {
		return p.PerCall(args)
	}
	return args
}

// Querier is what both *DB and *Tx offer; read helpers accept it so they can
// run inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	Driver() Driver
}

// DB is an open database: with migrations applied when the driver package's
// Open opened it, as found when its Connect did. Safe for concurrent use.
type DB struct {
	sql    *sql.DB
	driver Driver
	log    *slog.Logger
	wlock  *writeLock // held around write transactions when the driver serialises writes
	stmts  *stmtCache // nil: every query runs unprepared (see SetStatementCache)

	closeMu sync.Mutex
	onClose []func()
}

// New wraps an opened *sql.DB. Driver packages call it; applications call the
// driver package's Open.
func New(db *sql.DB, d Driver, log *slog.Logger) *DB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{sql: db, driver: d, log: log, wlock: newWriteLock()}
}

// SQL exposes the underlying pool for code that needs database/sql directly
// (for example the webhook receiver's SQL de-duplication store).
func (db *DB) SQL() *sql.DB { return db.sql }

// Driver returns the database driver.
func (db *DB) Driver() Driver { return db.driver }

// Close closes the pool.
func (db *DB) Close() error {
	db.closeMu.Lock()
	fns := db.onClose
	db.onClose = nil
	db.closeMu.Unlock()
	for _, fn := range fns {
		fn()
	}
	db.stmts.close()
	return db.sql.Close()
}

// OnClose registers fn to run when Close is called, before the pool closes:
// driver packages stop their background work with it.
func (db *DB) OnClose(fn func()) {
	db.closeMu.Lock()
	db.onClose = append(db.onClose, fn)
	db.closeMu.Unlock()
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := db.stmts.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.sql.ExecContext(ctx, db.driver.Rebind(q), args...)
}

func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := db.stmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.sql.QueryContext(ctx, db.driver.Rebind(q), args...)
}

func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.stmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, db.driver.Rebind(q), args...)
}

// Tx is a database transaction. Packages that must change state together —
// a payment's status, its ledger postings and the webhook that announces it —
// all accept the same *Tx.
type Tx struct {
	tx          *sql.Tx
	driver      Driver
	afterCommit []func()
	stmts       *stmtCache           // the DB's, or nil
	local       map[string]*sql.Stmt // this transaction's copies of cached statements
	flushers    []keyedFlusher       // run in order just before COMMIT
}

func (tx *Tx) Driver() Driver { return tx.driver }

func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := tx.txStmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, tx.driver.Rebind(q), args...)
}

func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := tx.txStmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, tx.driver.Rebind(q), args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := tx.txStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, tx.driver.Rebind(q), args...)
}

// AfterCommit registers fn to run once the transaction has committed (never
// if it rolls back). Used to wake workers without polling delay; anything that
// matters must already be in the database, since a crash can skip fn.
func (tx *Tx) AfterCommit(fn func()) { tx.afterCommit = append(tx.afterCommit, fn) }

// Flusher is work a package adds to a transaction to run just before it
// commits: typically rows buffered by many calls in the transaction and
// written together in a few statements.
type Flusher interface {
	// Flush runs inside the transaction, after the caller's function has
	// returned nil and before COMMIT. An error rolls the transaction back
	// and is what InTx returns.
	Flush(ctx context.Context, tx *Tx) error
}

type keyedFlusher struct {
	key any
	f   Flusher
}

// Flusher returns the transaction's Flusher registered under key, calling
// create to register one on first use. Flushers run in the order they were
// registered; one may register another. Rows a Flusher has buffered are not
// in the database until it runs, so a package that buffers must not expect
// to read them back earlier in the same transaction.
func (tx *Tx) Flusher(key any, create func() Flusher) Flusher {
	for _, kf := range tx.flushers {
		if kf.key == key {
			return kf.f
		}
	}
	f := create()
	tx.flushers = append(tx.flushers, keyedFlusher{key, f})
	return f
}

func (tx *Tx) flush(ctx context.Context) error {
	for i := 0; i < len(tx.flushers); i++ {
		if err := tx.flushers[i].f.Flush(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// InTx runs fn in a transaction and commits it if fn returns nil. A
// transaction that fails with a retryable error (serialization failure,
// deadlock, SQLite busy) is run again from the start, up to a few times, so
// fn must not have side effects outside the database other than via AfterCommit.
//
// When the driver serialises writes (SQLite), InTx first waits for the DB's
// write lock, in arrival order (see [DB.InBackgroundTx] for the exception),
// and holds it until the AfterCommit callbacks have returned; if ctx ends
// while it waits, it returns ctx's error, wrapped. A callback must
// therefore not start another write transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.inTx(ctx, foreground, fn)
}

// InBackgroundTx is [DB.InTx] for work that can wait a little, such as the
// webhook engine's bookkeeping: same retries, flushers and AfterCommit. When
// the driver serialises writes it lets InTx transactions that are waiting
// for the write lock go first, even ones that queued after it, so that an
// application transaction does not wait behind a loop of background ones;
// once it has waited backgroundPatience (2 ms), later InTx transactions no
// longer pass it, so background work still runs under constant application
// load. On drivers that do not serialise writes (PostgreSQL) it is InTx.
func (db *DB) InBackgroundTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.inTx(ctx, background, fn)
}

// InSnapshot runs fn in a read-only transaction that sees one snapshot of
// the database throughout, and then rolls it back: REPEATABLE READ on
// PostgreSQL; on SQLite a deferred transaction, whose first read fixes its
// snapshot (WAL). It takes no write lock, so a long read beside a running
// server — an audit of the whole ledger — holds up no writer. Nothing fn
// writes is kept (PostgreSQL refuses the write; SQLite rolls it back).
func (db *DB) InSnapshot(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if !db.driver.SerializeWrites() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	stx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = stx.Rollback() }()
	return fn(&Tx{tx: stx, driver: db.driver, stmts: db.stmts})
}

func (db *DB) inTx(ctx context.Context, c writeClass, fn func(tx *Tx) error) error {
	const attempts = 8
	backoff := 5 * time.Millisecond
	var err error
	for i := 0; i < attempts; i++ {
		err = db.inTxOnce(ctx, c, fn)
		if err == nil || !db.driver.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		db.log.Debug("retrying transaction", "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	return err
}

func (db *DB) inTxOnce(ctx context.Context, c writeClass, fn func(tx *Tx) error) (err error) {
	if db.driver.SerializeWrites() {
		if err := db.wlock.lock(ctx, c); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer db.wlock.unlock()
	}
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: stx, driver: db.driver, stmts: db.stmts}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.flush(ctx); err != nil {
		return err
	}
	if err = stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

// Micros converts a time to the stored representation (UTC microseconds).
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Time converts a stored microsecond value back; 0 is the zero time.
func Time(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// NullMicros converts an optional time; the zero time becomes NULL.
func NullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}
