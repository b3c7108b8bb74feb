package api_test

import (
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/vasp/vasptest"
)

// TestLookupEstimatedExchangeRateUnknown: UMAaaS's estimatedExchangeRate
// is a number > 0 (exclusiveMinimum 0). When no estimate can be made (here
// the sending user's default currency has no rate) the lookup used to
// answer 0, a rate a platform could divide by or show as free; the field
// is left out instead, and the currencies are still offered.
func TestLookupEstimatedExchangeRateUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixtureWith(t, db, func(o *vasp.Options) {
			dir := o.Users.(vasptest.Directory)
			for id, r := range dir {
				if r.Local == "alice" {
					r.Currencies = []string{"XAU"} // no rate for it
					dir[id] = r
				}
			}
		}, nil)
		status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("$bob@"+f.domain)+"?userId="+f.alice.UserID, &f.admin, "")
		if status != 200 {
			t.Fatalf("lookup: %d %s", status, raw)
		}
		cs := m["supportedCurrencies"].([]any)
		if len(cs) == 0 {
			t.Fatalf("no currencies: %s", raw)
		}
		for _, c := range cs {
			if v, ok := c.(map[string]any)["estimatedExchangeRate"]; ok {
				t.Fatalf("estimatedExchangeRate %v with no rate for the sender's currency; want it left out: %s", v, raw)
			}
		}
	})
}
