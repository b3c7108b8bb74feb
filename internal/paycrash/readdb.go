package paycrash

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
)

// openReadOnly opens a VASP's database for the driver's reads: what the
// platform API does not show (payment hashes, the nodes' records, ledger
// movements by id), to watch the kills and check the end. The connection
// cannot write: SQLite opened read-only, PostgreSQL sessions read-only,
// so the driver can never repair what it checks.
func openReadOnly(ctx context.Context, dsn string) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if isPostgres(dsn) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("database URL: %w", err)
		}
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
		sdb := stdlib.OpenDB(*cfg)
		sdb.SetMaxOpenConns(4)
		db := store.New(sdb, postgres.Driver{}, nil)
		if err := db.Ping(ctx); err != nil {
			sdb.Close()
			return nil, fmt.Errorf("connect read-only: %w", err)
		}
		return db, nil
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	sdb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: dsn}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	sdb.SetMaxOpenConns(4)
	db := store.New(sdb, sqlite.Driver{}, nil)
	if err := db.Ping(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s read-only: %w", dsn, err)
	}
	return db, nil
}

func isPostgres(dsn string) bool {
	u, err := url.Parse(dsn)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// count runs a COUNT query; an error counts -1 (a look that failed only
// informs, it does not stop the run).
func count(ctx context.Context, db *store.DB, q string, args ...any) int {
	var n int
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}
