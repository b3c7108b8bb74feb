package vasp_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// invoiceExpiry is when q's invoice expires.
func invoiceExpiry(t *testing.T, q vasp.Quote) time.Time {
	t.Helper()
	inv, err := bolt11.Decode(q.Invoice, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	return inv.ExpiresAt()
}

// A quote expires quote-expiry-margin (30 s) before its receiver's invoice,
// so that an execute at its last second still reaches the receiver's node
// before the invoice does: the quote expired with its invoice, and one
// executed a second before the end started a payment that failed at the
// node, where the platform should have been told 409 QUOTE_EXPIRED (and an
// auto-refresh refreshed it in time). Of a short invoice, the margin is at
// most a quarter of the life it has left, so that the quote is still
// usable.
func TestQuoteExpiresBeforeItsInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, tc := range []struct {
			name    string
			invoice time.Duration
			margin  time.Duration // the setting; 0 the default
			want    time.Duration // the margin applied, 0 a quarter of the invoice's life left
		}{
			{"ten-minute invoice", 10 * time.Minute, 0, 30 * time.Second},
			{"ten-minute invoice, margin set", 10 * time.Minute, 2 * time.Minute, 2 * time.Minute},
			{"one-minute invoice", time.Minute, 0, 0},
			{"eight-second invoice", 8 * time.Second, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.w.service(t, func(o *vasp.Options) { o.Clock, o.QuoteExpiryMargin = vaspd.SystemClock{}, tc.margin })
				h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) { r.PR = h.invoice(t, pr.Amount, tc.invoice) })
				before := time.Now()
				q, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
					LockedSide: vasp.LockedSending, Amount: 1000})
				if err != nil {
					t.Fatal(err)
				}
				after := time.Now()
				exp := invoiceExpiry(t, q)
				got := exp.Sub(q.ExpiresAt)
				if tc.want != 0 && got != tc.want {
					t.Fatalf("quote expires %s before its invoice, want %s", got, tc.want)
				}
				// A quarter of the life left when the answer was read (to the
				// microsecond, as stored).
				if lo, hi := exp.Sub(after)/4, exp.Sub(before)/4+time.Microsecond; tc.want == 0 && (got < lo || got > hi) {
					t.Fatalf("quote expires %s before its invoice, want a quarter of its life left, %s to %s", got, lo, hi)
				}
				stored, err := s.GetQuote(t.Context(), q.ID)
				if err != nil || !stored.ExpiresAt.Equal(q.ExpiresAt) {
					t.Fatalf("stored quote expires %v (%v), want %v", stored.ExpiresAt, err, q.ExpiresAt)
				}
			})
		}
	})
}

// A plain Lightning Address's quote keeps the same margin before its
// invoice.
func TestPlainQuoteExpiresBeforeItsInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.edit(func(a *lnaddr) { a.invoice = func(req *lightning.InvoiceRequest) { req.Expiry = 10 * time.Minute } })
		q, err := a.quotePlain(t, a.lookupPlain(t), vasp.LockedReceiving, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got := invoiceExpiry(t, q).Sub(q.ExpiresAt); got != vasp.DefaultQuoteExpiryMargin {
			t.Fatalf("quote expires %s before its invoice, want %s", got, vasp.DefaultQuoteExpiryMargin)
		}
	})
}
