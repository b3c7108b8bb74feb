package e2e

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/internal/daemon"
)

// writeRatesFile writes a rates file with 1 BTC = usd US dollars (and
// 92,000 EUR) as operators should: a temporary file renamed over it.
func writeRatesFile(t *testing.T, path, usd string) {
	t.Helper()
	body := "currencies:\n" +
		"  - {code: USD, name: US Dollar, symbol: \"$\", decimals: 2, btcPrice: \"" + usd + "\", spreadBps: 50, min: 1, max: 100000000}\n" +
		"  - {code: EUR, name: Euro, symbol: \"€\", decimals: 2, btcPrice: \"92000\", spreadBps: 50, min: 1, max: 100000000}\n"
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRatesReloadAndStale: a vaspd picks up a changed rates-file without a
// restart (a new quote at the new price, one made before executed at its
// locked rate); with its file older than rates-max-age it refuses new
// quotes, refreshes and incoming payments (and UMA lookups), but executes
// a quote made before; a fresh file lifts the refusal.
func TestRatesReloadAndStale(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		dir := t.TempDir()
		fileA, fileB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		writeRatesFile(t, fileA, "100000")
		writeRatesFile(t, fileB, "100000")
		rates := func(file string) func(*daemon.Config) {
			return func(c *daemon.Config) {
				c.Payments.RatesFile, c.Payments.RatesReloadInterval, c.Payments.RatesMaxAge = file, time.Second, time.Hour
			}
		}
		a, b := twoVASPsTuned(t, db, rates(fileA), rates(fileB))
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 100_00)
		b.deposit(bob.ID, "EUR", 100_00)
		bobAddr, aliceAddr := "$bob@"+b.domain, "$alice@"+a.domain
		newQuote := func(lookupID string) (quoteResp, int, error) {
			var q quoteResp
			st, err := a.call("POST", "/quotes", map[string]any{
				"lookupId": lookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
				"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 5_00,
			}, &q)
			return q, st, err
		}
		lookup := a.lookup(alice.ID, bobAddr)
		before, st, err := newQuote(lookup)
		if err != nil {
			t.Fatalf("quote: %d %v", st, err)
		}

		// Bitcoin halves in dollars: a dollar buys twice the msats.
		writeRatesFile(t, fileA, "50000")
		var after quoteResp
		eventually(t, "a quote at the new USD price", func() bool {
			if after, st, err = newQuote(lookup); err != nil {
				t.Fatalf("quote: %d %v", st, err)
			}
			return after.TotalSendingAmount != before.TotalSendingAmount
		})
		if d := after.TotalSendingAmount*2 - before.TotalSendingAmount; d < -2 || d > 2 {
			t.Fatalf("5 EUR cost %d cents, then %d at half the USD price", before.TotalSendingAmount, after.TotalSendingAmount)
		}
		var tx txResp
		a.mustCall("POST", "/quotes/"+url.PathEscape(before.QuoteID)+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" || tx.SentAmount.Amount != before.TotalSendingAmount {
			t.Fatalf("quote made before the change executed: %+v, want %d cents sent", tx, before.TotalSendingAmount)
		}

		// A quote made fresh, and bob's lookup of alice, then a's file is
		// left two hours without an update.
		held, st, err := newQuote(lookup)
		if err != nil {
			t.Fatalf("quote: %d %v", st, err)
		}
		bobLookup := b.lookup(bob.ID, aliceAddr)
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(fileA, old, old); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a quote refused with stale rates", func() bool {
			_, st, err = newQuote(lookup)
			return st != 200
		})
		e := wantError(t, "quote with stale rates", st, err, 503, "SERVICE_UNAVAILABLE")
		if !strings.Contains(e.Message, "exchange rates are stale") {
			t.Fatalf("quote with stale rates: %q", e.Message)
		}
		st, err = a.call("POST", "/quotes/"+url.PathEscape(held.QuoteID)+"/refresh", nil, nil)
		wantError(t, "refresh with stale rates", st, err, 503, "SERVICE_UNAVAILABLE")
		// bob pays alice: a's payreq (and its lookup) refused.
		var ae *apiclient.Error
		st, err = b.call("POST", "/quotes", map[string]any{
			"lookupId": bobLookup, "sendingCurrencyCode": "EUR", "receivingCurrencyCode": "USD",
			"lockedCurrencySide": "SENDING", "lockedCurrencyAmount": 1_00,
		}, nil)
		if !errors.As(err, &ae) || ae.Details["umaCode"] != "USER_NOT_READY" {
			t.Fatalf("payreq to a VASP with stale rates: %d %v %v", st, err, ae)
		}
		st, err = b.call("GET", "/receiver/"+url.PathEscape(aliceAddr)+"?userId="+url.QueryEscape(bob.ID), nil, nil)
		if !errors.As(err, &ae) || ae.Details["umaCode"] != "USER_NOT_READY" {
			t.Fatalf("lookup at a VASP with stale rates: %d %v", st, err)
		}
		// A wallet's plain lookup too: its currencies cannot be priced.
		resp, err := http.Get(a.base + "/.well-known/lnurlp/alice")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || !strings.Contains(string(body), "USER_NOT_READY") {
			t.Fatalf("plain lookup at a VASP with stale rates: %d %s", resp.StatusCode, body)
		}
		// The quote made while fresh executes at its locked rate.
		a.mustCall("POST", "/quotes/"+url.PathEscape(held.QuoteID)+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" || tx.SentAmount.Amount != held.TotalSendingAmount {
			t.Fatalf("quote made while fresh executed with stale rates: %+v, want %d cents sent", tx, held.TotalSendingAmount)
		}

		// The feed writes again: the refusal lifts.
		writeRatesFile(t, fileA, "50000")
		eventually(t, "quotes again once the file is fresh", func() bool {
			_, st, _ = newQuote(lookup)
			return st == 200
		})
		b.lookup(bob.ID, aliceAddr)
		eventually(t, "bob credited twice", func() bool { return b.balance(bob.ID, "EUR") == 100_00+2*5_00 })
		a.checkBooks()
		b.checkBooks()
	})
}
