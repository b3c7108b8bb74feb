package e2e

import (
	"testing"
)

// TestPaymentRequestRequoted: a payer's VASP re-quoting a payment request
// while its first invoice is out is answered, and pays once. vasp1's
// platform quotes Bob's request for one payment naming Alice, refreshes
// the quote (POST /quotes/{id}/refresh: a new payreq for the same
// invoiceUUID) and executes the new one: Bob is credited once, the
// request PAID. A request for one payment naming no payer is re-quoted
// too: vasp1's payreq for it sent twice (a retry whose answer was lost)
// is invoiced twice.
func TestPaymentRequestRequoted(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		r := newRequestVASPs(t, db)
		a, b := r.a, r.b
		p := r.ask("ask-named")
		var fresh quoteResp
		q := r.quote(r.umaRequest(p))
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/refresh", nil, &fresh)
		r.pay(p, fresh.QuoteID, "pay-refreshed")

		var open paymentRequestResp
		b.mustCall("POST", "/payment-requests", map[string]any{"userId": r.bob.ID, "amount": 10_00, "currency": "EUR"},
			&open, "Idempotency-Key", "ask-open")
		for i := range 2 {
			if status, body := payreqFrom(t, a, b, "bob", open.InvoiceUUID); status != 200 {
				t.Fatalf("vasp1's payreq %d for the open request: %d %s", i+1, status, body)
			}
		}
		if got := b.balance(r.bob.ID, "EUR"); got != 10_00 {
			t.Fatalf("bob has %d, want 1000: credited once", got)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
