package ledger_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A user's money in a currency, available and held together, is what
// MaxBalance caps: a reservation is the user's own money set aside, and
// giving it back (a failed payment's release) or setting more aside (an
// execute) must never be refused for the cap. Were each account capped
// alone, a deposit while a payment is in flight could fill the available
// balance, and the payment's failure could then not be booked: it would
// stay PROCESSING, the user's money held, until someone withdrew.
func TestCapCoversHeldMoney(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		post := func(m ledger.Movement) error {
			t.Helper()
			_, err := l.Post(ctx, m)
			return err
		}
		if err := post(ledger.Deposit("d1", alice, "USD", ledger.MaxBalance, "")); err != nil {
			t.Fatal(err)
		}
		if err := post(ledger.Reserve("r1", alice, "USD", 1000, "")); err != nil {
			t.Fatal(err)
		}
		// 1000 is held for a payment in flight: alice has MaxBalance.
		if err := post(ledger.Deposit("d2", alice, "USD", 1, "")); !errors.Is(err, ledger.ErrOverflow) {
			t.Fatalf("a deposit past the cap counting held money: %v, want ErrOverflow", err)
		}
		// The payment fails: alice gets her money back.
		if err := post(ledger.Release("rel1", alice, "USD", 1000, "")); err != nil {
			t.Fatalf("release: %v", err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != ledger.MaxBalance {
			t.Fatalf("alice has %d, want %d", got, int64(ledger.MaxBalance))
		}

		// Most of it held: a reservation of more than is available is an
		// overdraft, never an overflow of the hold account.
		if err := post(ledger.Reserve("r2", alice, "USD", ledger.MaxBalance-500, "")); err != nil {
			t.Fatal(err)
		}
		if err := post(ledger.Deposit("d3", alice, "USD", 1000, "")); !errors.Is(err, ledger.ErrOverflow) {
			t.Fatalf("a deposit past the cap counting held money: %v, want ErrOverflow", err)
		}
		if err := post(ledger.Reserve("r3", alice, "USD", 1000, "")); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("reserve of 1000 with 500 available: %v, want ErrInsufficientFunds", err)
		}
		if err := post(ledger.Reserve("r4", alice, "USD", 500, "")); err != nil {
			t.Fatal(err)
		}
		if err := post(ledger.Release("rel2", alice, "USD", ledger.MaxBalance, "")); err != nil {
			t.Fatalf("release: %v", err)
		}
		// A hold in another currency does not count.
		if err := post(ledger.Deposit("d4", alice, "EUR", ledger.MaxBalance, "")); err != nil {
			t.Fatal(err)
		}
		audit(t, l, db)
	})
}

// A user holding more than the cap, available and held together (a
// ledger written before the cap counted held money, which capped each
// account alone), can still move money between the two: a reservation,
// a release. Only money coming in is refused.
func TestCapSparesMovesWithinAUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		post := func(m ledger.Movement) error {
			t.Helper()
			_, err := l.Post(ctx, m)
			return err
		}
		if err := post(ledger.Deposit("d1", alice, "USD", ledger.MaxBalance, "")); err != nil {
			t.Fatal(err)
		}
		// What the old ledger allowed: the hold account full, beside a
		// full available balance (here by a movement no flow makes).
		if err := post(ledger.Movement{ID: "old", Kind: "test", Postings: []ledger.Posting{
			{Account: ledger.FiatRails, Currency: "USD", Amount: -ledger.MaxBalance},
			{Account: ledger.HoldAccount(alice), Currency: "USD", Amount: ledger.MaxBalance}}}); err != nil {
			t.Fatal(err)
		}
		if err := post(ledger.Release("rel1", alice, "USD", 1000, "")); err != nil {
			t.Fatalf("release: %v", err)
		}
		if err := post(ledger.Reserve("r1", alice, "USD", 2000, "")); err != nil {
			t.Fatalf("reserve: %v", err)
		}
		if err := post(ledger.Deposit("d2", alice, "USD", 1, "")); !errors.Is(err, ledger.ErrOverflow) {
			t.Fatalf("a deposit past the cap: %v, want ErrOverflow", err)
		}
		audit(t, l, db)
	})
}

// twoPools opens a second pool on db's database, as a second vaspd
// process sharing it would: for SQLite the same file, for PostgreSQL the
// same schema.
func twoPools(t *testing.T, fn func(t *testing.T, a, b *store.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vaspd.db")
		fn(t, storetest.SQLiteAt(t, path), storetest.SQLiteAt(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		fn(t, storetest.PostgresAt(t, u), storetest.PostgresAt(t, u))
	})
}

// Deposits racing a payment's reservations and releases, from two
// processes, never take available and held money together past the cap,
// and never make a release fail.
func TestCapCoversHeldMoneyConcurrently(t *testing.T) {
	t.Parallel()
	twoPools(t, func(t *testing.T, a, b *store.DB) {
		la, lb := newLedger(t, a), newLedger(t, b)
		alice := vaspd.NewID(vaspd.IDUser)
		const chunk = 1_000_000
		if _, err := la.Post(ctx, ledger.Deposit("d0", alice, "USD", ledger.MaxBalance-20*chunk, "")); err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			deposited atomic.Int64
		)
		for i := range 20 {
			wg.Add(2)
			go func() { // the payer: reserve, then the payment fails
				defer wg.Done()
				if _, err := la.Post(ctx, ledger.Reserve(fmt.Sprintf("r%d", i), alice, "USD", 3*chunk, "")); err != nil {
					t.Errorf("reserve %d: %v", i, err)
					return
				}
				if _, err := la.Post(ctx, ledger.Release(fmt.Sprintf("rel%d", i), alice, "USD", 3*chunk, "")); err != nil {
					t.Errorf("release %d: %v", i, err)
				}
			}()
			go func() { // the platform deposits, from another process
				defer wg.Done()
				_, err := lb.Post(ctx, ledger.Deposit(fmt.Sprintf("d%d", i+1), alice, "USD", 2*chunk, ""))
				if err == nil {
					deposited.Add(2 * chunk)
				} else if !errors.Is(err, ledger.ErrOverflow) {
					t.Errorf("deposit %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		avail := balance(t, la, a, ledger.UserAccount(alice), "USD")
		held := balance(t, la, a, ledger.HoldAccount(alice), "USD")
		if want := ledger.MaxBalance - 20*chunk + deposited.Load(); held != 0 || avail != want || avail > ledger.MaxBalance {
			t.Fatalf("alice has %d available, %d held; want %d and 0, at most %d", avail, held, want, int64(ledger.MaxBalance))
		}
		audit(t, la, a)
	})
}
