package users

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// DefaultImportErrorRetention is ImporterOptions.ErrorRetention's
// default: 30 days, long past the job's BULK_UPLOAD webhook (which
// carries them) and any look at the job for its failures.
const DefaultImportErrorRetention = 30 * 24 * time.Hour

// pruneBatch bounds the row errors one statement deletes: a job may have
// 100 000, and SQLite's writer is not held for all of them at once.
const pruneBatch = 1000

// PruneErrors deletes the row errors of the jobs that ended (COMPLETED or
// FAILED) more than ErrorRetention ago, and returns how many. They echo
// the rows' ids and values, and were kept for good; the job stays, its
// counters exact, its errors then empty.
func (im *Importer) PruneErrors(ctx context.Context) (int64, error) {
	db := im.users.db
	before := store.Micros(im.users.clock.Now().Add(-im.opt.ErrorRetention))
	rows, err := db.QueryContext(ctx, `SELECT id FROM user_imports j WHERE completed_at < $1
		AND EXISTS (SELECT 1 FROM user_import_errors e WHERE e.import_id = j.id)`, before)
	if err != nil {
		return 0, fmt.Errorf("users: prune import errors: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("users: prune import errors: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("users: prune import errors: %w", err)
	}
	var total int64
	for _, id := range ids {
		for {
			res, err := db.ExecContext(ctx, `DELETE FROM user_import_errors WHERE import_id = $1 AND row_number IN
				(SELECT row_number FROM user_import_errors WHERE import_id = $1 ORDER BY row_number LIMIT $2)`, id, pruneBatch)
			if err != nil {
				return total, fmt.Errorf("users: prune import errors of %s: %w", id, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("users: prune import errors of %s: %w", id, err)
			}
			total += n
			if n < pruneBatch {
				break
			}
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
		}
	}
	return total, nil
}
