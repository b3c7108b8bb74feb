package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// InSnapshot sees one moment of the database however long it runs, lets
// writers commit meanwhile (it holds no write lock, on SQLite either), and
// keeps nothing written in it.
func TestInSnapshot(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		count := func(q store.Querier) int {
			t.Helper()
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name LIKE 'snap%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		insert := func(name string) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, 'x', 1)`, name)
				return err
			})
		}
		if err := insert("snap0"); err != nil {
			t.Fatal(err)
		}
		err := db.InSnapshot(ctx, func(tx *store.Tx) error {
			if n := count(tx); n != 1 {
				t.Fatalf("snapshot sees %d rows, want 1", n)
			}
			// A writer commits while the snapshot is open, at once.
			done := make(chan error, 1)
			go func() { done <- insert("snap1") }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("a write beside the snapshot: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a write waited for the snapshot")
			}
			if n := count(db); n != 2 {
				t.Fatalf("outside the snapshot %d rows, want 2", n)
			}
			if n := count(tx); n != 1 {
				t.Fatalf("the snapshot now sees %d rows, want still 1", n)
			}
			// PostgreSQL refuses a write here; SQLite refuses one on a
			// snapshot older than the last commit, as this one is. Either
			// way nothing written in a snapshot is kept.
			_, _ = tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('snap2', 'x', 1)`)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(db); n != 2 {
			t.Fatalf("after the snapshot %d rows, want 2", n)
		}
		// Its error is returned, and it ends.
		if err := db.InSnapshot(context.Background(), func(*store.Tx) error { return context.Canceled }); err != context.Canceled {
			t.Fatalf("InSnapshot returned %v, want fn's error", err)
		}
	})
}
