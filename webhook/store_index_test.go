package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSQLStoreLegacyIndexDropped: a table over 52 characters created by
// an earlier CreateTable, which named its expiry index <table>_expires_at
// (truncated by PostgreSQL to 63 characters; whole on SQLite), keeps one
// index on expires_at once CreateTable, naming it anew (indexName), has
// run: the old one is dropped after the new one exists. Both were kept, two
// indexes on one column, each written by every Claim, Complete and Purge.
// A table of 63 characters had none on PostgreSQL (its truncated name was
// the table's), and the drop must not fail on it there.
func TestSQLStoreLegacyIndexDropped(t *testing.T) {
	type db struct {
		name, driver, dsn, count string
	}
	dbs := []db{{"sqlite", "sqlite", "file:" + filepath.Join(t.TempDir(), "legacy.db"),
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql LIKE '%expires_at%'`}}
	if url := os.Getenv("VASPD_TEST_POSTGRES_URL"); url != "" {
		dbs = append(dbs, db{"postgres", "pgx", url,
			`SELECT COUNT(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(expires_at)%'`})
	} else {
		t.Log("VASPD_TEST_POSTGRES_URL unset: PostgreSQL not tested")
	}
	ctx := context.Background()
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			raw, err := sql.Open(d.driver, d.dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			for _, n := range []int{53, 55, 62, 63} {
				table := "wl_" + strings.Repeat("z", n-3)
				if d.driver == "pgx" {
					t.Cleanup(func() { raw.Exec("DROP TABLE IF EXISTS " + table) })
				}
				// The earlier CreateTable: the default name replaced throughout.
				for stmt := range strings.SplitSeq(strings.ReplaceAll(CreateTableSQL, DefaultTable, table), ";") {
					if strings.TrimSpace(stmt) == "" {
						continue
					}
					if _, err := raw.ExecContext(ctx, stmt); err != nil {
						t.Fatalf("table of %d characters, earlier DDL: %v", n, err)
					}
				}
				s := openSQLStore(t, d.driver, d.dsn, newFakeClock(), table) // CreateTable, twice
				var got int
				if err := raw.QueryRowContext(ctx, d.count, table).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != 1 {
					t.Errorf("table of %d characters: %d indexes on expires_at, want 1 (%s)", n, got, s.index)
				}
				var named int
				if err := raw.QueryRowContext(ctx, d.count+` AND `+map[string]string{"sqlite": "name", "pgx": "indexname"}[d.driver]+` = $2`,
					table, s.index).Scan(&named); err != nil {
					t.Fatal(err)
				}
				if named != 1 {
					t.Errorf("table of %d characters: index %s missing", n, s.index)
				}
			}
		})
	}
}

// Instances upgraded together each drop the earlier index at start-up, on
// one PostgreSQL database: a DROP that finds it dropped meanwhile must not
// stop one.
func TestSQLStoreLegacyIndexDroppedConcurrently(t *testing.T) {
	url := os.Getenv("VASPD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("VASPD_TEST_POSTGRES_URL unset")
	}
	ctx := context.Background()
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	const instances = 6
	for round := range 3 {
		table := fmt.Sprintf("wlc_%d_%d_", time.Now().UnixNano(), round)
		table += strings.Repeat("c", 58-len(table))
		t.Cleanup(func() { raw.Exec("DROP TABLE IF EXISTS " + table) })
		for stmt := range strings.SplitSeq(strings.ReplaceAll(CreateTableSQL, DefaultTable, table), ";") {
			if strings.TrimSpace(stmt) != "" {
				if _, err := raw.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
		}
		errs := make([]error, instances)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range instances {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			s, err := NewSQLStore(db, table)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.CreateTable(ctx)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, instance %d: %v", round, i, err)
			}
		}
		var n int
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(expires_at)%'`,
			table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("round %d: %d indexes on expires_at, want 1", round, n)
		}
	}
}
