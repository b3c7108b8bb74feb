package e2e

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/internal/apiclient"
)

type retryQuoteResp struct {
	quoteResp
	OriginalQuoteID *string `json:"originalQuoteId"`
	LookupID        string  `json:"lookupId"`
}

// lookup looks receiver up for the user userID on p.
func (p *vaspProc) lookup(userID, receiver string) string {
	p.t.Helper()
	var l lookupResp
	p.mustCall("GET", "/receiver/"+url.PathEscape(receiver)+"?userId="+url.QueryEscape(userID), nil, &l)
	return l.LookupID
}

// wantError asserts an API error answer of status and code.
func wantError(t *testing.T, what string, status int, err error, wantStatus int, code string) *apiclient.Error {
	t.Helper()
	var ae *apiclient.Error
	if status != wantStatus || !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("%s: %d %v, want %d %s", what, status, err, wantStatus, code)
	}
	return ae
}

// TestRetryFailedPayment: a payment that failed (the receiver's node
// forgot the invoice; alice got her money back) is retried with a new
// lookup of the same receiver as a new quote for the same amount, which
// pays bob once; a retry is refused for a quote in any other state, for a
// lookup of another receiver, and without the payer data the receiver
// requires.
func TestRetryFailedPayment(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		b.user("carol", "EUR", "Carol Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		bobAddr := "$bob@" + b.domain

		// A payment that fails: bob's node no longer knows the invoice.
		q := quote(t, a, alice.ID, bobAddr, "RECEIVING", 5_00)
		if _, err := b.daemon.DB().ExecContext(t.Context(), `DELETE FROM ln_embedded_invoices WHERE state = 'OPEN'`); err != nil {
			t.Fatal(err)
		}
		var failed txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &failed)
		if failed.Status != "FAILED" || failed.FailureReason != "LIGHTNING_PAYMENT_FAILED" {
			t.Fatalf("payment to a forgotten invoice: %+v", failed)
		}
		if got := a.balance(alice.ID, "USD"); got != 100_00 {
			t.Fatalf("alice has %d after the failure, want 10000 (refunded)", got)
		}
		retry := func(quoteID string, body any, out any) (int, error) {
			return a.call("POST", "/quotes/"+quoteID+"/retry", body, out)
		}

		// Refused: a lookup of another receiver, an unknown lookup, an
		// unknown quote, a quote never executed.
		st, err := retry(q.QuoteID, map[string]any{"lookupId": a.lookup(alice.ID, "$carol@"+b.domain)}, nil)
		wantError(t, "retry with a lookup of carol", st, err, 400, "INVALID_INPUT")
		st, err = retry(q.QuoteID, map[string]any{"lookupId": "Lookup:019542f5-b3e7-1d02-0000-000000000009"}, nil)
		wantError(t, "retry with an unknown lookup", st, err, 404, "LOOKUP_REQUEST_NOT_FOUND")
		st, err = retry("Quote:019542f5-b3e7-1d02-0000-000000000001", map[string]any{"lookupId": a.lookup(alice.ID, bobAddr)}, nil)
		wantError(t, "retry of an unknown quote", st, err, 404, "QUOTE_NOT_FOUND")
		open := quote(t, a, alice.ID, bobAddr, "RECEIVING", 1_00)
		st, err = retry(open.QuoteID, map[string]any{"lookupId": a.lookup(alice.ID, bobAddr)}, nil)
		wantError(t, "retry of a quote never executed", st, err, 409, "CONFLICT")

		// bob's VASP now asks for the payer's email (as a changed receiver
		// would; its lookup answer is edited where a keeps it): without it,
		// 422 naming the field, and no payreq goes out.
		lookupID := a.lookup(alice.ID, bobAddr)
		var raw string
		if err := a.daemon.DB().QueryRowContext(t.Context(), `SELECT response FROM uma_lookups WHERE id = $1`, lookupID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(raw), &resp); err != nil {
			t.Fatal(err)
		}
		resp["payerData"].(map[string]any)["email"] = map[string]any{"mandatory": true}
		edited, _ := json.Marshal(resp)
		if _, err := a.daemon.DB().ExecContext(t.Context(), `UPDATE uma_lookups SET response = $1 WHERE id = $2`, string(edited), lookupID); err != nil {
			t.Fatal(err)
		}
		pending := len(b.hooks.find("INCOMING_PAYMENT", "PENDING"))
		st, err = retry(q.QuoteID, map[string]any{"lookupId": lookupID}, nil)
		ae := wantError(t, "retry without the email asked", st, err, 422, "MISSING_MANDATORY_USER_INFO")
		if f, _ := ae.Details["requiredFields"].([]any); len(f) != 1 || f[0] != "EMAIL" {
			t.Fatalf("422 does not name EMAIL: %+v", ae)
		}
		if n := len(b.hooks.find("INCOMING_PAYMENT", "PENDING")); n != pending {
			t.Fatalf("a payreq reached bob's VASP without the mandatory payer data (%d approvals asked, was %d)", n, pending)
		}

		// With it: a new quote for the same 5.00 EUR, pointing at the
		// failed one; the email reaches bob's platform.
		var r1 retryQuoteResp
		if _, err := retry(q.QuoteID, map[string]any{"lookupId": lookupID, "senderUserInfo": map[string]any{"EMAIL": "alice@example.com"}}, &r1); err != nil {
			t.Fatal(err)
		}
		if r1.QuoteID == q.QuoteID || r1.OriginalQuoteID == nil || *r1.OriginalQuoteID != q.QuoteID ||
			r1.TotalReceivingAmount != 5_00 || r1.Status != "PENDING" || r1.LookupID != lookupID {
			t.Fatalf("retry: %+v", r1)
		}
		asked := b.hooks.find("INCOMING_PAYMENT", "PENDING")
		info, _ := asked[len(asked)-1]["transaction"].(map[string]any)["counterpartyInformation"].(map[string]any)
		if info["EMAIL"] != "alice@example.com" || info["FULL_NAME"] == nil || info["IDENTIFIER"] == nil || info["email"] != nil || info["compliance"] != nil {
			t.Fatalf("bob's platform was told %v, want the email given", info)
		}
		var got retryQuoteResp
		a.mustCall("GET", "/quotes/"+r1.QuoteID, nil, &got)
		if got.OriginalQuoteID == nil || *got.OriginalQuoteID != q.QuoteID {
			t.Fatalf("GET of the retry: %+v", got)
		}
		var orig map[string]any
		a.mustCall("GET", "/quotes/"+q.QuoteID, nil, &orig)
		if _, ok := orig["originalQuoteId"]; ok || orig["status"] != "FAILED" {
			t.Fatalf("GET of the failed quote: %v", orig)
		}

		// A second retry while the first is open is a quote too, of the
		// same payment; only one of them can be paid.
		var r2 retryQuoteResp
		if _, err := retry(q.QuoteID, map[string]any{"lookupId": a.lookup(alice.ID, bobAddr)}, &r2); err != nil {
			t.Fatal(err)
		}
		if r2.OriginalQuoteID == nil || *r2.OriginalQuoteID != q.QuoteID {
			t.Fatalf("second retry: %+v", r2)
		}
		var tx txResp
		a.mustCall("POST", "/quotes/"+r1.QuoteID+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute of the retry: %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 5_00 })
		st, err = a.call("POST", "/quotes/"+r2.QuoteID+"/execute", nil, nil)
		wantError(t, "execute of a second retry of a paid payment", st, err, 409, "QUOTE_ALREADY_EXECUTED")

		// Nothing more to retry: the completed retry, the failed quote
		// whose payment it completed.
		st, err = retry(r1.QuoteID, map[string]any{"lookupId": a.lookup(alice.ID, bobAddr)}, nil)
		wantError(t, "retry of a COMPLETED quote", st, err, 409, "QUOTE_ALREADY_EXECUTED")
		st, err = retry(q.QuoteID, map[string]any{"lookupId": a.lookup(alice.ID, bobAddr)}, nil)
		wantError(t, "retry of a payment completed by a retry", st, err, 409, "QUOTE_ALREADY_EXECUTED")

		if got := a.balance(alice.ID, "USD"); got != 100_00-r1.TotalSendingAmount {
			t.Fatalf("alice has %d, want %d: debited once", got, 100_00-r1.TotalSendingAmount)
		}
		if got := b.balance(bob.ID, "EUR"); got != 5_00 {
			t.Fatalf("bob has %d, want 500: credited once", got)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
