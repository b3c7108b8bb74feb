package vasp

import (
	"context"
	"time"

	"github.com/vaspd/vaspd/store"
)

// Claiming what a completed payment still owes under a lease: the
// post-transaction callback (callbacks.go) and the compliance registration
// (register.go) both live on the transaction row as a pending state and a
// time it is next due, and any process may claim them. A claim is one
// UPDATE … RETURNING that pushes the due time a lease ahead, so two
// processes do not take the same row at once, and one that dies with a row
// claimed hands it on when the lease ends. On PostgreSQL the rows are
// chosen FOR UPDATE SKIP LOCKED: rows another claim holds locked just then
// are passed over to the next round rather than waited for. On SQLite the
// write transaction is already exclusive.

// owedClaim is one round's claim of a kind of work owed on completed
// payments.
type owedClaim struct {
	// work names the columns: WORK_state ('pending' while owed) and
	// WORK_next_at (when a process may claim it).
	work string
	// now is the round's time: rows due at or before it are claimed.
	now time.Time
	// until is the lease: WORK_next_at is set to it.
	until time.Time
	// limit bounds the rows one round claims.
	limit int
	// and is a further condition on the rows ("AND …"), its parameters
	// args from $4 on; "" for none.
	and  string
	args []any
	// extra are columns returned after txColumns (", col…"), for scan.
	extra string
}

// claimOwed claims, in one transaction, the rows c describes and returns
// them as scan reads each.
func claimOwed[T any](ctx context.Context, db *store.DB, c owedClaim, scan func(row interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	var owed []T
	err := db.InTx(ctx, func(tx *store.Tx) error {
		owed = owed[:0] // InTx may run this again
		// 'pending' is a literal, not a parameter: it is what the partial
		// indexes on WORK_next_at (migrations 0420, 0460) are built for.
		rows, err := tx.QueryContext(ctx, `UPDATE uma_transactions SET `+c.work+`_next_at = $1
			WHERE id IN (SELECT id FROM uma_transactions
				WHERE `+c.work+`_state = 'pending' AND status = 'COMPLETED' AND `+c.work+`_next_at <= $2 `+c.and+`
				ORDER BY `+c.work+`_next_at LIMIT $3 `+tx.Driver().SkipLocked()+`)
			RETURNING `+txColumns+c.extra,
			append([]any{store.Micros(c.until), store.Micros(c.now), c.limit}, c.args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scan(rows)
			if err != nil {
				return err
			}
			owed = append(owed, o)
		}
		return rows.Err()
	})
	return owed, err
}

// releaseOwed hands back, on a graceful stop, the work owed on the rows
// ids that a claim holds: WORK_next_at becomes now (due at once, for any
// process) on those still owed whose WORK_next_at is still lease, the
// value that claim set (one another process claimed since is left to it).
// It runs on a short context of its own, ctx having ended; if it fails,
// the lease ends.
func releaseOwed(ctx context.Context, db *store.DB, work string, now time.Time, lease int64, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	args := []any{store.Micros(now), lease}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := db.ExecContext(ctx, `UPDATE uma_transactions SET `+work+`_next_at = $1
		WHERE `+work+`_state = 'pending' AND `+work+`_next_at = $2 AND id IN (`+store.Placeholders(3, len(ids))+`)`, args...)
	return err
}
