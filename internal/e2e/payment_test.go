// Package e2e runs whole vaspd processes against each other: two VASPs on
// loopback, each with its own database, HTTP server, embedded Lightning
// node on the devnet and platform webhook receiver, paying across
// currencies through the platform API exactly as a platform would.
package e2e

import (
	"net/url"
	"strings"
	"testing"
)

type lookupResp struct {
	LookupID            string `json:"lookupId"`
	ReceiverUmaAddress  string `json:"receiverUmaAddress"`
	KycStatus           string `json:"kycStatus"`
	SupportedCurrencies []struct {
		Currency struct{ Code string } `json:"currency"`
	} `json:"supportedCurrencies"`
}

type quoteResp struct {
	QuoteID              string `json:"quoteId"`
	Status               string `json:"status"`
	TotalSendingAmount   int64  `json:"totalSendingAmount"`
	TotalReceivingAmount int64  `json:"totalReceivingAmount"`
	InvoiceAmountMsats   int64  `json:"invoiceAmountMsats"`
	// CounterpartyInformation is the receiver's payee data, by UMAaaS name.
	CounterpartyInformation map[string]any `json:"counterpartyInformation"`
}

type txResp struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Type          string `json:"type"`
	FailureReason string `json:"failureReason"`
	SentAmount    struct {
		Amount int64 `json:"amount"`
	} `json:"sentAmount"`
	ReceivedAmount struct {
		Amount int64 `json:"amount"`
	} `json:"receivedAmount"`
	CounterpartyInformation map[string]any `json:"counterpartyInformation"`
}

func each(t *testing.T, fn func(t *testing.T, db dbKind)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, sqliteDB) })
	t.Run("PostgreSQL", func(t *testing.T) { fn(t, postgresDB) })
}

// quote looks up bob for alice and asks for a quote.
func quote(t *testing.T, a *vaspProc, aliceID, bobAddr, side string, amount int64) quoteResp {
	t.Helper()
	var l lookupResp
	a.mustCall("GET", "/receiver/"+url.PathEscape(bobAddr)+"?userId="+url.QueryEscape(aliceID), nil, &l)
	var bySender lookupResp // UMAaaS also names the sender by address
	a.mustCall("GET", "/receiver/"+url.PathEscape(bobAddr)+"?senderUmaAddress="+url.QueryEscape("$alice@"+a.domain), nil, &bySender)
	if bySender.ReceiverUmaAddress != bobAddr || bySender.LookupID == l.LookupID {
		t.Fatalf("lookup by senderUmaAddress: %+v", bySender)
	}
	if l.ReceiverUmaAddress != bobAddr || l.KycStatus != "VERIFIED" || len(l.SupportedCurrencies) == 0 || l.SupportedCurrencies[0].Currency.Code != "EUR" {
		t.Fatalf("lookup: %+v", l)
	}
	var q quoteResp
	a.mustCall("POST", "/quotes", map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": side, "lockedCurrencyAmount": amount, "description": "e2e",
	}, &q)
	return q
}

func TestPaymentAcrossCurrencies(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		bobAddr := "$bob@" + b.domain

		for _, tc := range []struct {
			side   string
			amount int64
		}{{"RECEIVING", 10_00}, {"SENDING", 5_00}} {
			q := quote(t, a, alice.ID, bobAddr, tc.side, tc.amount)
			if tc.side == "RECEIVING" && q.TotalReceivingAmount != tc.amount || tc.side == "SENDING" && q.TotalSendingAmount != tc.amount {
				t.Fatalf("%s-locked quote: %+v", tc.side, q)
			}
			before := b.balance(bob.ID, "EUR")
			var tx txResp
			a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "k-"+q.QuoteID)
			if tx.Status != "COMPLETED" || tx.Type != "OUTGOING" || tx.SentAmount.Amount != q.TotalSendingAmount {
				t.Fatalf("execute: %+v", tx)
			}
			// Who was paid, as the receiver told it, by UMAaaS field name.
			for what, info := range map[string]map[string]any{"quote": q.CounterpartyInformation, "transaction": tx.CounterpartyInformation} {
				if len(info) != 2 || info["IDENTIFIER"] != bobAddr || info["FULL_NAME"] != "Bob Receiver" {
					t.Fatalf("the %s's counterpartyInformation is %v, want bob's IDENTIFIER and FULL_NAME", what, info)
				}
			}
			// The sender's node recorded the success in the transaction
			// that completed the payment: none is left in flight.
			var inFlight int
			if err := a.daemon.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM ln_embedded_payments WHERE status <> 'SUCCEEDED'`).Scan(&inFlight); err != nil || inFlight != 0 {
				t.Fatalf("%d node payments not SUCCEEDED after a completed execute (%v)", inFlight, err)
			}
			// A retried execute returns the same transaction and pays nothing more.
			var again txResp
			a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &again, "Idempotency-Key", "k-"+q.QuoteID)
			if again.ID != tx.ID {
				t.Fatalf("retried execute made %s, want %s", again.ID, tx.ID)
			}
			eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == before+q.TotalReceivingAmount })
		}
		if got := a.balance(alice.ID, "USD"); got >= 100_00-15_00 || got <= 0 {
			t.Fatalf("alice has %d cents after sending about 15 USD", got)
		}
		eventually(t, "webhooks", func() bool {
			return len(b.hooks.find("INCOMING_PAYMENT", "PENDING")) == 2 && len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")) == 2 &&
				len(a.hooks.find("OUTGOING_PAYMENT", "COMPLETED")) == 2
		})
		var list struct {
			Data []txResp `json:"data"`
		}
		b.mustCall("GET", "/transactions?type=INCOMING&status=COMPLETED", nil, &list)
		if len(list.Data) != 2 {
			t.Fatalf("bob's VASP lists %d completed incoming transactions, want 2", len(list.Data))
		}
		for _, tx := range list.Data {
			if info := tx.CounterpartyInformation; info["IDENTIFIER"] != "$alice@"+a.domain || info["FULL_NAME"] != "Alice Sender" || info["compliance"] != nil {
				t.Fatalf("bob's VASP shows the payer as %v, want alice's IDENTIFIER and FULL_NAME", info)
			}
		}
		a.checkBooks()
		b.checkBooks()
	})
}

func TestInsufficientBalanceNeverPays(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, nil)
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 1_00)
	q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 50_00)
	status, err := a.call("POST", "/quotes/"+q.QuoteID+"/execute", nil, nil)
	if status != 400 || err == nil {
		t.Fatalf("execute beyond balance: %d %v", status, err)
	}
	if got := a.balance(alice.ID, "USD"); got != 1_00 {
		t.Fatalf("alice has %d cents, want 100", got)
	}
	a.checkBooks()
}

func TestApprovalReplies(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, nil)
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	bobAddr := "$bob@" + b.domain
	for _, tc := range []struct {
		name   string
		status int
		reply  any
	}{
		{"forbidden", 403, map[string]any{"code": "REJECTED_BY_PLATFORM", "message": "no", "reason": "RESTRICTED_JURISDICTION"}},
		{"more info", 422, map[string]any{"code": "ADDITIONAL_INFO_REQUIRED", "requiredFields": []string{"NATIONALITY"}}},
		{"error", 500, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.hooks.mu.Lock()
			b.hooks.approve = func(map[string]any) (int, any) { return tc.status, tc.reply }
			b.hooks.mu.Unlock()
			var l lookupResp
			a.mustCall("GET", "/receiver/"+url.PathEscape(bobAddr)+"?userId="+url.QueryEscape(alice.ID), nil, &l)
			status, err := a.call("POST", "/quotes", map[string]any{
				"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
				"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 1_00,
			}, nil)
			if status != 424 || err == nil || !strings.Contains(err.Error(), "PAYREQ_REQUEST_FAILED") {
				t.Fatalf("quote after a %d approval: %d %v", tc.status, status, err)
			}
		})
	}
	var list struct {
		Data []txResp `json:"data"`
	}
	b.mustCall("GET", "/transactions?status=REJECTED", nil, &list)
	if len(list.Data) != 3 {
		t.Fatalf("%d rejected transactions, want 3", len(list.Data))
	}
}
