package vasp_test

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// refresher is a sending VASP on the world's fake clock whose quotes may
// auto-refresh, paying the scripted receiver of h. The receiver's invoices
// live a minute of the fake clock, and it charges fee msats on top of its
// conversion (1 EUR cent = 1000 msats), so a refresh after a change of fee
// gives other terms.
type refresher struct {
	*hostile
	reg     *prometheus.Registry
	payreqs atomic.Int64 // payreqs the receiver was sent
	fee     atomic.Int64 // the receiver's fee, msats
	fail    atomic.Bool  // the receiver answers 503
	// during, if set, runs when a payreq arrives, before it is answered.
	during atomic.Pointer[func()]
	// life is how long the receiver's invoices live; 0: a minute.
	life atomic.Int64
}

// refreshFee is the fee the receiver charges on a refresh in the tests
// below, msats: on a quote of 900 EUR cents (900 000 msats) the debit grows
// from 91 to 92 USD cents, within the default bound of a refresh (2 %,
// refresh_bound_test.go for beyond).
const refreshFee = 10_000

func newRefresher(t *testing.T, db *store.DB, tune func(*vasp.Options)) *refresher {
	t.Helper()
	r := &refresher{hostile: newHostile(t, db), reg: prometheus.NewRegistry()}
	r.s = r.service(t, tune)
	r.payreq = r.answer(t, r.hostile)
	return r
}

// answer is h's honest answer to a payreq, as the refresher's receiver
// scripts it (counting it in r.payreqs): any receiver of r's world may
// give it.
func (r *refresher) answer(t *testing.T, h *hostile) func(rw http.ResponseWriter, pr *uma.PayRequest) {
	return func(rw http.ResponseWriter, pr *uma.PayRequest) {
		r.payreqs.Add(1)
		if f := r.during.Load(); f != nil {
			(*f)()
		}
		if r.fail.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fee := r.fee.Load()
		amount, msats := pr.Amount, pr.Amount*1000+fee // receiver-locked: amount in EUR cents
		if pr.SendingCurrency == "" {
			msats, amount = pr.Amount, (pr.Amount-fee)/1000 // sender-locked: msats
		}
		// Stored in a transaction, as vaspd's receiver does: many payreqs
		// at once would otherwise busy-wait on SQLite holding pooled
		// connections.
		inv, err := r.w.node.SignInvoice(lightning.InvoiceRequest{AmountMsat: msats,
			Expiry:          time.Until(r.w.clock.Now().Add(cmp.Or(time.Duration(r.life.Load()), time.Minute))).Round(time.Second),
			DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil))})
		if err == nil {
			err = r.w.db.InTx(context.Background(), func(tx *store.Tx) error { return r.w.node.SaveInvoice(context.Background(), tx, inv) })
		}
		if err != nil {
			t.Error(err)
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		resp := &uma.PayReqResponse{PR: inv.PaymentRequest,
			Converted: &uma.Converted{Amount: amount, CurrencyCode: "EUR", Decimals: 2, Multiplier: 1000, Fee: fee},
			PayeeData: &uma.PayeeData{Identifier: "$bob@" + h.domain, Compliance: &uma.CompliancePayeeData{NodePubKey: h.nodeKey}}}
		_ = resp.Sign(h.keys.Signing, pr.PayerData.Identifier, time.Now())
		b, _ := resp.MarshalJSON()
		_, _ = rw.Write(b)
	}
}

// service is another process of the sending VASP (the same database and
// fake clock), refreshing with a 30 s lead, a 1 h hold and 5 s passes. Its
// quotes expire a second before their minute-long invoices (the default
// margin would take a quarter of the minute): the timings below are the
// refresher's, about the quote's last 30 s, not the margin's
// (quote_margin_test.go).
func (r *refresher) service(t *testing.T, tune func(*vasp.Options)) *vasp.Service {
	return r.w.service(t, func(o *vasp.Options) {
		o.QuoteRefreshLead, o.QuoteRefreshMaxHold, o.QuoteRefreshEvery = 30*time.Second, time.Hour, 5*time.Second
		o.QuoteExpiryMargin = time.Second
		o.Registerer = r.reg
		if tune != nil {
			tune(o)
		}
	})
}

// autoQuote quotes alice paying amount EUR cents, receiver-locked, with
// auto-refresh on.
func (r *refresher) autoQuote(t *testing.T, amount int64) vasp.Quote {
	t.Helper()
	q, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: r.lookup(t).ID, SendingCurrency: "USD",
		ReceivingCurrency: "EUR", LockedSide: vasp.LockedReceiving, Amount: amount, AutoRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if !q.AutoRefresh || q.RefreshCount != 0 || !q.RefreshedAt.IsZero() {
		t.Fatalf("new quote: autoRefresh %v, refreshCount %d, refreshedAt %v", q.AutoRefresh, q.RefreshCount, q.RefreshedAt)
	}
	return q
}

func (r *refresher) round(t *testing.T, s *vasp.Service) int {
	t.Helper()
	n, err := s.RefreshRound(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *refresher) get(t *testing.T, id string) vasp.Quote {
	t.Helper()
	q, err := r.s.GetQuote(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// outcomes is vaspd_quote_refreshes_total{outcome} (0 when absent).
func (r *refresher) outcomes(outcome string) float64 {
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "vaspd_quote_refreshes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// sameTerms asserts got still carries q's terms.
func sameTerms(t *testing.T, got, q vasp.Quote) {
	t.Helper()
	if got.PaymentHash != q.PaymentHash || got.Invoice != q.Invoice || got.SendingAmount != q.SendingAmount ||
		got.Msats != q.Msats || !got.ExpiresAt.Equal(q.ExpiresAt) || got.RefreshCount != q.RefreshCount {
		t.Fatalf("terms changed: %+v, were %+v", got, q)
	}
}

// paidTerms asserts that tr paid quote q's terms, and that the books
// balance with alice holding funded less what tr debited.
func (r *refresher) paidTerms(t *testing.T, tr vasp.Transaction, q vasp.Quote, funded int64) {
	t.Helper()
	if tr.Status != vasp.StatusCompleted || tr.PaymentHash != q.PaymentHash || tr.Invoice != q.Invoice ||
		tr.Amount != q.SendingAmount || tr.Fee != q.Fee || tr.Msats != q.Msats || tr.CounterAmount != q.ReceivingAmount {
		t.Fatalf("transaction %+v does not pay the quote's terms %+v", tr, q)
	}
	if got := balance(t, r.w.db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != funded-q.SendingAmount {
		t.Fatalf("alice holds %d, want %d - %d", got, funded, q.SendingAmount)
	}
	if err := ledger.New(r.w.db, nil).Check(t.Context(), r.w.db); err != nil {
		t.Fatal(err)
	}
}

// A quote asked to auto-refresh, held past the point its invoice is
// about to expire, gets new terms under the same id: a new invoice, the
// receiver's new fee priced in, a count of 1; executed after the first
// invoice expired, it pays the new terms, debiting the user those.
func TestAutoRefreshKeepsTheQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		if n := r.round(t, r.s); n != 0 || r.payreqs.Load() != 1 {
			t.Fatalf("a fresh quote refreshed: %d, %d payreqs", n, r.payreqs.Load())
		}
		r.fee.Store(refreshFee)
		r.w.clock.Advance(35 * time.Second) // 25 s left: within the 30 s lead
		if n := r.round(t, r.s); n != 1 {
			t.Fatalf("refreshed %d, want 1", n)
		}
		got := r.get(t, q.ID)
		if got.ID != q.ID || got.Status != vasp.QuotePending || got.PaymentHash == q.PaymentHash || got.Invoice == q.Invoice {
			t.Fatalf("refreshed quote %+v, was %+v", got, q)
		}
		if got.RefreshCount != 1 || !got.RefreshedAt.Equal(r.w.clock.Now().UTC().Truncate(time.Microsecond)) || !got.AutoRefresh {
			t.Fatalf("refreshCount %d, refreshedAt %v (now %v), autoRefresh %v", got.RefreshCount, got.RefreshedAt, r.w.clock.Now(), got.AutoRefresh)
		}
		if got.Msats != q.Msats+refreshFee || got.ReceiverFeeMsats != refreshFee || got.SendingAmount <= q.SendingAmount ||
			got.ReceivingAmount != 900 || !got.ExpiresAt.After(q.ExpiresAt) || !got.CreatedAt.Equal(q.CreatedAt) {
			t.Fatalf("new terms %+v, old %+v", got, q)
		}
		if r.outcomes("refreshed") != 1 {
			t.Fatalf("refreshed counted %v", r.outcomes("refreshed"))
		}
		r.w.clock.Set(q.ExpiresAt.Add(time.Second)) // the first invoice expired
		tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		r.paidTerms(t, tr, got, 100_000)
	})
}

// A quote that did not ask is never refreshed: it expires with its invoice.
func TestAutoRefreshOnlyWhenAsked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
		if err != nil {
			t.Fatal(err)
		}
		if q.AutoRefresh {
			t.Fatal("autoRefresh on by default")
		}
		for range 20 {
			r.w.clock.Advance(5 * time.Second)
			r.round(t, r.s)
		}
		got := r.get(t, q.ID)
		sameTerms(t, got, q)
		if got.Status != vasp.QuoteExpired || r.payreqs.Load() != 1 {
			t.Fatalf("status %s, %d payreqs", got.Status, r.payreqs.Load())
		}
	})
}

// Refreshing stops at the maximum hold from the quote's creation: the
// quote then expires with its last invoice, and execute says so.
func TestAutoRefreshStopsAfterMaxHold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.s = r.service(t, func(o *vasp.Options) { o.QuoteRefreshMaxHold = 2 * time.Minute })
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		last := time.Time{}
		for r.w.clock.Now().Before(q.CreatedAt.Add(5 * time.Minute)) {
			r.w.clock.Advance(5 * time.Second)
			if r.round(t, r.s) == 1 {
				last = r.w.clock.Now()
			}
		}
		got := r.get(t, q.ID)
		if got.RefreshCount < 3 || int64(got.RefreshCount) != r.payreqs.Load()-1 {
			t.Fatalf("%d refreshes, %d payreqs", got.RefreshCount, r.payreqs.Load())
		}
		if !last.Before(q.CreatedAt.Add(2*time.Minute)) || !got.RefreshedAt.Equal(last.UTC().Truncate(time.Microsecond)) {
			t.Fatalf("last refresh at %v, quote created %v, refreshedAt %v", last, q.CreatedAt, got.RefreshedAt)
		}
		if got.Status != vasp.QuoteExpired {
			t.Fatalf("status %s", got.Status)
		}
		_, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		wantStatus(t, err, http.StatusConflict, "QUOTE_EXPIRED")
	})
}

// A receiver that fails the refresh leaves the quote's terms as they were;
// the refresher tries again a pass later (5 s), not sooner, until the
// invoice expires, and counts each outcome.
func TestAutoRefreshFailingReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q := r.autoQuote(t, 900)
		r.fail.Store(true)
		r.w.clock.Advance(35 * time.Second)
		r.round(t, r.s)
		sameTerms(t, r.get(t, q.ID), q)
		if r.payreqs.Load() != 2 || r.outcomes("failed") != 1 {
			t.Fatalf("%d payreqs, %v failures counted", r.payreqs.Load(), r.outcomes("failed"))
		}
		r.round(t, r.s)
		r.w.clock.Advance(4 * time.Second)
		r.round(t, r.s)
		if r.payreqs.Load() != 2 {
			t.Fatalf("%d payreqs within a pass of the failure", r.payreqs.Load())
		}
		r.w.clock.Advance(time.Second)
		r.round(t, r.s)
		if r.payreqs.Load() != 3 || r.outcomes("failed") != 2 {
			t.Fatalf("%d payreqs a pass after the failure, %v failures counted", r.payreqs.Load(), r.outcomes("failed"))
		}
		sameTerms(t, r.get(t, q.ID), q)
		r.fail.Store(false)
		r.w.clock.Advance(5 * time.Second)
		if n := r.round(t, r.s); n != 1 || r.get(t, q.ID).RefreshCount != 1 {
			t.Fatalf("refreshed %d once the receiver answered", n)
		}
		// Failing until the new invoice expires: one attempt a pass, none
		// after.
		got := r.get(t, q.ID)
		r.fail.Store(true)
		before := r.payreqs.Load()
		for r.w.clock.Now().Before(got.ExpiresAt.Add(time.Minute)) {
			r.w.clock.Advance(time.Second)
			r.round(t, r.s)
		}
		// Due from 30 s before the expiry, one attempt every 5 s: 6 or 7.
		if n := r.payreqs.Load() - before; n < 6 || n > 7 {
			t.Fatalf("%d attempts while failing from the lead to the expiry", n)
		}
		sameTerms(t, r.get(t, q.ID), got)
	})
}

// A quote paying an UMA request cannot auto-refresh: its payreq names the
// request's invoice, which is the receiver's to issue once, and the quote
// expires with the request anyway. Refused before any payreq.
func TestAutoRefreshNotForUmaRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		req := r.umaRequest(t, nil)
		_, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: r.lookup(t).ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedReceiving, Amount: req.Amount, UmaRequestID: req.ID, AutoRefresh: true})
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeInvalidInput)
		if r.payreqs.Load() != 0 {
			t.Fatalf("%d payreqs sent", r.payreqs.Load())
		}
	})
}

// An execute that read the quote's terms before a refresh replaced them
// pays the current terms, never the invoice it read with the amounts it
// read: the claim is conditional on the payment hash read.
func TestExecuteAfterRefreshPaysNewTerms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		r.fee.Store(refreshFee)
		r.w.clock.Advance(35 * time.Second)
		var once sync.Once
		r.s.SetBeforeClaim(func(id string) {
			once.Do(func() {
				if n := r.round(t, r.s); n != 1 {
					t.Errorf("refreshed %d between the execute's read and claim", n)
				}
			})
		})
		tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		got := r.get(t, q.ID)
		if got.RefreshCount != 1 || got.PaymentHash == q.PaymentHash {
			t.Fatalf("not refreshed: %+v", got)
		}
		r.paidTerms(t, tr, got, 100_000)
		old, _ := lightning.ParseHash(q.PaymentHash)
		if p, err := r.w.node.TrackPayment(t.Context(), old); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("the first invoice was paid too: %+v %v", p, err)
		}
	})
}

// A refresh whose payreq is out while the quote is executed leaves the
// executed terms: its update finds the quote claimed and changes nothing.
func TestRefreshDuringExecuteKeepsExecutedTerms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		r.fee.Store(refreshFee)
		tr := r.executeDuringRefresh(t, q.ID)
		got := r.get(t, q.ID)
		if got.RefreshCount != 0 || got.Status != vasp.QuoteCompleted {
			t.Fatalf("quote after the refresh: %+v", got)
		}
		sameTerms(t, got, q)
		r.paidTerms(t, tr, q, 100_000)
		if r.outcomes("superseded") != 1 {
			t.Fatalf("superseded counted %v", r.outcomes("superseded"))
		}
	})
}

// executeDuringRefresh makes quote id due, runs a refresh round during
// whose payreq the quote is executed, and returns the execute's
// transaction: the round must refresh nothing and the execute succeed.
func (r *refresher) executeDuringRefresh(t *testing.T, id string) vasp.Transaction {
	t.Helper()
	r.w.clock.Advance(35 * time.Second)
	var tr vasp.Transaction
	var execErr error
	during := func() {
		r.during.Store(nil)
		tr, execErr = r.s.ExecuteQuote(t.Context(), id, "")
	}
	r.during.Store(&during)
	if n := r.round(t, r.s); n != 0 {
		t.Fatalf("refreshed %d executed quotes", n)
	}
	if execErr != nil {
		t.Fatal(execErr)
	}
	return tr
}

// Executes and refreshes at once, on quotes all due, from two processes:
// each quote is paid once, with the terms it holds in the end, and alice
// is debited exactly those.
func TestExecuteRacingRefresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		other := r.service(t, nil)
		const funded = 1_000_000
		r.fund(t, funded)
		var quotes []vasp.Quote
		for range 12 {
			quotes = append(quotes, r.autoQuote(t, 900))
		}
		r.fee.Store(refreshFee)
		r.w.clock.Advance(35 * time.Second)
		var wg sync.WaitGroup
		txs := make([]vasp.Transaction, len(quotes))
		for i, q := range quotes {
			wg.Go(func() {
				// Spread over the refreshes' payreqs and updates, so that
				// some executes read before a refresh and claim after it.
				time.Sleep(time.Duration(i) * 2 * time.Millisecond)
				tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
				if err != nil {
					t.Errorf("execute %s: %v", q.ID, err)
				}
				txs[i] = tr
			})
		}
		for _, s := range []*vasp.Service{r.s, other} {
			wg.Go(func() {
				if _, err := s.RefreshRound(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var debited int64
		refreshed := 0
		for i, q := range quotes {
			got := r.get(t, q.ID)
			tr := txs[i]
			if got.Status != vasp.QuoteCompleted || got.TransactionID != tr.ID || tr.PaymentHash != got.PaymentHash ||
				tr.Amount != got.SendingAmount || tr.Msats != got.Msats || tr.Status != vasp.StatusCompleted {
				t.Fatalf("quote %+v paid by %+v", got, tr)
			}
			debited += tr.Amount
			refreshed += got.RefreshCount
		}
		t.Logf("%d of %d quotes refreshed before their execute", refreshed, len(quotes))
		if got := balance(t, db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != funded-debited {
			t.Fatalf("alice holds %d, want %d - %d", got, funded, debited)
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}

// Two processes refreshing at once refresh a quote once per due time.
func TestTwoRefreshersOncePerDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		other := r.service(t, nil)
		q, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: r.lookup(t).ID, SendingCurrency: "USD",
			ReceivingCurrency: "EUR", LockedSide: vasp.LockedSending, Amount: 1000, AutoRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		for due := 1; due <= 3; due++ {
			r.w.clock.Advance(35 * time.Second)
			var wg sync.WaitGroup
			var n atomic.Int64
			for _, s := range []*vasp.Service{r.s, other, r.s, other} {
				wg.Go(func() {
					k, err := s.RefreshRound(t.Context())
					if err != nil {
						t.Error(err)
					}
					n.Add(int64(k))
				})
			}
			wg.Wait()
			got := r.get(t, q.ID)
			if n.Load() != 1 || got.RefreshCount != due || r.payreqs.Load() != int64(due+1) {
				t.Fatalf("due time %d: %d refreshed, count %d, %d payreqs", due, n.Load(), got.RefreshCount, r.payreqs.Load())
			}
		}
	})
}

// POST /quotes/{id}/refresh of an auto-refresh quote makes a new quote that
// auto-refreshes, and the old one no longer does: the platform holds the
// new one, and the receiver is not sent payreqs for both.
func TestRefreshByPlatformMovesAutoRefresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q := r.autoQuote(t, 900)
		nq, err := r.s.RefreshQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if nq.ID == q.ID || !nq.AutoRefresh {
			t.Fatalf("new quote %s, autoRefresh %v", nq.ID, nq.AutoRefresh)
		}
		old := r.get(t, q.ID)
		if old.AutoRefresh || old.AutoRefreshStopped != vasp.RefreshStoppedReplaced || nq.AutoRefreshStopped != "" {
			t.Fatalf("the old quote says autoRefresh %v, stopped %q (the new one %q); want false, %s", old.AutoRefresh, old.AutoRefreshStopped, nq.AutoRefreshStopped, vasp.RefreshStoppedReplaced)
		}
		r.w.clock.Advance(35 * time.Second)
		if n := r.round(t, r.s); n != 1 || r.get(t, nq.ID).RefreshCount != 1 || r.payreqs.Load() != 3 {
			t.Fatalf("refreshed %d, %d payreqs", n, r.payreqs.Load())
		}
		sameTerms(t, r.get(t, q.ID), old)
	})
}

// A retry of an auto-refresh quote's failed payment is the same request:
// it auto-refreshes too, and executing it pays its refreshed terms.
func TestRetryOfAutoRefreshQuoteAutoRefreshes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		r.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		r.w.node.SetFaults(embedded.Faults{})
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute with no route: %+v %v, want FAILED", tr, err)
		}
		nq, err := r.s.RetryQuote(t.Context(), q.ID, r.lookup(t).ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !nq.AutoRefresh || nq.OriginalQuoteID != q.ID || nq.RefreshCount != 0 {
			t.Fatalf("retry: autoRefresh %v, originalQuoteId %q, refreshCount %d", nq.AutoRefresh, nq.OriginalQuoteID, nq.RefreshCount)
		}
		r.fee.Store(refreshFee)
		r.w.clock.Advance(35 * time.Second) // 25 s left: within the 30 s lead
		if n := r.round(t, r.s); n != 1 {
			t.Fatalf("refreshed %d, want 1 (the retry; the failed quote is done)", n)
		}
		got := r.get(t, nq.ID)
		if got.RefreshCount != 1 || got.PaymentHash == nq.PaymentHash || got.ReceiverFeeMsats != refreshFee || got.OriginalQuoteID != q.ID {
			t.Fatalf("refreshed retry %+v, was %+v", got, nq)
		}
		if old := r.get(t, q.ID); old.RefreshCount != 0 || old.Status != vasp.QuoteFailed {
			t.Fatalf("the failed quote: status %s, refreshCount %d", old.Status, old.RefreshCount)
		}
		r.w.clock.Set(nq.ExpiresAt.Add(time.Second)) // the retry's first invoice expired
		tr, err = r.s.ExecuteQuote(t.Context(), nq.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		r.paidTerms(t, tr, got, 100_000)
	})
}
