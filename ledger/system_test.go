package ledger_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// overpay books an incoming payment of 10,000 msats whose payer paid
// excess msats on top (as vasp's settlement does), and returns the payee.
func overpay(t *testing.T, l *ledger.Ledger, id string, excess int64) string {
	t.Helper()
	bob := vaspd.NewID(vaspd.IDUser)
	r := ledger.Receive{ID: id, UserID: bob, Msats: 10_000, PaidMsats: 10_000 + excess, FeeMsats: 100, Currency: "EUR", Amount: 9}
	if _, err := l.Post(ctx, r.Movement()); err != nil {
		t.Fatal(err)
	}
	return bob
}

// TestSystemBalances: every system account's balances, in one read, sum
// with the users' to zero.
func TestSystemBalances(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		bs, err := l.SystemBalances(ctx, db)
		if err != nil || len(bs) != 0 {
			t.Fatalf("empty ledger: %v %v", bs, err)
		}
		overpay(t, l, "receive/1", 5_000)
		if _, err := l.Post(ctx, ledger.ReceiveUnmatched("receive/2", "tx2", 700)); err != nil {
			t.Fatal(err)
		}
		bs, err = l.SystemBalances(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		want := "[{system:fees BTC 100} {system:fx BTC 9900} {system:fx EUR -9} {system:node BTC -15700} {system:overpaid BTC 5000} {system:unmatched BTC 700}]"
		if got := fmt.Sprint(bs); got != want {
			t.Fatalf("system balances %s, want %s", got, want)
		}
	})
}

// TestKeep: keeping money held for no one moves it to system:fees, once
// per id, and never more than the account holds — also when many keeps
// race for the same balance (on PostgreSQL, where transactions run side
// by side).
func TestKeep(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		overpay(t, l, "receive/1", 5_000)
		keep := func(id string, from ledger.Account, amount int64) (ledger.Movement, error) {
			var m ledger.Movement
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				m, err = l.TransferCovered(ctx, tx, ledger.Keep(id, from, ledger.BTC, amount, "ref"))
				return err
			})
			return m, err
		}
		_, err := keep("keep/over", ledger.Overpaid, 5_001)
		var ve *vaspd.Error
		if !errors.Is(err, ledger.ErrInsufficientFunds) || !errors.As(err, &ve) || ve.Code != vaspd.CodeInsufficientBalance ||
			ve.Details["available"] != int64(5_000) || ve.Details["required"] != int64(5_001) {
			t.Fatalf("overdraft: %v", err)
		}
		if _, err := keep("keep/unmatched", ledger.Unmatched, 1); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("keep from an empty account: %v", err)
		}
		if _, err := keep("keep/fees", ledger.Fees, 1); !errors.Is(err, ledger.ErrInvalidMovement) {
			t.Fatalf("keep from system:fees: %v", err)
		}
		first, err := keep("keep/1", ledger.Overpaid, 4_000)
		if err != nil || first.Replayed {
			t.Fatalf("keep: %+v %v", first, err)
		}
		const workers = 8
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := keep(fmt.Sprintf("keep/race/%d", i), ledger.Overpaid, 600)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ledger.ErrInsufficientFunds):
					refused.Add(1)
				default:
					t.Errorf("keep %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != workers-1 {
			t.Fatalf("%d keeps of 600 out of 1000 succeeded, %d refused; want 1 and %d", ok.Load(), refused.Load(), workers-1)
		}
		// The balance is spent; a retry of the first keep still answers it.
		again, err := keep("keep/1", ledger.Overpaid, 4_000)
		if err != nil || !again.Replayed || !again.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if _, err := keep("keep/1", ledger.Overpaid, 3_000); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("same id, other amount: %v", err)
		}
		if got := balance(t, l, db, ledger.Overpaid, ledger.BTC); got != 400 {
			t.Fatalf("system:overpaid %d, want 400", got)
		}
		if got := balance(t, l, db, ledger.Fees, ledger.BTC); got != 100+4_600 {
			t.Fatalf("system:fees %d, want %d", got, 100+4_600)
		}
		audit(t, l, db)
	})
}

// TestBySystemAccount: every known system account comes first, in
// ledger.SystemAccounts' order and even without balances; an account the ledger
// holds postings of but vaspd does not book to follows, in the order met;
// each account's currencies stay together.
func TestBySystemAccount(t *testing.T) {
	other := ledger.Account("system:legacy")
	got := ledger.BySystemAccount([]ledger.Balance{
		{Account: ledger.Fees, Currency: "EUR", Amount: 5},
		{Account: ledger.Fees, Currency: "USD", Amount: 7},
		{Account: other, Currency: "USD", Amount: -3},
		{Account: ledger.Node, Currency: ledger.BTC, Amount: 1000},
	})
	if len(got) != len(ledger.SystemAccounts)+1 {
		t.Fatalf("%d accounts, want %d: %+v", len(got), len(ledger.SystemAccounts)+1, got)
	}
	for i, a := range ledger.SystemAccounts {
		if got[i].Account != a {
			t.Fatalf("account %d is %s, want %s", i, got[i].Account, a)
		}
	}
	byAccount := map[ledger.Account][]ledger.Balance{}
	for _, a := range got {
		byAccount[a.Account] = a.Balances
	}
	if last := got[len(got)-1]; last.Account != other || len(last.Balances) != 1 || last.Balances[0].Amount != -3 {
		t.Fatalf("the unknown account: %+v", last)
	}
	if fees := byAccount[ledger.Fees]; len(fees) != 2 || fees[0].Currency != "EUR" || fees[1].Currency != "USD" {
		t.Fatalf("fees: %+v", fees)
	}
	if node := byAccount[ledger.Node]; len(node) != 1 || node[0].Amount != 1000 {
		t.Fatalf("node: %+v", node)
	}
	if fx := byAccount[ledger.FX]; len(fx) != 0 {
		t.Fatalf("fx never used, has %+v", fx)
	}
}
