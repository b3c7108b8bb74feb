package e2e

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/daemon"
)

// TestPayLightningAddress: with pay-lightning-addresses, vasp1's alice
// pays vasp2's bob at his plain Lightning Address (bob@vasp2, served as
// plain LNURL-pay): looked up unsigned, quoted in SAT on either side or in
// the EUR vasp2 offers for him (LUD-21), paid once, bob credited (exactly
// the amount, in EUR), the transaction listed by the address. vasp2, with
// the setting off (the default), refuses to look up a Lightning Address.
func TestPayLightningAddress(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPsTuned(t, db, func(c *daemon.Config) { c.Payments.PayLightningAddresses = true }, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		bobAddr := "bob@" + b.domain

		var l lookupResp
		a.mustCall("GET", "/receiver/"+url.PathEscape(bobAddr)+"?userId="+url.QueryEscape(alice.ID), nil, &l)
		// vasp2 offers bob's EUR (LUD-21) to wallets, then vasp1 adds SAT.
		if l.ReceiverUmaAddress != bobAddr || l.KycStatus != "UNKNOWN" || len(l.SupportedCurrencies) != 2 ||
			l.SupportedCurrencies[0].Currency.Code != "EUR" || l.SupportedCurrencies[1].Currency.Code != "SAT" {
			t.Fatalf("lookup: %+v", l)
		}
		for _, tc := range []struct {
			side, currency string
			amount         int64
		}{{"SENDING", "SAT", 5_00}, {"RECEIVING", "SAT", 20_000}, {"RECEIVING", "EUR", 3_00}} {
			var q quoteResp
			a.mustCall("POST", "/quotes", map[string]any{
				"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": tc.currency,
				"lockedCurrencySide": tc.side, "lockedCurrencyAmount": tc.amount, "description": "lunch",
			}, &q)
			if tc.side == "SENDING" && q.TotalSendingAmount != tc.amount || tc.side == "RECEIVING" && q.TotalReceivingAmount != tc.amount ||
				tc.currency == "SAT" && tc.side == "RECEIVING" && q.InvoiceAmountMsats != tc.amount*1000 {
				t.Fatalf("%s-locked quote in %s: %+v", tc.side, tc.currency, q)
			}
			before, spent := b.balance(bob.ID, "EUR"), a.balance(alice.ID, "USD")
			var tx txResp
			a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "k-"+q.QuoteID)
			if tx.Status != "COMPLETED" || tx.Type != "OUTGOING" || tx.SentAmount.Amount != q.TotalSendingAmount {
				t.Fatalf("execute: %+v", tx)
			}
			var again txResp
			a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &again, "Idempotency-Key", "k-"+q.QuoteID)
			if again.ID != tx.ID {
				t.Fatalf("retried execute made %s, want %s", again.ID, tx.ID)
			}
			if got := a.balance(alice.ID, "USD"); got != spent-q.TotalSendingAmount {
				t.Fatalf("alice has %d, want %d", got, spent-q.TotalSendingAmount)
			}
			if tc.currency == "EUR" {
				// Locked in bob's own currency: credited exactly it.
				eventually(t, "bob credited €3.00", func() bool { return b.balance(bob.ID, "EUR") == before+tc.amount })
				continue
			}
			eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") > before })
		}
		eventually(t, "webhooks", func() bool { return len(a.hooks.find("OUTGOING_PAYMENT", "COMPLETED")) == 3 })
		var list struct {
			Data []struct {
				ReceiverUmaAddress string `json:"receiverUmaAddress"`
			} `json:"data"`
		}
		a.mustCall("GET", "/transactions?receiverUmaAddress="+url.QueryEscape(bobAddr), nil, &list)
		if len(list.Data) != 3 || list.Data[0].ReceiverUmaAddress != bobAddr {
			t.Fatalf("transactions to %s: %+v", bobAddr, list.Data)
		}
		a.checkBooks()
		b.checkBooks()

		b.user("carol", "EUR", "Carol")
		status, err := b.call("GET", "/receiver/"+url.PathEscape("alice@"+a.domain)+"?senderUmaAddress="+url.QueryEscape("$carol@"+b.domain), nil, nil)
		if status != 400 || err == nil || !strings.Contains(err.Error(), "INVALID_INPUT") {
			t.Fatalf("lookup of a Lightning Address with the setting off: %d %v", status, err)
		}
	})
}
