package e2e

import (
	"strings"
	"testing"
)

// TestUmaRequestPaid: Bob's VASP sends Alice an UMA request (an UMA invoice
// it issues, POST /payment-requests) at vasp1's uma_request_endpoint;
// Alice's platform hears of it (UMA_REQUEST), lists it and pays it with a
// receiver-locked quote naming it; Bob is credited exactly the amount asked.
func TestUmaRequestPaid(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)

		// Bob's VASP issues the request and delivers it to vasp1's
		// uma_request_endpoint (POST /payment-requests).
		bobAddr := "$bob@" + b.domain
		var issued paymentRequestResp
		// Two payments allowed: the receiver invoices both quotes below,
		// the sender's paying the request once is what is checked.
		b.mustCall("POST", "/payment-requests", map[string]any{"userId": bob.ID, "amount": 7_50, "currency": "EUR",
			"senderUmaAddress": "$alice@" + a.domain, "maxNumPayments": 2}, &issued)
		if issued.Delivery.Status != "DELIVERED" {
			t.Fatalf("UMA request to vasp1: %+v", issued)
		}
		eventually(t, "the UMA_REQUEST webhook", func() bool {
			a.hooks.mu.Lock()
			defer a.hooks.mu.Unlock()
			for _, m := range a.hooks.got {
				if m["type"] == "UMA_REQUEST" {
					return true
				}
			}
			return false
		})
		var list struct {
			Data []struct {
				ID       string `json:"id"`
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			} `json:"data"`
		}
		a.mustCall("GET", "/uma-requests?userId="+alice.ID, nil, &list)
		if len(list.Data) != 1 || list.Data[0].Amount != 7_50 || list.Data[0].Currency != "EUR" {
			t.Fatalf("UMA requests %+v", list.Data)
		}
		req := list.Data[0]

		var l lookupResp
		a.mustCall("GET", "/receiver/"+bobAddr+"?userId="+alice.ID, nil, &l)
		quoteBody := map[string]any{"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
			"lockedCurrencySide": "SENDING", "lockedCurrencyAmount": 7_50, "umaRequestId": req.ID}
		if st, err := a.call("POST", "/quotes", quoteBody, nil); st != 400 || err == nil {
			t.Fatalf("a sender-locked quote for an UMA request: %d %v", st, err)
		}
		quoteBody["lockedCurrencySide"] = "RECEIVING"
		var q quoteResp
		a.mustCall("POST", "/quotes", quoteBody, &q)
		if q.TotalReceivingAmount != 7_50 {
			t.Fatalf("quote %+v", q)
		}
		// A second quote for the same request (a double click) is made,
		// but only one of the two can pay it.
		quoteBody["lookupId"] = a.lookup(alice.ID, bobAddr)
		var q2 quoteResp
		a.mustCall("POST", "/quotes", quoteBody, &q2)
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "req-"+req.ID)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 7_50 })
		st, err := a.call("POST", "/quotes/"+q2.QuoteID+"/execute", nil, nil)
		ae := wantError(t, "execute of a second quote for a paid UMA request", st, err, 409, "QUOTE_ALREADY_EXECUTED")
		if !strings.Contains(ae.Message, q.QuoteID) {
			t.Fatalf("the refusal does not name the quote that paid: %+v", ae)
		}
		// Paid: a new quote for it is refused before any payreq.
		quoteBody["lookupId"] = a.lookup(alice.ID, bobAddr)
		st, err = a.call("POST", "/quotes", quoteBody, nil)
		wantError(t, "a quote for a paid UMA request", st, err, 409, "QUOTE_ALREADY_EXECUTED")
		if got := a.balance(alice.ID, "USD"); got != 100_00-q.TotalSendingAmount {
			t.Fatalf("alice has %d, want %d: debited once", got, 100_00-q.TotalSendingAmount)
		}
		if got := b.balance(bob.ID, "EUR"); got != 7_50 {
			t.Fatalf("bob has %d, want 750: credited once", got)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
