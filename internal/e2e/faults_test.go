package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/store"
)

func TestSenderRestartBetweenQuoteAndExecute(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 7_00)
		a.restart()
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute after restart: %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 7_00 })
		a.checkBooks()
		b.checkBooks()
	})
}

// TestReceiverReplaysSettlementsOnce restarts the receiver with its
// settle cursor lost (as if it crashed after the node settled but before
// the credit committed, which share one transaction): replaying every
// settlement credits nothing twice and sends no second COMPLETED webhook.
func TestReceiverReplaysSettlementsOnce(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 3_00)
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, nil)
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 3_00 })
		eventually(t, "COMPLETED webhook", func() bool { return len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")) == 1 })
		b.stop()
		b.stop = nil
		b.restart2(func(db *store.DB) {
			if _, err := db.ExecContext(context.Background(), `DELETE FROM settings WHERE name = 'vasp.settle_index'`); err != nil {
				t.Fatal(err)
			}
		})
		time.Sleep(1500 * time.Millisecond) // the stream replays from index 0
		if got := b.balance(bob.ID, "EUR"); got != 3_00 {
			t.Fatalf("bob has %d after the replay, want 300", got)
		}
		if n := len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")); n != 1 {
			t.Fatalf("%d COMPLETED webhooks, want 1", n)
		}
		b.checkBooks()
	})
}

func TestQuoteExpiryAndRefresh(t *testing.T) {
	// An invoice's timestamp has second precision, so it has between
	// expiry-1s and expiry left when quoted, and the quote three quarters
	// of that (quote-expiry-margin takes at most a quarter): the quote,
	// and the refresh and execute below, have at least 2 s, a margin for
	// -race on a loaded machine.
	const expiry = 4 * time.Second
	a, b := twoVASPs(t, sqliteDB, func(c *daemon.Config) { c.Payments.InvoiceExpiry = expiry })
	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 2_00)
	time.Sleep(expiry + 100*time.Millisecond)
	var got quoteResp
	a.mustCall("GET", "/quotes/"+q.QuoteID, nil, &got)
	if got.Status != "EXPIRED" {
		t.Fatalf("quote status %s, want EXPIRED", got.Status)
	}
	status, err := a.call("POST", "/quotes/"+q.QuoteID+"/execute", nil, nil)
	if status != 409 || err == nil || !strings.Contains(err.Error(), "QUOTE_EXPIRED") {
		t.Fatalf("execute of an expired quote: %d %v", status, err)
	}
	var fresh quoteResp
	a.mustCall("POST", "/quotes/"+q.QuoteID+"/refresh", nil, &fresh)
	if fresh.QuoteID == q.QuoteID || fresh.TotalReceivingAmount != 2_00 {
		t.Fatalf("refresh: %+v", fresh)
	}
	var tx txResp
	a.mustCall("POST", "/quotes/"+fresh.QuoteID+"/execute", nil, &tx)
	if tx.Status != "COMPLETED" {
		t.Fatalf("execute refreshed quote: %+v", tx)
	}
	eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 2_00 })
	if got := a.balance(alice.ID, "USD"); got != 100_00-fresh.TotalSendingAmount {
		t.Fatalf("alice has %d, want %d", got, 100_00-fresh.TotalSendingAmount)
	}
}

func TestReceiverDownMidFlow(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, nil)
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	var l lookupResp
	a.mustCall("GET", "/receiver/"+url.PathEscape("$bob@"+b.domain)+"?userId="+url.QueryEscape(alice.ID), nil, &l)
	b.stop()
	b.stop = nil
	status, err := a.call("POST", "/quotes", map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": "SENDING", "lockedCurrencyAmount": 1_00,
	}, nil)
	if status != 424 || err == nil || !strings.Contains(err.Error(), "PAYREQ_REQUEST_FAILED") {
		t.Fatalf("quote with the receiver down: %d %v", status, err)
	}
	if got := a.balance(alice.ID, "USD"); got != 100_00 {
		t.Fatalf("alice has %d, want 10000", got)
	}
}

func TestAsyncApproval(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, nil)
	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	b.hooks.mu.Lock()
	b.hooks.approve = func(m map[string]any) (int, any) {
		id, _ := m["transaction"].(map[string]any)["id"].(string)
		go func() {
			time.Sleep(200 * time.Millisecond)
			b.mustCall("POST", "/transactions/"+id+"/approve", map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Bob R."}}, nil)
		}()
		return 202, nil
	}
	b.hooks.mu.Unlock()
	q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 4_00)
	a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, nil)
	eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == 4_00 })
}

func TestDeniedCounterparty(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, nil)
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	// vasp2 refuses vasp1: the lookup is answered COUNTERPARTY_NOT_ALLOWED.
	b.stop()
	b.stop = nil
	b.cfg.Payments.DenyDomains = a.domain
	b.restart2(nil)
	status, err := a.call("GET", "/receiver/"+url.PathEscape("$bob@"+b.domain)+"?userId="+url.QueryEscape(alice.ID), nil, nil)
	if status != 403 || err == nil || !strings.Contains(err.Error(), "COUNTERPARTY_NOT_ALLOWED") || !strings.Contains(err.Error(), "does not transact with") {
		t.Fatalf("lookup at a VASP that denies us: %d %v", status, err)
	}
	// vasp1 only deals with others: refused before any request leaves.
	a.stop()
	a.stop = nil
	a.cfg.Payments.AllowDomains = "vasp.example"
	a.restart2(nil)
	status, err = a.call("GET", "/receiver/"+url.PathEscape("$bob@"+b.domain)+"?userId="+url.QueryEscape(alice.ID), nil, nil)
	if status != 403 || err == nil || !strings.Contains(err.Error(), "COUNTERPARTY_NOT_ALLOWED") {
		t.Fatalf("lookup of a domain not allowed: %d %v", status, err)
	}
}

// TestCounterpartyCallsAreSSRFGuarded: without counterparty-allow-nets a
// VASP refuses to call a counterparty on a loopback address, as it would
// a cloud metadata service named by a hostile UMA address.
func TestCounterpartyCallsAreSSRFGuarded(t *testing.T) {
	a, b := twoVASPs(t, sqliteDB, func(c *daemon.Config) { c.Payments.AllowNets = "" })
	alice := a.user("alice", "USD", "Alice Sender")
	b.user("bob", "EUR", "Bob Receiver")
	for _, receiver := range []string{"$bob@" + b.domain, "$bob@169.254.169.254", "$bob@127.0.0.1:" + strings.Split(b.domain, ":")[1]} {
		status, err := a.call("GET", "/receiver/"+url.PathEscape(receiver)+"?userId="+url.QueryEscape(alice.ID), nil, nil)
		if status != 424 || err == nil || !strings.Contains(err.Error(), "LNURLP_REQUEST_FAILED") || !strings.Contains(err.Error(), "counterparty-allow-nets") {
			t.Errorf("lookup of %s: %d %v", receiver, status, err)
		}
	}
}

// TestApprovalTimeout: a platform that does not answer the approval
// webhook within approval-timeout rejects the payment; the sender gets a
// clear error and nothing is paid or credited.
func TestApprovalTimeout(t *testing.T) {
	// The deadline bounds the whole ask, from the payreq's arrival to the
	// platform's answer: short enough to wait out, long enough that even
	// a loaded machine running -race has sent the ask before it passes
	// (past it, the ask is never sent: a different rejection).
	a, b := twoVASPs(t, sqliteDB, func(c *daemon.Config) { c.Payments.ApprovalTimeout = 2 * time.Second })
	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	quoted := make(chan struct{}) // the platform answers once the sender has its answer: too late
	b.hooks.mu.Lock()
	b.hooks.approve = func(map[string]any) (int, any) {
		<-quoted
		return 200, nil
	}
	b.hooks.mu.Unlock()
	var l lookupResp
	a.mustCall("GET", "/receiver/"+url.PathEscape("$bob@"+b.domain)+"?userId="+url.QueryEscape(alice.ID), nil, &l)
	status, err := a.call("POST", "/quotes", map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 1_00,
	}, nil)
	close(quoted)
	if status != 424 || err == nil || !strings.Contains(err.Error(), "PAYREQ_REQUEST_FAILED") || !strings.Contains(err.Error(), "did not approve the payment in time") {
		t.Fatalf("quote with a silent platform: %d %v", status, err)
	}
	var list struct {
		Data []txResp `json:"data"`
	}
	b.mustCall("GET", "/transactions?status=REJECTED", nil, &list)
	if len(list.Data) != 1 || list.Data[0].FailureReason != "PAYMENT_APPROVAL_TIMED_OUT" {
		t.Fatalf("rejected transactions: %+v", list.Data)
	}
	if got := b.balance(bob.ID, "EUR"); got != 0 {
		t.Fatalf("bob has %d", got)
	}
}
