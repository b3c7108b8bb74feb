package ledger_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// hookedQuerier runs before, once, ahead of the querier's second query.
type hookedQuerier struct {
	store.Querier
	queries int
	before  func()
}

func (q *hookedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if q.queries++; q.queries == 2 {
		q.before()
	}
	return q.Querier.QueryContext(ctx, query, args...)
}

// TestUserBalancesOneSnapshot: a user's available and held balances are
// read together, so a movement between them (a failed payment's release,
// hold → user, committing meanwhile) is seen whole or not at all — never
// as money gone from both. DELETE /users/{id} relies on it: a user whose
// balances read zero is deleted.
func TestUserBalancesOneSnapshot(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		for _, m := range []ledger.Movement{
			ledger.Deposit("deposit/1", alice, "USD", 100, ""),
			ledger.Reserve("reserve/1", alice, "USD", 100, "tx-1"),
		} {
			if _, err := l.Post(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		q := &hookedQuerier{Querier: db, before: func() {
			if _, err := l.Post(ctx, ledger.Release("release/1", alice, "USD", 100, "tx-1")); err != nil {
				t.Error(err)
			}
		}}
		bs, err := l.UserBalances(ctx, q, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || bs[0].Available+bs[0].Held != 100 {
			t.Fatalf("balances read across a release: %+v", bs)
		}
		audit(t, l, db)
	})
}
