package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Statement cache.
//
// modernc.org/sqlite compiles a query (sqlite3_prepare_v2) on every
// ExecContext/QueryContext that database/sql sends it unprepared, and
// finalizes it afterwards; for vaspd's short statements that compile is most
// of the statement's CPU. A database/sql *Stmt prepared once on the pool is
// compiled once per connection and reused, inside transactions too
// (Tx.StmtContext finds the connection's copy). PostgreSQL needs none of
// this: pgx already caches prepared statements per connection.
//
// The cache is keyed by the query text as the caller wrote it ("$1"
// placeholders), so a hit also skips Rebind. It never evicts — a *sql.Stmt
// closed while another goroutine is about to use it would fail that call —
// so it is bounded instead: queries longer than maxCachedQuery (multi-row
// statements built for a batch) and queries beyond the cache's capacity run
// unprepared, as before. A batch's compile is not always small beside its
// rows: a hot path that batches writes its statements in a few fixed shapes
// under the bound instead (package delivery: statementRows).

const maxCachedQuery = 2048

type stmtCache struct {
	db     *sql.DB
	rebind func(string) string // the driver's
	limit  int
	m      sync.Map // query text -> *sql.Stmt
	n      atomic.Int64
	missed atomic.Int64 // calls that ran unprepared: too long, cache full, or failed to prepare
	mu     sync.Mutex   // serialises preparing, so one query is prepared once
	later  sync.Map     // query text -> struct{}: being prepared in the background (getInTx)
}

// txPrepareWait bounds how long a transaction waits for a pooled
// connection to prepare a query it uses for the first time (getInTx).
const txPrepareWait = 500 * time.Millisecond

// SetStatementCache makes db prepare up to n distinct queries once and reuse
// them (n <= 0 turns the cache off). Driver packages call it before db is
// shared: store/sqlite does, store/postgres does not.
func (db *DB) SetStatementCache(n int) {
	if n <= 0 {
		db.stmts = nil
		return
	}
	db.stmts = &stmtCache{db: db.sql, rebind: db.driver.Rebind, limit: n}
}

// get returns the prepared statement for q, preparing it on first use, or
// nil when q is not cached (too long, cache full, or it failed to prepare:
// the caller then runs it plainly and gets the real error from there).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if len(q) > maxCachedQuery {
		c.missed.Add(1)
		return nil
	}
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= int64(c.limit) {
		c.missed.Add(1)
		return nil
	}
	// The caller's deadline holds: preparing needs a pooled connection,
	// and with the pool taken that wait (and another goroutine's prepare,
	// holding c.mu meanwhile) would ignore it. So the call waits for
	// neither past its deadline or prepareWait; it then runs q unprepared,
	// waiting for a connection as its context allows, and q is prepared
	// in the background for the calls after it.
	wait := prepareWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	if wait > 0 && c.mu.TryLock() {
		st, err := c.prepareLocked(ctx, q, wait)
		c.mu.Unlock()
		if err == nil {
			return st
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			c.missed.Add(1) // q itself fails (its error comes from running it), or the cache is full
			return nil
		}
	}
	c.missed.Add(1)
	c.prepareLater(ctx, q)
	return nil
}

// prepareWait bounds how long a call outside a transaction waits for a
// pooled connection to prepare a query it uses for the first time (get).
const prepareWait = 2 * time.Second

// prepareLater prepares q in the background, once a connection is free,
// unless that is under way.
func (c *stmtCache) prepareLater(ctx context.Context, q string) {
	if _, busy := c.later.LoadOrStore(q, struct{}{}); busy {
		return
	}
	go func() {
		defer c.later.Delete(q)
		c.mu.Lock()
		defer c.mu.Unlock()
		_, _ = c.prepareLocked(context.WithoutCancel(ctx), q, 0)
	}()
}

// getInTx is get for a transaction: the statement for q, or nil to run q
// on the transaction's own connection this time. Preparing on the pool
// needs another connection, and a transaction must never wait long for
// one: on SQLite it holds the database's write lock, and every other
// connection may be an autocommit write waiting (busy_timeout, 10 s) for
// that lock — the transaction would stall until they failed. So it waits
// at most txPrepareWait, and not at all for the lock of another goroutine
// preparing; on a miss the query is prepared in the background, once a
// connection is free, for the calls after it.
func (c *stmtCache) getInTx(ctx context.Context, q string) *sql.Stmt {
	if c == nil || len(q) > maxCachedQuery {
		return c.get(ctx, q) // counts the miss
	}
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= int64(c.limit) {
		c.missed.Add(1)
		return nil
	}
	if c.mu.TryLock() {
		st, err := c.prepareLocked(ctx, q, txPrepareWait)
		c.mu.Unlock()
		if err == nil {
			return st
		}
	}
	c.missed.Add(1)
	c.prepareLater(ctx, q)
	return nil
}

// prepareLocked prepares q on the pool and caches it, unless it is cached
// already or the cache is full (then it returns nil and no error); c.mu is
// held. wait > 0 bounds the wait for a connection and the prepare.
func (c *stmtCache) prepareLocked(ctx context.Context, q string, wait time.Duration) (*sql.Stmt, error) {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	if c.n.Load() >= int64(c.limit) {
		return nil, errCacheFull
	}
	// The statement belongs to the pool, not to this call: a cancelled
	// request must not leave a half-prepared entry behind.
	pctx := context.WithoutCancel(ctx)
	if wait > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(pctx, wait)
		defer cancel()
	}
	st, err := c.db.PrepareContext(pctx, c.rebind(q))
	if err != nil {
		return nil, err
	}
	c.m.Store(q, st)
	c.n.Add(1)
	return st, nil
}

var errCacheFull = errors.New("statement cache full")

// StatementStats reports how many distinct statements db's cache holds and
// how many calls have run unprepared since it was set (too long for it,
// past its capacity, or failing to prepare): what a test needs to check that a hot path's
// statements are compiled once. Both are 0 without a cache (PostgreSQL).
func (db *DB) StatementStats() (cached, unprepared int64) {
	if db.stmts == nil {
		return 0, 0
	}
	return db.stmts.n.Load(), db.stmts.missed.Load()
}

// close closes every cached statement; the DB is closing.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.m.Range(func(_, v any) bool {
		_ = v.(*sql.Stmt).Close()
		return true
	})
}

// txStmt returns tx's copy of the cached statement for q (nil when q is not
// cached). Copies are kept for the transaction's life, so a statement run
// many times in one transaction (an event per Enqueue) is bound to the
// transaction's connection once.
func (tx *Tx) txStmt(ctx context.Context, q string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	if st, ok := tx.local[q]; ok {
		return st
	}
	st := tx.stmts.getInTx(ctx, q)
	if st == nil {
		return nil
	}
	ts := tx.tx.StmtContext(ctx, st)
	if tx.local == nil {
		tx.local = make(map[string]*sql.Stmt)
	}
	tx.local[q] = ts
	return ts
}
