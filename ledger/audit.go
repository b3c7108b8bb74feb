package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"

	"github.com/vaspd/vaspd/store"
)

// Audit is what a check of the whole ledger read.
type Audit struct {
	Movements   int64 // movements with postings
	Postings    int64
	BalanceRows int64
	Accounts    int64 // (account, currency) pairs with postings
}

// Check audits the whole ledger and returns an error describing the first
// inconsistency found, or nil: see [Ledger.Audit].
func (l *Ledger) Check(ctx context.Context, q store.Querier) error {
	_, err := l.Audit(ctx, q)
	return err
}

// Audit reads the whole ledger and returns an error describing the first
// inconsistency found:
//
//   - every movement balances on its own in every currency (and so every
//     currency's postings sum to zero: money is never created or lost);
//   - every movement has postings;
//   - every balance row equals the sum of its account's postings, none is
//     negative, and no account that may not go negative has postings
//     without a row.
//
// The postings are read in movement order, so memory grows with the
// accounts, not with the movements. The sums and the balance rows are read
// by two statements, which must see one snapshot of a ledger in use: q is
// a transaction of [store.DB.InSnapshot], or the *store.DB itself, read in
// one such transaction here. It reads every posting: for tests and `vaspd
// ledger check`, not for request paths.
func (l *Ledger) Audit(ctx context.Context, q store.Querier) (Audit, error) {
	if db, ok := q.(*store.DB); ok {
		var a Audit
		err := db.InSnapshot(ctx, func(tx *store.Tx) error {
			var err error
			a, err = l.Audit(ctx, tx)
			return err
		})
		return a, err
	}
	var a Audit
	type key struct{ a, c string }
	sums := map[key]*big.Int{}
	rows, err := q.QueryContext(ctx, `SELECT movement_id, account, currency, amount FROM ledger_postings ORDER BY movement_id, seq`)
	if err != nil {
		return a, fmt.Errorf("ledger check: read postings: %w", err)
	}
	var (
		movement string
		inMove   = map[string]*big.Int{} // the current movement's sum per currency
	)
	closeMovement := func() error {
		for cur, s := range inMove {
			if s.Sign() != 0 {
				return fmt.Errorf("ledger check: movement %s does not balance in %s (%s)", movement, cur, s)
			}
		}
		clear(inMove)
		return nil
	}
	for rows.Next() {
		var (
			mid, acct, cur string
			amt            int64
		)
		if err := rows.Scan(&mid, &acct, &cur, &amt); err != nil {
			rows.Close()
			return a, err
		}
		if mid != movement {
			if err := closeMovement(); err != nil {
				rows.Close()
				return a, err
			}
			movement = mid
			a.Movements++
		}
		a.Postings++
		k := key{acct, cur}
		if sums[k] == nil {
			sums[k] = new(big.Int)
		}
		sums[k].Add(sums[k], big.NewInt(amt))
		if inMove[cur] == nil {
			inMove[cur] = new(big.Int)
		}
		inMove[cur].Add(inMove[cur], big.NewInt(amt))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, err
	}
	if err := closeMovement(); err != nil {
		return a, err
	}
	a.Accounts = int64(len(sums))
	var empty string
	switch err := q.QueryRowContext(ctx, `SELECT m.id FROM ledger_movements m
		WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.movement_id = m.id) LIMIT 1`).Scan(&empty); {
	case err == nil:
		return a, fmt.Errorf("ledger check: movement %s has no postings", empty)
	case !errors.Is(err, sql.ErrNoRows):
		return a, fmt.Errorf("ledger check: read movements: %w", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT account, currency, balance FROM ledger_balances`)
	if err != nil {
		return a, fmt.Errorf("ledger check: read balances: %w", err)
	}
	seen := map[key]bool{}
	for rows.Next() {
		var (
			acct, cur string
			bal       int64
		)
		if err := rows.Scan(&acct, &cur, &bal); err != nil {
			rows.Close()
			return a, err
		}
		a.BalanceRows++
		k := key{acct, cur}
		seen[k] = true
		want := sums[k]
		if want == nil {
			want = new(big.Int)
		}
		if big.NewInt(bal).Cmp(want) != 0 {
			rows.Close()
			return a, fmt.Errorf("ledger check: balance of %s in %s is %d, postings sum to %s", acct, cur, bal, want)
		}
		if bal < 0 {
			rows.Close()
			return a, fmt.Errorf("ledger check: %s is negative in %s (%d)", acct, cur, bal)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, err
	}
	for k, s := range sums {
		if !Account(k.a).MayGoNegative() && !seen[k] {
			return a, fmt.Errorf("ledger check: %s has postings in %s (sum %s) but no balance row", k.a, k.c, s)
		}
	}
	return a, nil
}
