package vasp_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// POST /quotes/{id}/refresh replaces the quote: of a quote and the new
// quotes made from it, one at most is ever paid.

// plainQuote quotes alice paying 900 EUR cents, receiver-locked, without
// auto-refresh.
func (r *refresher) plainQuote(t *testing.T) vasp.Quote {
	t.Helper()
	q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// paidOnce asserts that alice was debited exactly one of the quotes ids,
// and that the books balance.
func (r *refresher) paidOnce(t *testing.T, funded int64, ids ...string) {
	t.Helper()
	var paid []string
	var debit int64
	for _, id := range ids {
		if id == "" {
			continue
		}
		q := r.get(t, id)
		if q.Status == vasp.QuoteCompleted || q.Status == vasp.QuoteProcessing {
			paid = append(paid, id)
			debit += q.SendingAmount
		}
	}
	if len(paid) != 1 {
		t.Fatalf("quotes paid: %v, want one of %v", paid, ids)
	}
	if got := balance(t, r.w.db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != funded-debit {
		t.Fatalf("alice holds %d, want %d - %d", got, funded, debit)
	}
	if err := ledger.New(r.w.db, nil).Check(t.Context(), r.w.db); err != nil {
		t.Fatal(err)
	}
}

// A refresh whose payreq is out while the quote is executed and paid is
// refused, 409 QUOTE_ALREADY_EXECUTED: it made a new quote all the same,
// which paid the same payment a second time when executed.
func TestRefreshOfQuoteExecutedMeanwhileRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.plainQuote(t)
		var execErr error
		during := func() {
			r.during.Store(nil)
			_, execErr = r.s.ExecuteQuote(t.Context(), q.ID, "")
		}
		r.during.Store(&during)
		nq, err := r.s.RefreshQuote(t.Context(), q.ID)
		if execErr != nil {
			t.Fatal(execErr)
		}
		if err == nil {
			_, xerr := r.s.ExecuteQuote(t.Context(), nq.ID, "")
			t.Errorf("refresh of a quote paid meanwhile made quote %s, whose execute answered %v", nq.ID, xerr)
		}
		r.paidOnce(t, 100_000, q.ID, nq.ID)
		wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteAlreadyExecuted)
	})
}

// A refresh committed between an execute's read of the quote and its claim
// leaves the old quote unpayable: the execute is refused 409 QUOTE_EXPIRED,
// naming the new quote, and the new quote pays.
func TestRefreshBetweenExecuteReadAndClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.plainQuote(t)
		var nq vasp.Quote
		var once sync.Once
		r.s.SetBeforeClaim(func(string) {
			once.Do(func() {
				var err error
				if nq, err = r.s.RefreshQuote(t.Context(), q.ID); err != nil {
					t.Errorf("refresh: %v", err)
				}
			})
		})
		_, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		if err == nil {
			_, xerr := r.s.ExecuteQuote(t.Context(), nq.ID, "")
			t.Errorf("the refreshed quote %s paid, and then its new quote %s answered %v", q.ID, nq.ID, xerr)
		}
		r.paidOnceAfter(t, q.ID, nq.ID)
		wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteExpired)
	})
}

// paidOnceAfter executes the new quote nid of old (refreshed) and asserts
// it alone paid.
func (r *refresher) paidOnceAfter(t *testing.T, old, nid string) {
	t.Helper()
	if _, err := r.s.ExecuteQuote(t.Context(), nid, ""); err != nil && r.get(t, old).TransactionID == "" {
		t.Fatalf("the new quote: %v", err)
	}
	r.paidOnce(t, 100_000, old, nid)
}

// After a refresh the old quote is neither executed (409 QUOTE_EXPIRED)
// nor refreshed again (409 CONFLICT, naming its new quote): each would
// leave two quotes able to pay the same payment.
func TestRefreshReplacesTheQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.plainQuote(t)
		nq, err := r.s.RefreshQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old := r.get(t, q.ID); old.Status != vasp.QuoteExpired {
			t.Errorf("the refreshed quote is %s, want EXPIRED", old.Status)
		}
		_, err = r.s.ExecuteQuote(t.Context(), q.ID, "")
		if err == nil {
			t.Errorf("the refreshed quote paid")
		} else {
			wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteExpired)
		}
		again, err := r.s.RefreshQuote(t.Context(), q.ID)
		if err == nil {
			t.Errorf("refreshed twice: quotes %s and %s", nq.ID, again.ID)
		} else {
			wantStatus(t, err, http.StatusConflict, vaspd.CodeConflict)
		}
		r.paidOnceAfter(t, q.ID, nq.ID)
		if again.ID != "" {
			if _, err := r.s.ExecuteQuote(t.Context(), again.ID, ""); err == nil {
				t.Fatalf("the second refresh's quote %s paid too", again.ID)
			}
		}
	})
}

// Executes and refreshes of the same quotes at once, then every new quote
// executed: one quote of each is paid.
func TestExecuteRacingManualRefresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		const funded = 1_000_000
		r.fund(t, funded)
		quotes := make([]vasp.Quote, 8)
		for i := range quotes {
			quotes[i] = r.plainQuote(t)
		}
		news := make([]string, len(quotes))
		var wg sync.WaitGroup
		for i, q := range quotes {
			wg.Go(func() { _, _ = r.s.ExecuteQuote(t.Context(), q.ID, "") })
			wg.Go(func() {
				if nq, err := r.s.RefreshQuote(t.Context(), q.ID); err == nil {
					news[i] = nq.ID
				}
			})
		}
		wg.Wait()
		var debited int64
		for i, q := range quotes {
			if news[i] != "" {
				_, _ = r.s.ExecuteQuote(t.Context(), news[i], "")
			}
			n := 0
			for _, id := range []string{q.ID, news[i]} {
				if id == "" {
					continue
				}
				if got := r.get(t, id); got.Status == vasp.QuoteCompleted {
					n++
					debited += got.SendingAmount
				}
			}
			if n != 1 {
				t.Errorf("quote %s and its refresh %q: %d paid", q.ID, news[i], n)
			}
		}
		if got := balance(t, db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != funded-debited {
			t.Fatalf("alice holds %d, want %d - %d", got, funded, debited)
		}
	})
}
