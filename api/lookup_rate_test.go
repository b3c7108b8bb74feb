package api_test

import (
	"fmt"
	"math"
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestNewLookupEstimatedExchangeRate: a lookup's estimatedExchangeRate is,
// as UMAaaS's CurrencyPreference says, a rate from the sender's currency
// to the offered one (sending per receiving smallest unit, as a quote's
// exchangeRate), not the receiver's UMA multiplier (millisatoshis per
// unit): for Alice (USD) paying Bob (EUR) it is within a few percent of
// the rate a quote then locks.
func TestNewLookupEstimatedExchangeRate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("$bob@"+f.domain)+"?userId="+f.alice.UserID, &f.admin, "")
		if status != 200 {
			t.Fatalf("lookup: %d %s", status, raw)
		}
		var estimate float64
		for _, c := range m["supportedCurrencies"].([]any) {
			c := c.(map[string]any)
			if c["currency"].(map[string]any)["code"] == "EUR" {
				estimate, _ = c["estimatedExchangeRate"].(float64)
			}
		}
		body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":100000}`, m["lookupId"])
		status, raw, q := f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 201 {
			t.Fatalf("quote: %d %s", status, raw)
		}
		locked := q["exchangeRate"].(float64)
		if math.Abs(estimate-locked) > 0.03*locked {
			t.Fatalf("lookup estimatedExchangeRate %v, the quote's exchangeRate %v", estimate, locked)
		}
	})
}
