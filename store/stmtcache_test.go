package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// numbered is the smallest Driver for a SQLite pool opened here: package
// store cannot import store/sqlite (which imports it).
type numbered struct{ Driver }

func (numbered) Name() string                 { return "sqlite" }
func (numbered) Rebind(q string) string       { return RebindNumbered(q) }
func (numbered) IsRetryable(error) bool       { return false }
func (numbered) SerializeWrites() bool        { return true }
func (numbered) IsUniqueViolation(error) bool { return false }

func openCached(t *testing.T, limit int) *DB {
	t.Helper()
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	sdb.SetMaxOpenConns(4)
	db := New(sdb, numbered{}, nil)
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(context.Background(), `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.SetStatementCache(limit)
	return db
}

func cached(db *DB) int { return int(db.stmts.n.Load()) }

func TestStatementCacheReusesAndBounds(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, 3)
	ins := `INSERT INTO kv (k, v) VALUES ($1, $2)`
	for i := range 10 {
		if _, err := db.ExecContext(ctx, ins, fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if got := cached(db); got != 1 {
		t.Fatalf("after one query run 10 times: %d cached statements, want 1", got)
	}
	var sum int64
	if err := db.QueryRowContext(ctx, `SELECT SUM(v) FROM kv WHERE v >= $1`, 0).Scan(&sum); err != nil || sum != 45 {
		t.Fatalf("sum = %d, %v; want 45", sum, err)
	}
	// A long multi-row statement is not kept.
	long := `SELECT COUNT(*) FROM kv WHERE k IN (` + strings.Repeat(`'x', `, maxCachedQuery/5) + `'k1')`
	var n int
	if err := db.QueryRowContext(ctx, long).Scan(&n); err != nil || n != 1 {
		t.Fatalf("long query: %d, %v", n, err)
	}
	if got := cached(db); got != 2 {
		t.Fatalf("%d cached, want 2 (the long query is not kept)", got)
	}
	// Past the limit queries still run, unprepared.
	for i := range 5 {
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT v + %d FROM kv WHERE k = $1`, i), "k2").Scan(&n); err != nil || n != 2+i {
			t.Fatalf("query %d past the limit: %d, %v", i, n, err)
		}
	}
	if got := cached(db); got != 3 {
		t.Fatalf("%d cached, want the limit 3", got)
	}
}

func TestStatementCacheErrorsComeFromTheQuery(t *testing.T) {
	db := openCached(t, 8)
	_, err := db.ExecContext(context.Background(), `INSERT INTO nowhere (k) VALUES ($1)`, "a")
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("err = %v, want the database's own error naming the table", err)
	}
	if got := cached(db); got != 0 {
		t.Fatalf("a query that does not prepare was cached (%d)", got)
	}
}

func TestStatementCacheInTransactions(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, 16)
	ins := `INSERT INTO kv (k, v) VALUES ($1, $2)`
	errRollback := errors.New("roll back")
	err := db.InTx(ctx, func(tx *Tx) error {
		for i := range 5 {
			if _, err := tx.ExecContext(ctx, ins, fmt.Sprint("r", i), i); err != nil {
				return err
			}
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	// Many writers and readers at once, each transaction using the cached
	// statements on whichever connection it got (run with -race).
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				err := db.InTx(ctx, func(tx *Tx) error {
					if _, err := tx.ExecContext(ctx, ins, fmt.Sprint(w, "-", i), 1); err != nil {
						return err
					}
					var n int
					return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv WHERE v = $1`, 1).Scan(&n)
				})
				if err != nil {
					t.Error(err)
					return
				}
				rows, err := db.QueryContext(ctx, `SELECT k FROM kv WHERE v = $1`, 1)
				if err != nil {
					t.Error(err)
					return
				}
				for rows.Next() {
				}
				rows.Close()
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("%d rows, %v; want 200 (and none of the rolled-back five)", n, err)
	}
	if got := cached(db); got != 4 {
		t.Fatalf("%d cached statements, want 4", got)
	}
}

// A transaction's first use of a query must not wait for another pooled
// connection to prepare it: on SQLite the transaction holds the database's
// write lock, and the other connections may all be autocommit writes
// waiting (busy_timeout) for that very lock. The transaction then stalled
// until they timed out and failed. Now it runs the query on its own
// connection and the cache is filled later.
func TestStatementCacheTransactionNeverWaitsForThePool(t *testing.T) {
	ctx := context.Background()
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	const conns = 4
	sdb.SetMaxOpenConns(conns)
	db := New(sdb, numbered{}, nil)
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.SetStatementCache(16)
	var writers sync.WaitGroup
	start := time.Now()
	var queried time.Time
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "tx", 1); err != nil {
			return err
		}
		for i := range conns - 1 { // every other connection: a writer waiting for the lock
			writers.Add(1)
			go func() {
				defer writers.Done()
				if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, fmt.Sprint("w", i), 2); err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		for sdb.Stats().InUse < conns {
			if time.Since(start) > 10*time.Second {
				return errors.New("the writers never took the pool")
			}
			time.Sleep(time.Millisecond)
		}
		// Timed from here, once the writers hold the pool (which may take
		// seconds on a loaded machine): waiting for them would take their
		// busy timeout, 20 s.
		queried = time.Now()
		var n int
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv WHERE v >= $1`, 0).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(queried); d > 5*time.Second {
		t.Errorf("the transaction's query took %s: it waited for the writers queued behind it", d.Round(time.Millisecond))
	}
	writers.Wait()
	// The query is cached all the same, once a connection was free.
	q := `SELECT COUNT(*) FROM kv WHERE v >= $1`
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := db.stmts.m.Load(q); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the query was never cached")
		}
		time.Sleep(time.Millisecond)
	}
}

// A call outside a transaction that uses a query for the first time while
// every pooled connection is taken keeps its own deadline: it used to wait
// for a connection to prepare the query on, however long that took, with
// the cache's lock held (so every other first use waited behind it).
func TestStatementCacheFirstUseKeepsTheCallersDeadline(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, 16)
	var held []*sql.Conn
	for range 4 { // openCached's pool
		c, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	release := func() {
		for _, c := range held {
			_ = c.Close()
		}
		held = nil
	}
	defer release()

	q := `SELECT COUNT(*) FROM kv WHERE v > $1`
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		var n int
		done <- db.QueryRowContext(qctx, q, 0).Scan(&n)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("with the pool taken: %v, want the caller's deadline", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the call took %s past its 200ms deadline", d.Round(time.Millisecond))
		}
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("the call ignored its 200ms deadline: still waiting after 10 s for a connection to prepare on")
	}
	// Once a connection is free the query is prepared for the calls after it.
	release()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := db.stmts.m.Load(q); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the query was never cached")
		}
		time.Sleep(time.Millisecond)
	}
}
