package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/sqlite"
)

// auditLog buffers lines during a transaction and writes them in one
// multi-row INSERT just before it commits.
type auditLog struct{ lines []string }

func (a *auditLog) Flush(ctx context.Context, tx *store.Tx) error {
	if len(a.lines) == 0 {
		return nil
	}
	q := `INSERT INTO settings (name, value, updated_at) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`(?, '', 0), `, len(a.lines)), ", ")
	args := make([]any, len(a.lines))
	for i, l := range a.lines {
		args[i] = l
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

type auditKey struct{}

// audit adds a line to tx's audit log: the first call in a transaction
// registers the Flusher, later ones find it.
func audit(tx *store.Tx, line string) {
	a := tx.Flusher(auditKey{}, func() store.Flusher { return &auditLog{} }).(*auditLog)
	a.lines = append(a.lines, line)
}

// A package that writes many rows per transaction can buffer them with a
// Flusher and write them together when the transaction commits — this is
// how delivery.Enqueue writes a transaction's webhooks.
func ExampleTx_Flusher() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "vaspd-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	err = db.InTx(ctx, func(tx *store.Tx) error {
		for _, l := range []string{"audit-1", "audit-2", "audit-3"} {
			audit(tx, l)
		}
		return nil // the Flusher runs now, then COMMIT
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var n int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name LIKE 'audit-%'`).Scan(&n)
	fmt.Println(n, "lines, written in one statement")
	// Output: 3 lines, written in one statement
}
