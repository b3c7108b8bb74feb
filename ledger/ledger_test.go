package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

var ctx = context.Background()

// audit fails the test unless the whole ledger is consistent: every
// currency sums to zero, every movement balances, balance rows match postings.
func audit(t *testing.T, l *ledger.Ledger, db *store.DB) {
	t.Helper()
	if err := l.Check(ctx, db); err != nil {
		t.Fatal(err)
	}
}

func newLedger(t *testing.T, db *store.DB) *ledger.Ledger {
	t.Helper()
	return ledger.New(db, vaspd.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
}

func balance(t *testing.T, l *ledger.Ledger, db *store.DB, acct ledger.Account, cur string) int64 {
	t.Helper()
	b, err := l.Balance(ctx, db, acct, cur)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDepositWithdrawOverdraft(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		m, err := l.Post(ctx, ledger.Deposit("deposit/1", alice, "USD", 1000, "bank-1"))
		if err != nil || m.Replayed || m.CreatedAt.IsZero() {
			t.Fatalf("deposit: %+v %v", m, err)
		}
		if _, err := l.Post(ctx, ledger.Withdrawal("withdrawal/1", alice, "USD", 400, "")); err != nil {
			t.Fatal(err)
		}
		_, err = l.Post(ctx, ledger.Withdrawal("withdrawal/2", alice, "USD", 601, ""))
		if !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("overdraft: %v", err)
		}
		if e := vaspd.AsError(err); e.Code != vaspd.CodeInsufficientBalance || e.Status != 400 || e.Details["available"] != int64(600) {
			t.Fatalf("overdraft error: %+v", e)
		}
		// A failed movement leaves no trace, so its id stays free.
		if _, err := l.Get(ctx, db, "withdrawal/2"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("failed movement was recorded: %v", err)
		}
		// Never-seen currency: no row, still insufficient.
		if _, err := l.Post(ctx, ledger.Withdrawal("withdrawal/3", alice, "EUR", 1, "")); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("withdraw unknown currency: %v", err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 600 {
			t.Fatalf("alice USD %d", got)
		}
		if got := balance(t, l, db, ledger.FiatRails, "USD"); got != -600 {
			t.Fatalf("fiat rails USD %d", got)
		}
		audit(t, l, db)
	})
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice, bob := vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser)
		first, err := l.Post(ctx, ledger.Deposit("deposit/k1", alice, "USD", 500, "ref-1"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := l.Post(ctx, ledger.Deposit("deposit/k1", alice, "USD", 500, "ref-1"))
		if err != nil || !again.Replayed || !again.CreatedAt.Equal(first.CreatedAt) || len(again.Postings) != 2 {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 500 {
			t.Fatalf("replay moved money: %d", got)
		}
		for name, m := range map[string]ledger.Movement{
			"amount":    ledger.Deposit("deposit/k1", alice, "USD", 501, "ref-1"),
			"user":      ledger.Deposit("deposit/k1", bob, "USD", 500, "ref-1"),
			"currency":  ledger.Deposit("deposit/k1", alice, "EUR", 500, "ref-1"),
			"reference": ledger.Deposit("deposit/k1", alice, "USD", 500, "ref-2"),
			"kind":      ledger.Reserve("deposit/k1", alice, "USD", 500, "ref-1"),
		} {
			_, err := l.Post(ctx, m)
			if !errors.Is(err, ledger.ErrIdempotencyConflict) || vaspd.AsError(err).Code != vaspd.CodeIdempotencyKeyReused {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The same client reference under another key is refused.
		_, err = l.Post(ctx, ledger.Deposit("deposit/k2", alice, "USD", 500, "ref-1"))
		if !errors.Is(err, ledger.ErrReferenceExists) || vaspd.AsError(err).Status != 409 {
			t.Fatalf("reference reuse: %v", err)
		}
		found, err := l.FindByReference(ctx, db, "deposit", "ref-1")
		if err != nil || found.ID != "deposit/k1" {
			t.Fatalf("find by reference: %+v %v", found, err)
		}
		// …but other kinds may share references (a payment's reserve and settle).
		if _, err := l.Post(ctx, ledger.Reserve("reserve/1", alice, "USD", 100, "Transaction:x")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Post(ctx, ledger.Release("release/1", alice, "USD", 100, "Transaction:x")); err != nil {
			t.Fatal(err)
		}
		audit(t, l, db)
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	l := newLedger(t, db)
	u := vaspd.NewID(vaspd.IDUser)
	p := func(a ledger.Account, c string, n int64) ledger.Posting {
		return ledger.Posting{Account: a, Currency: c, Amount: n}
	}
	bad := map[string]ledger.Movement{
		"unbalanced":        {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -4)}},
		"cross-currency":    {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "EUR", -5)}},
		"one posting":       {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 0)}},
		"zero amount":       {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 0), p(ledger.Fees, "USD", 0)}},
		"min int":           {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", math.MinInt64), p(ledger.Fees, "USD", math.MinInt64)}},
		"overflow":          {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", math.MaxInt64), p(ledger.Fees, "USD", math.MaxInt64), p(ledger.Node, "USD", 2)}},
		"bad account":       {ID: "x", Kind: "test", Postings: []ledger.Posting{p("user:bob", "USD", 5), p(ledger.Fees, "USD", -5)}},
		"bad system":        {ID: "x", Kind: "test", Postings: []ledger.Posting{p("system:Node!", "USD", 5), p(ledger.Fees, "USD", -5)}},
		"bad kind":          {ID: "x", Kind: "Test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -5)}},
		"bad currency":      {ID: "x", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "usd", 5), p(ledger.Fees, "usd", -5)}},
		"empty id":          {ID: "", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -5)}},
		"id with space":     {ID: "a b", Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -5)}},
		"long id":           {ID: strings.Repeat("a", 201), Kind: "test", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -5)}},
		"control ref":       {ID: "x", Kind: "test", Reference: "a\nb", Postings: []ledger.Posting{p(ledger.FX, "USD", 5), p(ledger.Fees, "USD", -5)}},
		"negative deposit":  ledger.Deposit("x", u, "USD", -5, ""),
		"zero reserve":      ledger.Reserve("x", u, "USD", 0, ""),
		"fee above msats":   ledger.Receive{ID: "x", UserID: u, Msats: 10, FeeMsats: 10, Currency: "USD", Amount: 1}.Movement(),
		"paid below msats":  ledger.Receive{ID: "x", UserID: u, Msats: 10, PaidMsats: 9, Currency: "USD", Amount: 1}.Movement(),
		"negative paid":     ledger.Receive{ID: "x", UserID: u, Msats: 10, PaidMsats: -1, Currency: "USD", Amount: 1}.Movement(),
		"negative routing":  ledger.Settle{ID: "x", UserID: u, Currency: "USD", Amount: 5, Msats: 10, RoutingFeeMsats: -1}.Movement(),
		"fee above amount":  ledger.Settle{ID: "x", UserID: u, Currency: "USD", Amount: 5, FeeAmount: 6, Msats: 10}.Movement(),
		"negative paid out": ledger.Settle{ID: "x", UserID: u, Currency: "USD", Amount: 5, Msats: 10, PaidMsats: -1}.Movement(),
	}
	for name, m := range bad {
		if _, err := l.Post(ctx, m); !errors.Is(err, ledger.ErrInvalidMovement) {
			t.Errorf("%s: %v", name, err)
		}
	}
	audit(t, l, db)
}

// A settle whose node reports paying another amount than the invoice's
// moves system:node by what the node paid, fee included, the difference
// a cost (or, short, a gain) of system:fees as the routing fee is: the
// books match the node, the user's debit and the FX desk's side are as
// quoted.
func TestSettleBooksWhatTheNodePaid(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		for _, m := range []ledger.Movement{
			ledger.Deposit("deposit/1", alice, "USD", 1000, ""),
			ledger.Reserve("reserve/p1", alice, "USD", 500, "Transaction:1"),
			ledger.Settle{ID: "settle/p1", Reference: "Transaction:1", UserID: alice, Currency: "USD",
				Amount: 500, FeeAmount: 25, Msats: 4_000_000, RoutingFeeMsats: 1_000, PaidMsats: 4_000_700}.Movement(),
			ledger.Reserve("reserve/p2", alice, "USD", 500, "Transaction:2"),
			ledger.Settle{ID: "settle/p2", Reference: "Transaction:2", UserID: alice, Currency: "USD",
				Amount: 500, FeeAmount: 25, Msats: 4_000_000, RoutingFeeMsats: 1_000, PaidMsats: 3_999_000}.Movement(),
		} {
			if _, err := l.Post(ctx, m); err != nil {
				t.Fatalf("%s: %v", m.ID, err)
			}
			audit(t, l, db)
		}
		for acct, want := range map[ledger.Account]int64{
			ledger.Node: 4_000_700 + 1_000 + 3_999_000 + 1_000,
			// p1: its routing fee and the 700 paid over; p2: its routing
			// fee less the 1 000 paid short, nothing.
			ledger.Fees: -(1_000 + 700),
			ledger.FX:   -8_000_000,
		} {
			if got := balance(t, l, db, acct, "BTC"); got != want {
				t.Errorf("%s BTC = %d, want %d", acct, got, want)
			}
		}
	})
}

// TestPaymentFlows runs the flows the VASP records and audits the ledger
// after every step: money is never created or lost.
func TestPaymentFlows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		step := func(m ledger.Movement) {
			t.Helper()
			if _, err := l.Post(ctx, m); err != nil {
				t.Fatalf("%s: %v", m.ID, err)
			}
			audit(t, l, db)
		}
		// Incoming: 10,251,250 msats arrive, 251,250 fee, $10.00 credited.
		step(ledger.Receive{ID: "receive/h1", Reference: "Transaction:1", UserID: alice,
			Msats: 10_301_250, FeeMsats: 251_250, Currency: "USD", Amount: 1000}.Movement())
		// Outgoing that fails: reserve then release.
		step(ledger.Reserve("reserve/p1", alice, "USD", 300, "Transaction:2"))
		if got := balance(t, l, db, ledger.HoldAccount(alice), "USD"); got != 300 {
			t.Fatalf("held %d", got)
		}
		step(ledger.Release("release/p1", alice, "USD", 300, "Transaction:2"))
		// Outgoing that succeeds: $5.00 incl. 25c fee → 4,726,250 msats + 1,000 routing.
		step(ledger.Reserve("reserve/p2", alice, "USD", 500, "Transaction:3"))
		step(ledger.Settle{ID: "settle/p2", Reference: "Transaction:3", UserID: alice, Currency: "USD",
			Amount: 500, FeeAmount: 25, Msats: 4_726_250, RoutingFeeMsats: 1_000}.Movement())
		// A SAT holder paid in BTC: the FX desk converts msats to sats.
		step(ledger.Receive{ID: "receive/h2", UserID: alice, Msats: 1_999, Currency: "SAT", Amount: 1}.Movement())
		// An invoice of 2,000 msats overpaid with 3,500: alice gets the
		// quoted 1 SAT, the excess is the VASP's, in system:overpaid.
		step(ledger.Receive{ID: "receive/h3", UserID: alice, Msats: 2_000, PaidMsats: 3_500, Currency: "SAT", Amount: 1}.Movement())

		bs, err := l.UserBalances(ctx, db, alice)
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.UserBalance{{Currency: "SAT", Available: 2}, {Currency: "USD", Available: 500}}
		if fmt.Sprint(bs) != fmt.Sprint(want) {
			t.Fatalf("alice: %+v, want %+v", bs, want)
		}
		for acct, want := range map[ledger.Account]map[string]int64{
			ledger.Node:     {"BTC": -10_301_250 + 4_727_250 - 1_999 - 3_500},
			ledger.Fees:     {"BTC": 251_250 - 1_000, "USD": 25},
			ledger.FX:       {"BTC": 10_050_000 - 4_726_250 + 1_999 + 2_000, "USD": -1000 + 475, "SAT": -2},
			ledger.Overpaid: {"BTC": 1_500},
		} {
			for cur, amt := range want {
				if got := balance(t, l, db, acct, cur); got != amt {
					t.Errorf("%s %s = %d, want %d", acct, cur, got, amt)
				}
			}
		}
		// Settling more than is held is refused: holds cannot go negative.
		_, err = l.Post(ctx, ledger.Settle{ID: "settle/p3", UserID: alice, Currency: "USD", Amount: 1, Msats: 1}.Movement())
		if !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("settle without hold: %v", err)
		}

		hist, err := l.History(ctx, db, ledger.UserAccount(alice), "", 0, 4)
		if err != nil || len(hist) != 4 {
			t.Fatalf("history: %+v %v", hist, err)
		}
		hist = hist[1:] // the overpaid receive; the rest as before it
		older, err := l.History(ctx, db, ledger.UserAccount(alice), hist[2].MovementID, hist[2].Seq, 100)
		if err != nil || len(older) != 2 || older[1].MovementID != "receive/h1" || older[1].Amount != 1000 {
			t.Fatalf("older history: %+v %v", older, err)
		}
		audit(t, l, db)
	})
}

// TestReceiveOverpaid: an invoice settled for more than its amount posts
// what the node received, node −PaidMsats, and the excess to
// system:overpaid, in the one movement: the user is credited the quoted
// amount, fees and FX as for the invoice amount, and a replay moves
// nothing more.
func TestReceiveOverpaid(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		r := ledger.Receive{ID: "receive/over", Reference: "Transaction:over", UserID: alice,
			Msats: 10_301_250, PaidMsats: 15_000_000, FeeMsats: 251_250, Currency: "USD", Amount: 1000}
		m, err := l.Post(ctx, r.Movement())
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, p := range m.Postings {
			if p.Currency == ledger.BTC {
				sum += p.Amount
			}
		}
		if sum != 0 {
			t.Fatalf("BTC postings sum to %d: %+v", sum, m.Postings)
		}
		again, err := l.Post(ctx, r.Movement())
		if err != nil || !again.Replayed {
			t.Fatalf("replay: %+v %v", again, err)
		}
		for _, c := range []struct {
			acct ledger.Account
			cur  string
			want int64
		}{
			{ledger.Node, "BTC", -15_000_000},
			{ledger.Overpaid, "BTC", 15_000_000 - 10_301_250},
			{ledger.Fees, "BTC", 251_250},
			{ledger.FX, "BTC", 10_050_000},
			{ledger.FX, "USD", -1000},
			{ledger.UserAccount(alice), "USD", 1000},
		} {
			if got := balance(t, l, db, c.acct, c.cur); got != c.want {
				t.Errorf("%s %s = %d, want %d", c.acct, c.cur, got, c.want)
			}
		}
		// Paid exactly (PaidMsats the amount, or 0: not told) posts
		// nothing to system:overpaid.
		for i, paid := range []int64{0, 2_000} {
			if _, err := l.Post(ctx, ledger.Receive{ID: fmt.Sprintf("receive/exact%d", i), UserID: alice,
				Msats: 2_000, PaidMsats: paid, Currency: "SAT", Amount: 1}.Movement()); err != nil {
				t.Fatal(err)
			}
		}
		if got := balance(t, l, db, ledger.Overpaid, "BTC"); got != 15_000_000-10_301_250 {
			t.Errorf("system:overpaid after exact payments: %d", got)
		}
		if got := balance(t, l, db, ledger.Node, "BTC"); got != -15_000_000-4_000 {
			t.Errorf("system:node after exact payments: %d", got)
		}
		audit(t, l, db)
	})
}

// TestTransferInCallerTx: a failed Transfer leaves the caller's transaction
// usable (savepoint), and everything commits or rolls back together.
func TestTransferInCallerTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		if _, err := l.Post(ctx, ledger.Deposit("d1", alice, "USD", 100, "")); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := l.Transfer(ctx, tx, ledger.Reserve("r-big", alice, "USD", 1000, "")); !errors.Is(err, ledger.ErrInsufficientFunds) {
				return fmt.Errorf("want insufficient funds, got %v", err)
			}
			// The flow records the failure in the same transaction…
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('x', 'failed', 1)`); err != nil {
				return err
			}
			// …and may still move money.
			_, err := l.Transfer(ctx, tx, ledger.Reserve("r-small", alice, "USD", 60, ""))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 40 {
			t.Fatalf("alice %d", got)
		}
		// A caller's rollback takes the movement with it.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := l.Transfer(ctx, tx, ledger.Reserve("r-rolled-back", alice, "USD", 40, "")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, err := l.Get(ctx, db, "r-rolled-back"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("rolled-back movement exists: %v", err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 40 {
			t.Fatalf("alice after rollback %d", got)
		}
		audit(t, l, db)
	})
}

// TestTransferNoSavepoint: the same movements and answers as Transfer
// (recorded, replayed, refused for an overdraft or a conflicting replay);
// after an error the caller rolls back and nothing of it remains.
func TestTransferNoSavepoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		if _, err := l.Post(ctx, ledger.Deposit("d1", alice, "USD", 100, "")); err != nil {
			t.Fatal(err)
		}
		transfer := func(m ledger.Movement) (ledger.Movement, error) {
			var out ledger.Movement
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				out, err = l.TransferNoSavepoint(ctx, tx, m)
				return err
			})
			return out, err
		}
		first, err := transfer(ledger.Reserve("r1", alice, "USD", 60, "Transaction:1"))
		if err != nil || first.Replayed {
			t.Fatalf("reserve: %+v %v", first, err)
		}
		again, err := transfer(ledger.Reserve("r1", alice, "USD", 60, "Transaction:1"))
		if err != nil || !again.Replayed || !again.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if _, err := transfer(ledger.Reserve("r1", alice, "USD", 61, "Transaction:1")); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("conflicting replay: %v", err)
		}
		if _, err := transfer(ledger.Reserve("r2", alice, "USD", 41, "Transaction:2")); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("overdraft: %v", err)
		}
		if _, err := l.Get(ctx, db, "r2"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("refused movement exists: %v", err)
		}
		if _, err := transfer(ledger.Release("rel1", alice, "USD", 60, "Transaction:1")); err != nil {
			t.Fatal(err)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 100 {
			t.Fatalf("alice %d", got)
		}
		audit(t, l, db)
	})
}

// TestConcurrentDebitsNeverOverdraw: many goroutines reserve from one
// balance at once; exactly as many succeed as the balance covers.
func TestConcurrentDebitsNeverOverdraw(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		if _, err := l.Post(ctx, ledger.Deposit("d", alice, "USD", 100, "")); err != nil {
			t.Fatal(err)
		}
		const workers = 40
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each payment also credits a fee account and a second user,
				// so transactions touch several rows.
				_, err := l.Post(ctx, ledger.Reserve(fmt.Sprintf("r%d", i), alice, "USD", 7, ""))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ledger.ErrInsufficientFunds):
					refused.Add(1)
				default:
					t.Errorf("worker %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 14 || refused.Load() != workers-14 {
			t.Fatalf("%d succeeded, %d refused; want 14 and %d", ok.Load(), refused.Load(), workers-14)
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 2 {
			t.Fatalf("alice %d, want 2", got)
		}
		audit(t, l, db)
	})
}

// TestConcurrentReplays: the same movement posted by many goroutines at
// once is recorded once; every caller gets the same movement back.
func TestConcurrentReplays(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		const workers = 20
		var fresh atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := l.Post(ctx, ledger.Deposit("deposit/same", alice, "USD", 250, "wire-9"))
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if !m.Replayed {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("%d fresh recordings, want 1", fresh.Load())
		}
		if got := balance(t, l, db, ledger.UserAccount(alice), "USD"); got != 250 {
			t.Fatalf("alice %d, want 250", got)
		}
		audit(t, l, db)
	})
}

// TestConcurrentTransfersBetweenUsers shuffles money among users in both
// directions at once (lock-order and deadlock exercise); totals must hold.
func TestConcurrentTransfersBetweenUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		users := []string{vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser)}
		for i, u := range users {
			if _, err := l.Post(ctx, ledger.Deposit(fmt.Sprintf("d%d", i), u, "EUR", 50, "")); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to := users[i%3], users[(i+1+i/3)%3]
				if from == to {
					return
				}
				m := ledger.Movement{ID: fmt.Sprintf("t%d", i), Kind: "transfer", Postings: []ledger.Posting{
					{Account: ledger.UserAccount(from), Currency: "EUR", Amount: -20},
					{Account: ledger.UserAccount(to), Currency: "EUR", Amount: 20},
				}}
				if _, err := l.Post(ctx, m); err != nil && !errors.Is(err, ledger.ErrInsufficientFunds) {
					t.Errorf("transfer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		var total int64
		for _, u := range users {
			b := balance(t, l, db, ledger.UserAccount(u), "EUR")
			if b < 0 {
				t.Fatalf("negative balance %d", b)
			}
			total += b
		}
		if total != 150 {
			t.Fatalf("users hold %d EUR, want 150", total)
		}
		audit(t, l, db)
	})
}

func TestAppendOnlyAndOverflow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		if _, err := l.Post(ctx, ledger.Deposit("d1", alice, "USD", ledger.MaxBalance, "")); err != nil {
			t.Fatal(err)
		}
		_, err := l.Post(ctx, ledger.Deposit("d2", alice, "USD", 1, ""))
		if !errors.Is(err, ledger.ErrOverflow) {
			t.Fatalf("overflow: %v", err)
		}
		for _, q := range []string{
			`UPDATE ledger_postings SET amount = 1`,
			`DELETE FROM ledger_postings`,
			`UPDATE ledger_movements SET kind = 'x'`,
			`DELETE FROM ledger_movements`,
		} {
			if _, err := db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v", q, err)
			}
		}
		// The database itself refuses a negative balance row.
		if _, err := db.ExecContext(ctx, `UPDATE ledger_balances SET balance = -1`); err == nil {
			t.Error("negative balance row accepted")
		}
		audit(t, l, db)
	})
}

// Balances are capped at MaxBalance, so what many accounts hold together
// (a system account holds minus their sum) stays readable; a system
// account whose sum does leave the int64 range (or passes beyond it on
// the way) reads as ErrOverflow or its exact value, never a database error.
func TestBalanceCapKeepsSumsInRange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		users := []string{vaspd.NewID(vaspd.IDUser), vaspd.NewID(vaspd.IDUser)}
		for i, u := range users {
			if _, err := l.Post(ctx, ledger.Deposit(fmt.Sprintf("full-%d", i), u, "USD", ledger.MaxBalance, "")); err != nil {
				t.Fatal(err)
			}
			for _, amt := range []int64{1, math.MaxInt64 - ledger.MaxBalance, math.MaxInt64} {
				if _, err := l.Post(ctx, ledger.Deposit(fmt.Sprintf("more-%d-%d", i, amt), u, "USD", amt, "")); !errors.Is(err, ledger.ErrOverflow) {
					t.Fatalf("deposit of %d beyond the cap: %v, want ErrOverflow", amt, err)
				}
			}
			// What is above the cap can still be withdrawn from.
			if _, err := l.Post(ctx, ledger.Withdrawal(fmt.Sprintf("w-%d", i), u, "USD", 1, "")); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := balance(t, l, db, ledger.FiatRails, "USD"), -2*int64(ledger.MaxBalance)+2; got != want {
			t.Fatalf("fiat rails hold %d, want %d", got, want)
		}
		// System accounts are not capped: sums beyond int64, on the way or
		// at the end, are computed exactly.
		sys := func(id string, from, to ledger.Account, amt int64) {
			t.Helper()
			m := ledger.Movement{ID: id, Kind: "test", Postings: []ledger.Posting{
				{Account: from, Currency: "EUR", Amount: -amt}, {Account: to, Currency: "EUR", Amount: amt}}}
			if _, err := l.Post(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		sys("s1", ledger.FX, ledger.Fees, math.MaxInt64)
		sys("s2", ledger.FX, ledger.Fees, math.MaxInt64)
		if _, err := l.Balance(ctx, db, ledger.FX, "EUR"); !errors.Is(err, ledger.ErrOverflow) {
			t.Fatalf("FX beyond int64: %v, want ErrOverflow", err)
		}
		sys("s3", ledger.Node, ledger.FX, math.MaxInt64)
		if got := balance(t, l, db, ledger.FX, "EUR"); got != -math.MaxInt64 {
			t.Fatalf("FX holds %d, want %d", got, -math.MaxInt64)
		}
		audit(t, l, db)
	})
}
