package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestLookupCurrencyMinPositive: UMAaaS's CurrencyPreference.min is an
// integer > 0 (exclusiveMinimum 0), and a receiver may state a currency's
// convertible min as 0 (UMA allows 0 ≤ min ≤ max). The lookup answered that
// 0; it answers 1 now, the smallest amount a quote can be made for
// (lockedCurrencyAmount is positive): as true, and valid.
func TestLookupCurrencyMinPositive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var wallet *httptest.Server
		wallet = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(map[string]any{"tag": "payRequest", "callback": wallet.URL + "/cb",
				"minSendable": 1000, "maxSendable": 1_000_000_000, "metadata": `[["text/plain","Pay carol"]]`,
				"currencies": []map[string]any{
					{"code": "EUR", "name": "Euro", "symbol": "€", "decimals": 2, "multiplier": 1000, "convertible": map[string]any{"min": 0, "max": 100_000}},
					{"code": "GBP", "name": "Pound", "symbol": "£", "decimals": 2, "multiplier": 1200, "convertible": map[string]any{"min": 5, "max": 100_000}},
				}})
			_, _ = rw.Write(b)
		}))
		defer wallet.Close()
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.PayLightningAddresses = true }, nil)
		addr := "carol@localhost:" + strings.TrimPrefix(wallet.URL, "http://127.0.0.1:")
		status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape(addr)+"?userId="+f.alice.UserID, &f.admin, "")
		if status != 200 {
			t.Fatalf("lookup: %d %s", status, raw)
		}
		if spec := specschema.IfShared(t); spec != nil {
			if r := spec.CheckResponse("GET", "/receiver/{receiverUmaAddress}", 200, raw); !r.OK() {
				t.Errorf("answer breaks the UMAaaS schema:\n%s\n%s", r, raw)
			}
		}
		want := map[string]float64{"EUR": 1, "GBP": 5, "SAT": 1}
		cs, _ := m["supportedCurrencies"].([]any)
		if len(cs) != len(want) {
			t.Fatalf("currencies: %s", raw)
		}
		for _, c := range cs {
			c := c.(map[string]any)
			code := c["currency"].(map[string]any)["code"].(string)
			if c["min"] != want[code] {
				t.Fatalf("%s min %v, want %v: %s", code, c["min"], want[code], raw)
			}
		}
	})
}

// TestLookupCurrencyMaxZeroLeftOut: a receiver's convertible max of 0 is
// a bound (UMA: min <= n <= max), so nothing can be sent in that currency;
// UMAaaS's CurrencyPreference.max is > 0 (exclusiveMinimum 0). The lookup
// answered max 0 (and min 1, past it); the currency is left out now, as
// one no quote can be made for.
func TestLookupCurrencyMaxZeroLeftOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var wallet *httptest.Server
		wallet = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(map[string]any{"tag": "payRequest", "callback": wallet.URL + "/cb",
				"minSendable": 1000, "maxSendable": 1_000_000_000, "metadata": `[["text/plain","Pay carol"]]`,
				"currencies": []map[string]any{
					{"code": "EUR", "name": "Euro", "symbol": "€", "decimals": 2, "multiplier": 1000, "convertible": map[string]any{"min": 0, "max": 0}},
					{"code": "GBP", "name": "Pound", "symbol": "£", "decimals": 2, "multiplier": 1200, "convertible": map[string]any{"min": 5, "max": 100_000}},
				}})
			_, _ = rw.Write(b)
		}))
		defer wallet.Close()
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.PayLightningAddresses = true }, nil)
		addr := "carol@localhost:" + strings.TrimPrefix(wallet.URL, "http://127.0.0.1:")
		status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape(addr)+"?userId="+f.alice.UserID, &f.admin, "")
		if status != 200 {
			t.Fatalf("lookup: %d %s", status, raw)
		}
		if spec := specschema.IfShared(t); spec != nil {
			if r := spec.CheckResponse("GET", "/receiver/{receiverUmaAddress}", 200, raw); !r.OK() {
				t.Errorf("answer breaks the UMAaaS schema:\n%s\n%s", r, raw)
			}
		}
		var codes []string
		cs, _ := m["supportedCurrencies"].([]any)
		for _, c := range cs {
			codes = append(codes, c.(map[string]any)["currency"].(map[string]any)["code"].(string))
		}
		if strings.Join(codes, ",") != "GBP,SAT" {
			t.Fatalf("currencies %v, want GBP and SAT: %s", codes, raw)
		}
		// Nor is a quote made in it.
		lookupID, _ := m["lookupId"].(string)
		body := `{"lookupId":"` + lookupID + `","sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":100}`
		status, raw, _ = f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 400 || !strings.Contains(string(raw), "AMOUNT_OUT_OF_RANGE") {
			t.Fatalf("quote in EUR: %d %s", status, raw)
		}
	})
}
