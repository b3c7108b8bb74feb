package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/internal/silentpeer"
)

// TestCounterpartyTimeout: a counterparty that does not answer within
// counterparty-timeout fails the platform's lookup or quote with the
// step's 424 saying so, instead of holding the platform's request for the
// HTTP client's fixed 15 s; and a quote cut short stores nothing. The
// receiver here is a real vaspd whose platform takes longer to approve
// than the sender waits: its payreq answer would come, too late.
func TestCounterpartyTimeout(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, func(c *daemon.Config) {
		c.Payments.CounterpartyTimeout = time.Second
		c.Payments.ApprovalTimeout = 30 * time.Second
	})
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before b stops (cleanups run last first)
	b.hooks.mu.Lock()
	b.hooks.approve = func(map[string]any) (int, any) {
		<-release
		return 200, map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Bob Receiver"}}
	}
	b.hooks.mu.Unlock()

	// A lookup of a server that accepts the connection and never answers.
	hung := silentpeer.Hang(t)
	start := time.Now()
	status, err := a.call("GET", "/receiver/"+url.PathEscape("$bob@"+hung)+"?userId="+url.QueryEscape(alice.ID), nil, nil)
	if took := time.Since(start); status != 424 || err == nil || !strings.Contains(err.Error(), "LNURLP_REQUEST_FAILED") ||
		!strings.Contains(err.Error(), "did not answer within 1s") || took > 10*time.Second {
		t.Fatalf("lookup of a silent VASP: %d %v after %s", status, err, took)
	}

	var l lookupResp
	a.mustCall("GET", "/receiver/"+url.PathEscape("$bob@"+b.domain)+"?userId="+url.QueryEscape(alice.ID), nil, &l)
	start = time.Now()
	status, err = a.call("POST", "/quotes", map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 1_00,
	}, nil)
	if took := time.Since(start); status != 424 || err == nil || !strings.Contains(err.Error(), "PAYREQ_REQUEST_FAILED") ||
		!strings.Contains(err.Error(), "did not answer within 1s") || took > 10*time.Second {
		t.Fatalf("quote from a VASP that answers too late: %d %v after %s", status, err, took)
	}
	var quotes int
	if err := a.daemon.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&quotes); err != nil || quotes != 0 {
		t.Fatalf("%d quotes stored (%v), want none", quotes, err)
	}
	if got := a.balance(alice.ID, "USD"); got != 100_00 {
		t.Fatalf("alice has %d, want 10000", got)
	}
	a.checkBooks()
}
