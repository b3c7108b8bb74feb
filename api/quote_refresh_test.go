package api_test

import (
	"fmt"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestQuoteAutoRefreshField: POST /quotes takes vaspd's own autoRefresh
// (default false), and the quote shows it with its refreshCount (0) and no
// lastRefreshedAt until refreshed; a quote without it shows false. With
// umaRequestId it is refused with 400 INVALID_INPUT before anything else.
func TestQuoteAutoRefreshField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":500,"autoRefresh":true}`, f.lookupBob(t))
		status, raw, m := f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 201 {
			t.Fatalf("quote: %d %s", status, raw)
		}
		check := func(m map[string]any, want bool) {
			t.Helper()
			if m["autoRefresh"] != want || m["refreshCount"] != float64(0) {
				t.Errorf("autoRefresh %v, refreshCount %v: %v", m["autoRefresh"], m["refreshCount"], m)
			}
			if _, ok := m["lastRefreshedAt"]; ok {
				t.Errorf("lastRefreshedAt on a quote never refreshed: %v", m)
			}
		}
		check(m, true)
		_, _, got := f.call(t, "GET", "/quotes/"+m["quoteId"].(string), &f.viewer, "")
		check(got, true)
		_, _, plain := f.call(t, "GET", "/quotes/"+f.quote(t, 500), &f.viewer, "")
		check(plain, false)

		body = fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":500,"autoRefresh":true,"umaRequestId":%q}`,
			f.lookupBob(t), vaspd.NewID(vaspd.IDUmaRequest))
		status, raw, m = f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 400 || m["code"] != vaspd.CodeInvalidInput {
			t.Fatalf("autoRefresh with umaRequestId: %d %s", status, raw)
		}
	})
}
