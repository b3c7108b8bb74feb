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
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		aliceAddr, bobAddr := "$alice@"+a.domain, "$bob@"+b.domain

		var p paymentRequestResp
		b.mustCall("POST", "/payment-requests", map[string]any{"userId": bob.ID, "amount": 10_00, "currency": "EUR",
			"senderUmaAddress": aliceAddr}, &p, "Idempotency-Key", "ask-named")
		eventually(t, "the UMA_REQUEST webhook at vasp1", func() bool { return a.hooks.count("UMA_REQUEST") == 1 })
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID, nil, &list)
		if len(list.Data) != 1 {
			t.Fatalf("vasp1's UMA requests %+v", list.Data)
		}
		var q, fresh quoteResp
		a.mustCall("POST", "/quotes", map[string]any{"lookupId": a.lookup(alice.ID, bobAddr), "sendingCurrencyCode": "USD",
			"receivingCurrencyCode": "EUR", "lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "umaRequestId": list.Data[0].ID}, &q)
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/refresh", nil, &fresh)
		var tx txResp
		a.mustCall("POST", "/quotes/"+fresh.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "pay-refreshed")
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 10_00 })
		eventually(t, "the payment request PAID", func() bool {
			var got paymentRequestResp
			b.mustCall("GET", "/payment-requests/"+p.ID, nil, &got)
			return got.Status == "PAID" && got.PaymentCount == 1
		})

		var open paymentRequestResp
		b.mustCall("POST", "/payment-requests", map[string]any{"userId": bob.ID, "amount": 10_00, "currency": "EUR"},
			&open, "Idempotency-Key", "ask-open")
		for i := range 2 {
			if status, body := payreqFrom(t, a, b, "bob", open.InvoiceUUID); status != 200 {
				t.Fatalf("vasp1's payreq %d for the open request: %d %s", i+1, status, body)
			}
		}
		if got := b.balance(bob.ID, "EUR"); got != 10_00 {
			t.Fatalf("bob has %d, want 1000: credited once", got)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
