package e2e

import (
	"net/url"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/daemon"
)

type refreshedQuoteResp struct {
	quoteResp
	ExpiresAt       time.Time  `json:"expiresAt"`
	AutoRefresh     bool       `json:"autoRefresh"`
	RefreshCount    int        `json:"refreshCount"`
	LastRefreshedAt *time.Time `json:"lastRefreshedAt"`
}

// TestAutoRefreshPays: a quote made with autoRefresh and held past its
// first invoice's expiry (bob's VASP issues 16 s invoices, so the quote
// lives 12 s: due for its last 6 s, more than a pass of the refresher,
// every 5 s, whatever its phase) is refreshed by
// alice's vaspd under the same id, bob's VASP asked again; executed once
// the first invoice expired, it pays the new invoice, alice debited the
// quote's terms as they are, bob credited once.
func TestAutoRefreshPays(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, func(c *daemon.Config) { c.Payments.InvoiceExpiry = 16 * time.Second })
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		var q refreshedQuoteResp
		a.mustCall("POST", "/quotes", map[string]any{
			"lookupId": a.lookup(alice.ID, "$bob@"+b.domain), "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
			"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 5_00, "autoRefresh": true,
		}, &q)
		if !q.AutoRefresh || q.RefreshCount != 0 || q.LastRefreshedAt != nil || time.Until(q.ExpiresAt) > 12*time.Second || time.Until(q.ExpiresAt) < 8*time.Second {
			t.Fatalf("quote: %+v", q)
		}
		var got refreshedQuoteResp
		eventually(t, "the quote refreshed", func() bool {
			a.mustCall("GET", "/quotes/"+url.PathEscape(q.QuoteID), nil, &got)
			return got.RefreshCount > 0
		})
		if got.QuoteID != q.QuoteID || got.RefreshCount != 1 || got.Status != "PENDING" || got.LastRefreshedAt == nil ||
			!got.ExpiresAt.After(q.ExpiresAt) || got.TotalReceivingAmount != 5_00 {
			t.Fatalf("refreshed quote %+v, was %+v", got, q)
		}
		if n := len(b.hooks.find("INCOMING_PAYMENT", "PENDING")); n != 2 {
			t.Fatalf("bob's platform was asked %d times, want 2 (the quote and its refresh)", n)
		}
		// The first invoice expired: the quote's first terms ended at most
		// 4 s (a quarter of the invoice) before it.
		time.Sleep(time.Until(q.ExpiresAt.Add(4*time.Second + 500*time.Millisecond)))
		var tx txResp
		a.mustCall("POST", "/quotes/"+url.PathEscape(q.QuoteID)+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" || tx.SentAmount.Amount != got.TotalSendingAmount || tx.ReceivedAmount.Amount != 5_00 {
			t.Fatalf("execute: %+v, quote %+v", tx, got)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 5_00 })
		eventually(t, "bob's platform told", func() bool { return len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")) == 1 })
		if got := a.balance(alice.ID, "USD"); got != 100_00-tx.SentAmount.Amount {
			t.Fatalf("alice holds %d, want %d", got, 100_00-tx.SentAmount.Amount)
		}
		time.Sleep(time.Second) // nothing more arrives
		if n, m := b.balance(bob.ID, "EUR"), len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")); n != 5_00 || m != 1 {
			t.Fatalf("bob holds %d after %d COMPLETED webhooks", n, m)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
