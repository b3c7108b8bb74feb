package webhook

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// CreateTableSQL creates the table [SQLStore] uses, under its default name.
// It runs unchanged on SQLite (3.24 or later) and PostgreSQL. Times are
// Unix microseconds, which sort and compare the same on both.
//
//   - state is 'processing' (claimed, expires_at = end of the lease) or
//     'done' (processed, expires_at = end of the retention);
//   - token identifies the claim holder, so a holder whose lease expired
//     cannot complete or release another request's claim.
const CreateTableSQL = `CREATE TABLE IF NOT EXISTS webhook_receipts (
    webhook_id  TEXT   NOT NULL PRIMARY KEY,
    state       TEXT   NOT NULL CHECK (state IN ('processing', 'done')),
    token       TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_receipts_expires_at ON webhook_receipts (expires_at);`

// DefaultTable is the table name in [CreateTableSQL]. vaspd's own database
// has it already: migration 0240_webhook_receipts creates it.
const DefaultTable = "webhook_receipts"

// sqlConn is what the store needs from a database: *sql.DB and *store.DB
// both provide it.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SQLStore is a [Store] in a SQL database through database/sql, for
// receivers that run several instances or must remember processed ids
// across restarts. It works on SQLite and PostgreSQL (placeholders $1…,
// INSERT … ON CONFLICT … DO UPDATE … WHERE). Create the table with
// [CreateTableSQL] or [SQLStore.CreateTable]; delete expired rows now and
// then with [SQLStore.Purge].
//
// On SQLite, where one connection writes at a time, a statement refused
// because another connection holds the lock (SQLITE_BUSY) is run again for
// up to 5 seconds, so a pool opened without a busy timeout still works;
// opening it with WAL and a busy timeout
// ("file:receipts.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"
// with modernc.org/sqlite) lets SQLite do the waiting, which is faster.
type SQLStore struct {
	db    sqlConn
	table string
	// Now returns the current time; nil means time.Now. All instances
	// sharing a table should have roughly synchronised clocks, since leases
	// and retention are compared against it.
	Now func() time.Time

	claim, complete, completeFree, release, state, purge string
	index                                                string // the expiry index's name (indexName)
}

// maxIdentifier is PostgreSQL's identifier limit (NAMEDATALEN-1 bytes);
// longer names it truncates, with only a notice.
const maxIdentifier = 63

// indexSuffix ends the expiry index's name, as in CreateTableSQL.
const indexSuffix = "_expires_at"

// indexName names the expiry index of table: table + "_expires_at", or,
// when that would pass maxIdentifier, the start of table, "_", eight hex
// digits of its SHA-256 and "_expires_at" (63 characters): distinct for
// distinct tables, the same on every database. PostgreSQL truncated the
// long name instead, and for a table of 63 characters the truncated name
// was the table's own, so CREATE INDEX IF NOT EXISTS skipped the index.
func indexName(table string) string {
	if len(table)+len(indexSuffix) <= maxIdentifier {
		return table + indexSuffix
	}
	sum := sha256.Sum256([]byte(table))
	return table[:maxIdentifier-len(indexSuffix)-9] + "_" + hex.EncodeToString(sum[:4]) + indexSuffix
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// NewSQLStore returns a store using table (empty means DefaultTable) in db.
// The table name is checked, never taken from outside input.
func NewSQLStore(db *sql.DB, table string) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("webhook: nil *sql.DB")
	}
	return newSQLStore(db, table)
}

// NewDBStore returns a store in vaspd's own database (SQLite or PostgreSQL
// through package store), in the webhook_receipts table its migrations
// create; there is no need to call CreateTable.
func NewDBStore(db *store.DB) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("webhook: nil *store.DB")
	}
	return newSQLStore(db, DefaultTable)
}

func newSQLStore(db sqlConn, table string) (*SQLStore, error) {
	if table == "" {
		table = DefaultTable
	}
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("webhook: table name %q must match %s", table, tableName)
	}
	s := &SQLStore{db: db, table: table, index: indexName(table)}
	s.claim = `INSERT INTO ` + table + ` (webhook_id, state, token, expires_at, updated_at)
VALUES ($1, 'processing', $2, $3, $4)
ON CONFLICT (webhook_id) DO UPDATE
SET state = 'processing', token = excluded.token, expires_at = excluded.expires_at, updated_at = excluded.updated_at
WHERE ` + table + `.expires_at <= excluded.updated_at`
	// A row done under the same token is matched, and left as it is: a
	// retry of a completion that committed, its answer lost (see Store).
	s.complete = `UPDATE ` + table + ` SET state = 'done',
expires_at = CASE WHEN state = 'done' THEN expires_at ELSE $3 END,
updated_at = CASE WHEN state = 'done' THEN updated_at ELSE $4 END
WHERE webhook_id = $1 AND token = $2`
	// A claim purged after its lease, the id claimed by no one since: the
	// event was processed all the same, so it is recorded done.
	s.completeFree = `INSERT INTO ` + table + ` (webhook_id, state, token, expires_at, updated_at)
VALUES ($1, 'done', $2, $3, $4) ON CONFLICT (webhook_id) DO NOTHING`
	s.release = `DELETE FROM ` + table + ` WHERE webhook_id = $1 AND token = $2 AND state = 'processing'`
	s.state = `SELECT state, expires_at FROM ` + table + ` WHERE webhook_id = $1`
	s.purge = `DELETE FROM ` + table + ` WHERE expires_at <= $1`
	return s, nil
}

// createAttempts bounds how often CreateTable runs a statement that failed.
const createAttempts = 5

// CreateTable runs [CreateTableSQL] (with the store's table name, and an
// index name derived from it that fits PostgreSQL's 63-character limit for
// a table name of more than 52 characters: see indexName). Several
// instances may call it at once on one database: PostgreSQL fails all but
// one of concurrent CREATE … IF NOT EXISTS of the same object (a unique
// violation in its catalog), and SQLite may answer "database is locked", so
// a failed statement is run again, a few times, before the error is
// returned; once the winner has committed, IF NOT EXISTS succeeds.
//
// For a table name of more than 52 characters it then drops the index an
// earlier CreateTable named <table>_expires_at (PostgreSQL truncated that
// name to 63 characters; SQLite kept it whole), which the new one
// replaces: both would be kept, two indexes on one column, each written by
// every Claim, Complete and Purge.
func (s *SQLStore) CreateTable(ctx context.Context) error {
	// The index's name first, through a placeholder: the table's may
	// contain DefaultTable.
	const index = "\x00index\x00"
	ddl := strings.ReplaceAll(CreateTableSQL, DefaultTable+indexSuffix, index)
	ddl = strings.ReplaceAll(ddl, DefaultTable, s.table)
	ddl = strings.ReplaceAll(ddl, index, s.index)
	for stmt := range strings.SplitSeq(ddl, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if err := s.createExec(ctx, stmt); err != nil {
			return err
		}
	}
	if legacy := s.table + indexSuffix; legacy != s.index {
		// PostgreSQL truncates the name as it did when it made the index.
		// For a table of 63 characters that is the table's own name, which
		// had no index of it (CREATE INDEX IF NOT EXISTS skipped it), and
		// DROP INDEX refuses to name a table: that refusal is no error.
		if err := s.createExec(ctx, "DROP INDEX IF EXISTS "+legacy); err != nil && !isWrongObjectType(err) {
			return err
		}
	}
	return nil
}

// createExec runs a statement of CreateTable, again after a failure, up
// to createAttempts times.
func (s *SQLStore) createExec(ctx context.Context, stmt string) error {
	var err error
	for attempt := range createAttempts {
		if attempt > 0 {
			if isWrongObjectType(err) {
				break // it will not change
			}
			t := time.NewTimer(time.Duration(attempt) * 20 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("webhook: creating %s: %w (after %w)", s.table, ctx.Err(), err)
			case <-t.C:
			}
		}
		if _, err = s.db.ExecContext(ctx, stmt); err == nil {
			return nil
		}
	}
	return fmt.Errorf("webhook: creating %s: %w", s.table, err)
}

// isWrongObjectType recognises PostgreSQL's wrong_object_type (SQLSTATE
// 42809: DROP INDEX naming a table), from pgx (an error with SQLState()
// string) and, by its message, from other drivers.
func isWrongObjectType(err error) bool {
	if err == nil {
		return false
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && coded.SQLState() == "42809" {
		return true
	}
	return strings.Contains(err.Error(), "is not an index")
}

func (s *SQLStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Claim implements [Store] with one atomic upsert: it inserts the id, or
// takes over a row whose lease or retention has expired, and otherwise
// changes nothing. Zero rows affected means someone holds the id.
func (s *SQLStore) Claim(ctx context.Context, id string, lease time.Duration) (string, error) {
	token, err := newToken()
	if err != nil {
		return "", err
	}
	// Two rounds: a row can be purged between the upsert and the look-up.
	for range 2 {
		var res sql.Result
		err := s.busy(ctx, func() (err error) {
			now := s.now()
			res, err = s.db.ExecContext(ctx, s.claim, id, token, now.Add(lease).UnixMicro(), now.UnixMicro())
			return err
		})
		if err != nil {
			return "", fmt.Errorf("webhook: claiming %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return "", fmt.Errorf("webhook: claiming %s: %w", id, err)
		}
		if n == 1 {
			return token, nil
		}
		var state string
		var expires int64
		err = s.busy(ctx, func() error { return s.db.QueryRowContext(ctx, s.state, id).Scan(&state, &expires) })
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("webhook: reading %s: %w", id, err)
		}
		if state == "done" {
			return "", ErrDuplicate
		}
		return "", ErrInProgress
	}
	return "", ErrInProgress
}

// Complete implements [Store]. When the claim's row is gone — its lease
// ran out while the handler ran and Purge deleted it — and no other request
// has claimed the id since, the id is recorded done under token: the event
// was processed, and a retry must be answered 409, not run again. Only a
// row another claim holds makes it ErrClaimLost.
func (s *SQLStore) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	for _, q := range []string{s.complete, s.completeFree} {
		var res sql.Result
		err := s.busy(ctx, func() (err error) {
			now := s.now()
			res, err = s.db.ExecContext(ctx, q, id, token, now.Add(retain).UnixMicro(), now.UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("webhook: completing %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("webhook: completing %s: %w", id, err)
		}
		if n > 0 {
			return nil
		}
	}
	return ErrClaimLost
}

// Release implements [Store].
func (s *SQLStore) Release(ctx context.Context, id, token string) error {
	if err := s.busy(ctx, func() error { _, err := s.db.ExecContext(ctx, s.release, id, token); return err }); err != nil {
		return fmt.Errorf("webhook: releasing %s: %w", id, err)
	}
	return nil
}

// Purge deletes expired rows (finished retentions and abandoned leases) and
// reports how many. Run it periodically, e.g. hourly.
func (s *SQLStore) Purge(ctx context.Context) (int64, error) {
	var res sql.Result
	err := s.busy(ctx, func() (err error) {
		res, err = s.db.ExecContext(ctx, s.purge, s.now().UnixMicro())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("webhook: purging %s: %w", s.table, err)
	}
	return res.RowsAffected()
}

// busyWait bounds how long a statement waits for SQLite's lock, like a
// busy_timeout of 5 s.
const busyWait = 5 * time.Second

// busy runs f, and runs it again while SQLite answers that the database is
// locked (SQLITE_BUSY: another connection is writing), for up to busyWait.
// A database/sql pool opened without a busy_timeout gets that error as soon
// as two requests write at once, and each would be a 500. A statement
// refused with SQLITE_BUSY did nothing, so running it again is safe. Other
// databases never answer so and run f once.
func (s *SQLStore) busy(ctx context.Context, f func() error) error {
	err := f()
	if !isSQLiteBusy(err) {
		return err
	}
	deadline := time.Now().Add(busyWait)
	for pause := time.Millisecond; isSQLiteBusy(err) && time.Now().Before(deadline); pause = min(2*pause, 50*time.Millisecond) {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = f()
	}
	return err
}

// isSQLiteBusy recognises SQLITE_BUSY (primary result code 5) from
// modernc.org/sqlite (an error with Code() int) and, by its message, from
// other SQLite drivers (mattn/go-sqlite3: "database is locked").
func isSQLiteBusy(err error) bool {
	if err == nil {
		return false
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == 5 {
		return true
	}
	return strings.Contains(err.Error(), "database is locked")
}
