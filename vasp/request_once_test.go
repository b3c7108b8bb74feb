package vasp_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// cents sets an UMA request's amount, in euro cents (h.umaRequest).
func cents(n int64) func(*uma.Invoice) { return func(inv *uma.Invoice) { inv.Amount = n } }

// payQuote is a quote paying UMA request r through s, with a new lookup.
func (h *hostile) payQuote(t *testing.T, s *vasp.Service, r vasp.UmaRequest) (vasp.Quote, error) {
	t.Helper()
	return s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: h.lookup(t).ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
		LockedSide: vasp.LockedReceiving, Amount: r.Amount, UmaRequestID: r.ID})
}

// wantPaidBy asserts err is the 409 refusing to pay an UMA request that
// quote paidBy pays, naming that quote.
func wantPaidBy(t *testing.T, err error, paidBy string) {
	t.Helper()
	wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteAlreadyExecuted)
	if !strings.Contains(err.Error(), paidBy) {
		t.Fatalf("%v does not name quote %s", err, paidBy)
	}
}

// completedQuotesOf counts the COMPLETED quotes naming UMA request id.
func completedQuotesOf(t *testing.T, db *store.DB, id string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes WHERE status = 'COMPLETED' AND details LIKE $1`,
		`%"UmaRequestID":"`+id+`"%`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An UMA request is paid once: of two quotes for it, the second executed
// is refused (409 naming the first), and once it is paid a new quote for
// it is refused before any payreq.
func TestUmaRequestPaidOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		r := h.umaRequest(t, cents(12_50))
		q1, err := h.payQuote(t, h.s, r)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := h.payQuote(t, h.s, r)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := h.s.ExecuteQuote(t.Context(), q1.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("first execute: %+v %v", tr, err)
		}
		tr, err := h.s.ExecuteQuote(t.Context(), q2.ID, "")
		if err == nil {
			t.Fatalf("a second quote for a paid UMA request paid it again: %s %s", tr.ID, tr.Status)
		}
		wantPaidBy(t, err, q1.ID)
		if q, err := h.s.GetQuote(t.Context(), q2.ID); err != nil || q.Status != vasp.QuotePending {
			t.Fatalf("refused quote reads %s (%v), want PENDING", q.Status, err)
		}
		if n := completedQuotesOf(t, db, r.ID); n != 1 {
			t.Fatalf("%d quotes paid UMA request %s, want 1", n, r.ID)
		}
		// Re-executing the quote that paid it answers its transaction.
		if tr, err := h.s.ExecuteQuote(t.Context(), q1.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute again of the paying quote: %+v %v", tr, err)
		}
		// A new quote, or a refresh of the open one, is refused up front.
		_, err = h.payQuote(t, h.s, r)
		wantPaidBy(t, err, q1.ID)
		_, err = h.s.RefreshQuote(t.Context(), q2.ID)
		wantPaidBy(t, err, q1.ID)
		// Another request of the same receiver is not concerned.
		other := h.umaRequest(t, cents(12_50))
		q3, err := h.payQuote(t, h.s, other)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := h.s.ExecuteQuote(t.Context(), q3.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute for another request: %+v %v", tr, err)
		}
	})
}

// Quotes for one UMA request executed at once: exactly one pays, the
// others are refused (409), whatever the database.
func TestUmaRequestConcurrentExecutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		r := h.umaRequest(t, cents(3_00))
		const n = 4
		quotes := make([]vasp.Quote, n)
		for i := range quotes {
			q, err := h.payQuote(t, h.s, r)
			if err != nil {
				t.Fatal(err)
			}
			quotes[i] = q
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		txs := make([]vasp.Transaction, n)
		start := make(chan struct{})
		for i, q := range quotes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				txs[i], errs[i] = h.s.ExecuteQuote(t.Context(), q.ID, "")
			}()
		}
		close(start)
		wg.Wait()
		paid := 0
		for i := range quotes {
			switch e := vaspd.AsError(errs[i]); {
			case errs[i] == nil && txs[i].Status == vasp.StatusCompleted:
				paid++
			case errs[i] != nil && e.Status == http.StatusConflict && e.Code == vaspd.CodeQuoteAlreadyExecuted:
			default:
				t.Fatalf("execute %d: %+v %v", i, txs[i], errs[i])
			}
		}
		if paid != 1 {
			t.Fatalf("%d of %d quotes for one UMA request paid, want 1", paid, n)
		}
		if got := completedQuotesOf(t, db, r.ID); got != 1 {
			t.Fatalf("%d quotes completed for UMA request %s, want 1", got, r.ID)
		}
	})
}

// A payment of an UMA request that FAILED does not keep it from being
// paid: the money was given back, and a new quote (or a retry) pays it.
// One in flight does, until it fails.
func TestUmaRequestPaidAfterFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		r := h.umaRequest(t, cents(5_00))
		q1, err := h.payQuote(t, h.s, r)
		if err != nil {
			t.Fatal(err)
		}
		h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		tr, err := h.s.ExecuteQuote(t.Context(), q1.ID, "")
		h.w.node.SetFaults(embedded.Faults{})
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute under a routing fault: %+v %v", tr, err)
		}

		// In flight: the request is being paid.
		q2, err := h.payQuote(t, h.s, r)
		if err != nil {
			t.Fatalf("a new quote after a FAILED payment: %v", err)
		}
		q3, err := h.payQuote(t, h.s, r)
		if err != nil {
			t.Fatal(err)
		}
		held := h.w.service(t, func(o *vasp.Options) { o.PayTimeout = 50 * time.Millisecond }) // on the world's clock
		h.w.node.SetFaults(embedded.Faults{HoldInFlight: true})
		tr, err = held.ExecuteQuote(t.Context(), q2.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			h.w.node.SetFaults(embedded.Faults{})
			t.Fatalf("execute held in flight: %+v %v", tr, err)
		}
		_, err = h.s.ExecuteQuote(t.Context(), q3.ID, "")
		wantPaidBy(t, err, q2.ID)
		_, err = h.payQuote(t, h.s, r)
		wantPaidBy(t, err, q2.ID)

		// It fails: the request may be paid again, by the open quote.
		h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		h.w.clock.Advance(time.Minute) // past the resolver's window
		deadline := time.Now().Add(10 * time.Second)
		for {
			if tr, err = h.s.GetTransaction(t.Context(), tr.ID); err != nil {
				t.Fatal(err)
			}
			if tr.Status != vasp.StatusProcessing || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
			held.ResolveOutgoing(t.Context())
		}
		h.w.node.SetFaults(embedded.Faults{})
		if tr.Status != vasp.StatusFailed {
			t.Fatalf("the held payment ended %s, want FAILED", tr.Status)
		}
		if tr, err := h.s.ExecuteQuote(t.Context(), q3.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute after two FAILED payments: %+v %v", tr, err)
		}
		if n := completedQuotesOf(t, db, r.ID); n != 1 {
			t.Fatalf("%d quotes paid UMA request %s, want 1", n, r.ID)
		}
		// A retry of a failed payment of the paid request is refused too.
		_, err = h.s.RetryQuote(t.Context(), q1.ID, h.lookup(t).ID, nil)
		wantPaidBy(t, err, q3.ID)
	})
}
