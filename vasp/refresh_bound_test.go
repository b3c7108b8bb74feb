package vasp_test

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// The receiver of a held auto-refresh quote moves its price on a refresh
// (refresher's fee, in msats: on a receiver-locked quote the invoice, so
// our user's debit, grows with it; on a sender-locked one the payee is
// credited less). Its new terms are written only within the default
// tolerance of the terms the quote was made with (2 %): the platform
// showed its user those.
//
// Amounts: a receiver-locked quote of 900.00 EUR is an invoice of 90 000 000
// msats (the scripted receiver's 1 000 msats a cent), about 9 046 USD cents
// at the demo rates; a sender-locked one of 100.00 USD is about 99 500 000
// msats, which the receiver converts to about 99 500 EUR cents.
const (
	boundReceiving = 90_000    // EUR cents, receiver-locked
	boundSending   = 10_000    // USD cents, sender-locked
	riseWithin     = 900_000   // msats: +1 % on the receiver-locked quote
	riseBeyond     = 4_500_000 // msats: +5 %
	cutWithin      = 1_000_000 // msats: −1 % on the sender-locked quote
	cutBeyond      = 5_000_000 // msats: −5 %
)

func (r *refresher) autoQuoteSide(t *testing.T, side string, amount int64) vasp.Quote {
	t.Helper()
	q, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: r.lookup(t).ID, SendingCurrency: "USD",
		ReceivingCurrency: "EUR", LockedSide: side, Amount: amount, AutoRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// refusedAndStopped asserts that q, whose receiver moved its price beyond
// the tolerance at its refresh, kept its terms, was counted, no longer
// auto-refreshes, and that its receiver is sent no more payreqs for it
// until it expires; it then executes with the terms it was made with.
func (r *refresher) refusedAndStopped(t *testing.T, q vasp.Quote) {
	t.Helper()
	if n := r.round(t, r.s); n != 0 {
		t.Fatalf("refreshed %d quotes at a price beyond the tolerance", n)
	}
	got := r.get(t, q.ID)
	sameTerms(t, got, q)
	if got.ReceivingAmount != q.ReceivingAmount || got.Fee != q.Fee || got.Status != vasp.QuotePending {
		t.Fatalf("terms changed: %+v, were %+v", got, q)
	}
	if r.payreqs.Load() != 2 || r.outcomes("refused_price") != 1 || r.outcomes("refreshed") != 0 {
		t.Fatalf("%d payreqs, refused_price %v, refreshed %v", r.payreqs.Load(), r.outcomes("refused_price"), r.outcomes("refreshed"))
	}
	if got.AutoRefresh || got.AutoRefreshStopped != vasp.RefreshStoppedPriceChanged {
		t.Fatalf("after its refresh was refused the quote says autoRefresh %v, stopped %q; want false, %s", got.AutoRefresh, got.AutoRefreshStopped, vasp.RefreshStoppedPriceChanged)
	}
	// No retry storm: the receiver is not asked again on later passes.
	for r.w.clock.Now().Before(q.ExpiresAt.Add(10 * time.Second)) {
		r.w.clock.Advance(5 * time.Second)
		r.round(t, r.s)
	}
	if r.payreqs.Load() != 2 || r.outcomes("refused_price") != 1 {
		t.Fatalf("%d payreqs after the refusal, refused_price %v", r.payreqs.Load(), r.outcomes("refused_price"))
	}
	if got := r.get(t, q.ID); got.Status != vasp.QuoteExpired {
		t.Fatalf("status %s, want the quote to expire with its terms", got.Status)
	}
}

// A receiver-locked quote whose receiver asks 5 % more on its refresh:
// our user's debit would grow past the 2 % the platform may expect, so the
// new terms are refused; an execute before the expiry debits what was
// shown.
func TestAutoRefreshRefusesHigherDebit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs syncBuffer
		r := newRefresher(t, db, debugLog(&logs))
		q := r.autoQuoteSide(t, vasp.LockedReceiving, boundReceiving)
		r.fee.Store(riseBeyond)
		r.w.clock.Advance(35 * time.Second)
		r.refusedAndStopped(t, q)
		// One warning naming the quote and both debits; no payer data.
		const msg = "auto-refresh quote: new terms refused"
		if n := logs.count(t, slog.LevelWarn, msg); n != 1 {
			t.Fatalf("%d warnings, want 1:\n%s", n, logs.b.String())
		}
		line := logs.b.String()
		line = line[strings.Index(line, msg):]
		line = line[:strings.IndexByte(line, '\n')]
		for _, want := range []string{q.ID, `"was_debit":` + strconv.FormatInt(q.SendingAmount, 10), `"new_debit":`} {
			if !strings.Contains(line, want) {
				t.Fatalf("warning without %s: %s", want, line)
			}
		}
		for _, secret := range []string{"Alice", "alice"} {
			if strings.Contains(line, secret) {
				t.Fatalf("warning names the payer: %s", line)
			}
		}
	})
}

// A sender-locked quote whose receiver credits the payee 5 % less on its
// refresh: refused alike, though our user's debit stays the same.
func TestAutoRefreshRefusesSmallerCredit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q := r.autoQuoteSide(t, vasp.LockedSending, boundSending)
		r.fee.Store(cutBeyond)
		r.w.clock.Advance(35 * time.Second)
		r.refusedAndStopped(t, q)
		// The platform may still ask for a new quote at the new price,
		// which auto-refreshes as the request asked.
		nq, err := r.s.RefreshQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if nq.ID == q.ID || !nq.AutoRefresh || nq.ReceivingAmount >= q.ReceivingAmount || nq.SendingAmount != q.SendingAmount {
			t.Fatalf("new quote %+v, was %+v", nq, q)
		}
	})
}

// Within the tolerance, either side, the new terms are written.
func TestAutoRefreshWithinTolerance(t *testing.T) {
	for _, tc := range []struct {
		side        string
		amount, fee int64
	}{{vasp.LockedReceiving, boundReceiving, riseWithin}, {vasp.LockedSending, boundSending, cutWithin}} {
		t.Run(tc.side, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				r := newRefresher(t, db, nil)
				q := r.autoQuoteSide(t, tc.side, tc.amount)
				r.fee.Store(tc.fee)
				r.w.clock.Advance(35 * time.Second)
				if n := r.round(t, r.s); n != 1 {
					t.Fatalf("refreshed %d, want 1", n)
				}
				got := r.get(t, q.ID)
				if got.RefreshCount != 1 || got.PaymentHash == q.PaymentHash || !got.AutoRefresh || r.outcomes("refused_price") != 0 {
					t.Fatalf("refreshed quote %+v, was %+v", got, q)
				}
				worse := got.SendingAmount > q.SendingAmount
				if tc.side == vasp.LockedSending {
					worse = got.ReceivingAmount < q.ReceivingAmount && got.SendingAmount == q.SendingAmount
				}
				if !worse {
					t.Fatalf("the receiver's new price is not in the new terms: %+v, were %+v", got, q)
				}
			})
		})
	}
}

// The bound is the terms the quote was made with, not its last ones:
// refreshes each within 2 % of the one before cannot walk the price away
// from what the platform showed. A quote made before those terms were kept
// (its initial columns NULL, as migration 0616 leaves a quote refreshed
// before it) is bounded by the terms it holds at each refresh, and still
// refreshes.
func TestAutoRefreshBoundIsTheFirstTerms(t *testing.T) {
	for _, tc := range []struct {
		name        string
		forget      bool // the quote's first terms are NULL
		secondTaken bool
	}{{"first terms kept", false, false}, {"made before migration 0616", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				r := newRefresher(t, db, nil)
				q := r.autoQuoteSide(t, vasp.LockedReceiving, boundReceiving)
				if tc.forget {
					if _, err := db.ExecContext(t.Context(), `UPDATE uma_quotes SET initial_sending_amount = NULL, initial_receiving_amount = NULL
						WHERE id = $1`, q.ID); err != nil {
						t.Fatal(err)
					}
				}
				r.fee.Store(1_500_000) // +1.7 %
				r.w.clock.Advance(35 * time.Second)
				if n := r.round(t, r.s); n != 1 {
					t.Fatalf("first refresh: %d", n)
				}
				first := r.get(t, q.ID)
				r.fee.Store(3_000_000) // +1.6 % on the first refresh, +3.3 % on the quote
				r.w.clock.Advance(35 * time.Second)
				n := r.round(t, r.s)
				got := r.get(t, q.ID)
				if !tc.secondTaken {
					if n != 0 || r.outcomes("refused_price") != 1 || got.AutoRefresh {
						t.Fatalf("second refresh, +3.3 %% on the quote's first terms: refreshed %d, refused %v", n, r.outcomes("refused_price"))
					}
					sameTerms(t, got, first)
					return
				}
				if n != 1 || got.RefreshCount != 2 || got.SendingAmount <= first.SendingAmount {
					t.Fatalf("second refresh of a quote without first terms: refreshed %d, %+v", n, got)
				}
				r.fee.Store(8_000_000) // +5.4 % on the second refresh
				r.w.clock.Advance(35 * time.Second)
				if n := r.round(t, r.s); n != 0 || r.outcomes("refused_price") != 1 {
					t.Fatalf("third refresh, +5.4 %%: refreshed %d, refused %v", n, r.outcomes("refused_price"))
				}
				sameTerms(t, r.get(t, q.ID), got)
			})
		})
	}
}

// POST /quotes/{id}/refresh makes a new quote, whose terms the platform
// shows anew: not bounded by the old quote's, and the bound of its own
// auto-refreshes.
func TestManualRefreshIsItsOwnBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q := r.autoQuoteSide(t, vasp.LockedReceiving, boundReceiving)
		r.fee.Store(riseBeyond)
		nq, err := r.s.RefreshQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if nq.ID == q.ID || !nq.AutoRefresh || nq.SendingAmount <= q.SendingAmount {
			t.Fatalf("manual refresh at +5 %%: %+v, was %+v", nq, q)
		}
		r.w.clock.Advance(35 * time.Second)
		if n := r.round(t, r.s); n != 1 || r.get(t, nq.ID).RefreshCount != 1 || r.outcomes("refused_price") != 0 {
			t.Fatalf("the new quote at its own price: refreshed %d, refused %v", n, r.outcomes("refused_price"))
		}
		r.fee.Store(2 * riseBeyond) // +5 % on the new quote
		r.w.clock.Advance(35 * time.Second)
		if n := r.round(t, r.s); n != 0 || r.outcomes("refused_price") != 1 {
			t.Fatalf("+5 %% on the new quote: refreshed %d, refused %v, failed %v, payreqs %d, %+v", n, r.outcomes("refused_price"), r.outcomes("failed"), r.payreqs.Load(), r.get(t, nq.ID))
		}
	})
}

// QuoteRefreshMaxChangeBps sets the tolerance: 10 % lets the 5 % rise
// through, 0.01 % stops the 1 % one.
func TestAutoRefreshMaxChangeOption(t *testing.T) {
	for _, tc := range []struct {
		bps, fee int64
		taken    bool
	}{{1000, riseBeyond, true}, {1, riseWithin, false}} {
		t.Run(strconv.FormatInt(tc.bps, 10), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				r := newRefresher(t, db, func(o *vasp.Options) { o.QuoteRefreshMaxChangeBps = tc.bps })
				q := r.autoQuoteSide(t, vasp.LockedReceiving, boundReceiving)
				r.fee.Store(tc.fee)
				r.w.clock.Advance(35 * time.Second)
				n := r.round(t, r.s)
				if got := r.get(t, q.ID); (n == 1) != tc.taken || (got.RefreshCount == 1) != tc.taken || got.AutoRefresh != tc.taken {
					t.Fatalf("refreshed %d, quote %+v", n, got)
				}
			})
		})
	}
}

// A refresh refused while the quote is executed changes nothing: the
// execute pays the terms it read, and the refusal's stop, conditional on
// the quote still pending with those terms, is not written (superseded).
func TestRefusedRefreshDuringExecute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuoteSide(t, vasp.LockedReceiving, boundReceiving)
		r.fee.Store(riseBeyond)
		tr := r.executeDuringRefresh(t, q.ID)
		got := r.get(t, q.ID)
		sameTerms(t, got, q)
		if got.Status != vasp.QuoteCompleted || !got.AutoRefresh {
			t.Fatalf("quote after the refused refresh: %+v", got)
		}
		r.paidTerms(t, tr, q, 100_000)
		if r.outcomes("superseded") != 1 || r.outcomes("refused_price") != 0 {
			t.Fatalf("superseded %v, refused_price %v", r.outcomes("superseded"), r.outcomes("refused_price"))
		}
	})
}
