package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
)

// TestBackgroundCheckpoint: what is committed reaches the database file
// while the database stays open, although the log is far below SQLite's
// own (backstop) checkpoint threshold — the background checkpointer copied
// it. Without it the rows would sit in the -wal file until Close.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ck.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Let the migrations' own log be checkpointed first.
	time.Sleep(3 * checkpointInterval)
	before := size()
	const rows, bytesPerRow = 1000, 2000 // ≈ 2 MB: 500 pages, far below walBackstopPages
	err = db.InTx(ctx, func(tx *store.Tx) error {
		for i := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, 0)`,
				fmt.Sprintf("ck-%d", i), strings.Repeat("v", bytesPerRow)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for size()-before < rows*bytesPerRow {
		if time.Now().After(deadline) {
			t.Fatalf("database file grew by %d bytes in 5 s; want the %d bytes committed to be checkpointed into it", size()-before, rows*bytesPerRow)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
